import Foundation

/// How the cells of a sweep are computed: the ODE of `solve` (and `instability`), or online SGD
/// of `simulate` with several replicas.
public enum PhaseEngine: String, Codable, CaseIterable, Sendable {
    case ode, sgd
}

/// The network flags of `simulate` that a sweep with `--engine sgd` holds fixed (the rest of
/// `simulate`'s parameters come from PhaseBase: task, neuron, lr, t-max, init-scale, seed).
public struct PhaseSimulationSettings: Codable, Hashable, Sendable {
    public static let nullSampleRange = 100...1_000_000

    public var model: ModelKind
    public var hiddenUnits: Int
    public var kernelSize: Int?
    public var batchSize: Int
    public var seeds: Int
    public var sampler: SamplerMode
    public var testSamples: Int
    /// Monte Carlo draws of uniformly random centres for the tiling p-values.
    public var nullSamples: Int
    /// A unit is localised when its IPR exceeds threshold x 3/(D+2) (as in `analyze`).
    public var threshold: Double

    /// The ranges `SimulationParameters` does not check; those it checks are checked at the grid's corners.
    public init(model: ModelKind, hiddenUnits: Int, kernelSize: Int?, batchSize: Int, seeds: Int, sampler: SamplerMode,
                testSamples: Int, nullSamples: Int, threshold: Double) throws {
        try require(Self.nullSampleRange.contains(nullSamples), flag: "--null-samples",
                    "must be in \(Self.nullSampleRange.lowerBound) ... \(Self.nullSampleRange.upperBound), got \(nullSamples)")
        try require(threshold.isFinite && threshold >= 0 && threshold <= 1000, flag: "--threshold", "must be in [0, 1000], got \(threshold)")
        self.model = model
        self.hiddenUnits = hiddenUnits
        self.kernelSize = kernelSize
        self.batchSize = batchSize
        self.seeds = seeds
        self.sampler = sampler
        self.testSamples = testSamples
        self.nullSamples = nullSamples
        self.threshold = threshold
    }
}

extension PhaseSweepSpec {
    /// The `simulate` parameters at grid point (x, y): what `convemerge simulate` with the same
    /// flags trains, saving only t = 0 and t-max (the SGD steps do not depend on the saves).
    public func simulationParameters(x xValue: Double, y yValue: Double) throws -> SimulationParameters {
        guard let simulation else {
            throw ConvEmergeError.invalidInput(flag: "--engine", message: "the cells of an ODE sweep are not simulations")
        }
        let point = try base.setting(x.parameter, to: xValue).setting(y.parameter, to: yValue)
        return try SimulationParameters(
            task: point.taskSpec(), neuron: NeuronSpec(activation: point.activation, bias: point.bias), model: simulation.model,
            hiddenUnits: simulation.hiddenUnits, learningRate: point.learningRate, batchSize: simulation.batchSize,
            seeds: simulation.seeds, seed: point.seed, tMax: point.integrator.tMax, saves: 2,
            initialization: .random(scale: point.initScale, seed: point.seed), testSamples: simulation.testSamples,
            sampler: simulation.sampler, kernelSize: simulation.kernelSize)
    }

    /// Cells computed at once each hold a test set and their replicas' weights: refused (naming
    /// --threads) before anything runs when they would not fit together. One cell alone is
    /// checked by `SimulationParameters` at the grid's corners.
    public func requireSimulationMemory(threads: Int) throws {
        guard let simulation else { return }
        let largest = [x.value(0), x.value(x.count - 1)].flatMap { xv in [y.value(0), y.value(y.count - 1)].map { (xv, $0) } }
            .compactMap { try? simulationParameters(x: $0.0, y: $0.1).dimension }.max() ?? 0
        let unitSize = simulation.model == .cnn ? (simulation.kernelSize ?? largest) : largest
        // The test set (2 classes), and per replica the working weights and two saves, three times over when collected.
        let perCell = MemoryBudget.sum(MemoryBudget.product(2, simulation.testSamples, largest, 8),
                                       MemoryBudget.product(4, simulation.seeds, simulation.hiddenUnits, unitSize, 8))
        let concurrent = min(threads, cellCount)
        try MemoryBudget.require(perCell.flatMap { MemoryBudget.product(concurrent, $0) }, flag: "--threads",
                                 for: "\(concurrent) cells at once, each with \(simulation.seeds) replicas of \(simulation.hiddenUnits) x \(unitSize) weights and \(simulation.testSamples) test inputs per class")
    }
}

