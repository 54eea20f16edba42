import CGSL
import Foundation

/// The `gaussian` closure and, with a fourth cumulant, the `cumulant` closure:
///   g_c(w) = C w (E_G[h'] + kappa4/24 E_G[h^(5)]) + T(w) E_G[h'''] / (6 D),
///   kappa4 = w.T(w) / D^2, E_G over lambda ~ N(0, q), q = w.C w / D.
/// Without a cumulant this is Stein's lemma, exact for Gaussian inputs. With a third cumulant
/// (skewed classes only) the consistent second-order Edgeworth terms are added:
///   g_c(w) = C w (E_G[h'] + kappa3/6 E_G[h^(4)] + kappa4/24 E_G[h^(5)] + kappa3^2/72 E_G[h^(7)])
///          + S(w) (E_G[h''] + kappa3/6 E_G[h^(5)]) / (2 sqrt D) + T(w) E_G[h'''] / (6 D),
///   kappa3 = w.S(w) / D^(3/2).
/// On data, C is the empirical covariance (dense for `raw`, by FFT for `circulant`) and S(w),
/// T(w) the empirical actions (S only where the rows are not sign-symmetrised).
/// Derivations: derivations/stein-gaussian-closure.md, derivations/cumulant-closure.md,
/// derivations/third-cumulant-closure.md §2, derivations/data-inputs.md ("Closures on data").
public final class GaussianClosure: ClassExpectation {
    let distribution: InputDistribution
    let signal: ErrorSignal
    let cumulant: FourthCumulant?
    /// The skewed classes' S(w); nil for odd families, whose arithmetic is then untouched.
    let thirdCumulant: ThirdCumulant?
    /// T(w) of a data class: the empirical action, O(N D) per call (derivations/data-inputs.md).
    let empiricalCumulant: EmpiricalInputs?
    /// Whether the data class's empirical S(w) enters too (rows not sign-symmetrised).
    let empiricalSkew: Bool
    private var hasFourthCumulant: Bool { cumulant != nil || empiricalCumulant != nil }
    private var hasThirdCumulant: Bool { thirdCumulant != nil || empiricalSkew }
    let expectation = GaussianExpectation()
    private let size: Int
    private let covarianceTimesW: UnsafeMutablePointer<Double>
    private let cumulantAction: UnsafeMutablePointer<Double>
    private let thirdCumulantAction: UnsafeMutablePointer<Double>
    /// E_G[h^(n)], n = 0 ... 7: the right-hand side is evaluated at every ODE step, so it
    /// writes into this buffer instead of allocating.
    private let moments = UnsafeMutableBufferPointer<Double>.allocate(capacity: 8)
    private var fftWorkspace: [Double]
    private let cumulantWorkspace: CumulantWorkspace?
    private let thirdCumulantWorkspace: CumulantWorkspace?
    /// The O(D^2) baseline of `convemerge bench`: the same closure with C w and
    /// T_lead(w) as dense matrix-vector products (nil: FFT, the normal path).
    private var denseBaseline: (covariance: [Double], cumulant: DenseLeadingCumulant?, workspace: [Double])?

    /// `denseBaseline` replaces every circulant operation by a dense product; only
    /// the leading cumulant has a dense form (and no third cumulant).
    public init(distribution: InputDistribution, signal: ErrorSignal, cumulant: FourthCumulant?,
                thirdCumulant: ThirdCumulant? = nil, empiricalCumulant: EmpiricalInputs? = nil, empiricalSkew: Bool = false,
                denseBaseline: Bool = false) {
        precondition(thirdCumulant == nil || cumulant != nil, "the third cumulant's closure is second order: it needs T too")
        precondition(!empiricalSkew || empiricalCumulant != nil, "the empirical S(w) comes with the empirical T(w)")
        self.distribution = distribution
        self.signal = signal
        self.cumulant = cumulant
        self.thirdCumulant = thirdCumulant
        self.empiricalCumulant = empiricalCumulant
        self.empiricalSkew = empiricalSkew
        size = distribution.size
        covarianceTimesW = .allocate(capacity: size)
        cumulantAction = .allocate(capacity: size)
        thirdCumulantAction = .allocate(capacity: size)
        fftWorkspace = distribution.covariance.makeWorkspace()
        cumulantWorkspace = cumulant?.makeWorkspace()
        thirdCumulantWorkspace = thirdCumulant?.makeWorkspace()
        if denseBaseline {
            precondition(thirdCumulant == nil, "the dense baseline has no third cumulant")
            GSL.initialize()
            precondition(cumulant == nil || cumulant!.method == .leading, "only the leading cumulant has a dense baseline")
            let dense = cumulant.map { _ in DenseLeadingCumulant(distribution) }
            self.denseBaseline = (distribution.covariance.denseMatrix(), dense, dense?.makeWorkspace() ?? [])
        }
    }

