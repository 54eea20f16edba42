import Foundation

/// A K-unit theory (weights (saves, K, D)) against K-unit replicas at their common times. The units
/// of each replica, and of the replica mean, are matched to the theory's once, at the last common
/// time, by the assignment of least mean relative distance jointly with a common lattice shift
/// (`UnitMatching.bestMatch`); that matching is then applied at every time, so the curve shows how
/// the matched pairs approach each other. Each time's own best matching is reported alongside
/// (a lower bound that ignores the units' identities over time).
/// Definitions: derivations/tiling-statistics.md §9-10, derivations/observables.md eq. (6).
public struct UnitTheoryVersusSimulation: Codable, Sendable {
    /// The matching of one replica (or of the replica mean), chosen at the last common time.
    public struct Matching: Codable, Sendable {
        /// Theory unit i is matched with simulation unit permutation[i].
        public var permutation: [Int]
        /// The common translation of the theory's units per axis (ring: [s]; torus: [row, column]), minimum image.
        public var shift: [Int]
        /// |w_sim,p(i) - T w_th,i| / |w_th,i| per theory unit, and their mean, at the last common time.
        public var unitDistances: [Double]
        public var distance: Double
    }

    /// One common time.
    public struct Point: Codable, Sendable {
        public var t: Double
        public var theoryTime: Double
        /// Replica mean under its matching: per theory unit and mean over units.
        public var unitDistances: [Double]
        public var distance: Double
        /// The replica mean re-matched at this time (nil when too costly to search at every time).
        public var bestDistance: Double?
        /// Each replica's mean unit distance under its own matching, and re-matched at this time.
        public var seedDistances: [Double]
        public var seedBestDistances: [Double]?
        /// IPR of each theory unit, of its matched unit of the replica mean, and the mean over
        /// replicas of the IPR of its matched unit.
        public var iprTheory: [Double]
        public var iprOfSeedMean: [Double]
        public var meanIprOverSeeds: [Double]
    }

    public var units: Int
    /// Units are matched only within the same group (fixed biases); nil: all units are exchangeable.
    public var unitGroups: [Int]?
    /// Whether the matching searched common lattice shifts (else shift 0).
    public var shiftSearched: Bool
    public var seedMean: Matching
    public var seeds: [Matching]
    public var curve: [Point]
    /// Replica mean and each replica at the last common time (mean over units).
    public var distance: Double
    public var seedDistances: [Double]
    public var warnings: [String]

    /// Re-matching at every save is skipped above this many elementary operations
    /// (shifts x K^3 assignments per replica and save; ~1 s).
    static let rematchingBudget = 1e9

    /// `theoryWeights[save][unit]` and `simulationWeights[seed][save][unit]`, D values each;
    /// `unitGroups` as in `UnitMatching.bestMatch`.
    public static func compare(lattice: Lattice, theoryTimes: [Double], theoryWeights: [[[Double]]],
                               simulationTimes: [Double], simulationWeights: [[[[Double]]]],
                               searchShifts: Bool, unitGroups: [Int]? = nil, warnings: [String] = []) throws -> UnitTheoryVersusSimulation {
        let d = lattice.size
        try require(!simulationWeights.isEmpty && simulationWeights.allSatisfy { $0.count == simulationTimes.count },
                    flag: "--sim", "holds no replicas, or replicas of different lengths")
        try require(theoryWeights.count == theoryTimes.count, flag: "--theory", "has \(theoryTimes.count) times but \(theoryWeights.count) weight rows")
        let k = theoryWeights.first?.count ?? 0
        try require(k >= 1 && theoryWeights.allSatisfy { $0.count == k && $0.allSatisfy { $0.count == d } }, flag: "--theory",
                    "weights are not K >= 1 units of D = \(d) at every save")
        try require(unitGroups == nil || unitGroups!.count == k, flag: "--sim", "has \(unitGroups!.count) unit biases for K = \(k) units")
        try require(simulationWeights.allSatisfy { $0.allSatisfy { $0.count == k && $0.allSatisfy { $0.count == d } } }, flag: "--sim",
                    "has units of another K or D than the theory (K = \(k), D = \(d))")
        let seeds = simulationWeights.count
        let finite = { (network: [[Double]]) in network.allSatisfy { $0.allSatisfy(\.isFinite) } }
        let common = TheoryVersusSimulation.commonSaves(theoryTimes: theoryTimes, simulationTimes: simulationTimes, dimension: d)
            .filter { save, match in finite(theoryWeights[match]) && simulationWeights.allSatisfy { finite($0[save]) } }
        guard let last = common.last else { throw TheoryVersusSimulation.noCommonTime }

        let replicaMean = { (save: Int) in
            (0..<k).map { unit in
                (0..<d).map { i in simulationWeights.reduce(0) { $0 + $1[save][unit][i] } / Double(seeds) }
            }
        }
        let matchAtEnd = { (simulation: [[Double]]) in
            UnitMatching.bestMatch(theory: theoryWeights[last.theory], simulation: simulation, lattice: lattice, searchShifts: searchShifts,
                                   groups: unitGroups)
        }
        let meanMatch = matchAtEnd(replicaMean(last.simulation))
        let seedMatches = simulationWeights.map { matchAtEnd($0[last.simulation]) }
        let shifts = Double(searchShifts ? d : 1), size = Double(d)
        let rematchingCost = Double(common.count * (seeds + 1)) * (shifts * Double(k * k * k) + Double(k * k) * size * log2(size + 1))
        let rematch = rematchingCost <= rematchingBudget
        var notes = warnings
        if !rematch {
            notes.append("the best matching at every time was not searched (~\(String(format: "%.1e", rematchingCost)) operations); only the final matching is applied")
        }

        let ipr = Observables.inverseParticipationRatio
        let mean = { (values: [Double]) in values.reduce(0, +) / Double(values.count) }
        var curve: [Point] = []
        for (save, match) in common {
            let theory = theoryWeights[match], meanNetwork = replicaMean(save)
            let distances = { (network: [[Double]], m: UnitMatching.Match) in
                UnitMatching.distances(theory: theory, simulation: network, permutation: m.permutation, shiftSite: m.shiftSite, lattice: lattice)
            }
            let best = { (network: [[Double]]) in
                UnitMatching.bestMatch(theory: theory, simulation: network, lattice: lattice, searchShifts: searchShifts,
                                       groups: unitGroups).meanDistance
            }
            let unitDistances = distances(meanNetwork, meanMatch)
            curve.append(Point(
                t: simulationTimes[save], theoryTime: theoryTimes[match],
                unitDistances: unitDistances, distance: mean(unitDistances),
                bestDistance: rematch ? best(meanNetwork) : nil,
                seedDistances: (0..<seeds).map { mean(distances(simulationWeights[$0][save], seedMatches[$0])) },
                seedBestDistances: rematch ? simulationWeights.map { best($0[save]) } : nil,
                iprTheory: theory.map(ipr),
                iprOfSeedMean: meanMatch.permutation.map { ipr(meanNetwork[$0]) },
                meanIprOverSeeds: (0..<k).map { unit in mean((0..<seeds).map { ipr(simulationWeights[$0][save][seedMatches[$0].permutation[unit]]) }) }))
        }
        let matching = { (m: UnitMatching.Match) in
            Matching(permutation: m.permutation, shift: UnitMatching.displacement(ofSite: m.shiftSite, lattice: lattice),
                     unitDistances: m.distances, distance: m.meanDistance)
        }
        return UnitTheoryVersusSimulation(units: k, unitGroups: unitGroups, shiftSearched: searchShifts, seedMean: matching(meanMatch),
                                          seeds: seedMatches.map(matching), curve: curve, distance: curve.last!.distance,
                                          seedDistances: curve.last!.seedDistances, warnings: notes)
    }

