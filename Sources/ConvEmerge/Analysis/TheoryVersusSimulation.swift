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
        for (save, t) in simulationTimes.enumerated() {
            guard let match = theoryTimes.indices.min(by: { abs(theoryTimes[$0] - t) < abs(theoryTimes[$1] - t) }),
                  abs(theoryTimes[match] - t) <= 0.5 / Double(d) + 1e-9 * max(1, t) else { continue }
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
        guard let last = curve.last else {
            throw ConvEmergeError.invalidInput(flag: "--sim", message: "no saved time within half an SGD step of an ODE save time; run solve and simulate with the same --t-max and --saves")
        }
        return TheoryVersusSimulation(curve: curve, distance: last.distance, cosine: last.cosine, shiftedCosine: last.shiftedCosine,
                                      seedDistances: last.seedDistances, seedCosines: last.seedCosines, warnings: warnings)
    }

    /// Reads a `solve` run and a `simulate` run and compares them. The two must
    /// describe the same task, neuron and learning rate (otherwise `--sim` is reported).
    public static func load(theory: String, simulation: String) throws -> TheoryVersusSimulation {
        let ode = try RunDirectory.readManifest(SolveManifest.self, in: theory, flag: "--theory")
        let sgd = try RunDirectory.readManifest(SimulationManifest.self, in: simulation, flag: "--sim")
        try require(ode.command == "solve", flag: "--theory", "'\(theory)' is a '\(ode.command)' run, not a solve run")
        try require(sgd.command == "simulate", flag: "--sim", "'\(simulation)' is a '\(sgd.command)' run, not a simulate run")
        let p = sgd.parameters
        try require(p.model == .neuron, flag: "--sim", "the ODE describes one neuron; '\(simulation)' trained a \(p.model.rawValue)")
        try require(p.task == ode.parameters.task, flag: "--sim", "'\(simulation)' simulates another task (inputs, classes, priors or targets) than '\(theory)'")
        try require(p.neuron == ode.parameters.neuron, flag: "--sim", "'\(simulation)' has another activation or bias than '\(theory)'")
        try require(p.learningRate == ode.parameters.learningRate, flag: "--sim",
                    "learning rates differ (\(p.learningRate) vs \(ode.parameters.learningRate)); t = steps / D only matches at the same eta")
        var warnings: [String] = []
        if p.initialization != ode.parameters.initialization {
            warnings.append("the runs start from different initial weights (\(p.initialization) vs \(ode.parameters.initialization))")
        }
        let schedule = ode.parameters.integrator
        if p.tMax != schedule.tMax || p.saves != schedule.saves || p.logSpacedSaves != schedule.logSpacedSaves {
            warnings.append("the runs save at different times (t-max \(p.tMax) vs \(schedule.tMax), saves \(p.saves) vs \(schedule.saves)): "
                            + "only the times both happen to share are compared; rerun with the same --t-max, --saves and spacing")
        }
        if ode.status != .completed {
            warnings.append("the ODE run did not complete (status \(ode.status.rawValue): \(ode.message)); distances after it stopped are meaningless")
        }
        if sgd.status != .completed {
            warnings.append("the simulation did not complete (status \(sgd.status.rawValue)): its blown-up or non-finite replicas make the distances meaningless")
        }
        let d = p.dimension
        let theoryWeights = try readArray("weights.npy", in: theory, flag: "--theory")
        let theoryTimes = try readArray("times.npy", in: theory, flag: "--theory").values
        let simulationWeights = try readArray("weights.npy", in: simulation, flag: "--sim")
        let simulationTimes = try readArray("times.npy", in: simulation, flag: "--sim").values
        try require(theoryWeights.shape == [theoryTimes.count, d], flag: "--theory",
                    "weights.npy has shape \(theoryWeights.shape), expected [\(theoryTimes.count), \(d)]")
        try require(simulationWeights.shape == [p.seeds, simulationTimes.count, d], flag: "--sim",
                    "weights.npy has shape \(simulationWeights.shape), expected [\(p.seeds), \(simulationTimes.count), \(d)]")
        let rows = { (values: [Double], start: Int, count: Int) in
            (0..<count).map { Array(values[(start + $0) * d..<(start + $0 + 1) * d]) }
        }
        let n = simulationTimes.count
        return try compare(lattice: p.task.lattice, theoryTimes: theoryTimes,
                           theoryWeights: rows(theoryWeights.values, 0, theoryTimes.count),
                           simulationTimes: simulationTimes,
                           simulationWeights: (0..<p.seeds).map { rows(simulationWeights.values, $0 * n, n) },
                           warnings: warnings)
    }

    private static func readArray(_ name: String, in directory: String, flag: String) throws -> NpyArray {
        try NpyArray.read(from: URL(fileURLWithPath: directory).appendingPathComponent(name).path, flag: flag)
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
}
