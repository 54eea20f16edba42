import Foundation

extension SolveParameters {
    /// Whether this is a K-unit run (`--model committee|twolayer`), integrated by CommitteeSolveJob.
    public var isCommittee: Bool { model == .committee || model == .twolayer }

    /// The K-unit network of a committee run.
    public var committeeNetwork: CommitteeNetwork {
        CommitteeNetwork(units: hiddenUnits ?? 1, neuron: neuron, options: network ?? .standard)
    }

    /// The bound on what `SolveJob` / `CommitteeSolveJob` write (OutputSize): per save the weights
    /// (D, or K x D), the trained readouts and biases (K each), the time, and one observables row.
    public var outputSize: OutputSize {
        let d = task.dimension
        guard isCommittee else {
            return OutputSize(saves: integrator.saves, arrayValuesPerSave: d + 1,
                              csvCellsPerSave: TrajectoryObservables.columns(for: task.lattice).count,
                              files: 4, sizeFlag: "--L", saveShape: "D = \(d)")
        }
        let network = committeeNetwork, units = network.units
        let layout = CommitteeLayout(units: units, dimension: d, trainsReadout: network.trainsReadout, trainsBias: network.trainsBias)
        return OutputSize(saves: integrator.saves, arrayValuesPerSave: layout.stateSize + 1,
                          csvCellsPerSave: CommitteeObservables.columns(layout: layout, lattice: task.lattice).count,
                          files: 4 + layout.trainedParts.count, sizeFlag: units > 1 ? "--K" : "--L",
                          saveShape: "K x D = \(units) x \(d)")
    }
}

/// The result of a K-unit `solve`: the trajectory of the state (W, then v and b when trained).
public struct CommitteeSolveResult: Sendable {
    public var parameters: SolveParameters
    public var layout: CommitteeLayout
    public var trajectory: Trajectory
    public var observables: CSVTable
    public var wallSeconds: Double

    /// Unit k's weights at save `save`.
    public func weights(save: Int, unit: Int) -> [Double] {
        let d = layout.dimension
        return Array(trajectory.weights[save][(unit * d)..<((unit + 1) * d)])
    }

    /// The IPR averaged over the units at the last save.
    public var finalMeanIPR: Double? { trajectory.weights.last.map { Self.meanIPR(of: $0, layout: layout) } }

    /// The units' IPR averaged over the units, of one state.
    static func meanIPR(of state: [Double], layout: CommitteeLayout) -> Double {
        let d = layout.dimension
        return (0..<layout.units).map { k in Observables.inverseParticipationRatio(Array(state[(k * d)..<((k + 1) * d)])) }
            .reduce(0, +) / Double(layout.units)
    }
}

/// `solve --model committee|twolayer --K K`: the population gradient flow of K units
/// (derivations/committee-closures.md), saved in the layout of `solve` with a unit axis.
public enum CommitteeSolveJob {
    /// Checks the run before anything is built: the model and its options, the closure, the
    /// learning rate, the initial weights and, when `holdingSaves` (`run`, then `save`), the memory
    /// of the saved trajectory (held, and copied per array when written: three copies).
    public static func validate(_ parameters: SolveParameters, holdingSaves: Bool = true) throws {
        guard let model = parameters.model, parameters.isCommittee else {
            throw ConvEmergeError.invalidInput(flag: "--model", message: "must be committee or twolayer for a K-unit solve")
        }
        let units = parameters.hiddenUnits ?? 1
        try require(units >= 1 && units <= 4096, flag: "--K", "must be in 1 ... 4096, got \(units)")
        let options = parameters.network ?? .standard
        try SimulationParameters.requireNetwork(options, model: model, neuron: parameters.neuron)
        try CommitteeClosures.requireSupported(parameters.closure, task: parameters.task, network: parameters.committeeNetwork)
        try requirePositive(parameters.learningRate, flag: "--lr", atMost: ParameterBound.learningRate)
        // The stepper's stages and the closures' scratch: a K = 16, D = 262144 solve peaks at about 25
        // (gaussian) and 30 (cumulant) copies of the K x D state; K D grows to 2^36, so check first.
        try MemoryBudget.require(MemoryBudget.product(32, units, parameters.task.dimension + 2, 8), flag: "--K",
                                 for: "the ODE state of K x D = \(units) x \(parameters.task.dimension) weights (about 32 copies)")
        // The state per save: K x D weights and at most K readouts and K biases.
        if holdingSaves {
            try MemoryBudget.require(MemoryBudget.product(3, parameters.integrator.saves, units, parameters.task.dimension + 2, 8), flag: "--saves",
                                     for: "\(parameters.integrator.saves) saves of K x D = \(units) x \(parameters.task.dimension) weights")
        }
        if parameters.integrator.stepper.needsJacobian {
            // The implicit stepper's Jacobian by central differences: (K D)^2 doubles (and GSL's own copy).
            try MemoryBudget.require(MemoryBudget.product(2, units * parameters.task.dimension + 2 * units,
                                                          units * parameters.task.dimension + 2 * units, 8),
                                     flag: "--stepper", for: "the \(parameters.integrator.stepper.rawValue) Jacobian of K x D = \(units) x \(parameters.task.dimension) weights")
        }
        _ = try initialWeights(parameters)
    }

