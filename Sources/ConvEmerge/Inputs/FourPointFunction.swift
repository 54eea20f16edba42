import CGSL
import Foundation

/// The exact four-point function of the NLGP, E[psi(z_1) psi(z_2) psi(z_3) psi(z_4)]
/// for z ~ N(0, S) with equal variances S_aa = s, as a one-dimensional integral of
/// elementary functions. Derivation: derivations/fourth-cumulant.md.
///
/// erf(g z / sqrt 2) = E_u[sign(g z - u)] with an independent u ~ N(0, 1) per factor,
/// so the moment is gamma^-2 E[sign(v_1) ... sign(v_4)], v ~ N(0, R), R = kappa P + (1 - kappa) I,
/// P = S/s, kappa = g^2 s/(1 + g^2 s). Plackett's reduction along R(tau) = tau P + (1 - tau) I gives
///   E[s_1 s_2 s_3 s_4] = (4/pi^2) int_0^kappa dtau sum_{a<b} P_ab asin(rho_cd|ab(tau)) / sqrt(1 - tau^2 P_ab^2),
/// rho_cd|ab the partial correlation of the complementary pair given (a, b) under R(tau).
public enum FourPointFunction {
    /// E[sign(v_1) sign(v_2) sign(v_3) sign(v_4)], v ~ N(0, R), R a 4 x 4 correlation
    /// matrix (row-major, unit diagonal). Pairs with |R_ab| = 1 (to 1e-12) are identical
    /// signs up to sign(R_ab), which reduces the product to a two-point function (2/pi) asin.
    /// `absoluteTolerance` bounds the quadrature error of the result.
    public static func signMoment(correlation R: [Double], absoluteTolerance: Double = 1e-13) throws -> Double {
        precondition(R.count == 16, "a 4 x 4 correlation matrix, row-major")
        return try PlackettIntegrator().signMoment(SymmetricFour(R), epsilon: 0, absoluteTolerance: absoluteTolerance)
    }

    /// E[psi(z_1) psi(z_2) psi(z_3) psi(z_4)], z ~ N(0, S), S a 4 x 4 covariance (row-major)
    /// with equal diagonal entries. Factors may sit on the same site (equal rows of S).
    /// `absoluteTolerance` bounds the quadrature error of the result.
    public static func moment(latentCovariance S: [Double], psi: GainFunction, absoluteTolerance: Double = 1e-12) throws -> Double {
        precondition(S.count == 16, "a 4 x 4 covariance matrix, row-major")
        let s = S[0]
        precondition((0..<4).allSatisfy { abs(S[5 * $0] - s) <= 1e-12 * s }, "equal variances S_aa")
        let correlation = SymmetricFour { a, b in a == b ? 1 : S[4 * a + b] / s }
        return try PlackettIntegrator().moment(correlation: correlation, latentVariance: s, psi: psi, absoluteTolerance: absoluteTolerance)
    }

    /// |R_ab| at and above which two sign factors count as identical (g = inf on one site).
    static let coincidenceThreshold = 1 - 1e-12
}

/// A symmetric 4 x 4 matrix, row-major.
struct SymmetricFour {
    var m: [Double]

    init(_ matrix: [Double]) { m = matrix }

    init(_ entry: (Int, Int) -> Double) {
        m = [Double](repeating: 0, count: 16)
        for a in 0..<4 { for b in 0..<4 { m[4 * a + b] = entry(a, b) } }
    }

    @inline(__always) subscript(_ a: Int, _ b: Int) -> Double { m[4 * a + b] }

    /// The six pairs (a, b), a < b, each with its complement (c, d).
    static let pairs: [(a: Int, b: Int, c: Int, d: Int)] = [
        (0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2), (1, 2, 0, 3), (1, 3, 0, 2), (2, 3, 0, 1),
    ]
}

/// Evaluates the Plackett integral with one GSL workspace; one per thread.
final class PlackettIntegrator {
    private let workspace: UnsafeMutablePointer<gsl_integration_workspace>
    private static let intervalLimit = 1000

    /// Per pair (a, b) of the current matrix, everything the integrand needs that does not
    /// depend on the path: P_ab, |P_ab| and 1 - |P_ab| (kept apart so that 1 - tau |P_ab| is a
    /// sum of non-negative terms), and the coefficients of the numerator and of the two
    /// conditional variances as polynomials in (tau, u). Row-major, 6 x 10.
    private var coefficients = [Double](repeating: 0, count: 60)

    init() {
        GSL.initialize()
        workspace = gsl_integration_workspace_alloc(PlackettIntegrator.intervalLimit)!
    }

