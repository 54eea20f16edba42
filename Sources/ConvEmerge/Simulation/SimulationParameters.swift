import Foundation

/// The networks of SPEC §2 that `simulate` trains.
public enum ModelKind: String, Codable, CaseIterable, Sendable {
    /// yhat = sigma(w.x / sqrt D + b): the model of `solve`.
    case neuron
    /// yhat = (1/K) sum_k sigma(w_k.x / sqrt D + b_k), fixed readout, biases b_k = +b, -b, +b, ...
    case committee
    /// yhat = sum_k v_k sigma(w_k.x / sqrt D + b_k), v_k trained (started at 1/K), biases as the committee.
    case twolayer
    /// yhat = (1/K) sum_k mean_i sigma(f_k * x / sqrt s + b_k): K filters of size s, circular
    /// padding, biases as the committee (derivations/cnn-baseline.md); s x s filters on the torus.
    /// `--cnn-style published` is the published CNN instead (derivations/network-options.md §5).
    case cnn
}

/// Every parameter of a `simulate` run: one value decoded from the CLI, written
/// into the manifest and read back by `compare`. Task, neuron and initialisation
/// are the very values `solve` takes, so theory and simulation cannot drift apart.
public struct SimulationParameters: Codable, Hashable, Sendable {
    public var task: TaskSpec
    /// Activation and bias b of every hidden unit (unit k of a committee has bias +-b).
    public var neuron: NeuronSpec
    public var model: ModelKind
    /// Hidden units K (1 for the neuron).
    public var hiddenUnits: Int
    public var learningRate: Double
    public var batchSize: Int
    /// Independent SGD replicas, all started from the same initial weights.
    public var seeds: Int
    /// Seeds the replicas' streams (stream k + 2 for replica k, stream 1 for the test set);
    /// the initial weights come from `initialization` (stream 0 of its own seed, as in `solve`).
    public var seed: UInt64
    public var tMax: Double
    public var saves: Int
    public var logSpacedSaves: Bool
    public var initialization: Initialization
    /// Held-out inputs per class for the test loss and accuracy.
    public var testSamples: Int
    public var sampler: SamplerMode
    /// Filter size s of `--model cnn` (1 ... L); nil for the fully-connected models.
    public var kernelSize: Int?
    /// `--epochs E` on data: each data class walks its rows in passes (a fresh random order each);
    /// nil draws rows with replacement. `tMax` is then `epochTime(epochs:task:)`.
    public var epochs: Int?
    /// The published network options (readout scaling, trained biases, heads, loss, decay);
    /// nil in manifests written before they existed, which ran the standard options.
    public var network: NetworkOptions?
    /// `--cnn-style` of `--model cnn` (nil in older manifests: circular).
    public var cnnStyle: CNNStyle?

