import ArgumentParser
import ConvEmerge
import Foundation

struct Solve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Integrate the reduced gradient-flow ODE of one neuron under a closure of the input statistics.",
        discussion: """
        dw/dt = lr * sum_c p_c sqrt(D) E_c[x h_c(w.x/sqrt D)], time in SGD steps / D. Writes DIR/manifest.json, \
        DIR/weights.npy (n_saves x D), DIR/times.npy and DIR/observables.csv (t, ipr, participation_ratio, q0, q1, \
        loss, center, width, norm). A diverging run stops, keeps its saves and sets status in the manifest.

        --model committee|twolayer --K K: the flow of K units with simulate's readout, bias and rate \
        conventions, under --closure montecarlo, gaussian (the default for K units) or cumulant (nlgp and odd copulas); weights.npy is n_saves x K x D, readouts.npy \
        (twolayer) and biases.npy (--train-bias) n_saves x K, observables.csv the unit means (t, loss, ipr, \
        participation_ratio, q0, q1), norm (root mean square of |w_k|, as simulate) and per unit k ipr_k, q0_k, q1_k, norm_k, center_k (and center_col_k on \
        the torus), width_k (and v_k, b_k when trained); the random w0 of --seed is simulate's. K units run on one \
        thread (--threads is ignored) and refuse --closure conditional and lufkin.

        Example (SPEC §3 localisation setting):
          convemerge solve --L 40 --gain 3 --xi0 0.5 --xi1 2 --closure montecarlo \\
            --t-max 150 --out runs/mc
          convemerge solve --model committee --K 4 --L 40 --gain 3 --xi0 0.5 --xi1 2 \\
            --closure gaussian --t-max 20 --out runs/committee
        """)

    @OptionGroup(title: "Inputs") var input: InputOptions
    @OptionGroup(title: "Task and neuron") var taskOptions: TaskOptions
    @OptionGroup(title: "Closure") var closureOptions: ClosureOptions

    @Option(help: "GSL stepper: rk8pd, rkf45, rkck, rk4, rk2, msadams, msbdf (default rk8pd; rk2 for --closure montecarlo).")
    var stepper: Stepper?
    @Option(help: "Relative tolerance of the stepper, in [1e-13, 1): double precision meets no tighter one (default 1e-8; 1e-3 for --closure montecarlo).")
    var rtol: Double?
    @Option(help: "Absolute tolerance of the stepper, in [1e-300, 1] (default 1e-10; 1e-4 for --closure montecarlo).")
    var atol: Double?
    @OptionGroup(title: "K units (--model committee|twolayer)") var committeeModel: CommitteeModelOptions
    @Option(name: .customLong("t-max"), help: "Final time, in SGD steps / D, in (0, 1e9].") var tMax: Double = 150
    @Option(help: "Number of saved times (2 ... 1000000): 0, then log-spaced from t-max/1000 unless --linear-saves.") var saves: Int = 100
    @Flag(name: .customLong("linear-saves"), help: "Evenly spaced saves from 0 to t-max.") var linearSaves = false
    @Option(help: "Learning rate eta, in (0, 1000].") var lr: Double = 1
    @Option(name: .customLong("init"), help: "Initial weights: random, or a .npy file (length D, or the last row of an (n, D) array; for --model committee|twolayer (K, D), or the last save of an (n, K, D) array).") var initial: String = "random"
    @Option(name: .customLong("init-scale"), help: "Standard deviation of random initial weights, in (0, 1000].") var initScale: Double = 0.1
    @Option(help: "Seed of the random initial weights.") var seed: UInt64 = 0
    @Option(help: "Worker threads, 1 ... 1024 (default: the available cores). The montecarlo closure splits its sample across them; the gaussian and cumulant closures evaluate the two classes at once from D = 4096 up. The result does not depend on it, to the bit. K units (--model committee|twolayer) run on one thread.")
    var threads: Int?
    // Optional to the parser, required in run(): an unknown option is then reported first.
    @Option(name: .customLong("out"), help: "Output run directory (required; created with its parents).") var outOption: String?
    @Flag(help: "No progress on stderr.") var quiet = false

    func parameters() throws -> SolveParameters {
        var parameters = try SolveParameters(
            task: taskOptions.taskSpec(input: input),
            neuron: taskOptions.neuronSpec(),
            closure: closureOptions.spec(),
            integrator: IntegratorSpec.suited(to: closureOptions.closure, stepper: stepper, relativeTolerance: rtol,
                                              absoluteTolerance: atol, tMax: tMax, saves: saves, logSpacedSaves: !linearSaves),
            learningRate: lr,
            initialization: initial == "random" ? .random(scale: initScale, seed: seed) : .file(path: initial))
        if let (model, units, network) = try committee() {
            parameters.closure = try closureOptions.committeeSpec()
            parameters.model = model
            parameters.hiddenUnits = units
            parameters.network = network
            if defaultsToLowOrderStepper(network) {
                parameters.integrator = try IntegratorSpec.suited(to: .montecarlo, tMax: tMax, saves: saves, logSpacedSaves: !linearSaves)
            }
        }
        return parameters
    }

    func run() throws {
        let out = try required(outOption, flag: "--out", "the run directory to write")
        let parameters = try parameters()
        let threads = try Self.workerThreads(threads)
        if parameters.isCommittee { return try runCommittee(parameters, out: out) }
        try parameters.validate(holdingSaves: false)
        let directory = try RunDirectory(path: out, expecting: parameters.outputSize)
        let progress = quiet ? nil : ProgressLine(label: "solve \(parameters.closure.kind.rawValue)")
        // On data the flow is built here, so that a jitter the clone needed is reported.
        let flow = try parameters.task.usesData ? GradientFlow(task: parameters.task, neuron: parameters.neuron, closure: parameters.closure,
                                                               learningRate: parameters.learningRate) : nil
        for note in flow?.distributions.compactMap(\.cloneJitterNote) ?? [] { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        // Each save is written as it comes: the trajectory is never held in memory.
        let result = try SolveJob.runAndSave(parameters, flow: flow, threads: threads, to: directory) { progress?.update($0) }
        progress?.finish()
        let status = result.trajectory.status
        let ipr = result.finalIPR.map { String(format: "%.4f", $0) } ?? "n/a"
        print("\(status.rawValue): t = \(result.trajectory.times.last ?? 0), final IPR \(ipr), "
              + "\(result.trajectory.evaluations) right-hand sides in \(String(format: "%.2f", result.wallSeconds)) s -> \(out)")
        if status != .completed {
            FileHandle.standardError.write(Data("warning: \(result.trajectory.message)\n".utf8))
            throw ExitCode(3)
        }
    }

    /// --threads: 1 ... 1024, by default the cores available.
    static func workerThreads(_ threads: Int?) throws -> Int {
        guard let threads else { return ProcessInfo.processInfo.activeProcessorCount }
        try GradientFlow.requireThreads(threads)
        return threads
    }
}
