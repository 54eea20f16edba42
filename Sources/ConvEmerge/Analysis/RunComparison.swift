import Foundation

/// `compare THEORY SIM`: a `solve` run against a `simulate` run of the same problem, either one
/// neuron (weights (saves, D) against (seeds, saves, D)) or K units (weights (saves, K, D) against
/// (seeds, saves, K, D)), whose units are matched by permutation and common shift.
public enum RunComparison: Sendable {
    case neuron(TheoryVersusSimulation)
    case units(UnitTheoryVersusSimulation)

    /// The command that wrote a run directory.
    private struct WritingCommand: Decodable { var command: String }

    /// What the theory's manifest may say about its network beyond SolveParameters: `solve
    /// --model committee|twolayer --K K` writes the model, K and network options; a one-neuron
    /// solve run has none of them.
    private struct TheoryNetwork: Decodable {
        struct Parameters: Decodable {
            var model: String?
            var hiddenUnits: Int?
            var network: NetworkOptions?

            private enum CodingKeys: String, CodingKey { case model, hiddenUnits, network }

            /// Lenient: a field spelled otherwise than here is treated as absent, and the shapes decide.
            init(from decoder: Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                model = try? container.decodeIfPresent(String.self, forKey: .model)
                hiddenUnits = try? container.decodeIfPresent(Int.self, forKey: .hiddenUnits)
                network = try? container.decodeIfPresent(NetworkOptions.self, forKey: .network)
            }
        }
        var parameters: Parameters
    }