    public init(task: TaskSpec, neuron: NeuronSpec, model: ModelKind = .neuron, hiddenUnits: Int = 1,
                learningRate: Double, batchSize: Int = 1, seeds: Int = 1, seed: UInt64 = 0,
                tMax: Double, saves: Int = 100, logSpacedSaves: Bool = true,
                initialization: Initialization, testSamples: Int = 1000, sampler: SamplerMode = .fast,
                kernelSize: Int? = nil, epochs: Int? = nil, network: NetworkOptions = .standard,
                cnnStyle: CNNStyle = .circular) throws {
        try require(!task.usesData || sampler != .dense, flag: "--sampler",
                    "dense is the Cholesky baseline of the model families; on data the rows are drawn as they are, and the clone of raw data uses its own Cholesky factor")
        if let epochs { try Self.requireEpochs(epochs, task: task) }
        try requirePositive(learningRate, flag: "--lr", atMost: ParameterBound.learningRate)
        try require(batchSize >= 1 && batchSize <= Self.maximumBatch, flag: "--batch", "must be in 1 ... \(Self.maximumBatch), got \(batchSize)")
        try require(seeds >= 1 && seeds <= Self.maximumSeeds, flag: "--seeds", "must be in 1 ... \(Self.maximumSeeds), got \(seeds)")
        try require(hiddenUnits >= 1 && hiddenUnits <= 4096, flag: "--K", "must be in 1 ... 4096, got \(hiddenUnits)")
        try require(model != .neuron || hiddenUnits == 1, flag: "--K", "must be 1 for --model neuron, got \(hiddenUnits)")
        try require(testSamples >= 1 && testSamples <= 10_000_000, flag: "--test-samples",
                    "must be in 1 ... 10000000, got \(testSamples)")
        // The save schedule is solve's: its checks of --t-max and --saves apply as they are.
        _ = try IntegratorSpec(tMax: tMax, saves: saves, logSpacedSaves: logSpacedSaves)
        try require(tMax * Double(task.dimension) <= 1e12, flag: "--t-max",
                    "t-max x D = \(tMax * Double(task.dimension)) SGD steps is more than 1e12")
        try require(model == .cnn || cnnStyle == .circular, flag: "--cnn-style", "applies to --model cnn only, not --model \(model.rawValue)")
        if model == .cnn && cnnStyle == .published {
            let length = task.lattice.length
            guard let kernelSize else {
                throw ConvEmergeError.invalidInput(flag: "--kernel-size", message: "is required for --model cnn (1 ... L - 1 = \(length - 1) for --cnn-style published)")
            }
            try require(kernelSize >= 1 && kernelSize <= length - 1, flag: "--kernel-size",
                        "must be in 1 ... L - 1 = \(length - 1) for --cnn-style published (two valid positions to pool), got \(kernelSize)")
            try require(network.heads == 2 && network.readout == .mf, flag: "--heads",
                        "the published CNN has two heads with the fixed +-1 readout, got --heads \(network.heads)")
        } else if model == .cnn {
            let length = task.lattice.length
            guard let kernelSize else {
                throw ConvEmergeError.invalidInput(flag: "--kernel-size", message: "is required for --model cnn (1 ... L = \(length))")
            }
            try require(kernelSize >= 1 && kernelSize <= length, flag: "--kernel-size",
                        "must be in 1 ... L = \(length), got \(kernelSize)")
        } else {
            try require(kernelSize == nil, flag: "--kernel-size", "applies to --model cnn only, not --model \(model.rawValue)")
        }
        // The twolayer model is the trained readout; its default options say so.
        var network = network
        if model == .twolayer && network.readout == .mf { network.readout = .trained }
        if cnnStyle == .circular { try Self.requireNetwork(network, model: model, neuron: neuron) }
        try Self.requireMemory(task: task, model: model, units: hiddenUnits, seeds: seeds, saves: saves,
                               sampler: sampler, kernelSize: kernelSize.map { task.lattice.dimension == 2 ? $0 * $0 : $0 })
        self.task = task
        self.neuron = neuron
        self.model = model
        self.hiddenUnits = hiddenUnits
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.seeds = seeds
        self.seed = seed
        self.tMax = tMax
        self.saves = saves
        self.logSpacedSaves = logSpacedSaves
        self.initialization = initialization
        self.testSamples = testSamples
        self.sampler = sampler
        self.kernelSize = kernelSize
        self.epochs = epochs
        self.network = network
        self.cnnStyle = cnnStyle
    }

    /// The network options fit the model: the CNN takes only the decay; a trained readout is
    /// the twolayer model; --bias-init replaces --bias.
    static func requireNetwork(_ network: NetworkOptions, model: ModelKind, neuron: NeuronSpec) throws {
        if model == .cnn {
            for (flag, differs) in [("--readout", network.readout != .mf), ("--train-bias", network.trainBias),
                                    ("--bias-init", network.biasInit != nil), ("--heads", network.heads != 1), ("--loss", network.loss != .mse)] {
                try require(!differs, flag: flag, "applies to the fully-connected models (neuron, committee, twolayer), not --model cnn")
            }
        }
        try require((model == .twolayer) == (network.readout == .trained), flag: "--readout",
                    "trained is --model twolayer (and --model twolayer has readout trained), got --model \(model.rawValue) --readout \(network.readout.rawValue)")
        try require(network.biasInit == nil || neuron.bias == 0, flag: "--bias-init",
                    "replaces --bias; give one of them, got --bias \(neuron.bias)")
    }

    /// The network options of the run (standard for a manifest that predates them).
    public var networkOptions: NetworkOptions { network ?? .standard }

    /// `--epochs` applies to data and counts at least one pass.
    public static func requireEpochs(_ epochs: Int, task: TaskSpec) throws {
        try require(task.usesData, flag: "--epochs", "applies to --inputs data:FILE.npy only")
        try require(epochs >= 1 && epochs <= 1_000_000, flag: "--epochs", "must be in 1 ... 1000000, got \(epochs)")
    }

    /// The time of E epochs: steps = E x max_c N_c / p_c over the data classes (rows counted after
    /// --symmetrise), so that the class whose rows last longest is drawn E N_c times on average;
    /// each block of N_c draws of class c is one pass over its rows (derivations/data-inputs.md).
    public static func epochTime(epochs: Int, task: TaskSpec) -> Double {
        let steps = task.classes.indices.compactMap { c -> Double? in
            guard let file = task.classes[c].dataSet, !task.classes[c].isGaussianClone else { return nil }
            return Double(file.rowCount * (file.signSymmetrised ? 2 : 1)) / task.priors[c]
        }.max() ?? 0
        return Double(epochs) * steps.rounded(.up) / Double(task.dimension)
    }

    public static let maximumBatch = 1_000_000
    public static let maximumSeeds = 10_000

