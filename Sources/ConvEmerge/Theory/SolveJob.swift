import Foundation

/// Where the initial weights come from.
public enum Initialization: Codable, Hashable, Sendable {
    /// w_i ~ N(0, scale^2), drawn from `seed`.
    case random(scale: Double, seed: UInt64)
    /// A .npy file: a length-D vector, or the last row of an (n, D) array
    /// (so a run can continue from another run's weights.npy).
    case file(path: String)

    public func weights(dimension d: Int) throws -> [Double] {
        switch self {
        case let .random(scale, seed):
            try requirePositive(scale, flag: "--init-scale", atMost: ParameterBound.initScale)
            var rng = Xoshiro256(seed: seed)
            return (0..<d).map { _ in scale * rng.nextGaussian() }
        case let .file(path):
            return try NpyArray.readWeights(from: path, dimension: d, flag: "--init")
        }
    }
}

/// Every parameter of a `solve` run: one value decoded from the CLI, written
/// into the manifest and read back by later commands.
public struct SolveParameters: Codable, Hashable, Sendable {
    public var task: TaskSpec
    public var neuron: NeuronSpec
    public var closure: ClosureSpec
    public var integrator: IntegratorSpec
    public var learningRate: Double
    public var initialization: Initialization
    /// `--model committee|twolayer` with K units and the network options (CommitteeSolveJob);
    /// nil for the neuron, and in manifests written before K-unit runs existed.
    public var model: ModelKind? = nil
    public var hiddenUnits: Int? = nil
    public var network: NetworkOptions? = nil

    public init(task: TaskSpec, neuron: NeuronSpec, closure: ClosureSpec, integrator: IntegratorSpec,
                learningRate: Double, initialization: Initialization) {
        self.task = task
        self.neuron = neuron
        self.closure = closure
        self.integrator = integrator
        self.learningRate = learningRate
        self.initialization = initialization
    }
}

extension SolveParameters {
    /// Checks what the run will need before any of it is built: the learning rate, the initial
    /// weights, and the memory of what is kept: the observables table and, for `SolveJob.run`
    /// (`holdingSaves`), the saved trajectory itself (one copy: it is written from its rows).
    /// `SolveJob.runAndSave` writes each save as it comes and holds none.
    /// The Monte Carlo sample is checked by `GradientFlow`.
    public func validate(holdingSaves: Bool = true) throws {
        try closure.requireApplicable(to: task)
        try requirePositive(learningRate, flag: "--lr", atMost: ParameterBound.learningRate)
        _ = try initialization.weights(dimension: task.dimension)
        let columns = TrajectoryObservables.columns(for: task.lattice).count
        try MemoryBudget.require(MemoryBudget.product(integrator.saves, (holdingSaves ? task.dimension : 0) + columns + 1, 8),
                                 flag: "--saves", for: "\(integrator.saves) saves of D = \(task.dimension) weights")
    }
}

/// manifest.json of a `solve` run.
public struct SolveManifest: Codable, Sendable {
    public var command = "solve"
    public var version = ConvEmergeVersion.string
    public var status: RunStatus
    public var message: String
    public var createdAt: String
    public var parameters: SolveParameters
    public var dimension: Int
    /// File name -> shape and meaning of each array.
    public var arrays: [String: ArrayDescription]
    public var rightHandSideEvaluations: Int
    public var wallSeconds: Double
    public var finalIpr: Double?
}

public struct ArrayDescription: Codable, Sendable {
    public var shape: [Int]
    public var description: String
    public init(shape: [Int], description: String) {
        self.shape = shape
        self.description = description
    }
}

/// The result of `solve`: the trajectory and its observables.
public struct SolveResult: Sendable {
    public var parameters: SolveParameters
    public var trajectory: Trajectory
    public var observables: CSVTable
    public var wallSeconds: Double
    public var finalIPR: Double? { trajectory.weights.last.map(Observables.inverseParticipationRatio) }
}

/// What `SolveJob.runAndSave` reports once the run directory is written: the trajectory's
/// times and ending (its weights are in the directory, not in memory).
public struct SolveSummary: Sendable {
    public var parameters: SolveParameters
    /// The saved times, status, message and evaluations (no weights).
    public var trajectory: Trajectory
    public var finalIPR: Double?
    public var wallSeconds: Double
}

/// solve(problem, algorithm) -> solution, then save.
public enum SolveJob {
    /// `flow`, when given, must be the flow of `parameters` (a caller that also analyses it
    /// passes it in so that its inputs and cumulant tables are built once). `threads`: see
    /// `GradientFlow.threads` (the result does not depend on it); nil keeps the flow's own setting.
    public static func run(_ parameters: SolveParameters, flow prebuilt: GradientFlow? = nil, threads: Int? = nil,
                           progress: ((Double) -> Void)? = nil) throws -> SolveResult {
        let start = Date()
        try parameters.validate()
        let (flow, initial) = try prepare(parameters, flow: prebuilt, threads: threads)
        let trajectory = ODEIntegrator.integrate(flow, from: initial, settings: parameters.integrator, progress: progress)
        let table = TrajectoryObservables.table(trajectory.times, trajectory.weights, flow: flow)
        return SolveResult(parameters: parameters, trajectory: trajectory, observables: table,
                           wallSeconds: Date().timeIntervalSince(start))
    }