    /// Reads both runs and checks that they describe the same problem (the simulation is reported
    /// as `--sim` when it differs, the theory as `--theory` when its own files disagree).
    /// `searchShifts`: K-unit matching also over common lattice translations.
    public static func load(theory: String, simulation: String, searchShifts: Bool) throws -> RunComparison {
        // The command first: a swapped --theory and --sim is named as such, not as a manifest missing keys.
        for (directory, flag, command) in [(theory, "--theory", "solve"), (simulation, "--sim", "simulate")] {
            let written = try RunDirectory.readManifest(WritingCommand.self, in: directory, flag: flag).command
            try require(written == command, flag: flag, "'\(directory)' is a '\(written)' run, not a \(command) run")
        }
        let ode = try RunDirectory.readManifest(SolveManifest.self, in: theory, flag: "--theory")
        let sgd = try RunDirectory.readManifest(SimulationManifest.self, in: simulation, flag: "--sim")
        let network = try RunDirectory.readManifest(TheoryNetwork.self, in: theory, flag: "--theory").parameters
        let p = sgd.parameters, d = p.dimension
        try require(ode.parameters.task.dimension == d, flag: "--sim",
                    "'\(simulation)' has D = \(d) sites, the theory run '\(theory)' has D = \(ode.parameters.task.dimension)")
        try require(ode.parameters.task.lattice == p.task.lattice, flag: "--sim",
                    "'\(simulation)' is on \(describe(p.task.lattice)), the theory run '\(theory)' on \(describe(ode.parameters.task.lattice))")
        let theoryModel = network.model ?? ModelKind.neuron.rawValue
        try require(p.model.rawValue == theoryModel, flag: "--sim", theoryModel == ModelKind.neuron.rawValue
                    ? "the ODE describes one neuron; '\(simulation)' trained a \(p.model.rawValue)"
                    : "the theory describes a \(theoryModel); '\(simulation)' trained a \(p.model.rawValue)")

        let theoryWeights = try readArray("weights.npy", in: theory, flag: "--theory")
        let theoryTimes = try readArray("times.npy", in: theory, flag: "--theory").values
        let saves = theoryTimes.count
        let oneNeuron = theoryWeights.shape.count == 2
        try require(theoryWeights.shape == [saves, d] || (theoryWeights.shape.count == 3 && theoryWeights.shape[0] == saves
                                                            && theoryWeights.shape[2] == d && theoryWeights.shape[1] >= 1),
                    flag: "--theory", "weights.npy has shape \(theoryWeights.shape), expected [\(saves), \(d)] or [\(saves), K, \(d)]")
        let theoryUnits = oneNeuron ? 1 : theoryWeights.shape[1]
        try require(network.hiddenUnits == nil || network.hiddenUnits == theoryUnits, flag: "--theory",
                    "its manifest says K = \(network.hiddenUnits ?? 0) but weights.npy holds \(theoryUnits) units")
        try require(p.hiddenUnits == theoryUnits, flag: "--sim",
                    "'\(simulation)' has K = \(p.hiddenUnits) hidden units, the theory run '\(theory)' has K = \(theoryUnits)")
        try require(p.task == ode.parameters.task, flag: "--sim", "'\(simulation)' simulates another task (inputs, classes, priors or targets) than '\(theory)'")
        try require(p.neuron == ode.parameters.neuron, flag: "--sim", "'\(simulation)' has another activation or bias than '\(theory)'")
        try require(network.network == nil || network.network == (p.network ?? .standard), flag: "--sim",
                    "'\(simulation)' has other network options (readout, biases, heads, loss or decay) than '\(theory)'")
        try require(p.learningRate == ode.parameters.learningRate, flag: "--sim",
                    "learning rates differ (\(p.learningRate) vs \(ode.parameters.learningRate)); t = steps / D only matches at the same eta")

        let simulationWeights = try readArray("weights.npy", in: simulation, flag: "--sim")
        let simulationTimes = try readArray("times.npy", in: simulation, flag: "--sim").values
        let n = simulationTimes.count
        let expected = p.model == .neuron ? [p.seeds, n, d] : [p.seeds, n, p.hiddenUnits, d]
        try require(simulationWeights.shape == expected, flag: "--sim", "weights.npy has shape \(simulationWeights.shape), expected \(expected)")
        // At t = 0 both runs hold the same w0 when the seeds agree: a comparison there alone says nothing.
        try require(TheoryVersusSimulation.commonSaves(theoryTimes: theoryTimes, simulationTimes: simulationTimes, dimension: d)
                        .contains { simulationTimes[$0.simulation] > 0 }, flag: "--sim",
                    "'\(simulation)' and '\(theory)' share no saved time after t = 0 (t-max \(p.tMax) vs \(ode.parameters.integrator.tMax), "
                    + "saves \(p.saves) vs \(ode.parameters.integrator.saves)"
                    + (ode.status == .completed ? "" : "; the theory run stopped early: \(ode.status.rawValue)") + "); rerun with the same --t-max, --saves and spacing")
        let warnings = differences(ode, sgd)
        if p.model == .neuron && oneNeuron {
            let rows = { (values: [Double], start: Int, count: Int) in
                (0..<count).map { Array(values[(start + $0) * d..<(start + $0 + 1) * d]) }
            }
            return .neuron(try TheoryVersusSimulation.compare(
                lattice: p.task.lattice, theoryTimes: theoryTimes, theoryWeights: rows(theoryWeights.values, 0, saves),
                simulationTimes: simulationTimes, simulationWeights: (0..<p.seeds).map { rows(simulationWeights.values, $0 * n, n) },
                warnings: warnings))
        }
        let k = theoryUnits
        // Fixed biases (+b, -b, ... or --bias-init's) make units of different bias distinct; trained ones do not stay put.
        let biases = (0..<k).map(p.bias(ofUnit:))
        let groups = (p.network?.trainBias ?? false) ? nil : biases.map { bias in biases.firstIndex(of: bias)! }
        // unit u of block b (a save, or a replica's save) starts at (b K + u) D.
        let units = { (values: [Double], block: Int) in (0..<k).map { Array(values[((block * k) + $0) * d..<((block * k) + $0 + 1) * d]) } }
        return .units(try UnitTheoryVersusSimulation.compare(
            lattice: p.task.lattice, theoryTimes: theoryTimes, theoryWeights: (0..<saves).map { units(theoryWeights.values, $0) },
            simulationTimes: simulationTimes,
            simulationWeights: (0..<p.seeds).map { seed in (0..<n).map { units(simulationWeights.values, seed * n + $0) } },
            searchShifts: searchShifts, unitGroups: groups, warnings: warnings))
    }

    /// "a ring of L = 40" or "a 6 x 6 torus".
    private static func describe(_ lattice: Lattice) -> String {
        lattice.dimension == 1 ? "a ring of L = \(lattice.length)" : "a \(lattice.length) x \(lattice.length) torus"
    }

    /// Differences between the runs that do not forbid the comparison.
    private static func differences(_ ode: SolveManifest, _ sgd: SimulationManifest) -> [String] {
        let p = sgd.parameters
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
        return warnings
    }

    /// The file's bytes, its decoded values and their split into rows are held at once.
    private static func readArray(_ name: String, in directory: String, flag: String) throws -> NpyArray {
        let file = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        try MemoryBudget.require(MemoryBudget.product(size, 3), flag: flag, for: "reading '\(file)'")
        return try NpyArray.read(from: file, flag: flag)
    }
}
