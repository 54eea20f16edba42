import Foundation

/// Expectations E[g^(n)(a) g^(j)(b)] over a bivariate Gaussian (a, b): the only multivariate
/// expectations of the K-unit mse flow, since F = (1/2)(y - sum_k v_k g_k)^2 has no mixed
/// derivative in three distinct units (derivations/committee-closures.md §3).
/// Conditioning on b, a | b ~ N(mu(b), s^2) and E[g^(n)(a) | b] is a closed form G_n(mu(b), s^2)
/// for relu, erf, linear and quadratic; the remaining integral over b is one-dimensional and done
/// by GaussianExpectation with the kink of g^(j) as a panel edge, so relu's kinks cost nothing.
public struct CommitteePairExpectations: Sendable {
    public let activation: Activation
    let expectation: GaussianExpectation

    public init(activation: Activation, expectation: GaussianExpectation = GaussianExpectation()) {
        precondition(CommitteeClosures.gaussianActivations.contains(activation.kind),
                     "CommitteePairExpectations: no closed form for \(activation.kind)")
        self.activation = activation
        self.expectation = expectation
    }

    /// G_n(mu, s^2) = E[g^(n)(a)], a ~ N(mu, s^2), n = 0, 1, 2 (derivations/committee-closures.md §3, eq. (G)).
    @inlinable
    public func conditionalMoment(order n: Int, mean mu: Double, variance s2: Double) -> Double {
        switch activation.kind {
        case .linear:
            return n == 0 ? mu : n == 1 ? 1 : 0
        case .quadratic:
            return n == 0 ? mu * mu + s2 : n == 1 ? 2 * mu : 2
        case .erf:
            // g = erf(a / sqrt 2): Gaussian convolutions of g' = sqrt(2/pi) e^(-a^2/2).
            let spread = 1 + s2
            if n == 0 { return Foundation.erf(mu / (2 * spread).squareRoot()) }
            let first = 0.79788456080286535588 * exp(-0.5 * mu * mu / spread) / spread.squareRoot()
            return n == 1 ? first : -mu / spread * first
        case .relu:
            guard s2 > 0 else { return n == 0 ? max(mu, 0) : n == 1 ? (mu > 0 ? 1 : 0) : 0 }
            let s = s2.squareRoot(), z = mu / s
            let density = exp(-0.5 * z * z) * 0.39894228040143267794
            if n == 2 { return density / s }
            let cumulative = 0.5 * erfc(-z * 0.70710678118654752440)
            return n == 1 ? cumulative : mu * cumulative + s * density
        default:
            preconditionFailure("unreachable: checked in init")
        }
    }

    /// E[g^(n)(a) g^(j)(b)], n in 0...2, j in 0...1, for (a, b) Gaussian with these means, variances
    /// and covariance.
    public func pair(innerOrder n: Int, outerOrder j: Int, meanA: Double, meanB: Double,
                     varianceA: Double, varianceB: Double, covariance: Double) -> Double {
        let g = activation
        func outer(_ b: Double) -> Double { j == 0 ? g.value(b) : g.derivative(b) }
        guard varianceB > 0 else { return outer(meanB) * conditionalMoment(order: n, mean: meanA, variance: varianceA) }
        let slope = covariance / varianceB
        // Clamped: round-off can make a perfectly correlated pair's conditional variance negative.
        let conditionalVariance = max(varianceA - slope * covariance, 0)
        // relu's conditional moments change, over a width s / |slope| in b, where the conditional
        // mean crosses the kink: panel edges there and graded outwards, for highly correlated units.
        var breakpoints = g.kinks
        if g.kind == .relu && slope != 0 {
            let crossing = meanB - meanA / slope, width = conditionalVariance.squareRoot() / abs(slope)
            breakpoints.append(crossing)
            for scale in [1.0, 2, 4] where width > 0 { breakpoints += [crossing - scale * width, crossing + scale * width] }
        }
        return expectation.smoothedMean(of: { b in
            outer(b) * conditionalMoment(order: n, mean: meanA + slope * (b - meanB), variance: conditionalVariance)
        }, breakpoints: breakpoints, transitions: g.transitions, mean: meanB, variance: varianceB)
    }
}
