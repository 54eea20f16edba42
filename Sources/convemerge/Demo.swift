import ArgumentParser
import ConvEmerge
import Foundation

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job: solve the default problem under every closure and summarise (what `make run` runs).",
        discussion: """
        Solves the default task (NLGP xi0 = 0.5 vs xi1 = 2 at gain 3 on a ring of 100 sites, relu neuron, targets 0,1, \
        t = 150) with the gaussian, cumulant (leading and full), conditional and montecarlo closures, and the Gaussian \
        control (both classes replaced by Gaussian clones, where the gaussian closure is exact: it \
        coincides with the gaussian closure on NLGP inputs, which sees only the covariance); then simulates \
        online SGD of the same problem and compares it with the montecarlo ODE; writes one run directory per closure under --out and prints the final IPR \
        of each. Any input, task or solver flag of `solve` can be changed.

        Example:
          convemerge demo --out runs/demo --L 40 --gain 2 --mc-samples 5000
        """)

    @OptionGroup(title: "Inputs") var input: InputOptions
    @OptionGroup(title: "Task and neuron") var taskOptions: TaskOptions

    @Option(name: .customLong("mc-samples"), help: "Inputs per class of the montecarlo closure, 1 ... 5e7 (memory permitting).") var monteCarloSamples: Int = 20000
    @Option(name: .customLong("mc-precision"), help: "Storage of the montecarlo sample: double or float (see `solve --help`).")
    var monteCarloPrecision: MonteCarloPrecision = .double
    @Option(help: "Threads of the montecarlo right-hand side, 1 ... 1024 (default: the available cores); any value gives the same result to the bit.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("t-max"), help: "Final time, in SGD steps / D, in (0, 1e9] (and t-max x D <= 1e12 SGD steps).") var tMax: Double = 150
    @Option(help: "Learning rate eta, in (0, 1000].") var lr: Double = 1
    @Option(name: .customLong("init-scale"), help: "Standard deviation of the random initial weights, in (0, 1000].") var initScale: Double = 0.1
    @Option(help: "Seed of the initial weights (the same for every closure) and of the Monte Carlo sample.") var seed: UInt64 = 0
    @Option(help: "Directory for the run directories (created if missing).") var out: String = "runs/demo"

    @Option(help: "Replicas of the online-SGD simulation compared with the montecarlo ODE, 0 ... 10000 (0: no simulation).") var seeds: Int = 4
    @Option(help: "Batch size of the simulation, 1 ... 1000000: the SGD noise relative to the drift falls like sqrt(lr / batch).") var batch: Int = 64

    func run() throws {
        // Every flag is checked before anything is computed or written.
        try require(!input.inputs.hasPrefix("data:"), flag: "--inputs",
                    "data:FILE.npy is read by stats, solve, closure-error, simulate and criterion; demo compares every closure, and conditional needs a model family")
        let task = try taskOptions.taskSpec(input: input)
        let neuron = try taskOptions.neuronSpec()
        let control = try taskOptions.task == .xi
            ? TaskSpec.xi(base: input.spec(), xi0: taskOptions.xi0, xi1: taskOptions.xi1, gaussianControl: true,
                          prior1: taskOptions.p1, targets: taskOptions.targets)
            : nil
        let candidates: [(name: String, spec: ClosureSpec, task: TaskSpec)] = try [
            ("gaussian", ClosureSpec(kind: .gaussian), task),
            ("cumulant-leading", ClosureSpec(kind: .cumulant, cumulantMethod: .leading), task),
            ("cumulant-full", ClosureSpec(kind: .cumulant, cumulantMethod: .full), task),
            ("conditional", ClosureSpec(kind: .conditional), task),
            ("montecarlo", ClosureSpec(kind: .montecarlo, monteCarloSamples: monteCarloSamples, monteCarloSeed: seed,
                                       monteCarloPrecision: monteCarloPrecision), task),
        ] + (control.map { [("gaussian-control", try ClosureSpec(kind: .gaussian), $0)] } ?? [])
        // A copula has no exact cumulant: those rows are left out.
        let closures = candidates.filter { (try? $0.spec.requireApplicable(to: $0.task)) != nil }
        let omitted = candidates.map(\.name).filter { name in !closures.contains { $0.name == name } }
        let solves = try closures.map { closure in
            let parameters = SolveParameters(
                task: closure.task, neuron: neuron, closure: closure.spec,
                integrator: try IntegratorSpec.suited(to: closure.spec.kind, tMax: tMax),
                learningRate: lr, initialization: .random(scale: initScale, seed: seed))
            try parameters.validate()
            return parameters
        }
        try GradientFlow.requireThreads(threads)
        try require(seeds >= 0 && seeds <= SimulationParameters.maximumSeeds, flag: "--seeds",
                    "must be in 0 ... \(SimulationParameters.maximumSeeds) (0: no simulation), got \(seeds)")
        let reference = solves[closures.firstIndex { $0.spec.kind == .montecarlo }!]
        // Built (and so checked) even with --seeds 0, so that a bad --batch is never accepted silently.
        let simulationParameters = try SimulationParameters(
            task: task, neuron: neuron, learningRate: lr, batchSize: batch, seeds: max(seeds, 1), seed: seed, tMax: tMax,
            saves: reference.integrator.saves, initialization: reference.initialization)
        let simulation = seeds == 0 ? nil : simulationParameters
        let names = closures.map(\.name) + (simulation == nil ? [] : ["simulation"])
        try require(!out.isEmpty, flag: "--out", "must be a directory path, got an empty string")
        for name in names { try RunDirectory.requireReplaceable("\(out)/\(name)", flag: "--out") }
        // The closures' runs and the simulation share --out's file system: their sum must fit.
        try DiskBudget.require(OutputSize.together(solves.map(\.outputSize) + (simulation.map { [$0.outputSize] } ?? []),
                                                   sizeFlag: seeds > 1 ? "--seeds" : "--L", saveShape: "D = \(task.dimension)"),
                               writingTo: out, intoDirectory: true)
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw ConvEmergeError.invalidInput(flag: "--out", message: "cannot create the directory '\(out)'")
        }

        print(Report.describe(task.classes[1]))
        print("task \(task.kind.rawValue): class 0 xi = \(Report.format(task.classes[0].kernel.correlationLength)), "
              + "class 1 xi = \(Report.format(task.classes[1].kernel.correlationLength)), \(neuron.activation.rawValue) neuron, "
              + "targets \(task.targets.map(Report.format).joined(separator: ",")), lr = \(Report.format(lr)), t = \(Report.format(tMax))\n")
        var montecarlo: SolveResult?
        var rows = [["closure", "inputs", "final IPR", "participation ratio", "loss", "status", "seconds"]]
        for (closure, parameters) in zip(closures, solves) {
            let directory = try RunDirectory(path: "\(out)/\(closure.name)")
            let progress = ProgressLine(label: "demo \(closure.name)")
            let flow = try GradientFlow(task: parameters.task, neuron: parameters.neuron, closure: parameters.closure,
                                        learningRate: parameters.learningRate)
            flow.threads = threads
            let result = try SolveJob.run(parameters, flow: flow) { progress.update($0) }
            progress.finish()
            try SolveJob.save(result, to: directory)
            if parameters == reference { montecarlo = result }
            let final = result.trajectory.weights.last ?? []
            let family = closure.task.classes[1].family
            rows.append([closure.name, closure.task.gaussianControl ? "Gaussian clones" : (family.isNLGP ? "NLGP" : "\(family)"),
                         Report.format(Observables.inverseParticipationRatio(final)),
                         Report.format(Observables.participationRatio(final)),
                         Report.format(result.observables.rows.last?[5] ?? .nan),
                         result.trajectory.status.rawValue, String(format: "%.2f", result.wallSeconds)])
        }
        print(Report.table(rows))
        if !omitted.isEmpty { print("(\(omitted.joined(separator: ", ")) not defined on \(task.classes[1].family) inputs: left out)") }
        if let simulation, let montecarlo { try simulate(simulation, against: montecarlo) }
        print("\nIPR = sum w^4 / (sum w^2)^2: 1/D = \(Report.format(1 / Double(task.dimension))) for an extended RF, 1 for a single site. "
              + "Runs in \(out)/<closure>/.")
    }

    /// Online SGD of the same task, model, learning rate, initial weights and save
    /// times, against the Monte Carlo ODE. The RF localises where the noise breaks
    /// the translation symmetry, so each replica is also compared up to a shift.
    private func simulate(_ parameters: SimulationParameters, against reference: SolveResult) throws {
        let task = parameters.task
        let directory = try RunDirectory(path: "\(out)/simulation")
        let progress = ProgressLine(label: "demo simulation")
        let result = try SimulationJob.run(parameters) { progress.update($0) }
        progress.finish()
        try SimulationJob.save(result, to: directory)
        let comparison = try TheoryVersusSimulation.compare(
            lattice: task.lattice, theoryTimes: reference.trajectory.times, theoryWeights: reference.trajectory.weights,
            simulationTimes: result.times, simulationWeights: result.replicaTrajectories)
        let last = comparison.curve.last!  // compare throws when there is no common time
        let seedShifted = last.seedShiftedCosines.reduce(0, +) / Double(last.seedShiftedCosines.count)
        print("\nOnline SGD (\(seeds) replicas, batch \(batch), lr \(Report.format(lr)), \(Report.format(result.stepsPerSecond)) steps/s) "
              + "against the montecarlo ODE at t = \(Report.format(last.t)):")
        print(Report.table([
            ["", "ODE", "SGD"],
            ["final IPR (per replica)", Report.format(last.iprTheory), Report.format(last.meanIprOverSeeds)],
            ["shifted cosine of each replica with the ODE (mean over replicas)", "1", Report.format(seedShifted)],
            ["shifted cosine of the replica mean with the ODE (compare: shifted cosine)", "1", Report.format(last.shiftedCosine)],
            ["relative distance of the replica mean (compare: distance)", "0", Report.format(last.distance)],
        ]))
        print("Replicas localise where their noise breaks the translation symmetry: compare them up to a shift. "
              + "Run in \(out)/simulation/; `convemerge compare --theory \(out)/montecarlo --sim \(out)/simulation` prints the whole curve.")
    }
}