    deinit { gsl_integration_workspace_free(workspace) }

    /// E[s_1 s_2 s_3 s_4] for R = (1 - eps) P + eps I: the Plackett integrand of P integrated
    /// along tau P + (1 - tau) I up to tau = 1 - eps. derivations/fourth-cumulant.md.
    func signMoment(_ P: SymmetricFour, epsilon: Double, absoluteTolerance: Double) throws -> Double {
        // Identical signs (only at g = inf, eps = 0, on coincident sites): s_a s_b = sign(P_ab).
        if epsilon == 0 {
            for pair in SymmetricFour.pairs where abs(P[pair.a, pair.b]) >= FourPointFunction.coincidenceThreshold {
                let rest = P[pair.c, pair.d]
                let twoPoint = abs(rest) >= FourPointFunction.coincidenceThreshold ? (rest > 0 ? 1.0 : -1.0) : 2 / Double.pi * asin(rest)
                return (P[pair.a, pair.b] > 0 ? 1 : -1) * twoPoint
            }
        }
        prepare(P)
        // The first half of the path in tau itself (small tau keeps its relative precision at
        // small g), the rest in w = sqrt(1 - tau) (see `rootIntegrand`).
        let split = 0.5, kappa = 1 - epsilon
        let tolerance = absoluteTolerance * Double.pi * Double.pi / 4 / 2
        var integral = try integrate(from: 0, to: min(kappa, split), inRoot: false, absoluteTolerance: tolerance)
        if kappa > split {
            integral += try integrate(from: epsilon.squareRoot(), to: (1 - split).squareRoot(), inRoot: true, absoluteTolerance: tolerance)
        }
        return 4 / (Double.pi * Double.pi) * integral
    }

    /// E[psi(z_1) ... psi(z_4)] for latent correlation P and variance s. derivations/fourth-cumulant.md.
    func moment(correlation P: SymmetricFour, latentVariance s: Double, psi: GainFunction, absoluteTolerance: Double) throws -> Double {
        if psi.isIdentity {
            return s * s * (P[0, 1] * P[2, 3] + P[0, 2] * P[1, 3] + P[0, 3] * P[1, 2])
        }
        if psi.isSign {
            return try signMoment(P, epsilon: 0, absoluteTolerance: absoluteTolerance)
        }
        // Each factor has its own auxiliary noise, also for factors on one site: their
        // R_ab = kappa < 1, so the path stops at tau = kappa short of the singular end.
        let gamma = psi.gamma
        let sign = try signMoment(P, epsilon: psi.kappaComplement(latentVariance: s), absoluteTolerance: absoluteTolerance * gamma * gamma)
        return sign / (gamma * gamma)
    }

    /// det P[rows; columns] of a 3 x 3 submatrix, exactly 0 when two rows or two columns are
    /// identical (factors on one site): then the cofactor expansion along the remaining row
    /// (column) cancels term by term, which the generic expansion would leave at round-off
    /// level, a relative error of order 1e-16/eps in the conditional variances at large g.
    private func determinant(_ P: SymmetricFour, rows r: (Int, Int, Int), columns c: (Int, Int, Int)) -> Double {
        @inline(__always) func row(_ i: Int) -> (Double, Double, Double) { (P[i, c.0], P[i, c.1], P[i, c.2]) }
        @inline(__always) func column(_ j: Int) -> (Double, Double, Double) { (P[r.0, j], P[r.1, j], P[r.2, j]) }
        let (r0, r1, r2) = (row(r.0), row(r.1), row(r.2))
        if r0 == r1 || r0 == r2 || r1 == r2 { return 0 }
        let (c0, c1, c2) = (column(c.0), column(c.1), column(c.2))
        if c0 == c1 || c0 == c2 || c1 == c2 { return 0 }
        return r0.0 * (r1.1 * r2.2 - r1.2 * r2.1) - r0.1 * (r1.0 * r2.2 - r1.2 * r2.0) + r0.2 * (r1.0 * r2.1 - r1.1 * r2.0)
    }

