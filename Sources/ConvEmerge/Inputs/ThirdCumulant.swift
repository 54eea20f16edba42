import Foundation

/// The action S(w)_i = sum_jk K_ijk w_j w_k of the third cumulant of a skewed input class,
/// never forming the D^3 tensor. Derivation: derivations/third-cumulant-closure.md §3.
///
/// The leading Hermite trees (one He2 vertex, two He1 legs), by two circulant convolutions,
///   S_lead(w) = 2 c1^2 c2 [ (rho w)^2 + 2 rho(w * rho w) ],  rho = Sigma / s,
/// plus the exact entries where sites coincide (K_iii = E x^3, K_iij = E[x_i^2 x_j] from the
/// Mehler series of psi^2 against psi), two more convolutions with the circulant
/// Delta of their differences from the leading trees:
///   S(w) = S_lead(w) + 2 w * (Delta w) + Delta(w * w).
/// (eqs. (8) and (10)). Only the entries with three distinct sites keep the truncation of the
/// leading trees (measured accuracy: 1% at xi <= 1, 4% at xi = 2).
public final class ThirdCumulant: @unchecked Sendable {
    public let distribution: InputDistribution
    /// 2 c1^2 c2, the weight of one leading tree; c2 = 0 for every odd psi.
    public let leadingPrefactor: Double
    /// rho = Sigma / s, the latent correlation (the trees' edges).
    private let correlation: CirculantOperator
    /// Delta_0k = exact minus leading E[x_0^2 x_k] for k != 0, Delta_00 = (E x^3 - 6 c1^2 c2) / 3
    /// (the single-site entry is met three times in 2 w * (Delta w) + Delta(w * w)).
    private let coincidence: CirculantOperator
    /// Bound on the truncation error of every coinciding-site entry.
    public static let tolerance = 1e-10

    /// Throws for `--inputs` on a Gaussian class (no third cumulant: callers skip it) and for
    /// `--xi` when the pair series converges too slowly at the nearest-neighbour correlation.
    public init(_ distribution: InputDistribution) throws {
        try require(!distribution.isGaussian, flag: "--inputs", "a Gaussian class has no third cumulant")
        self.distribution = distribution
        let s = distribution.spec.kernel.variance
        let rho = distribution.baseCovariance.firstRow.map { $0 / s }
        correlation = CirculantOperator(lattice: distribution.lattice, firstRow: rho)
        let marginal = distribution.marginal
        // a_n of psi and b_n of psi^2 against h_n = He_n / sqrt(n!): derivations/third-cumulant-closure.md §3.
        let psi = { (u: Double) in marginal(s.squareRoot() * u) }
        // For odd psi the odd a_n and even b_n are not round-off but exactly 0, so that S
        // vanishes identically (psi odd: a_n = 0 for even n; psi^2 even: b_n = 0 for odd n).
        let odd = distribution.spec.family.isOdd
        let secondMoment = distribution.covariance.firstRow[0]
        let linear = try HermiteSeries(quadratureOf: psi, variance: secondMoment, breakpoints: marginal.breakpoints, odd: odd)
        let fourthMoment = (try marginal.excessKurtosis() + 3) * secondMoment * secondMoment
        var squared = try HermiteSeries(quadratureOf: { psi($0) * psi($0) }, variance: fourthMoment,
                                        breakpoints: marginal.breakpoints)
        if odd {
            squared = HermiteSeries(normalised: squared.normalised.indices.map { $0 % 2 == 1 ? 0 : squared.normalised[$0] },
                                    variance: fourthMoment)
        }
        let c = linear.coefficients(maxOrder: 2)
        let prefactor = 2 * c[1] * c[1] * c[2]
        leadingPrefactor = prefactor
        let singleSite = marginal.skewness * pow(secondMoment, 1.5)
        var delta = [Double](repeating: 0, count: rho.count)
        delta[0] = (singleSite - 3 * prefactor) / 3
        for k in 1..<rho.count {
            let r = rho[k]
            let exact = try Self.pairMoment(linear: linear, squared: squared, correlation: r)
            delta[k] = exact - prefactor * (2 * r + r * r)
        }
        coincidence = CirculantOperator(lattice: distribution.lattice, firstRow: delta)
    }

