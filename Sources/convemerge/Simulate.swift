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
        DIR/weights_mean.npy, DIR/times.npy, DIR/observables_seed<k>.csv and DIR/observables.csv (seed mean).

        --inputs data:FILE.npy[,FILE.npy] trains on your rows (README, Your own data): each step draws a row \
        uniformly with replacement, or with --epochs E walks the rows E times, each pass in a fresh random order.

        Example (compare with the gaussian closure, where it is exact):
          convemerge simulate --L 32 --gain 1.2 --xi0 0.6 --xi1 1.9 --gaussian \\
            --lr 0.0625 --batch 16 --t-max 480 --seeds 8 --init-scale 0.5 \\
            --out runs/sim

        Example (two passes over rows of your own; here NLGP samples):
          convemerge sample --L 16 --n 2000 --seed 1 --out rows.npy
          convemerge simulate --L 16 --inputs data:rows.npy --epochs 2 \\
            --out runs/data-sim
        """)

    @OptionGroup(title: "Inputs") var input: InputOptions
    @OptionGroup(title: "Task and neuron") var taskOptions: TaskOptions

    @Option(help: "Network: neuron (the solve model), committee (K units, readout 1/K, biases +b,-b,...), twolayer (trained readout), cnn (K filters of --kernel-size, circular padding, readout: mean over channels and positions; ring only).")
    var model: ModelKind = .neuron
    @Option(name: .customLong("K"), help: "Hidden units, or CNN channels, 1 ... 4096 (1 for --model neuron).") var hiddenUnits: Int?
    @Option(name: .customLong("kernel-size"), help: "Filter size s of --model cnn (1 ... L).") var kernelSize: Int?
    @Option(help: "Learning rate eta, in (0, 1000].") var lr: Double = 1
    @Option(help: "Batch size B, 1 ... 1000000: the gradient is averaged over B fresh inputs.") var batch: Int = 1
    @Option(help: "Independent SGD replicas, 1 ... 10000, run in parallel threads.") var seeds: Int = 1
    @Option(name: .customLong("t-max"), help: "Final time, in SGD steps / D, in (0, 1e9] (and t-max x D <= 1e12 SGD steps); default 150, or set by --epochs.") var tMax: Double?
    @Option(help: "For --inputs data: finite-data training: each data class walks its rows in E passes, each in a fresh random order (default: rows drawn uniformly with replacement). Sets the run to E x max_c N_c / p_c steps (t-max = that / D), so it excludes --t-max.") var epochs: Int?
    @Option(help: "Number of saved times (2 ... 1000000): 0, then log-spaced from t-max/1000 unless --linear-saves.") var saves: Int = 100
    @Flag(name: .customLong("linear-saves"), help: "Evenly spaced saves from 0 to t-max.") var linearSaves = false
    @Option(name: .customLong("init"), help: "Initial weights: random, or a .npy file (K D values).") var initial: String = "random"
    @Option(name: .customLong("init-scale"), help: "Standard deviation of random initial weights, in (0, 1000].") var initScale: Double = 0.1
    @Option(help: "Seed of the initial weights (as in solve) and of the SGD streams.") var seed: UInt64 = 0
    @Option(name: .customLong("test-samples"), help: "Held-out inputs per class for the test loss and accuracy, 1 ... 1e7 (memory permitting).") var testSamples: Int = 1000
    @Option(help: "Input sampler: fast (ziggurat, spectral noise, tabulated erf for nlgp; a copula's own psi), exact (the reference) or dense (O(D^2) Cholesky baseline).") var sampler: SamplerMode = .fast
    // Optional to the parser, required in run(): an unknown option is then reported first.
    @Option(name: .customLong("out"), help: "Output run directory (required; created with its parents).") var outOption: String?
    @Flag(help: "No progress on stderr.") var quiet = false

    func parameters() throws -> SimulationParameters {
        let units = hiddenUnits ?? (model == .neuron ? 1 : 8)
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
            testSamples: testSamples, sampler: sampler, kernelSize: kernelSize, epochs: epochs)
    }

    func run() throws {
        let out = try required(outOption, flag: "--out", "the run directory to write")
        let parameters = try parameters()
        let directory = try RunDirectory(path: out)
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

extension ModelKind: ExpressibleByArgument {}
extension SamplerMode: ExpressibleByArgument {}