    /// Fills `coefficients` for the matrix P. Under R(tau) = tau P + u I, u = 1 - tau:
    ///   det R[abc; abc] = u^3 + 3 u^2 tau + u tau^2 e2(abc) + tau^3 det P[abc; abc],
    ///   det R[abc; abd] = tau^3 det P[abc; abd] + u tau^2 (2 P_cd - P_cb P_bd - P_ca P_ad) + u^2 tau P_cd,
    /// e2 the sum of the principal 2-minors. derivations/fourth-cumulant.md, "Plackett integrand".
    private func prepare(_ P: SymmetricFour) {
        for (index, pair) in SymmetricFour.pairs.enumerated() {
            let (a, b, c, d) = pair
            let pab = P[a, b], pcd = P[c, d]
            let pca = P[c, a], pcb = P[c, b], pda = P[d, a], pdb = P[d, b]
            let base = 10 * index
            coefficients[base] = pab
            coefficients[base + 1] = abs(pab)
            coefficients[base + 2] = 1 - abs(pab)
            coefficients[base + 3] = determinant(P, rows: (a, b, c), columns: (a, b, d))
            coefficients[base + 4] = 2 * pcd - pcb * pdb - pca * pda
            coefficients[base + 5] = pcd
            coefficients[base + 6] = (1 - pab * pab) + (1 - pca * pca) + (1 - pcb * pcb)
            coefficients[base + 7] = determinant(P, rows: (a, b, c), columns: (a, b, c))
            coefficients[base + 8] = (1 - pab * pab) + (1 - pda * pda) + (1 - pdb * pdb)
            coefficients[base + 9] = determinant(P, rows: (a, b, d), columns: (a, b, d))
        }
    }

    /// The summed Plackett integrand of the six pairs at a point (tau, u = 1 - tau) of the path:
    /// sum_{a<b} P_ab asin(rho_cd|ab) / sqrt(1 - tau^2 P_ab^2). u is passed separately so that
    /// it keeps its relative precision near the end of the path (u -> eps), where every small
    /// quantity is a sum of non-negative terms: 1 - tau |P_ab| = (1 - |P_ab|) + |P_ab| u.
    /// derivations/fourth-cumulant.md, "Plackett integrand".
    @inline(__always)
    fileprivate func integrand(tau: Double, u: Double) -> Double {
        let u2 = u * u, tau2 = tau * tau
        var total = 0.0
        coefficients.withUnsafeBufferPointer { k in
            for index in 0..<6 {
                let base = 10 * index
                let pab = k[base]
                if pab == 0 { continue }
                let absP = k[base + 1]
                let near = k[base + 2] + absP * u, far = 1 + tau * absP
                let numerator = tau * (tau2 * k[base + 3] + u * tau * k[base + 4] + u2 * k[base + 5])
                let varianceC = u * (u2 + 3 * u * tau + tau2 * k[base + 6]) + tau2 * tau * k[base + 7]
                let varianceD = u * (u2 + 3 * u * tau + tau2 * k[base + 8]) + tau2 * tau * k[base + 9]
                let product = varianceC * varianceD
                // A vanishing conditional variance only at the end point u = 0 of a degenerate
                // P at g = inf; the integrand is bounded there, one point is irrelevant.
                guard product > 0 && near > 0 else { continue }
                let partial = max(-1, min(1, numerator / product.squareRoot()))
                total += pab * asin(partial) / (near * far).squareRoot()
            }
        }
        return total
    }

    /// The integrand in w = sqrt(1 - tau) (d tau = -2 w dw, u = w^2). For factors on one site
    /// (P_ab = 1) the 1/sqrt(u) of the Plackett kernel cancels the Jacobian 2w: the integrand is
    /// smooth in w up to the end w = sqrt(eps), whatever the gain.
    @inline(__always)
    fileprivate func rootIntegrand(_ w: Double) -> Double {
        let u = w * w
        return 2 * w * integrand(tau: 1 - u, u: u)
    }

    /// The integral of `integrand` over tau in [lower, upper], or of `rootIntegrand` over w.
    private func integrate(from lower: Double, to upper: Double, inRoot: Bool, absoluteTolerance: Double) throws -> Double {
        var function = inRoot
            ? gsl_function(function: { w, params in
                Unmanaged<PlackettIntegrator>.fromOpaque(params!).takeUnretainedValue().rootIntegrand(w)
            }, params: Unmanaged.passUnretained(self).toOpaque())
            : gsl_function(function: { tau, params in
                Unmanaged<PlackettIntegrator>.fromOpaque(params!).takeUnretainedValue().integrand(tau: tau, u: 1 - tau)
            }, params: Unmanaged.passUnretained(self).toOpaque())
        var result = 0.0, error = 0.0
        let status = gsl_integration_qag(&function, lower, upper, absoluteTolerance, 1e-12, PlackettIntegrator.intervalLimit,
                                         Int32(GSL_INTEG_GAUSS21), workspace, &result, &error)
        // GSL_EROUND: round-off stopped the refinement near double precision. Accepted when
        // the error estimate is still tiny, reported otherwise.
        if status == GSL_EROUND && error <= 1e-9 { return result }
        try GSL.check(status, "gsl_integration_qag (Plackett integral)")
        return result
    }
}
