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

    /// (G_0, G_1, G_2)(mu, s^2), G_n = E[g^(n)(a)], a ~ N(mu, s^2) (derivations/committee-closures.md §3, eq. (G)).
    @inlinable
    public func conditionalMoments(mean mu: Double, variance s2: Double) -> (Double, Double, Double) {
        switch activation.kind {
        case .linear:
            return (mu, 1, 0)
        case .quadratic:
            return (mu * mu + s2, 2 * mu, 2)
        case .erf:
            // g = erf(a / sqrt 2): Gaussian convolutions of g' = sqrt(2/pi) e^(-a^2/2).
            let spread = 1 + s2
            let first = 0.79788456080286535588 * exp(-0.5 * mu * mu / spread) / spread.squareRoot()
            return (Foundation.erf(mu / (2 * spread).squareRoot()), first, -mu / spread * first)
        case .relu:
            guard s2 > 0 else { return (max(mu, 0), mu > 0 ? 1 : 0, 0) }
            let s = s2.squareRoot(), z = mu / s
            let density = exp(-0.5 * z * z) * 0.39894228040143267794
            let cumulative = 0.5 * erfc(-z * 0.70710678118654752440)
            return (mu * cumulative + s * density, cumulative, density / s)
        default:
            preconditionFailure("unreachable: checked in init")
        }
    }

    /// The pair expectations of two units, inner a and outer b, from one pass over b.
    public struct Moments: Sendable {
        /// E[g''(a) g(b)], E[g'(a) g'(b)], E[g'(a) g(b)], E[g(a) g(b)], E[g(a) g'(b)].
        public var curvatureValue = 0.0, slopeSlope = 0.0, slopeValue = 0.0, valueValue = 0.0, valueSlope = 0.0
    }

    /// E[g^(n)(a) g^(j)(b)] for (a, b) Gaussian with these means, variances and covariance: conditioning on
    /// b, a | b ~ N(mu_a + (C/V_b)(b - mu_b), V_a - C^2/V_b), then one integral over b on GaussianExpectation's
    /// mesh (panel edges at g's kinks, graded around its transitions), all five moments at each node.
    public func moments(meanA: Double, meanB: Double, varianceA: Double, varianceB: Double, covariance: Double) -> Moments {
        let g = activation
        var result = Moments()
        integrateOverOuter(meanA: meanA, meanB: meanB, varianceA: varianceA, varianceB: varianceB, covariance: covariance) { weight, b, mean, variance in
            let conditional = conditionalMoments(mean: mean, variance: variance)
            let value = g.value(b), slope = g.derivative(b)
            result.curvatureValue += weight * conditional.2 * value
            result.slopeSlope += weight * conditional.1 * slope
            result.slopeValue += weight * conditional.1 * value
            result.valueValue += weight * conditional.0 * value
            result.valueSlope += weight * conditional.0 * slope
        }
        return result
    }

    /// Calls `accumulate(weight, b, mu(b), s^2)` at the nodes of the integral over the outer variable b, where
    /// a | b ~ N(mu(b), s^2), mu(b) = mu_a + (C/V_b)(b - mu_b), s^2 = V_a - C^2/V_b: GaussianExpectation's mesh
    /// (panel edges at g's kinks, graded around its transitions), and for relu edges graded around the b where
    /// mu(b) crosses the kink. A degenerate b (V_b = 0) is one node of weight 1.
    func integrateOverOuter(meanA: Double, meanB: Double, varianceA: Double, varianceB: Double, covariance: Double,
                            _ accumulate: (_ weight: Double, _ b: Double, _ mean: Double, _ variance: Double) -> Void) {
        let g = activation
        guard varianceB > 0 else {
            accumulate(1, meanB, meanA, varianceA)
            return
        }
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
        let sigma = varianceB.squareRoot(), transitions = g.transitions
        let levels = expectation.gradingLevels(sigma: sigma)
        let capacity = expectation.panels + 1 + breakpoints.count + transitions.count * (1 + 2 * levels)
        withUnsafeTemporaryAllocation(of: Double.self, capacity: capacity) { edges in
            let count = expectation.buildMesh(breakpoints: breakpoints, transitions: transitions, levels: levels,
                                              mean: meanB, sigma: sigma, into: edges)
            let x = expectation.abscissae, w = expectation.weights
            for panel in 0..<(count - 1) {
                let half = 0.5 * (edges[panel + 1] - edges[panel]), middle = 0.5 * (edges[panel + 1] + edges[panel])
                for i in x.indices {
                    let u = middle + half * x[i]
                    let b = meanB + sigma * u
                    accumulate(w[i] * half * 0.39894228040143267794 * exp(-0.5 * u * u), b,
                               meanA + slope * (b - meanB), conditionalVariance)
                }
            }
        }
    }

    /// E[g^(n)(a) g^(j)(b)] for (n, j) in (2, 0), (1, 1), (1, 0), (0, 0), (0, 1): one of `moments`.
    public func pair(innerOrder n: Int, outerOrder j: Int, meanA: Double, meanB: Double,
                     varianceA: Double, varianceB: Double, covariance: Double) -> Double {
        let m = moments(meanA: meanA, meanB: meanB, varianceA: varianceA, varianceB: varianceB, covariance: covariance)
        switch (n, j) {
        case (2, 0): return m.curvatureValue
        case (1, 1): return m.slopeSlope
        case (1, 0): return m.slopeValue
        case (0, 0): return m.valueValue
        case (0, 1): return m.valueSlope
        default: preconditionFailure("CommitteePairExpectations.pair: no (\(n), \(j)) moment")
        }
    }
}