    deinit {
        covarianceTimesW.deallocate()
        cumulantAction.deallocate()
        thirdCumulantAction.deallocate()
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

    /// Fills S(w) (by FFT for a model, by one pass over the rows for data) and returns
    /// kappa3 = w.S(w) / D^(3/2), the third cumulant of lambda.
    private func thirdOrder(_ w: UnsafePointer<Double>) -> Double {
        if let thirdCumulant {
            thirdCumulant.action(w, into: thirdCumulantAction, workspace: thirdCumulantWorkspace!)
        } else {
            let action = empiricalCumulant!.thirdCumulantAction(Array(UnsafeBufferPointer(start: w, count: size))).value
            action.withUnsafeBufferPointer { thirdCumulantAction.update(from: $0.baseAddress!, count: size) }
        }
        let d = Double(size)
        return dot(w, thirdCumulantAction, size) / (d * d.squareRoot())
    }

    public func drift(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        if hasThirdCumulant {
            skewedDrift(w, into: out)
            return
        }
        let (q, kappa4) = secondAndFourthOrder(w)
        let m = moments
        expectation.derivativeMoments(of: signal, variance: q,
                                      into: UnsafeMutableBufferPointer(rebasing: m[0...(hasFourthCumulant ? 5 : 1)]))
        var covarianceFactor = m[1]
        if hasFourthCumulant { covarianceFactor += kappa4 / 24 * m[5] }
        for i in 0..<size { out[i] = covarianceFactor * covarianceTimesW[i] }
        if hasFourthCumulant { axpy(m[3] / (6 * Double(size)), cumulantAction, out, size) }
    }

    /// The drift with the third cumulant: derivations/third-cumulant-closure.md §2, eq. (5).
    private func skewedDrift(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        let (q, kappa4) = secondAndFourthOrder(w)
        let kappa3 = thirdOrder(w)
        let m = moments
        expectation.derivativeMoments(of: signal, variance: q, into: m)
        let covarianceFactor = m[1] + kappa3 / 6 * m[4] + kappa4 / 24 * m[5] + kappa3 * kappa3 / 72 * m[7]
        for i in 0..<size { out[i] = covarianceFactor * covarianceTimesW[i] }
        let d = Double(size)
        axpy((m[2] + kappa3 / 6 * m[5]) / (2 * d.squareRoot()), thirdCumulantAction, out, size)
        axpy(m[3] / (6 * d), cumulantAction, out, size)
    }

    /// (1/2) E[(y - sigma(lambda + b))^2], with the Edgeworth corrections of lambda's own
    /// cumulants: kappa4/24 E_G[l''''] with the fourth, plus kappa3/6 E_G[l'''] and
    /// kappa3^2/72 E_G[l^(6)] with the third (derivations/third-cumulant-closure.md §2, eq. (6)).
    public func loss(_ w: UnsafePointer<Double>) -> Double {
        let (q, kappa4) = secondAndFourthOrder(w)
        let signal = self.signal
        let maxOrder = hasThirdCumulant ? 6 : hasFourthCumulant ? 4 : 0
        let m = expectation.derivativeMoments(of: { signal.loss($0) }, breakpoints: signal.discontinuities,
                                              transitions: signal.transitions, variance: q, maxOrder: maxOrder)
        if hasThirdCumulant {
            let kappa3 = thirdOrder(w)
            return m[0] + kappa3 / 6 * m[3] + kappa4 / 24 * m[4] + kappa3 * kappa3 / 72 * m[6]
        }
        return hasFourthCumulant ? m[0] + kappa4 / 24 * m[4] : m[0]
    }
}
