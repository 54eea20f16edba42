import Foundation

/// Where the receptive fields of a network sit on the lattice, and whether their centres tile
/// it more evenly (or more clustered) than independent uniformly random centres would.
/// Definitions, null distributions and p-values: derivations/tiling-statistics.md.
public enum Tiling {
    /// Shape of one unit's receptive field.
    public struct UnitShape: Codable, Sendable, Hashable {
        public var ipr: Double
        /// Circular mean per axis, in sites in [0, L) (derivations/observables.md eq. (3)).
        public var centre: [Double]
        /// Circular standard deviation of w^2, in sites (derivations/observables.md eq. (4)).
        public var width: Double
        public var localised: Bool
    }

    /// E IPR(z) = 3 / (D + 2) for z ~ N(0, I_D): what an extended, unstructured RF has
    /// (derivations/tiling-statistics.md §2).
    public static func randomVectorIPR(dimension d: Int) -> Double { 3 / Double(d + 2) }

    /// `threshold` x the random-vector IPR: a unit whose IPR exceeds it counts as localised.
    public static func shapes(of units: [[Double]], lattice: Lattice, threshold: Double) -> [UnitShape] {
        let cutoff = threshold * randomVectorIPR(dimension: lattice.size)
        return units.map { w in
            let ipr = Observables.inverseParticipationRatio(w)
            let centre = Observables.center(w, lattice: lattice)
            let width = Observables.width(w, lattice: lattice)
            return UnitShape(ipr: ipr, centre: centre, width: width,
                             localised: ipr > cutoff && centre.allSatisfy(\.isFinite) && width.isFinite)
        }
    }

    // MARK: - Geometry of centres

    /// Minimum-image distance between two points of the continuous ring / torus of side L.
    static func torusDistance(_ a: [Double], _ b: [Double], length: Double) -> Double {
        var sum = 0.0
        for axis in a.indices {
            var d = abs(a[axis] - b[axis]).truncatingRemainder(dividingBy: length)
            d = min(d, length - d)
            sum += d * d
        }
        return sum.squareRoot()
    }

    /// Mean over centres of the distance to the nearest other centre (derivations/tiling-statistics.md §3).
    /// NaN for fewer than two centres.
    public static func meanNearestNeighbourDistance(_ centres: [[Double]], length: Double) -> Double {
        guard centres.count >= 2 else { return .nan }
        var total = 0.0
        for i in centres.indices {
            var nearest = Double.infinity
            for j in centres.indices where j != i { nearest = min(nearest, torusDistance(centres[i], centres[j], length: length)) }
            total += nearest
        }
        return total / Double(centres.count)
    }

    /// Nearest-neighbour distance of n evenly spaced centres: L/n on a ring, L/sqrt(n) for a
    /// square lattice of n points on the torus (derivations/tiling-statistics.md §3).
    public static func evenSpacing(count n: Int, lattice: Lattice) -> Double {
        let length = Double(lattice.length)
        return lattice.dimension == 1 ? length / Double(n) : length / Double(n).squareRoot()
    }

    /// E[mean nearest-neighbour distance] of n >= 2 independent uniform centres on a ring of
    /// circumference L: L / (2n) exactly (derivations/tiling-statistics.md §4).
    public static func uniformRingNearestNeighbourMean(count n: Int, length: Double) -> Double { length / (2 * Double(n)) }

    /// Fraction of lattice sites within one width of at least one centre
    /// (derivations/tiling-statistics.md §5).
    public static func coverage(centres: [[Double]], widths: [Double], lattice: Lattice) -> Double {
        let length = Double(lattice.length)
        var covered = 0
        for site in 0..<lattice.size {
            let (row, column) = lattice.coordinates(of: site)
            let point = lattice.dimension == 1 ? [Double(column)] : [Double(row), Double(column)]
            if centres.indices.contains(where: { torusDistance(point, centres[$0], length: length) <= widths[$0] }) { covered += 1 }
        }
        return Double(covered) / Double(lattice.size)
    }

    // MARK: - Statistics against the uniform null

    /// An observed statistic against its Monte Carlo null distribution.
    public struct NullComparison: Codable, Sendable, Hashable {
        public var observed: Double
        public var nullMean: Double
        public var nullSd: Double
        /// (1 + #{null >= observed}) / (1 + N): small when the observed value is larger than chance gives.
        public var pLarger: Double
        /// (1 + #{null <= observed}) / (1 + N): small when it is smaller than chance gives.
        public var pSmaller: Double

        init(observed: Double, null: [Double]) {
            let n = Double(null.count)
            let mean = null.reduce(0, +) / n
            let variance = null.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(n - 1, 1)
            self.observed = observed
            nullMean = mean
            nullSd = variance.squareRoot()
            pLarger = (1 + Double(null.filter { $0 >= observed }.count)) / (1 + n)
            pSmaller = (1 + Double(null.filter { $0 <= observed }.count)) / (1 + n)
        }
    }

    /// The tiling of one or more networks (replicas), each with its own localised units.
    public struct Report: Codable, Sendable, Hashable {
        /// Localised units per network.
        public var localisedCounts: [Int]
        /// Mean nearest-neighbour distance (averaged over the networks with >= 2 localised units):
        /// pLarger small = more evenly spaced than random, pSmaller small = more clustered.
        public var nearestNeighbour: NullComparison?
        /// The same mean over networks of the even-spacing distance L/n (L/sqrt n in 2D).
        public var evenSpacing: Double?
        /// Coverage averaged over networks with >= 1 localised unit.
        public var coverage: NullComparison?
        public var nullSamples: Int
    }

    /// Centres and widths of the localised units of each network, compared with `samples` draws of
    /// the same numbers of independent uniform centres (each keeping its unit's width for coverage).
    public static func analyse(networks: [[UnitShape]], lattice: Lattice, samples: Int, seed: UInt64) -> Report {
        let length = Double(lattice.length)
        let localised = networks.map { $0.filter(\.localised) }
        let spaced = localised.filter { $0.count >= 2 }
        let covering = localised.filter { !$0.isEmpty }
        func average(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        var rng = Xoshiro256(seed: seed, stream: 7)
        func uniformCentres(_ n: Int) -> [[Double]] {
            (0..<n).map { _ in (0..<lattice.dimension).map { _ in rng.nextOpenUniform() * length } }
        }
        var nullSpacing: [Double] = [], nullCoverage: [Double] = []
        for _ in 0..<samples {
            if !spaced.isEmpty {
                nullSpacing.append(average(spaced.map { meanNearestNeighbourDistance(uniformCentres($0.count), length: length) }))
            }
            if !covering.isEmpty {
                nullCoverage.append(average(covering.map { coverage(centres: uniformCentres($0.count), widths: $0.map(\.width), lattice: lattice) }))
            }
        }
        let spacing = spaced.isEmpty ? nil : NullComparison(
            observed: average(spaced.map { meanNearestNeighbourDistance($0.map(\.centre), length: length) }), null: nullSpacing)
        let covered = covering.isEmpty ? nil : NullComparison(
            observed: average(covering.map { coverage(centres: $0.map(\.centre), widths: $0.map(\.width), lattice: lattice) }),
            null: nullCoverage)
        return Report(localisedCounts: localised.map(\.count), nearestNeighbour: spacing,
                      evenSpacing: spaced.isEmpty ? nil : average(spaced.map { evenSpacing(count: $0.count, lattice: lattice) }),
                      coverage: covered, nullSamples: samples)
    }
}