/// The cells of `phase --engine sgd`: each trains `seeds` replicas by online SGD (`SimulationJob`)
/// and reduces their final weights to the columns below.
public enum PhaseSimulation {
    /// After cell, x, y in phase.csv. ipr: unit-averaged IPR of each replica's final weights
    /// (derivations/observables.md); mean and sample standard deviation over replicas (nan for
    /// one replica). accuracy: each replica's final test accuracy. localised: localised units per
    /// replica; nn_*: mean nearest-neighbour distance of the localised centres against uniformly
    /// random centres, with its one-sided p-values (derivations/tiling-statistics.md §3-4).
    public static let columns = ["ipr_mean", "ipr_sd", "accuracy_mean", "accuracy_sd", "localised_mean",
                                 "nn_distance", "nn_null_mean", "nn_p_even", "nn_p_clustered", "status"]

    public static func compute(_ spec: PhaseSweepSpec, cell: Int) -> String {
        let (xValue, yValue) = spec.coordinates(of: cell)
        var values = [Double](repeating: .nan, count: columns.count - 1)
        var status = "invalid_input"
        if let settings = spec.simulation, let parameters = try? spec.simulationParameters(x: xValue, y: yValue),
           let result = try? SimulationJob.run(parameters) {
            values = summary(result, settings: settings)
            status = result.overallStatus.rawValue
        }
        let number = PhaseAxis.format
        return ([String(cell), number(xValue), number(yValue)] + values.map(number) + [status]).joined(separator: ",")
    }

    /// The numeric columns of one cell from its replicas' final save.
    static func summary(_ result: SimulationResult, settings: PhaseSimulationSettings) -> [Double] {
        let p = result.parameters, last = result.saveCount - 1
        let networks = (0..<result.seedCount).map { seed in (0..<p.hiddenUnits).map { result.weights(seed: seed, save: last, unit: $0) } }
        let iprs = networks.map { units in mean(units.map(Observables.inverseParticipationRatio)) }
        let accuracies = result.observables.map { table -> Double in
            guard let column = table.columns.firstIndex(of: "test_accuracy"), let row = table.rows.last else { return .nan }
            return row[column]
        }
        var row = [mean(iprs), sampleStandardDeviation(iprs), mean(accuracies), sampleStandardDeviation(accuracies)]
        // A CNN filter has no position on the lattice: no tiling.
        guard p.model != .cnn else { return row + [.nan, .nan, .nan, .nan, .nan] }
        let lattice = p.task.lattice
        let shapes = networks.map { Tiling.shapes(of: $0, lattice: lattice, threshold: settings.threshold) }
        let report = Tiling.analyse(networks: shapes, lattice: lattice, samples: settings.nullSamples, seed: p.seed)
        let spacing = report.nearestNeighbour
        row += [mean(report.localisedCounts.map(Double.init)), spacing?.observed ?? .nan, spacing?.nullMean ?? .nan,
                spacing?.pLarger ?? .nan, spacing?.pSmaller ?? .nan]
        return row
    }

    static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

    /// With n - 1 in the denominator; nan for a single value, whose spread is unknown.
    static func sampleStandardDeviation(_ values: [Double]) -> Double {
        guard values.count > 1 else { return .nan }
        let m = mean(values)
        return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
    }
}
