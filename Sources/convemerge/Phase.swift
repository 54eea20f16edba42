import ArgumentParser
import ConvEmerge
import Foundation

struct Phase: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Phase diagrams: final IPR and/or localising growth rate on a grid of two parameters.",
        discussion: """
        Parameters (NAME in --x/--y NAME=a:b:n): \(PhaseParameter.allCases.map(\.rawValue).joined(separator: ", ")). \
        n values from a to b (n = 1: a == b; L takes whole values only); at most \(PhaseAxis.maximumCells) cells in all. \
        Every other flag is fixed for the whole grid. Each cell solves the ODE (--measure ipr, any closure) and/or the \
        linear stability problem of `instability` (--measure growth). Finished cells are written to DIR/cells/ one file \
        each, so a killed sweep continues with --resume; --shard i/N computes the cells with index % N == i. Shards (and \
        repeated runs of one sweep) may share one --out, even started at the same moment: the run that finishes the \
        last cell writes phase.csv. Shards in separate directories are combined by `convemerge phase merge DIR...` \
        into the phase.csv a single run writes. DIR/phase.csv columns: cell, x, y, final_ipr, growth_rate, \
        leading_mode_ipr, status. With .venv/bin/python (make venv) the heatmap DIR/phase.png is drawn by \
        notebooks-export/plot_phase.py (curves with error bars when an axis has one value, or an sgd sweep's --y at most four).

        --engine sgd: each cell trains --seeds networks by online SGD, exactly as `simulate` with the same flags \
        and --seed (--model, default committee; --K, default 8; --batch, --sampler, --test-samples; --lr, --t-max, \
        --init-scale as above), and reduces their final weights as `analyze` does: columns cell, x, y, ipr_mean, \
        ipr_sd (unit-averaged IPR, mean and sample sd over replicas), accuracy_mean, accuracy_sd, localised_mean \
        (units with IPR > --threshold x 3/(D+2)), nn_distance, nn_null_mean, nn_p_even, nn_p_clustered (nearest-neighbour \
        distance of localised centres against --null-samples uniformly random draws), status. The axis \
        gaussian=0:1:2 puts the inputs and their Gaussian clone (--gaussian) side by side. sweep.json records the \
        engine: an ODE and an SGD sweep are never resumed or merged into one another.

        Example (in order; the two shards into runs/growth run at once):
          convemerge phase --x gain=0:3:7 --y xi1=1:3:5 --L 32 --t-max 50 \\
              --closure cumulant --out runs/phase
          convemerge phase --x gain=0:3:7 --y xi1=1:3:5 --L 32 --t-max 50 \\
              --closure cumulant --out runs/phase --resume   # finished: no-op
          convemerge phase --x gain=0:3:5 --y xi1=1:3:3 --L 32 --measure growth \\
              --out runs/growth --shard 0/2 &
          convemerge phase --x gain=0:3:5 --y xi1=1:3:3 --L 32 --measure growth \\
              --out runs/growth --shard 1/2; wait
          convemerge phase --x gain=0:3:5 --y xi1=1:3:3 --L 32 --measure growth \\
              --out runs/g-0 --shard 0/2
          convemerge phase --x gain=0:3:5 --y xi1=1:3:3 --L 32 --measure growth \\
              --out runs/g-1 --shard 1/2
          convemerge phase merge runs/g-0 runs/g-1 --out runs/g
          convemerge phase --engine sgd --x gain=0:4:3 --y gaussian=0:1:2 \\
              --L 40 --bias 0.5 --K 8 --lr 0.1 --batch 4 --t-max 500 \\
              --init-scale 1 --seeds 2 --out runs/sgd-gain
        """,
        subcommands: [PhaseRun.self, PhaseMerge.self],
        defaultSubcommand: PhaseRun.self)

    /// Draws DIR/phase.png with the project's matplotlib script when the venv exists.
    static func plot(_ directory: String) {
        let script = "notebooks-export/plot_phase.py"
        guard let interpreter = ProjectPython.existing(for: script) else {
            Report.progress("no .venv/bin/python here: `make venv`, then `.venv/bin/python \(script) \(directory)` draws the heatmap")
            return
        }
        switch ProjectPython.run(interpreter.python, [interpreter.script, directory]) {
        case 0: Report.progress("heatmap -> \((directory as NSString).appendingPathComponent("phase.png"))")
        case -1: Report.progress("cannot run plot_phase.py with \(interpreter.python)")
        case let status: Report.progress("plot_phase.py failed (status \(status)); phase.csv is complete")
        }
    }
}

