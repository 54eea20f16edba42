import Foundation

/// Theory (the ODE of `solve`) against simulation (online SGD of `simulate`) at
/// their common times (SPEC §3-4): relative L2 distance |w_sim - w_ode| / |w_ode|
/// and cosine similarity, raw and maximised over lattice translations, for the
/// seed mean and per seed, and both IPR curves. Definitions:
/// derivations/observables.md eq. (6), derivations/sgd-noise-scaling.md §4.
public struct TheoryVersusSimulation: Codable, Sendable {
    /// One common time.
    public struct Point: Codable, Sendable {
        /// The simulation's time (steps / D) and the matched ODE save time.
        public var t: Double
        public var theoryTime: Double
        /// Seed mean against the ODE.
        public var distance: Double
        public var cosine: Double
        public var shiftedCosine: Double
        /// Each replica against the ODE.
        public var seedDistances: [Double]
        public var seedCosines: [Double]
        public var seedShiftedCosines: [Double]
        public var iprTheory: Double
        /// IPR of the seed-mean weights, and the mean over replicas of each replica's IPR.
        public var iprOfSeedMean: Double
        public var meanIprOverSeeds: Double
    }

    public var curve: [Point]
    /// Seed mean at the last common time.
    public var distance: Double
    public var cosine: Double
    public var shiftedCosine: Double
    /// Per replica at the last common time.
    public var seedDistances: [Double]
    public var seedCosines: [Double]
    /// Differences between the two runs that do not forbid the comparison (e.g. initial weights).
    public var warnings: [String]

    /// Compares an ODE trajectory (`theoryWeights[save]`, D each) with replicas
    /// (`simulationWeights[seed][save]`, D each). A simulation time is common when an
    /// ODE save lies within half an SGD step (0.5 / D) of it.
    public static func compare(lattice: Lattice, theoryTimes: [Double], theoryWeights: [[Double]],
                               simulationTimes: [Double], simulationWeights: [[[Double]]],
                               warnings: [String] = []) throws -> TheoryVersusSimulation {
        let d = lattice.size
        try require(!simulationWeights.isEmpty && simulationWeights.allSatisfy { $0.count == simulationTimes.count },
                    flag: "--sim", "holds no replicas, or replicas of different lengths")
        try require(theoryWeights.count == theoryTimes.count, flag: "--theory", "has \(theoryTimes.count) times but \(theoryWeights.count) weight rows")
        let seeds = simulationWeights.count
        var curve: [Point] = []
        for (save, match) in commonSaves(theoryTimes: theoryTimes, simulationTimes: simulationTimes, dimension: d) {
            let t = simulationTimes[save]
            let ode = theoryWeights[match]
            let replicas = simulationWeights.map { $0[save] }
            guard replicas.allSatisfy({ $0.allSatisfy(\.isFinite) }), ode.allSatisfy(\.isFinite) else { continue }
            var mean = [Double](repeating: 0, count: d)
            for replica in replicas { for i in 0..<d { mean[i] += replica[i] / Double(seeds) } }
            curve.append(Point(
                t: t, theoryTime: theoryTimes[match],
                distance: Observables.relativeDistance(mean, ode),
                cosine: Observables.cosineSimilarity(mean, ode),
                shiftedCosine: Observables.maximalShiftedCosineUpToSign(mean, ode, lattice: lattice),
                seedDistances: replicas.map { Observables.relativeDistance($0, ode) },
                seedCosines: replicas.map { Observables.cosineSimilarity($0, ode) },
                seedShiftedCosines: replicas.map { Observables.maximalShiftedCosineUpToSign($0, ode, lattice: lattice) },
                iprTheory: Observables.inverseParticipationRatio(ode),
                iprOfSeedMean: Observables.inverseParticipationRatio(mean),
                meanIprOverSeeds: replicas.map(Observables.inverseParticipationRatio).reduce(0, +) / Double(seeds)))
        }
        guard let last = curve.last else { throw noCommonTime }
        return TheoryVersusSimulation(curve: curve, distance: last.distance, cosine: last.cosine, shiftedCosine: last.shiftedCosine,
                                      seedDistances: last.seedDistances, seedCosines: last.seedCosines, warnings: warnings)
    }

    /// Pairs of (simulation save, ODE save) at common times: an ODE save within half an SGD step
    /// (0.5 / D) of the simulation's saved time.
    static func commonSaves(theoryTimes: [Double], simulationTimes: [Double], dimension d: Int) -> [(simulation: Int, theory: Int)] {
        simulationTimes.enumerated().compactMap { save, t in
            guard let match = theoryTimes.indices.min(by: { abs(theoryTimes[$0] - t) < abs(theoryTimes[$1] - t) }),
                  abs(theoryTimes[match] - t) <= 0.5 / Double(d) + 1e-9 * max(1, t) else { return nil }
            return (save, match)
        }
    }

    static let noCommonTime = ConvEmergeError.invalidInput(
        flag: "--sim", message: "no saved time within half an SGD step of an ODE save time; run solve and simulate with the same --t-max and --saves")

    /// Reads a one-neuron `solve` run and a `simulate --model neuron` run and compares them.
    /// The two must describe the same task, neuron and learning rate (otherwise `--sim` is reported).
    public static func load(theory: String, simulation: String) throws -> TheoryVersusSimulation {
        switch try RunComparison.load(theory: theory, simulation: simulation, searchShifts: true) {
        case let .neuron(comparison): return comparison
        case .units: throw ConvEmergeError.invalidInput(flag: "--theory", message: "'\(theory)' holds K-unit weights; compare it with RunComparison.load")
        }
    }

    /// Human-readable table of the curve (every `stride`-th common time and the last).
    public func table(stride: Int = 10) -> String {
        let header = [("t", 10), ("distance", 10), ("cosine", 10), ("shift-cos", 10), ("seed-dist", 12), ("IPR ode", 10), ("IPR sim", 10)]
        var lines = [header.map { String(repeating: " ", count: max(0, $0.1 - $0.0.count)) + $0.0 }.joined(separator: " ")]
        for (index, point) in curve.enumerated() where index % max(stride, 1) == 0 || index == curve.count - 1 {
            let seedDistance = point.seedDistances.reduce(0, +) / Double(point.seedDistances.count)
            lines.append(String(format: "%10.4g %10.4f %10.4f %10.4f %12.4f %10.4f %10.4f", point.t, point.distance, point.cosine,
                                point.shiftedCosine, seedDistance, point.iprTheory, point.iprOfSeedMean))
        }
        return lines.joined(separator: "\n")
    }

    /// The curve as observables.csv-like columns (`compare --csv`).
    public var csv: CSVTable {
        var table = CSVTable(columns: ["t", "theory_t", "distance", "cosine", "shifted_cosine", "seed_distance",
                                       "seed_shifted_cosine", "ipr_theory", "ipr_of_seed_mean", "mean_ipr_over_seeds"])
        let mean = { (values: [Double]) in values.reduce(0, +) / Double(max(values.count, 1)) }
        for point in curve {
            table.append([point.t, point.theoryTime, point.distance, point.cosine, point.shiftedCosine, mean(point.seedDistances),
                          mean(point.seedShiftedCosines), point.iprTheory, point.iprOfSeedMean, point.meanIprOverSeeds])
        }
        return table
    }
}