    /// E[psi(u)^2 psi(u')] at corr(u, u') = r: sum_{n>=1} b_n a_n r^n (Mehler, eq. (9)), truncated where
    /// Cauchy-Schwarz bounds the rest, |r|^(N+1) sqrt(tail_a(N) tail_b(N)), by `tolerance`.
    static func pairMoment(linear: HermiteSeries, squared: HermiteSeries, correlation r: Double) throws -> Double {
        let orders = min(linear.normalised.count, squared.normalised.count)
        guard let order = (1..<orders).first(where: {
            pow(abs(r), Double($0 + 1)) * (linear.tails[$0] * squared.tails[$0]).squareRoot() <= tolerance
        }) else {
            throw ConvEmergeError.invalidInput(flag: "--xi", message: "the third cumulant's pair series needs more than \(orders - 1) Hermite terms at latent correlation \(r); use a shorter --xi or a larger --jitter")
        }
        var sum = 0.0
        var n = order
        while n >= 1 {
            sum = sum * r + squared.normalised[n] * linear.normalised[n]
            n -= 1
        }
        return sum * r
    }

    public var size: Int { distribution.size }

    public func makeWorkspace() -> CumulantWorkspace {
        CumulantWorkspace(size: size, extendedSize: 0, spectrumSize: correlation.makeWorkspace().count)
    }

    public func action(_ w: [Double]) -> [Double] {
        precondition(w.count == size, "w must have D entries")
        var out = [Double](repeating: 0, count: size)
        let workspace = makeWorkspace()
        w.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { action(input.baseAddress!, into: $0.baseAddress!, workspace: workspace) }
        }
        return out
    }

    /// Allocation-free S(w) for ODE right-hand sides; `w` and `out` must not alias.
    public func action(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, workspace: CumulantWorkspace) {
        let smoothed = workspace.first, branch = workspace.second, pairs = workspace.third
        correlation.apply(w, smoothed, workspace: workspace.spectrum)
        for i in 0..<size { branch[i] = w[i] * smoothed[i] }
        correlation.apply(branch, branch, workspace: workspace.spectrum)
        coincidence.apply(w, pairs, workspace: workspace.spectrum)
        for i in 0..<size { out[i] = w[i] * w[i] }
        coincidence.apply(out, out, workspace: workspace.spectrum)
        let prefactor = leadingPrefactor
        for i in 0..<size {
            let y = smoothed[i]
            out[i] += prefactor * (y * y + 2 * branch[i]) + 2 * w[i] * pairs[i]
        }
    }

    /// K_ijk as the action uses it: the leading trees, exact where two or three sites coincide.
    public func cumulant(_ i: Int, _ j: Int, _ k: Int) -> Double {
        let rho = { (a: Int, b: Int) in self.correlation.element(a, b) }
        let leading = leadingPrefactor * (rho(i, j) * rho(i, k) + rho(j, i) * rho(j, k) + rho(k, i) * rho(k, j))
        if i == j && j == k { return leading + 3 * coincidence.element(i, i) }
        if i == j { return leading + coincidence.element(i, k) }
        if i == k || j == k { return leading + coincidence.element(i, j) }
        return leading
    }

    /// Monte Carlo estimate of S(w) with per-component standard errors: the mean of
    /// x_i [(w.x)^2 - w.Cw], whose expectation is E[x_i (w.x)^2] = S(w)_i for centred inputs
    /// (the subtracted control variate has mean 0; derivations/third-cumulant-closure.md §3).
    public static func monteCarloAction(_ distribution: InputDistribution, w: [Double], samples n: Int, seed: UInt64)
        -> (mean: [Double], standardError: [Double]) {
        let q = distribution.covariance.quadraticForm(w)
        return monteCarloProjection(distribution, w: w, samples: n, seed: seed) { p in p * p - q }
    }
}