    /// W0 (K x D, unit-major): --seed's K D Gaussians in the order of `simulate --model committee`
    /// (Initialization.weights of K D values), or a .npy file of shape (K, D), or the last save
    /// (n, K, D) of another committee run (at K = 1 also a neuron's (D) or (n, D)).
    public static func initialWeights(_ parameters: SolveParameters) throws -> [Double] {
        let units = parameters.hiddenUnits ?? 1, d = parameters.task.dimension
        guard case let .file(path) = parameters.initialization else {
            return try parameters.initialization.weights(dimension: units * d)
        }
        let array = try NpyArray.read(from: path, flag: "--init")
        // K = 1 also continues a one-neuron solve: its (D) or (n, D) weights.
        let unitAxis = array.shape.count >= 2 && array.shape.count <= 3 && Array(array.shape.suffix(2)) == [units, d]
        let neuron = units == 1 && array.shape.count >= 1 && array.shape.count <= 2 && array.shape.last == d
        try require((unitAxis || neuron) && !array.values.isEmpty, flag: "--init",
                    "'\(path)' must hold K x D = \(units) x \(d) weights (shape (\(units), \(d)) or (n, \(units), \(d))"
                    + (units == 1 ? ", or a neuron's (\(d)) or (n, \(d))" : "") + "), has shape \(array.shape)")
        let w = Array(array.values.suffix(units * d))
        try require(w.allSatisfy(\.isFinite), flag: "--init", "'\(path)' holds non-finite weights")
        for k in 0..<units {
            try require(w[(k * d)..<((k + 1) * d)].contains { $0 != 0 }, flag: "--init", "'\(path)' gives unit \(k) zero weights")
        }
        return w
    }

    /// `flow`, when given, must be the flow of `parameters`.
    public static func run(_ parameters: SolveParameters, flow prebuilt: CommitteeFlow? = nil,
                           progress: ((Double) -> Void)? = nil) throws -> CommitteeSolveResult {
        let start = Date()
        try validate(parameters)
        let (flow, initial) = try prepare(parameters, flow: prebuilt)
        let (field, report) = ProgressReportingField.wrap(flow, progress)
        let trajectory = ODEIntegrator.integrate(field, from: initial, settings: parameters.integrator, progress: report)
        return CommitteeSolveResult(parameters: parameters, layout: flow.layout, trajectory: trajectory,
                                    observables: CommitteeObservables.table(trajectory, flow: flow),
                                    wallSeconds: Date().timeIntervalSince(start))
    }