    /// `run` and `save` in one pass that keeps no trajectory: each save is appended to
    /// weights.npy (in the directory's staging area) and its observables row computed as it is
    /// reached. The files are byte for byte those of `save(run(...))`; a run that stops early
    /// keeps its saves, with the status in the manifest, as `save` does.
    public static func runAndSave(_ parameters: SolveParameters, flow prebuilt: GradientFlow? = nil, threads: Int? = nil,
                                  to directory: RunDirectory, progress: ((Double) -> Void)? = nil) throws -> SolveSummary {
        let start = Date()
        try parameters.validate(holdingSaves: false)
        let (flow, initial) = try prepare(parameters, flow: prebuilt, threads: threads)
        let d = flow.dimension
        let weights = try directory.npyWriter("weights.npy", plannedRows: parameters.integrator.saveTimes.count, rowShape: [d])
        var table = CSVTable(columns: TrajectoryObservables.columns(for: flow.task.lattice))
        var last = initial
        let trajectory = try ODEIntegrator.integrate(flow, from: initial, settings: parameters.integrator, progress: progress,
                                                     saving: { t, w in
            try weights.append(w)
            table.append(TrajectoryObservables.row(t, w, flow: flow))
            last = w
        })
        try weights.finish()
        let summary = SolveSummary(parameters: parameters, trajectory: trajectory,
                                   finalIPR: trajectory.times.isEmpty ? nil : Observables.inverseParticipationRatio(last),
                                   wallSeconds: Date().timeIntervalSince(start))
        try commit(summary, observables: table, to: directory)
        return summary
    }

    private static func prepare(_ parameters: SolveParameters, flow prebuilt: GradientFlow?, threads: Int?) throws -> (GradientFlow, [Double]) {
        let flow = try prebuilt ?? GradientFlow(task: parameters.task, neuron: parameters.neuron, closure: parameters.closure,
                                                learningRate: parameters.learningRate)
        precondition(flow.task == parameters.task && flow.neuron == parameters.neuron && flow.closure == parameters.closure
                     && flow.learningRate == parameters.learningRate, "SolveJob: the flow is not the flow of these parameters")
        if let threads { flow.threads = threads }
        return (flow, try parameters.initialization.weights(dimension: flow.dimension))
    }

    /// Writes the run directory (also for a diverged run: what was computed is kept).
    public static func save(_ result: SolveResult, to directory: RunDirectory) throws {
        let trajectory = result.trajectory
        try directory.write(trajectory.weights, shape: [trajectory.weights.count, result.parameters.task.dimension], as: "weights.npy")
        try commit(SolveSummary(parameters: result.parameters, trajectory: trajectory, finalIPR: result.finalIPR, wallSeconds: result.wallSeconds),
                   observables: result.observables, to: directory)
    }

    /// times.npy, observables.csv and the manifest, after weights.npy.
    private static func commit(_ summary: SolveSummary, observables: CSVTable, to directory: RunDirectory) throws {
        let trajectory = summary.trajectory
        let d = summary.parameters.task.dimension
        let n = trajectory.times.count
        try directory.write(NpyArray(shape: [n], values: trajectory.times), as: "times.npy")
        try directory.write(text: observables.text, as: "observables.csv")
        let manifest = SolveManifest(
            status: trajectory.status, message: trajectory.message,
            createdAt: ISO8601DateFormatter().string(from: Date()),
            parameters: summary.parameters, dimension: d,
            arrays: ["weights.npy": ArrayDescription(shape: [n, d], description: "w at each saved time, lattice order (row-major on the torus)"),
                     "times.npy": ArrayDescription(shape: [n], description: "saved times t = SGD steps / D")],
            rightHandSideEvaluations: trajectory.evaluations, wallSeconds: summary.wallSeconds,
            finalIpr: summary.finalIPR)
        try directory.commit(manifest: manifest)
    }
}

/// The observables of SPEC §4 along a trajectory, as the columns of observables.csv.
public enum TrajectoryObservables {
    public static func columns(for lattice: Lattice) -> [String] {
        var names = ["t", "ipr", "participation_ratio", "q0", "q1", "loss", "center", "width", "norm"]
        if lattice.dimension == 2 { names.insert("center_col", at: 7) }
        return names
    }

    public static func table(_ times: [Double], _ weights: [[Double]], flow: GradientFlow) -> CSVTable {
        var table = CSVTable(columns: columns(for: flow.task.lattice))
        for (t, w) in zip(times, weights) { table.append(row(t, w, flow: flow)) }
        return table
    }

    /// The row of the state w at time t.
    public static func row(_ t: Double, _ w: [Double], flow: GradientFlow) -> [Double] {
        let lattice = flow.task.lattice
        let q = flow.overlaps(w)
        var row = [t, Observables.inverseParticipationRatio(w), Observables.participationRatio(w), q[0], q[1], flow.loss(w)]
        row += Observables.center(w, lattice: lattice)
        row += [Observables.width(w, lattice: lattice), euclideanNorm(w)]
        return row
    }
}
