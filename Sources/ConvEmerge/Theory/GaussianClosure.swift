import CGSL
import Foundation

/// The `gaussian` closure and, with a fourth cumulant, the `cumulant` closure:
///   g_c(w) = C w (E_G[h'] + kappa4/24 E_G[h^(5)]) + T(w) E_G[h'''] / (6 D),
///   kappa4 = w.T(w) / D^2, E_G over lambda ~ N(0, q), q = w.C w / D.
/// Without a cumulant this is Stein's lemma, exact for Gaussian inputs.
/// On data, C is the empirical covariance (dense for `raw`, by FFT for `circulant`) and T(w)
/// the empirical action.
/// Derivations: derivations/stein-gaussian-closure.md, derivations/cumulant-closure.md,
/// derivations/data-inputs.md ("Closures on data").
public final class GaussianClosure: ClassExpectation {
    let distribution: InputDistribution
    let signal: ErrorSignal
    let cumulant: FourthCumulant?
    /// T(w) of a data class: the empirical action, O(N D) per call (derivations/data-inputs.md).
    let empiricalCumulant: EmpiricalInputs?
    private var hasFourthCumulant: Bool { cumulant != nil || empiricalCumulant != nil }
    let expectation = GaussianExpectation()
    private let size: Int
    private let covarianceTimesW: UnsafeMutablePointer<Double>
    private let cumulantAction: UnsafeMutablePointer<Double>
    /// E_G[h^(n)], n = 0 ... 5: the right-hand side is evaluated at every ODE step, so it
    /// writes into this buffer instead of allocating.
    private let moments = UnsafeMutableBufferPointer<Double>.allocate(capacity: 6)
    private var fftWorkspace: [Double]
    private let cumulantWorkspace: CumulantWorkspace?
    /// The O(D^2) baseline of `convemerge bench`: the same closure with C w and
    /// T_lead(w) as dense matrix-vector products (nil: FFT, the normal path).
    private var denseBaseline: (covariance: [Double], cumulant: DenseLeadingCumulant?, workspace: [Double])?

    /// `denseBaseline` replaces every circulant operation by a dense product; only
    /// the leading cumulant has a dense form.
    public init(distribution: InputDistribution, signal: ErrorSignal, cumulant: FourthCumulant?,
                empiricalCumulant: EmpiricalInputs? = nil, denseBaseline: Bool = false) {
        self.distribution = distribution
        self.signal = signal
        self.cumulant = cumulant
        self.empiricalCumulant = empiricalCumulant
        size = distribution.size
        covarianceTimesW = .allocate(capacity: size)
        cumulantAction = .allocate(capacity: size)
        fftWorkspace = distribution.covariance.makeWorkspace()
        cumulantWorkspace = cumulant?.makeWorkspace()
        if denseBaseline {
            GSL.initialize()
            precondition(cumulant == nil || cumulant!.method == .leading, "only the leading cumulant has a dense baseline")
            let dense = cumulant.map { _ in DenseLeadingCumulant(distribution) }
            self.denseBaseline = (distribution.covariance.denseMatrix(), dense, dense?.makeWorkspace() ?? [])
        }
    }

    deinit {
        covarianceTimesW.deallocate()
        cumulantAction.deallocate()
        moments.deallocate()
    }

    /// Fills C w and T(w) (by FFT, or by dense products for the baseline) and returns
    /// (q, kappa4 of lambda).
    private func secondAndFourthOrder(_ w: UnsafePointer<Double>) -> (q: Double, kappa4: Double) {
        if denseBaseline != nil {
            applyDense(w)
        } else {
            fftWorkspace.withUnsafeMutableBufferPointer {
                distribution.applyCovariance(w, into: covarianceTimesW, workspace: $0.baseAddress!)
            }
            if let cumulant, let cumulantWorkspace { cumulant.action(w, into: cumulantAction, workspace: cumulantWorkspace) }
            if let empiricalCumulant {
                let action = empiricalCumulant.fourthCumulantAction(Array(UnsafeBufferPointer(start: w, count: size))).value
                action.withUnsafeBufferPointer { cumulantAction.update(from: $0.baseAddress!, count: size) }
            }
        }
        let d = Double(size)
        let q = dot(w, covarianceTimesW, size) / d
        return (q, hasFourthCumulant ? dot(w, cumulantAction, size) / (d * d) : 0)
    }

    private func applyDense(_ w: UnsafePointer<Double>) {
        let n = size
        denseBaseline!.covariance.withUnsafeMutableBufferPointer { matrix in
            var view = gsl_matrix_view_array(matrix.baseAddress!, n, n)
            var input = gsl_vector_const_view_array(w, n)
            var output = gsl_vector_view_array(covarianceTimesW, n)
            gsl_blas_dsymv(CblasUpper, 1, &view.matrix, &input.vector, 0, &output.vector)
        }
        if let dense = denseBaseline!.cumulant {
            denseBaseline!.workspace.withUnsafeMutableBufferPointer {
                dense.action(w, into: cumulantAction, workspace: $0.baseAddress!)
            }
        }
    }

    public func drift(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        let (q, kappa4) = secondAndFourthOrder(w)
        let m = moments
        expectation.derivativeMoments(of: signal, variance: q,
                                      into: UnsafeMutableBufferPointer(rebasing: m[0...(hasFourthCumulant ? 5 : 1)]))
        var covarianceFactor = m[1]
        if hasFourthCumulant { covarianceFactor += kappa4 / 24 * m[5] }
        for i in 0..<size { out[i] = covarianceFactor * covarianceTimesW[i] }
        if hasFourthCumulant { axpy(m[3] / (6 * Double(size)), cumulantAction, out, size) }
    }

    /// (1/2) E[(y - sigma(lambda + b))^2], with the Edgeworth correction
    /// kappa4/24 E_G[l''''] when the fourth cumulant is included.
    public func loss(_ w: UnsafePointer<Double>) -> Double {
        let (q, kappa4) = secondAndFourthOrder(w)
        let signal = self.signal
        let m = expectation.derivativeMoments(of: { signal.loss($0) }, breakpoints: signal.discontinuities,
                                              transitions: signal.transitions, variance: q, maxOrder: hasFourthCumulant ? 4 : 0)
        return hasFourthCumulant ? m[0] + kappa4 / 24 * m[4] : m[0]
    }
}
