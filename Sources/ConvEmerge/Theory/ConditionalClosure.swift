import Foundation

/// The `conditional` closure of Lufkin, Saxe & Grant: for each site i, lambda
/// given x_i is Gaussian with mean a_i x_i and variance v_i, where
/// a_i = (C w)_i / (sqrt D C_ii) and v_i = q - (C w)_i^2 / (D C_ii), while x_i keeps
/// its exact (non-Gaussian) marginal:
///   g_c(w)_i = sqrt(D) E_{x_i}[ x_i E_xi[h(a_i x_i + sqrt(v_i) xi)] ].
/// Derivation: derivations/conditional-closure.md.
public final class ConditionalClosure: ClassExpectation {
    let distribution: InputDistribution
    let signal: ErrorSignal
    let expectation = GaussianExpectation()
    private let size: Int
    private let marginal: (Double) -> Double
    private let marginalBreakpoints: [Double]
    private let covarianceTimesW: UnsafeMutablePointer<Double>
    private var fftWorkspace: [Double]

    public init(distribution: InputDistribution, signal: ErrorSignal) {
        self.distribution = distribution
        self.signal = signal
        size = distribution.size
        // x_i as a function of a standard normal u: psi(sqrt(s) u) for the NLGP,
        // sqrt(C_ii) u for the clone.
        if distribution.spec.isGaussianClone {
            let scale = distribution.covariance.firstRow[0].squareRoot()
            marginal = { scale * $0 }
            marginalBreakpoints = []
        } else {
            let scale = distribution.spec.kernel.variance.squareRoot()
            let psi = distribution.marginal
            marginal = { psi(scale * $0) }
            marginalBreakpoints = psi.breakpoints
        }
        covarianceTimesW = .allocate(capacity: size)
        fftWorkspace = distribution.covariance.makeWorkspace()
    }

    deinit { covarianceTimesW.deallocate() }

    public func drift(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        fftWorkspace.withUnsafeMutableBufferPointer {
            distribution.covariance.apply(w, covarianceTimesW, workspace: $0.baseAddress!)
        }
        let d = Double(size)
        var wCw = 0.0
        for i in 0..<size { wCw += w[i] * covarianceTimesW[i] }
        let q = wCw / d
        let variance = distribution.covariance.firstRow[0]
        let signal = self.signal, marginal = self.marginal, expectation = self.expectation
        for i in 0..<size {
            let covariance = covarianceTimesW[i] / d.squareRoot()
            let slope = covariance / variance
            let conditionalVariance = max(q - covariance * covariance / variance, 0)
            let value = expectation.smoothedMean(of: { u in
                let x = marginal(u)
                let inner = signal.closedFormMean(mean: slope * x, variance: conditionalVariance)
                    ?? expectation.smoothedMean(of: signal, mean: slope * x, variance: conditionalVariance)
                return x * inner
            }, breakpoints: marginalBreakpoints, mean: 0, variance: 1)
            out[i] = d.squareRoot() * value
        }
    }

    /// The conditional closure keeps lambda's marginal Gaussian, so its loss is the Gaussian one.
    public func loss(_ w: UnsafePointer<Double>) -> Double {
        fftWorkspace.withUnsafeMutableBufferPointer {
            distribution.covariance.apply(w, covarianceTimesW, workspace: $0.baseAddress!)
        }
        var wCw = 0.0
        for i in 0..<size { wCw += w[i] * covarianceTimesW[i] }
        return signal.gaussianLoss(variance: wCw / Double(size), expectation: expectation)
    }
}