    /// The arrays that grow with flags, checked before any is allocated: the saved weights of
    /// every replica (kept, then written from where they are, plus their mean over replicas) and,
    /// for the dense sampler, two D x D Cholesky factors. The held-out test set is not among them:
    /// it is generated in chunks of `TestSet.chunkBytes` (`TestSetEvaluation.streamed`).
    static func requireMemory(task: TaskSpec, model: ModelKind, units: Int, seeds: Int, saves: Int,
                              sampler: SamplerMode, kernelSize: Int?) throws {
        let d = task.dimension
        let unitSize = model == .cnn ? (kernelSize ?? d) : d
        let weights = MemoryBudget.product(seeds + 1, saves, units, unitSize, 8)
        let factors = sampler == .dense ? MemoryBudget.product(2, d, d, 8) : 0
        try MemoryBudget.require(weights, flag: seeds > 1 ? "--seeds" : "--saves",
                                 for: "\(saves) saves of \(seeds) replicas x \(units) x \(unitSize) weights")
        try MemoryBudget.require(factors, flag: "--sampler", for: "the dense sampler's Cholesky factors at D = \(d)")
        try MemoryBudget.require(MemoryBudget.sum(weights, factors), flag: seeds > 1 ? "--seeds" : "--saves",
                                 for: "the saved weights and the sampler together")
    }

    /// The bound on what `SimulationJob.save` writes (OutputSize): per save the weights of every
    /// replica and their mean, the replicas' trained readouts (K x heads) and biases, the time, and
    /// one row of each replica's observables and of their mean.
    public var outputSize: OutputSize {
        let unitValues = hiddenUnits * weightsPerUnit, options = networkOptions
        let readouts = model == .twolayer ? hiddenUnits * options.heads : 0, biases = options.trainBias ? hiddenUnits : 0
        let columns = ReplicaObservables.columns(for: self).count
        var size = OutputSize(saves: saves, arrayValuesPerSave: (seeds + 1) * unitValues + seeds * (readouts + biases) + 1,
                              csvCellsPerSave: (seeds + 1) * columns, files: seeds + 7, sizeFlag: "--seeds",
                              saveShape: "\(seeds) replicas x " + (model == .neuron ? "D = \(dimension)"
                                  : "K x \(model == .cnn ? "s" : "D") = \(hiddenUnits) x \(weightsPerUnit)"))
        // As MemoryBudget's check of the same arrays: with several replicas, --seeds is named.
        size.blamesSizeFlag = seeds > 1
        if seeds == 1 { size.sizeFlag = model == .neuron ? "--L" : "--K" }
        return size
    }

    public var dimension: Int { task.dimension }
    public var totalSteps: Int { Int((tMax * Double(dimension)).rounded()) }

    /// The SGD steps after which weights are saved: `solve`'s save times
    /// (`IntegratorSpec.saveTimes`) rounded to whole steps, duplicates dropped.
    /// The saved time is then exactly steps / D.
    public func saveSteps() throws -> [Int] {
        let times = try IntegratorSpec(tMax: tMax, saves: saves, logSpacedSaves: logSpacedSaves).saveTimes
        var steps: [Int] = []
        for t in times {
            let step = min(totalSteps, Int((t * Double(dimension)).rounded()))
            if steps.last != step { steps.append(step) }
        }
        return steps
    }

    /// Fixed bias of unit k: the committee's alternating +-b; the neuron's b.
    /// With --bias-init, its value (derivations/network-options.md §4): the initial biases when trained.
    public func bias(ofUnit k: Int) -> Double {
        networkOptions.initialBias(ofUnit: k, units: hiddenUnits) ?? (k % 2 == 0 ? neuron.bias : -neuron.bias)
    }

    /// Trained weights per hidden unit: D for the fully-connected models, s for a CNN filter.
    /// (s x s for the published CNN on the torus, row-major).
    public var weightsPerUnit: Int {
        guard model == .cnn else { return dimension }
        return task.lattice.dimension == 2 ? kernelSize! * kernelSize! : kernelSize!
    }

    /// Whether this is the published CNN (derivations/network-options.md §5).
    public var isPublishedCNN: Bool { model == .cnn && cnnStyle == .published }

    /// The initial weights shared by every replica: K units of `weightsPerUnit` each.
    public func initialWeights() throws -> [Double] {
        try initialization.weights(dimension: hiddenUnits * weightsPerUnit)
    }

    /// The shape of one saved set of weights: [D] for the neuron, [K, D] or (cnn) [K, s].
    public var weightShape: [Int] { model == .neuron ? [dimension] : [hiddenUnits, weightsPerUnit] }

    /// Initial readout v_k: 1 for the neuron, 1/K for the committee and the two-layer net.
    public var initialReadout: Double { model == .neuron ? 1 : 1 / Double(hiddenUnits) }

    /// Initial readout v_kc, K x H: the standard 1/K (1 for the neuron) or the --readout scaling,
    /// head 1 with the opposite sign.
    public var initialReadouts: [Double] {
        let options = networkOptions
        if options.isStandard || model == .cnn { return [Double](repeating: initialReadout, count: hiddenUnits) }
        return options.initialReadout(units: hiddenUnits)
    }
}
