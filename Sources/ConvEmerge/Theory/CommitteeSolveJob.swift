import Foundation

extension SolveParameters {
    /// Whether this is a K-unit run (`--model committee|twolayer`), integrated by CommitteeSolveJob.
    public var isCommittee: Bool { model == .committee || model == .twolayer }

    /// The K-unit network of a committee run.
    public var committeeNetwork: CommitteeNetwork {
        CommitteeNetwork(units: hiddenUnits ?? 1, neuron: neuron, options: network ?? .standard)
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
    public var finalMeanIPR: Double? {
        guard let last = trajectory.weights.indices.last else { return nil }
        return (0..<layout.units).map { Observables.inverseParticipationRatio(weights(save: last, unit: $0)) }
            .reduce(0, +) / Double(layout.units)
    }
}

/// `solve --model committee|twolayer --K K`: the population gradient flow of K units
/// (derivations/committee-closures.md), saved in the layout of `solve` with a unit axis.
public enum CommitteeSolveJob {
    /// Checks the run before anything is built: the model and its options, the closure, the
    /// learning rate, the initial weights and the memory of the saved trajectory (three copies).
    public static func validate(_ parameters: SolveParameters) throws {
        guard let model = parameters.model, parameters.isCommittee else {
            throw ConvEmergeError.invalidInput(flag: "--model", message: "must be committee or twolayer for a K-unit solve")
        }
        let units = parameters.hiddenUnits ?? 1
        try require(units >= 1 && units <= 4096, flag: "--K", "must be in 1 ... 4096, got \(units)")
        let options = parameters.network ?? .standard
        try SimulationParameters.requireNetwork(options, model: model, neuron: parameters.neuron)
        try CommitteeClosures.requireSupported(parameters.closure, task: parameters.task, network: parameters.committeeNetwork)
        try requirePositive(parameters.learningRate, flag: "--lr", atMost: ParameterBound.learningRate)
        // The state per save: K x D weights and at most K readouts and K biases.
        try MemoryBudget.require(MemoryBudget.product(3, parameters.integrator.saves, units, parameters.task.dimension + 2, 8), flag: "--saves",
                                 for: "\(parameters.integrator.saves) saves of K x D = \(units) x \(parameters.task.dimension) weights")
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
    /// (n, K, D) of another committee run.
    public static func initialWeights(_ parameters: SolveParameters) throws -> [Double] {
        let units = parameters.hiddenUnits ?? 1, d = parameters.task.dimension
        guard case let .file(path) = parameters.initialization else {
            return try parameters.initialization.weights(dimension: units * d)
        }
        let array = try NpyArray.read(from: path, flag: "--init")
        try require(array.shape.count >= 2 && array.shape.count <= 3 && Array(array.shape.suffix(2)) == [units, d] && !array.values.isEmpty,
                    flag: "--init", "'\(path)' must hold K x D = \(units) x \(d) weights (shape (\(units), \(d)) or (n, \(units), \(d))), has shape \(array.shape)")
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
        let flow = try prebuilt ?? CommitteeFlow(task: parameters.task, network: parameters.committeeNetwork,
                                                 closure: parameters.closure, learningRate: parameters.learningRate)
        precondition(flow.task == parameters.task && flow.network == parameters.committeeNetwork && flow.closure == parameters.closure
                     && flow.learningRate == parameters.learningRate, "CommitteeSolveJob.run: the flow is not the flow of these parameters")
        let initial = flow.layout.state(weights: try initialWeights(parameters), network: flow.network)
        let trajectory = ODEIntegrator.integrate(flow, from: initial, settings: parameters.integrator, progress: progress)
        return CommitteeSolveResult(parameters: parameters, layout: flow.layout, trajectory: trajectory,
                                    observables: CommitteeObservables.table(trajectory, flow: flow),
                                    wallSeconds: Date().timeIntervalSince(start))
    }

    /// Writes the run directory (also for a diverged run: what was computed is kept).
    public static func save(_ result: CommitteeSolveResult, to directory: RunDirectory) throws {
        let layout = result.layout, trajectory = result.trajectory
        let n = trajectory.weights.count, k = layout.units, d = layout.dimension
        var arrays = [
            "weights.npy": ArrayDescription(shape: [n, k, d], description: "w_k at each saved time and hidden unit k, lattice order (row-major on the torus)"),
            "times.npy": ArrayDescription(shape: [n], description: "saved times t = SGD steps / D"),
        ]
        try directory.write(NpyArray(shape: [n, k, d], values: trajectory.weights.flatMap { $0[0..<layout.weightCount] }), as: "weights.npy")
        try directory.write(NpyArray(shape: [n], values: trajectory.times), as: "times.npy")
        for (trained, name, offset, meaning) in [(layout.trainsReadout, "readouts.npy", layout.readoutOffset, "trained readout v_k"),
                                                 (layout.trainsBias, "biases.npy", layout.biasOffset, "trained bias b_k")] where trained {
            try directory.write(NpyArray(shape: [n, k], values: trajectory.weights.flatMap { $0[offset..<(offset + k)] }), as: name)
            arrays[name] = ArrayDescription(shape: [n, k], description: "\(meaning) at each saved time")
        }
        try directory.write(text: result.observables.text, as: "observables.csv")
        let manifest = SolveManifest(
            status: trajectory.status, message: trajectory.message,
            createdAt: ISO8601DateFormatter().string(from: Date()),
            parameters: result.parameters, dimension: d, arrays: arrays,
            rightHandSideEvaluations: trajectory.evaluations, wallSeconds: result.wallSeconds,
            finalIpr: result.finalMeanIPR)
        try directory.commit(manifest: manifest)
    }
}

/// observables.csv of a K-unit run: the unit means under the single neuron's names (t, loss, ipr,
/// participation_ratio, q0, q1, norm), then per unit k: ipr_k, q0_k, q1_k, norm_k, center_k
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
        let layout = flow.layout, lattice = flow.task.lattice, d = layout.dimension, units = Double(layout.units)
        var table = CSVTable(columns: columns(layout: layout, lattice: lattice))
        for (t, state) in zip(trajectory.times, trajectory.weights) {
            let q = flow.overlaps(state)
            var perUnit: [Double] = []
            var ipr = 0.0, participation = 0.0, norm = 0.0
            for k in 0..<layout.units {
                let w = Array(state[(k * d)..<((k + 1) * d)])
                let unitIpr = Observables.inverseParticipationRatio(w), unitNorm = euclideanNorm(w)
                ipr += unitIpr
                participation += Observables.participationRatio(w)
                norm += unitNorm
                perUnit += [unitIpr, q[0][k], q[1][k], unitNorm] + Observables.center(w, lattice: lattice) + [Observables.width(w, lattice: lattice)]
                if layout.trainsReadout { perUnit.append(state[layout.readoutOffset + k]) }
                if layout.trainsBias { perUnit.append(state[layout.biasOffset + k]) }
            }
            let meanQ = q.map { $0.reduce(0, +) / units }
            table.append([t, flow.loss(state), ipr / units, participation / units, meanQ[0], meanQ[1], norm / units] + perUnit)
        }
        return table
    }
}
