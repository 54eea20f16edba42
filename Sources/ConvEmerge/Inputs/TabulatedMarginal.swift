import CGSL
import Foundation

/// An empirical copula marginal (`--inputs copula:tabulated:FILE.npy`): psi(u) = Q(Phi(u)) with Q
/// the piecewise-linear quantile function of the file's samples, held at the extreme order
/// statistics beyond them, then standardised exactly. Derivation: derivations/copula-inputs.md,
/// "Tabulated marginal".
public struct TabulatedMarginal: Hashable, Sendable, CustomStringConvertible {
    /// The file as given on the command line: the manifest records `copula:tabulated:PATH`.
    public let path: String
    /// The order statistics of the samples, ascending, affinely mapped so that psi has mean 0
    /// and variance 1 exactly (under u ~ N(0, 1), i.e. p = Phi(u) uniform).
    public let knots: [Double]
    /// Exact E psi^3 and E psi^4 - 3 of the standardised piecewise-linear psi.
    public let skewness: Double
    public let excessKurtosis: Double

    /// Fewer samples leave the tails and the kurtosis unresolved.
    public static let minimumCount = 100

    public init(path: String) throws {
        // The samples are held twice (as read, then sorted): refuse a file that cannot fit.
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        try MemoryBudget.require(MemoryBudget.product(3, bytes), flag: "--inputs", for: "the samples of '\(path)'")
        let array = try NpyArray.read(from: path, flag: "--inputs")
        try require(array.shape.count == 1 || array.shape.count == 2, flag: "--inputs",
                    "copula:tabulated needs a 1-D array of samples or an (N, D) array (pooled), '\(path)' has shape \(array.shape)")
        try require(array.values.count >= Self.minimumCount, flag: "--inputs",
                    "copula:tabulated needs >= \(Self.minimumCount) samples, '\(path)' has \(array.values.count)")
        try require(array.values.allSatisfy(\.isFinite), flag: "--inputs", "copula:tabulated needs finite samples, '\(path)' holds NaN or inf")
        try self.init(path: path, samples: array.values)
    }

    /// From samples in memory (tests, or a caller that drew them); `path` is only recorded.
    public init(path: String, samples: [Double]) throws {
        try require(samples.count >= Self.minimumCount && samples.allSatisfy(\.isFinite), flag: "--inputs",
                    "copula:tabulated needs >= \(Self.minimumCount) finite samples, got \(samples.count)")
        let sorted = samples.sorted()
        let raw = Self.moments(sorted)
        let variance = raw.second - raw.first * raw.first
        try require(variance > 1e-300 * max(1, sorted.last! * sorted.last!), flag: "--inputs",
                    "copula:tabulated needs samples that are not all equal, '\(path)' has variance \(max(0, variance))")
        let scale = 1 / variance.squareRoot()
        let knots = sorted.map { ($0 - raw.first) * scale }
        let standard = Self.moments(knots)
        self.path = path
        self.knots = knots
        skewness = standard.third
        excessKurtosis = standard.fourth - 3
    }

    public var description: String { path }

    public static func == (a: TabulatedMarginal, b: TabulatedMarginal) -> Bool { a.path == b.path && a.knots == b.knots }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(knots.count)
    }

    /// psi(u) = Q(Phi(u)): knot k (0-based) at p_k = (k + 1/2) / n (Hazen), linear in p between
    /// knots, the extreme knot beyond the outer ones.
    @inline(__always)
    public func standardised(_ u: Double) -> Double {
        let n = knots.count
        let t = gsl_cdf_ugaussian_P(u) * Double(n) - 0.5
        if t <= 0 { return knots[0] }
        if t >= Double(n - 1) { return knots[n - 1] }
        let k = Int(t), fraction = t - Double(k)
        return knots[k] + fraction * (knots[k + 1] - knots[k])
    }

    /// The latent u where psi turns constant (kinks the quadrature should not straddle).
    public var breakpoints: [Double] {
        let n = Double(knots.count)
        return [gsl_cdf_ugaussian_Pinv(0.5 / n), gsl_cdf_ugaussian_Pinv(1 - 0.5 / n)]
    }

    /// E psi^m, m = 1 ... 4, exactly: p = Phi(u) is uniform, so E psi^m = int_0^1 Q(p)^m dp, a
    /// sum over the linear pieces (the mean of t^m for t linear from a to b is
    /// sum_j a^j b^(m-j) / (m + 1)) plus the two constant end pieces of width 1/(2n).
    static func moments(_ q: [Double]) -> (first: Double, second: Double, third: Double, fourth: Double) {
        let n = Double(q.count)
        var sums = (0.0, 0.0, 0.0, 0.0)
        func add(_ a: Double, _ b: Double, weight: Double) {
            let a2 = a * a, b2 = b * b
            sums.0 += weight * (a + b) / 2
            sums.1 += weight * (a2 + a * b + b2) / 3
            sums.2 += weight * (a2 * a + a2 * b + a * b2 + b2 * b) / 4
            sums.3 += weight * (a2 * a2 + a2 * a * b + a2 * b2 + a * b2 * b + b2 * b2) / 5
        }
        add(q[0], q[0], weight: 0.5 / n)
        add(q[q.count - 1], q[q.count - 1], weight: 0.5 / n)
        for k in 0..<(q.count - 1) { add(q[k], q[k + 1], weight: 1 / n) }
        return sums
    }
}
