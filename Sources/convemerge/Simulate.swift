import ArgumentParser
import ConvEmerge
import Foundation

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the network by online SGD on fresh inputs, several seeds in parallel threads.",
        discussion: """
        Same input, task and neuron flags as solve, and the same initial weights for the same --seed/--init, \
        so that `convemerge compare` starts from identical w. Per step a batch of B inputs, each of class 1 \
        with probability p1; w += (lr/B) sum_b h(lambda_b) x_b / sqrt D; time t = steps / D. Writes \
        DIR/manifest.json, DIR/weights.npy (seeds x saves x D; seeds x saves x K x D for K > 1; seeds x saves x K x s \
        for --model cnn, whose channel k computes u_ki = sum_j f_kj x_(i+j mod L) / sqrt s + b_k and whose output is \
        the mean of sigma(u_ki) over k and i), \
        DIR/weights_mean.npy, DIR/times.npy, DIR/observables_seed<k>.csv and DIR/observables.csv (seed mean). \
        Their columns: t, ipr, participation_ratio, q0, q1, test_loss, test_accuracy, center (and center_col on the \
        torus), width, norm for one neuron; for K units t, ipr, participation_ratio (unit means), test_loss, \
        test_accuracy, width (unit mean), center_resultant (mean resultant length of the unit centres: 1 when all \
        sit at one place, near 0 when they tile) and norm (root mean square of |w_k|).

        --inputs data:FILE.npy[,FILE.npy] trains on your rows (README, Your own data): each step draws a row \
        uniformly with replacement, or with --epochs E walks the rows E times, each pass in a fresh random order.

        Example (compare with the gaussian closure, where it is exact):
          convemerge simulate --L 32 --gain 1.2 --xi0 0.6 --xi1 1.9 --gaussian \\
            --lr 0.0625 --batch 16 --t-max 480 --seeds 8 --init-scale 0.5 \\
            --out runs/sim

        Network options (fully-connected models; derivations/network-options.md): --readout mf|lazy|conv|trained \
        sets v_k = 1/K, 1/sqrt K, 1 or a trained readout, and the first-layer rate eta K, eta sqrt K, eta, eta K; \
        --train-bias learns the biases at that rate / D; --bias-init halves starts them at +1 (first K/2 units), -1; \
        --heads 2 adds a second head with the opposite readout and one-hot targets (+-1 for erf and tanh); \
        --loss ce is the cross-entropy of the heads' softmax (of a sigmoid for one head); --l1/--l2 decay the first \
        layer by lambda/D per step. The mse loss is 1/(2H) sum_c (t_c - y_c)^2: half the published mean squared error. \
        --model cnn --cnn-style published is the published ConvTwoLayer (network.py l. 110-197; kernel size 5 there, \
        conv_emerge_online.py l. 97-101): valid convolution without 1/sqrt s, max-pool 2, y_0 = -y_1 = the mean of the \
        pooled sigma(u), every parameter at lr, --dim 1 or 2 (weights seeds x saves x K x s^dim); the circular CNN \
        takes --dim 2 too, with s x s filters.

        --preset published: the defaults of sgoldt/conv_emerge, conv_emerge_online.py (lines of that file): \
        --model committee --readout mf (l. 88; lr x K, l. 237-238), --K 8 (l. 96), --activation erf = erf(x/sqrt 2) \
        (l. 90; network.py l. 18), --train-bias --bias-init halves (bias given without a value, l. 105, 172, 214-217; \
        rate lr/D, l. 247), --heads 2 (network.py l. 80, 185; sign flip l. 207; targets 2 onehot - 1, l. 64-70), \
        --loss mse (l. 118), --batch 1 (l. 103), --lr 0.1 = the published 0.05 (l. 112) in our mse, which is half \
        of torch's mse_loss (0.05 with --loss ce, whose normalisation is the same), --xi0 0.1 --xi1 0.5 (l. 83), \
        --jitter 0.001 (tasks.py l. 114; these three not on data), --t-max 1000 (l. 122), --saves 200 (l. 289). Not set: the gain (published \
        1, l. 86; ours stays --gain), the size (published -D 400, l. 94). Flags given explicitly override the preset. \
        The published xis are in lattice units: at 0.1 and 0.5 both classes are nearly white noise and differ \
        little (exp(-1/0.25) = 0.018 between neighbours), so give --xi0/--xi1 for a task that can be learned.

        Example (the published preset, small):
          convemerge simulate --preset published --L 16 --t-max 5 \\
            --saves 5 --test-samples 100 --quiet --out runs/published

        Example (two passes over rows of your own; here NLGP samples):
          convemerge sample --L 16 --n 2000 --seed 1 --out rows.npy
          convemerge simulate --L 16 --inputs data:rows.npy --epochs 2 \\
            --out runs/data-sim
        """)

    @OptionGroup(title: "Inputs") var input: InputOptions
    @OptionGroup(title: "Task and neuron") var taskOptions: TaskOptions

    @Option(help: "Network: neuron (the solve model; default), committee (K units, readout 1/K, biases +b,-b,...), twolayer (trained readout, = --readout trained), cnn (K filters of --kernel-size, circular padding, readout: mean over channels and positions; s x s filters with --dim 2; or --cnn-style published).")
    var model: ModelKind?
    @Option(help: "Readout of the fully-connected models: mf (1/K, default), lazy (1/sqrt K), conv (1), trained (= --model twolayer).")
    var readout: ReadoutKind?
    @Flag(name: .customLong("train-bias"), inversion: .prefixedNo, help: "Train the biases, at the first-layer rate / D (default: fixed).")
    var trainBias: Bool?
    @Option(name: .customLong("bias-init"), help: "Biases (initial ones with --train-bias): halves (+1 for the first K/2 units, -1 for the rest) or one number for all, |b| <= 1e6; replaces --bias.")
    var biasInit: String?
    @Option(help: "Output heads, 1 or 2 (one-hot targets, +-1 for erf and tanh; head 2 has the opposite readout).")
    var heads: Int?
    @Option(help: "Loss: mse (1/(2H) sum_c (t_c - y_c)^2, default) or ce (cross-entropy of the heads' softmax; of a sigmoid for one head, whose class 1 is the positive one).")
    var loss: LossKind?
    @Option(help: "L1 decay of the first layer: w -= (l1/D) sign(w) per step, in [0, 1000] (default 0).")
    var l1: Double = 0
    @Option(help: "L2 decay of the first layer: w -= (l2/D) w per step, in [0, 1000] (default 0).")
    var l2: Double = 0
    @Option(help: "published: the defaults of the published code (see above); explicit flags override them.")
    var preset: SimulationPreset?
    @Option(name: .customLong("K"), help: "Hidden units, or CNN channels, 1 ... 4096 (1 for --model neuron).") var hiddenUnits: Int?
    @Option(name: .customLong("kernel-size"), help: "Filter size s of --model cnn (1 ... L; 1 ... L - 1 for --cnn-style published).") var kernelSize: Int?
    @Option(name: .customLong("cnn-style"), help: "CNN of --model cnn: circular (ours: circular padding, 1/sqrt(s^dim), mean readout; default) or published (valid convolution, max-pool 2, fixed +-1 two-head readout over the pooled units, trained at lr; --dim 1 or 2; network.py l. 110-197).") var cnnStyle: CNNStyle?
    @Option(help: "Learning rate eta, in (0, 1000] (default 1).") var lr: Double?
    @Option(help: "Batch size B, 1 ... 1000000: the gradient is averaged over B fresh inputs.") var batch: Int = 1
    @Option(help: "Independent SGD replicas, 1 ... 10000, run in parallel threads.") var seeds: Int = 1
    @Option(name: .customLong("t-max"), help: "Final time, in SGD steps / D, in (0, 1e9] (and t-max x D <= 1e12 SGD steps); default 150, or set by --epochs.") var tMax: Double?
    @Option(help: "For --inputs data: finite-data training: each data class walks its rows in E passes, each in a fresh random order (default: rows drawn uniformly with replacement). Sets the run to E x max_c N_c / p_c steps (t-max = that / D), so it excludes --t-max.") var epochs: Int?
    @Option(help: "Number of saved times (2 ... 1000000; default 100): 0, then log-spaced from t-max/1000 unless --linear-saves.") var saves: Int?
    @Flag(name: .customLong("linear-saves"), help: "Evenly spaced saves from 0 to t-max.") var linearSaves = false
    @Option(name: .customLong("init"), help: "Initial weights: random, or a .npy file (K D values).") var initial: String = "random"
    @Option(name: .customLong("init-scale"), help: "Standard deviation of random initial weights, in (0, 1000].") var initScale: Double = 0.1
    @Option(help: "Seed of the initial weights (as in solve) and of the SGD streams.") var seed: UInt64 = 0
    @Option(name: .customLong("test-samples"), help: "Held-out inputs per class for the test loss and accuracy, 1 ... 1e7 (generated in 4 MB chunks after the steps: memory does not grow with it).") var testSamples: Int = 1000
    @Option(help: "Input sampler: fast (ziggurat, spectral noise, tabulated erf for nlgp; a copula's own psi), exact (the reference) or dense (O(D^2) Cholesky baseline).") var sampler: SamplerMode = .fast
    // Optional to the parser, required in run(): an unknown option is then reported first.
    @Option(name: .customLong("out"), help: "Output run directory (required; created with its parents).") var outOption: String?
    @Flag(help: "No progress on stderr.") var quiet = false

    func parameters() throws -> SimulationParameters {
        let published = preset == .published
        var taskOptions = taskOptions, input = input
        if published {
            try require(model != .cnn, flag: "--preset", "published sets the fully-connected network; the published CNN is not available, use --model committee or twolayer")
            // These options are shared with other commands and have plain defaults: whether the
            // user typed them is read from the command line itself.
            if !Self.typed("--activation") { taskOptions.activation = .erf }
            if try input.dataReferences() == nil {
                if !Self.typed("--xi0") { taskOptions.xi0 = 0.1 }
                if !Self.typed("--xi1") { taskOptions.xi1 = 0.5 }
                if !Self.typed("--jitter") { input.jitter = 1e-3 }
            }
        }
        try require(model != .twolayer || readout == nil || readout == .trained, flag: "--readout",
                    "--model twolayer is the trained readout; give --readout trained or no --readout, got \(readout?.rawValue ?? "")")
        let chosenModel = model ?? (published ? .committee : .neuron)
        let model = readout == .trained && chosenModel == .committee ? .twolayer : chosenModel
        let units = hiddenUnits ?? (model == .neuron ? 1 : 8)
        let lossKind = loss ?? .mse
        let network = try NetworkOptions(
            readout: readout ?? (model == .twolayer ? .trained : .mf), trainBias: trainBias ?? published,
            biasInit: biasInit ?? (published ? "halves" : nil), heads: heads ?? (published || cnnStyle == .published ? 2 : 1),
            loss: lossKind, l1: l1, l2: l2)
        let lr = lr ?? (published ? (lossKind == .mse ? 0.1 : 0.05) : 1)
        let saves = saves ?? (published ? 200 : 100)
        let tMax = tMax ?? (published && epochs == nil ? 1000 : nil)
        let task = try taskOptions.taskSpec(input: input)
        let time = try epochs.map { epochs -> Double in
            try SimulationParameters.requireEpochs(epochs, task: task)
            try require(tMax == nil, flag: "--t-max", "--epochs sets the length of the run; give one of them")
            return SimulationParameters.epochTime(epochs: epochs, task: task)
        } ?? tMax ?? 150
        return try SimulationParameters(
            task: task, neuron: taskOptions.neuronSpec(), model: model, hiddenUnits: units,
            learningRate: lr, batchSize: batch, seeds: seeds, seed: seed, tMax: time, saves: saves,
            logSpacedSaves: !linearSaves,
            initialization: initial == "random" ? .random(scale: initScale, seed: seed) : .file(path: initial),
            testSamples: testSamples, sampler: sampler, kernelSize: kernelSize, epochs: epochs, network: network,
            cnnStyle: cnnStyle ?? .circular)
    }

    /// Whether `flag` appears on the command line (as `--flag VALUE` or `--flag=VALUE`).
    static func typed(_ flag: String) -> Bool {
        CommandLine.arguments.dropFirst().contains { $0 == flag || $0.hasPrefix(flag + "=") }
    }

    func run() throws {
        let out = try required(outOption, flag: "--out", "the run directory to write")
        let parameters = try parameters()
        let directory = try RunDirectory(path: out, expecting: parameters.outputSize)
        let progress = quiet ? nil : ProgressLine(label: "simulate \(parameters.model.rawValue)")
        let result = try SimulationJob.run(parameters, progress: progress?.update, stage: progress?.stage)
        progress?.finish()
        for note in result.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        try SimulationJob.save(result, to: directory)
        let last = result.meanObservables.rows.last ?? []
        let columns = result.meanObservables.columns
        func value(_ name: String) -> String {
            guard let j = columns.firstIndex(of: name), j < last.count else { return "n/a" }
            return String(format: "%.4f", last[j])
        }
        print("\(result.overallStatus.rawValue): \(parameters.seeds) seeds x \(parameters.totalSteps) steps, t = \(result.times.last ?? 0), "
              + "IPR \(value("ipr")), test loss \(value("test_loss")), test accuracy \(value("test_accuracy")), "
              + "\(String(format: "%.3g", result.stepsPerSecond)) steps/s in \(String(format: "%.2f", result.wallSeconds)) s -> \(out)")
        if result.overallStatus != .completed {
            FileHandle.standardError.write(Data("warning: \(result.messages.first { $0 != "completed" } ?? "")\n".utf8))
            throw ExitCode(3)
        }
    }
}

/// A named set of defaults for `simulate`.
enum SimulationPreset: String, ExpressibleByArgument, CaseIterable {
    case published
}

extension ModelKind: ExpressibleByArgument {}
extension ReadoutKind: ExpressibleByArgument {}
extension CNNStyle: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}
extension SamplerMode: ExpressibleByArgument {}
