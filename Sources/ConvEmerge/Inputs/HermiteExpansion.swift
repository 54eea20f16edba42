import CGSL
import Foundation

/// Probabilists' Hermite expansion of the nonlinearity (unit variance at s = 1)
/// u -> psi_g(sqrt(s) u) = sum_n c_n He_n(u), u ~ N(0, 1).
/// With a = g sqrt(s), Stein's lemma gives the closed form (odd n only)
///   c_n = sqrt(2/(pi gamma)) * a / sqrt(1 + a^2) * (n-2)!! / n! * (-a^2/(1+a^2))^((n-1)/2).
/// Derivation: derivations/hermite-expansion.md.
public struct HermiteExpansion: Sendable {
    public let psi: GainFunction
    /// Latent variance s = Sigma_ii (1 + jitter).
    public let latentVariance: Double

    public init(psi: GainFunction, latentVariance s: Double = 1) {
        self.psi = psi
        latentVariance = s
    }

    /// c_n for n = 0 ... maxOrder (even entries are 0: psi is odd).
    public func coefficients(maxOrder: Int) -> [Double] {
        var c = [Double](repeating: 0, count: maxOrder + 1)
        if psi.isIdentity {
            if maxOrder >= 1 { c[1] = latentVariance.squareRoot() }
            return c
        }
        // rho = a^2/(1+a^2) with a = g sqrt(s) (derivations/hermite-expansion.md).
        let rho = psi.kappa(latentVariance: latentVariance)
        let ratio = rho.squareRoot()
        let alternating = -rho
        let prefactor = (2 / (Double.pi * psi.gamma)).squareRoot() * ratio
        // term_n = (n-2)!!/n! * alternating^((n-1)/2), built up from n = 1 by
        // term_{n+2} = term_n * alternating * n / ((n+1)(n+2)) to avoid overflow.
        var term = 1.0
        var n = 1
        while n <= maxOrder {
            c[n] = prefactor * term
            term *= alternating * Double(n) / (Double(n + 1) * Double(n + 2))
            n += 2
        }
        return c
    }

    /// c_n by adaptive quadrature of E[psi(sqrt(s) u) He_n(u)] / n! (GSL QAGI): an
    /// independent check of the closed form, used by the tests. Accurate to
    /// ~1e-11 relative or 1e-13 in c_n sqrt(n!) (the coefficient on the unit-norm
    /// He_n / sqrt(n!)), whichever is larger: a purely relative target cannot be
    /// met where the integral vanishes (even n, or each half line of sign inputs)
    /// or is tiny next to its integrand (small gain, high n).
    public func coefficientByQuadrature(order n: Int) throws -> Double {
        GSL.initialize()
        let scale = latentVariance.squareRoot()
        let hermiteNorm = exp(0.5 * lgamma(Double(n + 1)))
        let psi = self.psi
        let value = try GaussianQuadrature.expectation(relativeTolerance: 1e-11, absoluteTolerance: 1e-13 * hermiteNorm) { u in
            psi(scale * u) * hermite(n, u)
        }
        return value / exp(lgamma(Double(n + 1)))
    }

    /// E[x^4] / E[x^2]^2 - 3 of one input x = psi(sqrt(s) u): negative for g > 0,
    /// tending to -2 like 0.632/g as g -> inf (derivations/nlgp-covariance.md, "Marginal distribution").
    public func marginalExcessKurtosis() throws -> Double {
        if psi.isIdentity { return 0 }
        if psi.isSign { return -2 }
        let scale = latentVariance.squareRoot()
        let psi = self.psi
        let second = try GaussianQuadrature.expectation(relativeTolerance: 1e-12) { u in let x = psi(scale * u); return x * x }
        let fourth = try GaussianQuadrature.expectation(relativeTolerance: 1e-12) { u in let x = psi(scale * u); return x * x * x * x }
        return fourth / (second * second) - 3
    }
}

/// Probabilists' Hermite polynomial He_n(u) by its three-term recurrence.
@inlinable
public func hermite(_ n: Int, _ u: Double) -> Double {
    if n == 0 { return 1 }
    var previous = 1.0, current = u
    if n == 1 { return current }
    for k in 1..<n {
        let next = u * current - Double(k) * previous
        previous = current
        current = next
    }
    return current
}

/// E_u[f(u)], u ~ N(0,1), by GSL's adaptive quadrature on the real line,
/// split at 0 so that a kink or jump at the origin (relu, sign) costs nothing.
public enum GaussianQuadrature {
    private final class Box {
        let f: (Double) -> Double
        init(_ f: @escaping (Double) -> Double) { self.f = f }
    }

    public static func expectation(relativeTolerance: Double = 1e-10, absoluteTolerance: Double = 1e-14,
                                   _ f: @escaping (Double) -> Double) throws -> Double {
        GSL.initialize()
        let box = Box { u in f(u) * exp(-0.5 * u * u) / (2 * Double.pi).squareRoot() }
        let workspace = gsl_integration_workspace_alloc(1000)!
        defer { gsl_integration_workspace_free(workspace) }
        let context = Unmanaged.passUnretained(box).toOpaque()
        var function = gsl_function(function: { x, params in
            Unmanaged<Box>.fromOpaque(params!).takeUnretainedValue().f(x)
        }, params: context)
        var upper = 0.0, lower = 0.0, error = 0.0
        try GSL.check(gsl_integration_qagiu(&function, 0, absoluteTolerance, relativeTolerance, 1000, workspace, &upper, &error), "gsl_integration_qagiu")
        try GSL.check(gsl_integration_qagil(&function, 0, absoluteTolerance, relativeTolerance, 1000, workspace, &lower, &error), "gsl_integration_qagil")
        return withExtendedLifetime(box) { upper + lower }
    }
}
