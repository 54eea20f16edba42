import Foundation

/// Which Z-eigenpairs SS-HOPM converges to: local minima or maxima of f(w) = w.T(w) on the
/// unit sphere. The NLGP's fourth cumulant is negative (sub-Gaussian marginals), so its
/// strongest directions are the minima (derivations/tensor-eigenpairs.md §3).
public enum TensorExtremum: String, Codable, CaseIterable, Sendable {
    case min, max

    /// s = -1 for minima: SS-HOPM maximises s f.
    var sign: Double { self == .min ? -1 : 1 }
}

/// A Z-eigenpair T(w) = mu w, |w| = 1, of the fourth-cumulant tensor.
public struct TensorEigenpair: Sendable {
    public let vector: [Double]
    public let eigenvalue: Double
    /// |T(w) - mu w|.
    public let residual: Double
    public let ipr: Double
    public let iterations: Int
    public let converged: Bool
    /// How many restarts ended on this eigenpair (up to lattice translations and sign).
    public var hits: Int
}

/// Shifted symmetric higher-order power iteration (SS-HOPM, Kolda & Mayo 2011) on the fast
/// action T(w): w <- normalise(s T(w) + alpha w), alpha doubled whenever s f(w) would decrease.
/// derivations/tensor-eigenpairs.md.
public struct TensorEigenSolver: Sendable {
    public let cumulant: FourthCumulant
    public let extremum: TensorExtremum
    /// Stop when |T(w) - mu w| <= tolerance * |mu|.
    public let tolerance: Double
    public let maxIterations: Int

    public init(cumulant: FourthCumulant, extremum: TensorExtremum = .min, tolerance: Double = 1e-10,
                maxIterations: Int = 200_000) throws {
        try require(!cumulant.vanishes, flag: "--gain", "the fourth cumulant vanishes (Gaussian inputs or gain 0): no tensor to decompose")
        try require(tolerance > 0 && tolerance < 1, flag: "--tolerance", "must be in (0, 1), got \(tolerance)")
        try require(maxIterations >= 1 && maxIterations <= 100_000_000, flag: "--max-iterations",
                    "must be in 1 ... 100000000, got \(maxIterations)")
        // Newton's polish works on the dense (D + 1) x (D + 1) system and the D x D gradient of T.
        try MemoryBudget.require(MemoryBudget.product(4, cumulant.size + 1, cumulant.size + 1, 8), flag: "--L",
                                 for: "the Newton polish of the eigenpairs at D = \(cumulant.size)")
        self.cumulant = cumulant
        self.extremum = extremum
        self.tolerance = tolerance
        self.maxIterations = maxIterations
    }

    /// One SS-HOPM run from `start` (any non-zero vector), polished by Newton's method.
    /// The power iteration converges linearly, and very slowly along the lattice translation of
    /// a localised eigenvector (nearly a symmetry when xi >> 1); once it is within `newtonRadius`
    /// (relative residual) Newton's method on (T(w) - mu w, (|w|^2 - 1)/2) converges quadratically.
    /// `heartbeat` is called every so often while it runs, for a progress display that must not go silent.
    public func solve(from start: [Double], heartbeat: (() -> Void)? = nil) -> TensorEigenpair {
        let d = cumulant.size
        let s = extremum.sign
        let workspace = cumulant.makeWorkspace()
        var w = normalised(start)
        var t = [Double](repeating: 0, count: d)
        var next = w, nextT = t
        let act = { (x: [Double], out: inout [Double]) in
            x.withUnsafeBufferPointer { input in
                out.withUnsafeMutableBufferPointer { cumulant.action(input.baseAddress!, into: $0.baseAddress!, workspace: workspace) }
            }
        }
        act(w, &t)
        var mu = dot(w, t)
        // Kolda & Mayo's convexity shift is at most 3 max|lambda(M(w))|; start from the local |mu|
        // and double on any decrease of s f, which keeps the iteration monotone.
        var alpha = abs(mu)
        var iterations = 0
        var residual = TensorEigenSolver.residual(w, t, mu)
        var lastPolish = -2000
        while iterations < maxIterations && residual > tolerance * abs(mu) {
            // Newton again every 2000 power steps while the residual is still too large.
            if residual <= newtonRadius * abs(mu) && iterations >= lastPolish + 2000 {
                lastPolish = iterations
                if let (v, vMu, vResidual) = newtonPolish(w, heartbeat: heartbeat), vResidual < residual {
                    w = v
                    mu = vMu
                    residual = vResidual
                    act(w, &t)
                    continue
                }
            }
            iterations += 1
            if iterations % 64 == 0 { heartbeat?() }
            for i in 0..<d { next[i] = s * t[i] + alpha * w[i] }
            next = normalised(next)
            act(next, &nextT)
            let nextMu = dot(next, nextT)
            if s * nextMu < s * mu - 1e-15 * abs(mu) {
                alpha *= 2
                continue
            }
            swap(&w, &next)
            swap(&t, &nextT)
            mu = nextMu
            residual = TensorEigenSolver.residual(w, t, mu)
        }
        return TensorEigenpair(vector: w, eigenvalue: mu, residual: residual, ipr: Observables.inverseParticipationRatio(w),
                               iterations: iterations, converged: residual <= tolerance * abs(mu), hits: 1)
    }

    /// Relative residual below which SS-HOPM hands over to Newton's method.
    public var newtonRadius: Double { 1e-3 }