struct PhaseRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Compute (a shard of) a phase diagram (the default).")

    // Optional for ArgumentParser and required by `validated()`: a missing axis must not hide
    // an unknown option's error behind "Missing expected argument".
    @Option(help: "First axis, NAME=a:b:n: n values from a to b (whole values for L; at most \(PhaseAxis.maximumCells) cells in all).")
    var x: String?
    @Option(help: "Second axis, NAME=a:b:n.") var y: String?
    @Option(help: "Comma-separated: ipr (final IPR of the ODE), growth (growth rate of the extended state).") var measure: String = "ipr"
    @Option(help: "ode: each cell solves the ODE; sgd: each cell trains --seeds networks by online SGD (simulate's engine).") var engine: PhaseEngine = .ode
    @OptionGroup(title: "Network (--engine sgd)") var network: PhaseNetworkOptions
    @OptionGroup(title: "Inputs") var input: InputOptions
    @OptionGroup(title: "Task and neuron") var taskOptions: TaskOptions
    @OptionGroup(title: "Closure") var closureOptions: ClosureOptions
    @Option(help: "GSL stepper (default rk8pd; rk2 for --closure montecarlo).") var stepper: Stepper?
    @Option(help: "Relative tolerance, in [1e-13, 1) (default 1e-8; 1e-3 for montecarlo).") var rtol: Double?
    @Option(help: "Absolute tolerance, in [1e-300, 1] (default 1e-10; 1e-4 for montecarlo).") var atol: Double?
    @Option(name: .customLong("t-max"), help: "Final time of each ODE, in SGD steps / D, in (0, 1e9].") var tMax: Double = 150
    @Option(help: "Learning rate eta, in (0, 1000].") var lr: Double = 1
    @Option(name: .customLong("init-scale"), help: "Scale of the random initial weights (same seed in every cell), in (0, 1000].") var initScale: Double = 0.1
    @Option(help: "Seed of the initial weights.") var seed: UInt64 = 0
    @Option(help: "Sweep directory (created with its parents; shards and repeated runs of one sweep may share it).") var out: String?
    @Option(help: "Worker threads (1 ... 1024).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "i/N: compute only the cells with index % N == i.") var shard: String = "0/1"
    @Flag(help: "Continue the sweep in --out, skipping finished cells.") var resume = false
    @Flag(help: "No progress bar.") var quiet = false

    /// Every flag checked, before anything is created.
    func validated() throws -> (spec: PhaseSweepSpec, shard: (index: Int, count: Int), out: String) {
        let names = PhaseParameter.allCases.map(\.rawValue).joined(separator: ", ")
        guard let x else { throw ConvEmergeError.invalidInput(flag: "--x", message: "required, NAME=a:b:n with NAME one of \(names)") }
        guard let y else { throw ConvEmergeError.invalidInput(flag: "--y", message: "required, NAME=a:b:n with NAME one of \(names)") }
        guard let out else { throw ConvEmergeError.invalidInput(flag: "--out", message: "required, the sweep directory") }
        let pieces = shard.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard pieces.count == 2, let index = pieces[0], let count = pieces[1] else {
            throw ConvEmergeError.invalidInput(flag: "--shard", message: "must be i/N with 0 <= i < N (e.g. 0/4), got '\(shard)'")
        }
        try PhaseSweep.validateExecution(threads: threads, shard: (index, count))
        let simulation = try network.settings(engine: engine)
        if simulation != nil, let flag = [("--stepper", stepper != nil), ("--rtol", rtol != nil), ("--atol", atol != nil)].first(where: \.1)?.0 {
            throw ConvEmergeError.invalidInput(flag: flag, message: "applies to --engine ode only (SGD has no integrator)")
        }
        let measures = try measure.split(separator: ",", omittingEmptySubsequences: false).map { name -> PhaseMeasure in
            guard let m = PhaseMeasure(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ConvEmergeError.invalidInput(flag: "--measure", message: "must list ipr and/or growth separated by commas, got '\(measure)'")
            }
            return m
        }
        // Only the final state matters: two saves keep the driver from stopping on the way.
        let integrator = try IntegratorSpec.suited(to: closureOptions.closure, stepper: stepper, relativeTolerance: rtol,
                                                   absoluteTolerance: atol, tMax: tMax, saves: 2)
        try requirePositive(initScale, flag: "--init-scale", atMost: ParameterBound.initScale)
        let base = try PhaseBase(
            dimension: input.dimension, length: input.length, kernel: input.kernel, xi: input.xi, gain: input.gainValue, jitter: input.jitter,
            task: taskOptions.task, xi0: taskOptions.xi0, xi1: taskOptions.xi1, gaussianControl: taskOptions.gaussian,
            prior1: taskOptions.p1, targets: taskOptions.targets, activation: taskOptions.activation, bias: taskOptions.bias,
            closure: closureOptions.spec(), integrator: integrator, learningRate: lr, initScale: initScale, seed: seed,
            family: input.spec().family)
        let spec = try PhaseSweepSpec(base: base, x: PhaseAxis(parsing: x, flag: "--x"), y: PhaseAxis(parsing: y, flag: "--y"),
                                      measures: measures, simulation: simulation)
        try spec.requireSimulationMemory(threads: threads)
        return (spec, (index, count), out)
    }

    func run() throws {
        let (spec, shard, out) = try validated()
        let lease = try PhaseSweep.prepare(out, spec: spec, resume: resume, shard: shard)
        let bar = quiet ? nil : ProgressLine(label: "phase \(spec.x.parameter.rawValue) x \(spec.y.parameter.rawValue)")
        let start = Date()
        let computed = try withExtendedLifetime(lease) {
            try PhaseSweep.run(spec, directory: out, threads: threads, shard: shard) { done, total in
                bar?.update(Double(done) / Double(max(total, 1)))
            }
        }
        bar?.finish()
        let seconds = Date().timeIntervalSince(start)
        let perCell = computed > 0 ? String(format: ", %.3f s per cell per thread", seconds * Double(min(threads, computed)) / Double(computed)) : ""
        print("computed \(computed) cells in \(String(format: "%.2f", seconds)) s on \(threads) threads\(perCell)")
        // Whichever process finishes the last cell (of any shard) writes phase.csv.
        let missing = try PhaseSweep.writeTableIfComplete(out)
        if missing == 0 {
            print("\(spec.cellCount) cells -> \(PhaseSweep.csvPath(out))")
            Phase.plot(out)
        } else {
            print("\(missing) of \(spec.cellCount) cells are not finished yet (other shards): the run that finishes the last one "
                  + "writes phase.csv, or `convemerge phase merge` the shard directories")
        }
    }
}

struct PhaseMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge the shard directories of one sweep into one phase.csv.",
        discussion: """
        Every directory must hold the same sweep (sweep.json); the cells of all of them are copied into --out \
        (default: the first directory) and phase.csv is written once every cell is there. A finished \
        phase.csv is never removed; merging again changes nothing.

        Example (two shards in their own directories, then one table):
          convemerge phase --x gain=0:3:5 --y xi1=1:3:3 --L 32 --measure growth \\
              --out runs/g-0 --shard 0/2
          convemerge phase --x gain=0:3:5 --y xi1=1:3:3 --L 32 --measure growth \\
              --out runs/g-1 --shard 1/2
          convemerge phase merge runs/g-0 runs/g-1 --out runs/g
        """)

    @Argument(help: "Shard directories of the same sweep.") var directories: [String]
    @Option(help: "Output directory (default: the first shard directory).") var out: String?

    func run() throws {
        let output = out ?? directories[0]
        let spec = try PhaseSweep.merge(directories, into: output)
        print("\(spec.cellCount) cells from \(directories.count) directories -> \(PhaseSweep.csvPath(output))")
        Phase.plot(output)
    }
}
