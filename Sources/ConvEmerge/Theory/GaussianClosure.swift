import CGSL
import Foundation

/// The `gaussian` closure and, with a fourth cumulant, the `cumulant` closure:
///   g_c(w) = C w (E_G[h'] + kappa4/24 E_G[h^(5)]) + T(w) E_G[h'''] / (6 D),
///   kappa4 = w.T(w) / D^2, E_G over lambda ~ N(0, q), q = w.C w / D.
/// Without a cumulant this is Stein's lemma, exact for Gaussian inputs.
/// Derivations: derivations/stein-gaussian-closure.md, derivations/cumulant-closure.md.
public final class GaussianClosure: ClassExpectation {
    let distribution: InputDistribution
    let signal: ErrorSignal
    let cumulant: FourthCumulant?
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
    public init(distribution: InputDistribution, signal: ErrorSignal, cumulant: FourthCumulant?, denseBaseline: Bool = false) {
        self.distribution = distribution
        self.signal = signal
        self.cumulant = cumulant
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
                distribution.covariance.apply(w, covarianceTimesW, workspace: $0.baseAddress!)
            }
            if let cumulant, let cumulantWorkspace { cumulant.action(w, into: cumulantAction, workspace: cumulantWorkspace) }
        }
        let d = Double(size)
        let q = dot(w, covarianceTimesW, size) / d
        return (q, cumulant == nil ? 0 : dot(w, cumulantAction, size) / (d * d))
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
                                      into: UnsafeMutableBufferPointer(rebasing: m[0...(cumulant == nil ? 1 : 5)]))
        var covarianceFactor = m[1]
        if cumulant != nil { covarianceFactor += kappa4 / 24 * m[5] }
        for i in 0..<size { out[i] = covarianceFactor * covarianceTimesW[i] }
        if cumulant != nil { axpy(m[3] / (6 * Double(size)), cumulantAction, out, size) }
    }

    /// (1/2) E[(y - sigma(lambda + b))^2], with the Edgeworth correction
    /// kappa4/24 E_G[l''''] when the fourth cumulant is included.
    public func loss(_ w: UnsafePointer<Double>) -> Double {
        let (q, kappa4) = secondAndFourthOrder(w)
        let signal = self.signal
        let m = expectation.derivativeMoments(of: { signal.loss($0) }, breakpoints: signal.discontinuities,
                                              transitions: signal.transitions, variance: q, maxOrder: cumulant == nil ? 0 : 4)
        return cumulant == nil ? m[0] : m[0] + kappa4 / 24 * m[4]
    }
}