    /// `run` and `save` in one pass that keeps no trajectory, as `SolveJob.runAndSave` does: each
    /// save is appended to weights.npy (and readouts.npy / biases.npy when trained) in the
    /// directory's staging area and its observables row computed as it is reached. The files are
    /// those of `save(run(...))`; a run that stops early keeps its saves, with the status.
    /// Returns the trajectory's times and status (no states) and the final unit-mean IPR.
    public static func runAndSave(_ parameters: SolveParameters, to directory: RunDirectory,
                                  progress: ((Double) -> Void)? = nil) throws -> (trajectory: Trajectory, finalMeanIPR: Double?, wallSeconds: Double) {
        let start = Date()
        try validate(parameters, holdingSaves: false)
        let (flow, initial) = try prepare(parameters, flow: nil)
        let layout = flow.layout, k = layout.units, planned = parameters.integrator.saveTimes.count
        let weights = try directory.npyWriter("weights.npy", plannedRows: planned, rowShape: [k, layout.dimension])
        let extras = try layout.trainedParts.map { part in (part, try directory.npyWriter(part.name, plannedRows: planned, rowShape: [k])) }
        var table = CSVTable(columns: CommitteeObservables.columns(layout: layout, lattice: flow.task.lattice))
        var last: [Double]?
        let (field, report) = ProgressReportingField.wrap(flow, progress)
        let trajectory = try ODEIntegrator.integrate(field, from: initial, settings: parameters.integrator, progress: report,
                                                     saving: { t, state in
            try state.withUnsafeBufferPointer { all in
                try weights.append(UnsafeBufferPointer(rebasing: all[0..<layout.weightCount]))
                for (part, writer) in extras { try writer.append(UnsafeBufferPointer(rebasing: all[part.offset..<(part.offset + k)])) }
            }
            table.append(CommitteeObservables.row(t, state, flow: flow))
            last = state
        })
        try weights.finish()
        for (_, writer) in extras { try writer.finish() }
        let finalIPR = last.map { CommitteeSolveResult.meanIPR(of: $0, layout: layout) }
        let seconds = Date().timeIntervalSince(start)
        try commit(parameters, layout: layout, trajectory: trajectory, observables: table, finalMeanIPR: finalIPR,
                   wallSeconds: seconds, to: directory)
        return (trajectory, finalIPR, seconds)
    }

    private static func prepare(_ parameters: SolveParameters, flow prebuilt: CommitteeFlow?) throws -> (CommitteeFlow, [Double]) {
        let flow = try prebuilt ?? CommitteeFlow(task: parameters.task, network: parameters.committeeNetwork,
                                                 closure: parameters.closure, learningRate: parameters.learningRate)
        precondition(flow.task == parameters.task && flow.network == parameters.committeeNetwork && flow.closure == parameters.closure
                     && flow.learningRate == parameters.learningRate, "CommitteeSolveJob: the flow is not the flow of these parameters")
        return (flow, flow.layout.state(weights: try initialWeights(parameters), network: flow.network))
    }

    /// Writes the run directory (also for a diverged run: what was computed is kept).
    public static func save(_ result: CommitteeSolveResult, to directory: RunDirectory) throws {
        let layout = result.layout, trajectory = result.trajectory
        let n = trajectory.weights.count, k = layout.units, d = layout.dimension
        try directory.write(trajectory.weights.map { Array($0[0..<layout.weightCount]) }, shape: [n, k, d], as: "weights.npy")
        for part in layout.trainedParts {
            try directory.write(trajectory.weights.map { Array($0[part.offset..<(part.offset + k)]) }, shape: [n, k], as: part.name)
        }
        try commit(result.parameters, layout: layout, trajectory: trajectory, observables: result.observables,
                   finalMeanIPR: result.finalMeanIPR, wallSeconds: result.wallSeconds, to: directory)
    }

    /// times.npy, observables.csv and the manifest, after weights.npy (and the trained parts).
    private static func commit(_ parameters: SolveParameters, layout: CommitteeLayout, trajectory: Trajectory, observables: CSVTable,
                               finalMeanIPR: Double?, wallSeconds: Double, to directory: RunDirectory) throws {
        let n = trajectory.times.count, k = layout.units, d = layout.dimension
        var arrays = [
            "weights.npy": ArrayDescription(shape: [n, k, d], description: "w_k at each saved time and hidden unit k, lattice order (row-major on the torus)"),
            "times.npy": ArrayDescription(shape: [n], description: "saved times t = SGD steps / D"),
        ]
        for part in layout.trainedParts {
            arrays[part.name] = ArrayDescription(shape: [n, k], description: "\(part.meaning) at each saved time")
        }
        try directory.write(NpyArray(shape: [n], values: trajectory.times), as: "times.npy")
        try directory.write(text: observables.text, as: "observables.csv")
        let manifest = SolveManifest(
            status: trajectory.status, message: trajectory.message,
            createdAt: ISO8601DateFormatter().string(from: Date()),
            parameters: parameters, dimension: d, arrays: arrays,
            rightHandSideEvaluations: trajectory.evaluations, wallSeconds: wallSeconds,
            finalIpr: finalMeanIPR)
        try directory.commit(manifest: manifest)
    }
}