    /// Newton's method on F(w, mu) = (T(w) - mu w, (w.w - 1)/2), Jacobian [[grad T - mu I, -w], [w^T, 0]]
    /// (derivations/tensor-eigenpairs.md eq. (4)). A localised eigenvector of a smooth kernel can be
    /// translated at almost no cost (the lattice pins it only weakly), which makes the Jacobian nearly
    /// singular; the pinned eigenvectors are mirror-symmetric about a site or a bond, so Newton runs in
    /// the mirror-symmetric subspace about the candidate centres next to w's centre, where the
    /// translation (odd) mode is absent, and the best result is kept.
    func newtonPolish(_ start: [Double], heartbeat: (() -> Void)? = nil) -> (vector: [Double], eigenvalue: Double, residual: Double)? {
        let lattice = cumulant.lattice
        // Twice the centre along each axis: even = a site, odd = a bond midpoint.
        let doubled = Observables.center(start, lattice: lattice).map { Int((2 * ($0.isFinite ? $0 : 0)).rounded()) }
        var candidates: [[Int]] = [[]]
        for axis in doubled.indices {
            candidates = candidates.flatMap { partial in (-1...1).map { partial + [doubled[axis] + $0] } }
        }
        var best: (vector: [Double], eigenvalue: Double, residual: Double)?
        for mirrors in candidates {
            let result = newtonIteration(from: start, mirrors: mirrors, heartbeat: heartbeat)
            if best == nil || result.residual < best!.residual { best = result }
        }
        return best
    }

    /// Averages w with its mirror images x -> (m - x) mod L along each axis (m = `mirrors[axis]`).
    func symmetrised(_ w: [Double], mirrors: [Int]) -> [Double] {
        let lattice = cumulant.lattice, L = lattice.length
        var v = w
        for (axis, m) in mirrors.enumerated() {
            let mirrored = (0..<v.count).map { i -> Double in
                let (row, column) = lattice.coordinates(of: i)
                let reflect = { (x: Int) in ((m - x) % L + L) % L }
                let image = lattice.dimension == 1 ? reflect(column)
                    : (mirrors.count == 2 && axis == 0 ? reflect(row) * L + column : row * L + reflect(column))
                return v[image]
            }
            v = zip(v, mirrored).map { 0.5 * ($0 + $1) }
        }
        return normalised(v)
    }

    private func newtonIteration(from start: [Double], mirrors: [Int],
                                 heartbeat: (() -> Void)?) -> (vector: [Double], eigenvalue: Double, residual: Double) {
        let d = cumulant.size, n = d + 1
        let evaluate = { (v: [Double]) -> (vector: [Double], eigenvalue: Double, residual: Double) in
            let t = self.cumulant.action(v)
            let mu = dot(v, t)
            return (v, mu, TensorEigenSolver.residual(v, t, mu))
        }
        var best = evaluate(symmetrised(start, mirrors: mirrors))
        for _ in 0..<30 where best.residual > 1e-3 * tolerance * abs(best.eigenvalue) {
            heartbeat?()
            let w = best.vector, mu = best.eigenvalue
            let t = cumulant.action(w)
            let gradient = cumulant.gradient(at: w)
            var matrix = [Double](repeating: 0, count: n * n)
            var rhs = [Double](repeating: 0, count: n)
            for i in 0..<d {
                for j in 0..<d { matrix[i * n + j] = gradient[i * d + j] }
                matrix[i * n + i] -= mu
                matrix[i * n + d] = -w[i]
                matrix[d * n + i] = w[i]
                rhs[i] = -(t[i] - mu * w[i])
            }
            guard let step = try? DenseLinearAlgebra.leastSquaresSolve(matrix, n: n, rhs, relativeCutoff: 1e-9) else { break }
            var fraction = 1.0
            var improved = false
            for _ in 0..<10 {
                let trial = evaluate(symmetrised((0..<d).map { w[$0] + fraction * step[$0] }, mirrors: mirrors))
                if trial.residual < best.residual {
                    best = trial
                    improved = true
                    break
                }
                fraction /= 2
            }
            if !improved { break }
        }
        return best
    }

    /// SS-HOPM from `restarts` Gaussian random starts (stream r of `seed`), eigenpairs that agree
    /// up to a lattice translation and sign merged, most extreme eigenvalue first. A start that
    /// did not converge within `maxIterations` is no eigenpair and is left out (restarts minus the
    /// sum of the hits counts them). `progress`: the fraction of restarts done, repeated while one
    /// runs (restarts take unforeseeable times).
    public func eigenpairs(restarts: Int, seed: UInt64, progress: ((Double) -> Void)? = nil) throws -> [TensorEigenpair] {
        try require(restarts >= 1 && restarts <= 100_000, flag: "--restarts", "must be in 1 ... 100000, got \(restarts)")
        let lattice = cumulant.lattice
        var found: [TensorEigenpair] = []
        for r in 0..<restarts {
            var rng = Xoshiro256(seed: seed, stream: r)
            let start = (0..<cumulant.size).map { _ in rng.nextGaussian() }
            let done = Double(r) / Double(restarts)
            progress?(done)
            let pair = solve(from: start, heartbeat: progress.map { report in { report(done) } })
            guard pair.converged else { continue }
            if let k = found.firstIndex(where: { TensorEigenSolver.overlap($0.vector, pair.vector, lattice: lattice) > 1 - 1e-6 }) {
                found[k].hits += 1
            } else {
                found.append(pair)
            }
        }
        progress?(1)
        return found.sorted { extremum.sign * $0.eigenvalue > extremum.sign * $1.eigenvalue }
    }

    /// max over lattice translations and sign of the cosine between a and b.
    public static func overlap(_ a: [Double], _ b: [Double], lattice: Lattice) -> Double {
        Observables.maximalShiftedCosineUpToSign(a, b, lattice: lattice)
    }

    static func residual(_ w: [Double], _ t: [Double], _ mu: Double) -> Double {
        var sum = 0.0
        for i in w.indices { sum += (t[i] - mu * w[i]) * (t[i] - mu * w[i]) }
        return sum.squareRoot()
    }
}

