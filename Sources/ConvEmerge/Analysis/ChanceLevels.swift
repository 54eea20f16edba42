import Foundation

/// What an overlap between two vectors would be by chance: for random Gaussian vectors, for a
/// bump of a given width at a random position, and for random CNN filters against a network's
/// receptive fields (derivations/tiling-statistics.md §6).
public enum ChanceLevel {
    public struct Summary: Codable, Sendable, Hashable {
        public var mean: Double
        public var sd: Double
        public var samples: Int

        public init(_ values: [Double]) {
            let n = Double(values.count)
            let average = values.reduce(0, +) / n
            mean = average
            sd = (values.reduce(0) { $0 + ($1 - average) * ($1 - average) } / max(n - 1, 1)).squareRoot()
            samples = values.count
        }
    }

    /// E|cos(z, v)| for z ~ N(0, I_D) and any fixed v: Gamma(D/2) / (sqrt(pi) Gamma((D+1)/2)),
    /// ~ sqrt(2 / (pi D)) for large D (derivations/tiling-statistics.md §6).
    public static func expectedAbsoluteCosine(dimension d: Int) -> Double {
        exp(lgamma(Double(d) / 2) - lgamma(Double(d + 1) / 2)) / Double.pi.squareRoot()
    }

    /// |cos(z, reference)| of `samples` Gaussian random vectors z, unshifted.
    public static func randomVectorCosine(reference: [Double], samples: Int, seed: UInt64) -> Summary {
        var rng = Xoshiro256(seed: seed, stream: 11)
        return Summary((0..<samples).map { _ in
            abs(Observables.cosineSimilarity(reference.map { _ in rng.nextGaussian() }, reference))
        })
    }

    /// The overlap `TensorEigenSolver.overlap` (|cosine| maximised over translations and sign) of
    /// `samples` Gaussian random vectors with `reference`.
    public static func randomVectorOverlap(reference: [Double], lattice: Lattice, samples: Int, seed: UInt64) -> Summary {
        var rng = Xoshiro256(seed: seed, stream: 12)
        return Summary((0..<samples).map { _ in
            Observables.maximalShiftedCosineUpToSign(reference.map { _ in rng.nextGaussian() }, reference, lattice: lattice)
        })
    }

    /// w_i = exp(-d_i^2 / (4 s^2)), d_i the torus distance of site i from `centre`: w^2 is a
    /// Gaussian of standard deviation s, so its circular width is ~s for s << L
    /// (derivations/tiling-statistics.md §6).
    public static func bump(width s: Double, centre: [Double], lattice: Lattice) -> [Double] {
        let length = Double(lattice.length)
        return (0..<lattice.size).map { site in
            let (row, column) = lattice.coordinates(of: site)
            let point = lattice.dimension == 1 ? [Double(column)] : [Double(row), Double(column)]
            let d = Tiling.torusDistance(point, centre, length: length)
            return exp(-d * d / (4 * s * s))
        }
    }

    /// The same overlap for a bump of width `width` centred at a uniformly random (continuous)
    /// position: the position matters only through its offset from the nearest site.
    public static func randomBumpOverlap(reference: [Double], width: Double, lattice: Lattice, samples: Int, seed: UInt64) -> Summary {
        var rng = Xoshiro256(seed: seed, stream: 13)
        let length = Double(lattice.length)
        return Summary((0..<samples).map { _ in
            let centre = (0..<lattice.dimension).map { _ in rng.nextOpenUniform() * length }
            return Observables.maximalShiftedCosineUpToSign(bump(width: width, centre: centre, lattice: lattice), reference, lattice: lattice)
        })
    }

    /// For each filter, its best-match cosine with `fields` (max over fields and shifts,
    /// `FilterAlignment.bestMatches`), and the same for as many N(0, 1) filters of the same size
    /// drawn from `rng`: the cosine does not depend on the norm, so these are random filters of
    /// any common norm (derivations/cnn-baseline.md §4; derivations/tiling-statistics.md §6).
    public static func filterAlignment(filters: [[Double]], fields: [[Double]], lattice: Lattice,
                                       rng: inout Xoshiro256) -> (matches: [FilterAlignment.Match], chance: [Double]) {
        let matches = FilterAlignment.bestMatches(filters: filters, receptiveFields: fields, lattice: lattice)
        let random = filters.map { filter in filter.map { _ in rng.nextGaussian() } }
        let chance = FilterAlignment.bestMatches(filters: random, receptiveFields: fields, lattice: lattice).map(\.cosine)
        return (matches, chance)
    }
}