/// A K-unit right-hand side costs O(K^2 D): from K ~ 100 one stepper step (up to 13 evaluations)
/// takes minutes, during which the integrator, which reports between steps, would fall silent. This
/// field repeats the last fraction after every evaluation; the display decides what to print.
final class ProgressReportingField: VelocityField {
    private let flow: CommitteeFlow
    private let report: (Double) -> Void
    private var fraction = 0.0

    private init(_ flow: CommitteeFlow, report: @escaping (Double) -> Void) {
        self.flow = flow
        self.report = report
    }

    /// The field to integrate and the progress to give the integrator (the flow itself without progress).
    static func wrap(_ flow: CommitteeFlow, _ progress: ((Double) -> Void)?) -> (VelocityField, ((Double) -> Void)?) {
        guard let progress else { return (flow, nil) }
        let field = ProgressReportingField(flow, report: progress)
        return (field, { fraction in
            field.fraction = fraction
            progress(fraction)
        })
    }

    var dimension: Int { flow.dimension }

    func velocity(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        flow.velocity(w, into: out)
        report(fraction)
    }

    func jacobian(at w: [Double], relativeStep: Double) -> [Double] { flow.jacobian(at: w, relativeStep: relativeStep) }
}

extension CommitteeLayout {
    /// The trained per-unit parameters after the weights in the state: file name, offset, meaning.
    var trainedParts: [(name: String, offset: Int, meaning: String)] {
        (trainsReadout ? [("readouts.npy", readoutOffset, "trained readout v_k")] : [])
            + (trainsBias ? [("biases.npy", biasOffset, "trained bias b_k")] : [])
    }
}

/// observables.csv of a K-unit run: the unit means under the single neuron's names (t, loss, ipr,
/// participation_ratio, q0, q1) and the root mean square unit norm (norm), then per unit k: ipr_k, q0_k, q1_k, norm_k, center_k
/// (center_col_k on the torus), width_k, and v_k, b_k when trained (derivations/observables.md).
public enum CommitteeObservables {
    public static func columns(layout: CommitteeLayout, lattice: Lattice) -> [String] {
        var names = ["t", "loss", "ipr", "participation_ratio", "q0", "q1", "norm"]
        for k in 0..<layout.units {
            names += ["ipr_\(k)", "q0_\(k)", "q1_\(k)", "norm_\(k)", "center_\(k)"]
            if lattice.dimension == 2 { names.append("center_col_\(k)") }
            names.append("width_\(k)")
            if layout.trainsReadout { names.append("v_\(k)") }
            if layout.trainsBias { names.append("b_\(k)") }
        }
        return names
    }

    public static func table(_ trajectory: Trajectory, flow: CommitteeFlow) -> CSVTable {
        var table = CSVTable(columns: columns(layout: flow.layout, lattice: flow.task.lattice))
        for (t, state) in zip(trajectory.times, trajectory.weights) { table.append(row(t, state, flow: flow)) }
        return table
    }

    /// The row of one saved state.
    public static func row(_ t: Double, _ state: [Double], flow: CommitteeFlow) -> [Double] {
        let layout = flow.layout, lattice = flow.task.lattice, d = layout.dimension, units = Double(layout.units)
        let q = flow.overlaps(state)
        var perUnit: [Double] = []
        var ipr = 0.0, participation = 0.0, norm = 0.0
        for k in 0..<layout.units {
            let w = Array(state[(k * d)..<((k + 1) * d)])
            let unitIpr = Observables.inverseParticipationRatio(w), unitNorm = euclideanNorm(w)
            ipr += unitIpr
            participation += Observables.participationRatio(w)
            norm += unitNorm * unitNorm
            perUnit += [unitIpr, q[0][k], q[1][k], unitNorm] + Observables.center(w, lattice: lattice) + [Observables.width(w, lattice: lattice)]
            if layout.trainsReadout { perUnit.append(state[layout.readoutOffset + k]) }
            if layout.trainsBias { perUnit.append(state[layout.biasOffset + k]) }
        }
        let meanQ = q.map { $0.reduce(0, +) / units }
        // derivations/observables.md §5, eq. (7): the root mean square unit norm, as simulate's rows.
        return [t, flow.loss(state), ipr / units, participation / units, meanQ[0], meanQ[1], (norm / units).squareRoot()] + perUnit
    }
}