    /// The curve as observables.csv-like columns (`compare --csv`): mean distances, then per theory unit.
    public var csv: CSVTable {
        let perUnit = ["distance", "ipr_theory", "ipr_of_seed_mean", "mean_ipr_over_seeds"]
        var table = CSVTable(columns: ["t", "theory_t", "distance", "best_distance", "seed_distance", "seed_best_distance"]
                             + (0..<units).flatMap { unit in perUnit.map { "\($0)_\(unit)" } })
        let mean = { (values: [Double]) in values.reduce(0, +) / Double(max(values.count, 1)) }
        for point in curve {
            var row = [point.t, point.theoryTime, point.distance, point.bestDistance ?? .nan, mean(point.seedDistances),
                       point.seedBestDistances.map(mean) ?? .nan]
            for unit in 0..<units {
                row += [point.unitDistances[unit], point.iprTheory[unit], point.iprOfSeedMean[unit], point.meanIprOverSeeds[unit]]
            }
            table.append(row)
        }
        return table
    }

    /// Human-readable tables: the curve (every `stride`-th common time and the last), the matched
    /// units at the end, and each replica's matching.
    public func table(stride: Int = 10) -> String {
        let mean = { (values: [Double]) in values.reduce(0, +) / Double(max(values.count, 1)) }
        let optional = { (value: Double?) in value.map { String(format: "%10.4f", $0) } ?? String(repeating: " ", count: 9) + "-" }
        var lines = ["         t   distance  best-dist  seed-dist  seed-best  IPR ode   IPR sim"]
        for (index, point) in curve.enumerated() where index % max(stride, 1) == 0 || index == curve.count - 1 {
            lines.append(String(format: "%10.4g %10.4f ", point.t, point.distance) + optional(point.bestDistance)
                         + String(format: " %10.4f ", mean(point.seedDistances)) + optional(point.seedBestDistances.map(mean))
                         + String(format: " %8.4f %9.4f", mean(point.iprTheory), mean(point.iprOfSeedMean)))
        }
        lines.append("")
        lines.append("theory unit  sim unit   distance   IPR ode   IPR sim  (replica mean, last time)")
        let last = curve.last!
        for unit in 0..<units {
            lines.append(String(format: "%11d %9d %10.4f %9.4f %9.4f", unit, seedMean.permutation[unit], last.unitDistances[unit],
                                last.iprTheory[unit], last.iprOfSeedMean[unit]))
        }
        let describe = { (m: Matching) in "permutation \(m.permutation), shift \(m.shift), distance \(String(format: "%.4f", m.distance))" }
        lines.append("replica mean: " + describe(seedMean) + (shiftSearched ? "" : " (shifts not searched)"))
        for (seed, matching) in seeds.enumerated() { lines.append("seed \(seed): " + describe(matching)) }
        return lines.joined(separator: "\n")
    }
}
