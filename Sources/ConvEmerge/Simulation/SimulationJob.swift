import Foundation

/// The result of `simulate`: per replica, the weights at the save times and the observables.
public struct SimulationResult: Sendable {
    public var parameters: SimulationParameters
    /// Saved times t = steps / D.
    public var times: [Double]
    /// Per replica, n_saves x K x D weights flattened (K x s for a CNN; NaN after a replica stopped).
    public var weights: [[Double]]
    /// Per replica, n_saves x K readouts v_k.
    public var readouts: [[Double]]
    /// Per replica, the observables at the save times.
    public var observables: [CSVTable]
    public var status: [RunStatus]
    public var messages: [String]
    public var wallSeconds: Double
    /// What the user should know about the inputs (the jitter a data clone needed).
    public var notes: [String] = []
    /// Per replica, n_saves x K biases b_k (filled under --train-bias only).
    public var biases: [[Double]] = []

    public var saveCount: Int { times.count }
    public var seedCount: Int { weights.count }

    /// Weights averaged over replicas (all share w0): n_saves x K x D.
    public var meanWeights: [Double] {
        var mean = [Double](repeating: 0, count: weights[0].count)
        for replica in weights { for i in mean.indices { mean[i] += replica[i] } }
        // In place: this array is as large as a replica's whole trajectory.
        let count = Double(weights.count)
        for i in mean.indices { mean[i] /= count }
        return mean
    }

    /// Replica `seed`'s weights of unit `unit` at save `save` (D values, or a CNN filter's s).
    public func weights(seed: Int, save: Int, unit: Int = 0) -> [Double] {
        let d = parameters.weightsPerUnit, k = parameters.hiddenUnits
        let start = (save * k + unit) * d
        return Array(weights[seed][start..<(start + d)])
    }

    /// Each replica's trajectory of unit 0: [seed][save] -> weights (what theory is compared with).
    public var replicaTrajectories: [[[Double]]] {
        (0..<seedCount).map { seed in (0..<saveCount).map { weights(seed: seed, save: $0) } }
    }

    /// Columns of observables.csv: the per-replica tables averaged over replicas.
    public var meanObservables: CSVTable {
        var table = CSVTable(columns: observables[0].columns)
        for row in 0..<observables[0].rows.count {
            var mean = [Double](repeating: 0, count: table.columns.count)
            for replica in observables { for j in mean.indices { mean[j] += replica.rows[row][j] } }
            table.append(mean.map { $0 / Double(observables.count) })
        }
        return table
    }

    /// The run's status: the first replica that did not complete decides.
    public var overallStatus: RunStatus { status.first { $0 != .completed } ?? .completed }

    /// Total SGD steps of all replicas per wall-clock second.
    public var stepsPerSecond: Double {
        Double(parameters.totalSteps * seedCount) / max(wallSeconds, 1e-9)
    }
}

/// manifest.json of a `simulate` run.
public struct SimulationManifest: Codable, Sendable {
    public var command = "simulate"
    public var version = ConvEmergeVersion.string
    public var status: RunStatus
    public var message: String
    public var createdAt: String
    public var parameters: SimulationParameters
    public var dimension: Int
    public var arrays: [String: ArrayDescription]
    public var files: [String: String]
    public var seedStatus: [RunStatus]
    public var stepsPerReplica: Int
    public var wallSeconds: Double
    public var stepsPerSecond: Double
    public var threads: Int
    /// IPR of the seed-mean weights (unit average for K > 1) at the final save. Replicas that
    /// localise in different places average to a broad vector, so this is smaller than
    /// `finalIprPerSeed`, which is what a single network learns.
    public var finalIprOfSeedMean: Double?
    /// Each replica's final IPR (unit average for K > 1).
    public var finalIprPerSeed: [Double]
}

/// simulate(problem) -> solution, then save; the twin of `SolveJob`.
public enum SimulationJob {
    /// Runs the replicas in parallel threads (one per seed, as many at once as there are cores).
    /// `progress`: the fraction of all SGD steps done. `stage` announces, with an estimate in
    /// seconds, the dense sampler's Cholesky factorisations (silent in GSL, O(D^3) each) and then
    /// the steps, whose fraction follows; with `stage`, the streamed test evaluation after the
    /// steps is a stage too, and `progress` then reports its fraction.
    /// `testSet`: how the test loss is evaluated (the results are the same to the bit).
    public static func run(_ parameters: SimulationParameters, testSet evaluation: TestSetEvaluation = .streamed,
                           progress: ((Double) -> Void)? = nil,
                           stage: ((String, Double?) -> Void)? = nil) throws -> SimulationResult {
        let start = Date()
        let distributions = try parameters.task.distributions()
        let d = parameters.dimension, k = parameters.hiddenUnits, unitSize = parameters.weightsPerUnit
        let initial = try parameters.initialWeights()
        let saveSteps = try parameters.saveSteps()
        let testSet = TestSet(parameters, distributions: distributions, evaluation: evaluation)
        let relay = ProgressRelay(progress, total: Double(parameters.totalSteps * parameters.seeds))
        if parameters.sampler == .dense, let stage {
            // Every replica factors each class's covariance for its own sampler, as many at once as there are cores.
            let rounds = (parameters.seeds + ProcessInfo.processInfo.activeProcessorCount - 1) / ProcessInfo.processInfo.activeProcessorCount
            stage("dense sampler: Cholesky factorisation of \(distributions.count * parameters.seeds) covariance matrices (\(d) x \(d))",
                  Double(distributions.count * rounds) * DenseCost.cholesky.seconds(d))
            relay.stageOfFirstStep = { stage("SGD steps", nil) }
        }
        let replicaResults = ParallelSlots<ReplicaResult?>(count: parameters.seeds, initial: nil)
        let failure = FirstError()
        // About 1e8 multiply-adds between reports (0.1 s or so): an input costs ~D^2 from the dense
        // sampler, a few FFTs of size D otherwise, and the update K x D (K x s at each of D positions for a CNN).
        let stepCost = parameters.batchSize * (d * (parameters.sampler == .dense ? d : 32) + k * unitSize * (parameters.model == .cnn ? d : 1))
        let stepsPerReport = max(1, 100_000_000 / stepCost)
        let initialNorm = euclideanNorm(initial)
        let blowUpNorm = IntegratorSpec.defaultBlowUpFactor * max(1, initialNorm)

        DispatchQueue.concurrentPerform(iterations: parameters.seeds) { seed in
            let replica: SGDReplica
            do {
                replica = try SGDReplica(parameters, distributions: distributions, initial: initial, replica: seed)
            } catch {
                failure.record(error)
                return
            }
            var weights: [Double] = [], readouts: [Double] = [], biases: [Double] = []
            let readoutCount = replica.readout.count, tracksBias = parameters.networkOptions.trainBias
            weights.reserveCapacity(saveSteps.count * k * unitSize)
            let columnCount = ReplicaObservables.columns(for: parameters).count
            var rows: [[Double]] = [], completedSaves = 0
            var status = RunStatus.completed, message = "completed"
            for target in saveSteps {
                if status == .completed {
                    // In chunks, so that progress moves within a long save interval: the steps are the same.
                    while replica.steps < target {
                        let chunk = min(stepsPerReport, target - replica.steps)
                        replica.step(chunk)
                        relay.advance(Double(chunk))
                    }
                    let norm = euclideanNorm(replica.weights)
                    if !norm.isFinite || !replica.readout.allSatisfy(\.isFinite) {
                        status = .diverged
                        message = "replica \(seed): non-finite weights at t = \(Double(target) / Double(d))"
                    } else if norm > blowUpNorm {
                        status = .blewUp
                        message = "replica \(seed): |w| = \(norm) exceeded \(blowUpNorm) at t = \(Double(target) / Double(d))"
                    }
                }
                let t = Double(target) / Double(d)
                if status == .completed {
                    weights += replica.weights
                    readouts += replica.readout
                    if tracksBias { biases += replica.biases }
                    // Streamed: filled in after the steps, from the saved networks.
                    let test = evaluation == .stored ? testSet.lossAndAccuracy(replica) : (loss: .nan, accuracy: .nan)
                    rows.append(ReplicaObservables.row(t: t, replica: replica, distributions: distributions, test: test))
                    completedSaves += 1
                } else {
                    weights += [Double](repeating: .nan, count: k * unitSize)
                    readouts += [Double](repeating: .nan, count: readoutCount)
                    if tracksBias { biases += [Double](repeating: .nan, count: k) }
                    rows.append([t] + [Double](repeating: .nan, count: columnCount - 1))
                }
            }
            replicaResults[seed] = (weights, readouts, biases, rows, completedSaves, status, message)
        }
        if let error = failure.error { throw error }
        var replicas = replicaResults.values.map { $0! }
        if evaluation == .streamed {
            // A stage of its own (the steps' fraction is done): at large D it takes seconds.
            stage?("test loss and accuracy of the saved networks on \(2 * parameters.testSamples) held-out inputs", nil)
            let scores = testSet.lossAndAccuracy(of: replicas.map {
                TestSet.SavedNetworks(weights: $0.weights, readouts: $0.readouts, biases: $0.biases, saves: $0.completedSaves)
            }, progress: stage == nil ? nil : progress)
            let columns = ReplicaObservables.columns(for: parameters)
            let lossColumn = columns.firstIndex(of: "test_loss")!, accuracyColumn = columns.firstIndex(of: "test_accuracy")!
            for (r, replicaScores) in scores.enumerated() {
                for (save, score) in replicaScores.enumerated() {
                    replicas[r].rows[save][lossColumn] = score.loss
                    replicas[r].rows[save][accuracyColumn] = score.accuracy
                }
            }
        }
        let tables = replicas.map { replica in
            var table = CSVTable(columns: ReplicaObservables.columns(for: parameters))
            for row in replica.rows { table.append(row) }
            return table
        }
        return SimulationResult(parameters: parameters, times: saveSteps.map { Double($0) / Double(d) },
                                weights: replicas.map(\.weights), readouts: replicas.map(\.readouts),
                                observables: tables, status: replicas.map(\.status),
                                messages: replicas.map(\.message), wallSeconds: Date().timeIntervalSince(start),
                                notes: distributions.compactMap(\.cloneJitterNote), biases: replicas.map(\.biases))
    }

    /// Writes the run directory in the layout of `solve` (also for a diverged run).
    public static func save(_ result: SimulationResult, to directory: RunDirectory) throws {
        let p = result.parameters
        let d = p.dimension, k = p.hiddenUnits, n = result.saveCount, s = result.seedCount
        let unitShape = p.weightShape, unitSize = p.weightsPerUnit
        let weightMeaning: String
        switch p.model {
        case .neuron: weightMeaning = "w per replica and saved time, lattice order (row-major on the torus)"
        case .committee, .twolayer: weightMeaning = "w_k per replica, saved time and hidden unit k, lattice order"
        case .cnn where p.isPublishedCNN: weightMeaning = "filter f_k (s = \(p.kernelSize!), s^dim = \(unitSize) values, row-major) per replica, saved time and channel k; "
            + "u_k(i) = sum_j f_kj x_(i+j) + b_k at the L - s + 1 valid positions per axis, max-pool 2, y_0 = -y_1 = mean of the pooled sigma(u)"
        case .cnn: weightMeaning = "filter f_k (size s = \(unitSize)) per replica, saved time and channel k; "
            + "u_ki = sum_j f_kj x_(i+j mod L) / sqrt s + b_k, yhat = mean over k and i of sigma(u_ki)"
        }
        var arrays: [String: ArrayDescription] = [
            "weights.npy": ArrayDescription(shape: [s, n] + unitShape, description: weightMeaning),
            "weights_mean.npy": ArrayDescription(shape: [n] + unitShape,
                                                 description: "weights averaged over the replicas (all start from the same w0): what the ODE predicts"),
            "times.npy": ArrayDescription(shape: [n], description: "saved times t = SGD steps / D (solve's save times rounded to whole steps)"),
        ]
        try directory.write(result.weights, shape: [s, n] + unitShape, as: "weights.npy")
        let meanWeights = result.meanWeights
        try directory.write(NpyArray(shape: [n] + unitShape, values: meanWeights), as: "weights_mean.npy")
        try directory.write(NpyArray(shape: [n], values: result.times), as: "times.npy")
        let heads = p.networkOptions.heads
        if p.model == .twolayer {
            let shape = heads == 1 ? [s, n, k] : [s, n, k, heads]
            arrays["readout.npy"] = ArrayDescription(shape: shape, description: "trained readout v_k (per head c for --heads 2) per replica and saved time")
            try directory.write(result.readouts, shape: shape, as: "readout.npy")
        }
        if p.networkOptions.trainBias {
            arrays["biases.npy"] = ArrayDescription(shape: [s, n, k], description: "trained biases b_k per replica and saved time")
            try directory.write(result.biases, shape: [s, n, k], as: "biases.npy")
        }
        var files = ["observables.csv": "observables averaged over the replicas, columns " + result.observables[0].columns.joined(separator: ",")]
        for (seed, table) in result.observables.enumerated() {
            try directory.write(text: table.text, as: "observables_seed\(seed).csv")
        }
        files["observables_seed<k>.csv"] = "observables of replica k (test loss and accuracy on \(p.testSamples) held-out inputs per class)"
        try directory.write(text: result.meanObservables.text, as: "observables.csv")
        /// Unit-averaged IPR of the final save of a (saves x K x unitSize) weight array.
        func finalIpr(_ weights: [Double]) -> Double? {
            guard n > 0 else { return nil }
            let last = (0..<k).map { unit in
                Observables.inverseParticipationRatio(Array(weights[((n - 1) * k + unit) * unitSize..<((n - 1) * k + unit + 1) * unitSize]))
            }
            return last.reduce(0, +) / Double(k)
        }
        let manifest = SimulationManifest(
            status: result.overallStatus,
            message: result.messages.first { $0 != "completed" } ?? "completed",
            createdAt: ISO8601DateFormatter().string(from: Date()),
            parameters: p, dimension: d, arrays: arrays, files: files, seedStatus: result.status,
            stepsPerReplica: p.totalSteps, wallSeconds: result.wallSeconds, stepsPerSecond: result.stepsPerSecond,
            threads: min(p.seeds, ProcessInfo.processInfo.activeProcessorCount),
            finalIprOfSeedMean: finalIpr(meanWeights), finalIprPerSeed: result.weights.compactMap(finalIpr))
        try directory.commit(manifest: manifest)
    }
}

/// The columns of observables_seed<k>.csv (SPEC §4).
enum ReplicaObservables {
    static func columns(for parameters: SimulationParameters) -> [String] {
        let lattice = parameters.task.lattice
        if parameters.model == .neuron {
            var names = ["t", "ipr", "participation_ratio", "q0", "q1", "test_loss", "test_accuracy", "center", "width", "norm"]
            if lattice.dimension == 2 { names.insert("center_col", at: 8) }
            return names
        }
        // center_resultant: mean resultant length of the units' centres on the ring
        // (averaged over axes): 1 when all RFs sit at one place, ~0 when they tile it.
        return ["t", "ipr", "participation_ratio", "test_loss", "test_accuracy", "width", "center_resultant", "norm"]
    }

    static func row(t: Double, replica: SGDReplica, distributions: [InputDistribution], test: (loss: Double, accuracy: Double)) -> [Double] {
        let lattice = replica.parameters.task.lattice
        let d = replica.dimension, k = replica.units
        // CNN filters enter as lattice vectors (zero-padded), so IPR and width are the filter's.
        let units = (0..<k).map(replica.latticeWeights(ofUnit:))
        if replica.parameters.model == .neuron {
            let w = units[0]
            let q = distributions.map { $0.quadraticForm(w) / Double(d) }
            var row = [t, Observables.inverseParticipationRatio(w), Observables.participationRatio(w), q[0], q[1], test.loss, test.accuracy]
            row += Observables.center(w, lattice: lattice)
            row += [Observables.width(w, lattice: lattice), euclideanNorm(w)]
            return row
        }
        let mean = { (values: [Double]) in values.reduce(0, +) / Double(values.count) }
        let centres = units.map { Observables.center($0, lattice: lattice) }
        var resultant = 0.0
        for axis in 0..<lattice.dimension {
            var c = 0.0, s = 0.0
            for centre in centres where centre[axis].isFinite {
                let angle = 2 * Double.pi * centre[axis] / Double(lattice.length)
                c += cos(angle)
                s += sin(angle)
            }
            resultant += (c * c + s * s).squareRoot() / Double(k) / Double(lattice.dimension)
        }
        let norms = units.map { $0.reduce(0) { $0 + $1 * $1 } }
        return [t, mean(units.map(Observables.inverseParticipationRatio)), mean(units.map(Observables.participationRatio)),
                test.loss, test.accuracy, mean(units.map { Observables.width($0, lattice: lattice) }), resultant,
                mean(norms).squareRoot()]
    }
}

/// One replica's result, written by its worker thread into its own slot.
private typealias ReplicaResult = (weights: [Double], readouts: [Double], biases: [Double], rows: [[Double]], completedSaves: Int,
                                    status: RunStatus, message: String)

/// Forwards the fraction of SGD steps done, from any worker thread, serialised.
private final class ProgressRelay: @unchecked Sendable {
    private let lock = NSLock()
    private let report: ((Double) -> Void)?
    private let total: Double
    private var done = 0.0
    /// Announces the steps once the first of them are done (after a stage that preceded them).
    var stageOfFirstStep: (() -> Void)?
    init(_ report: ((Double) -> Void)?, total: Double) {
        self.report = report
        self.total = max(total, 1)
    }
    func advance(_ steps: Double) {
        guard let report else { return }
        lock.lock(); defer { lock.unlock() }
        stageOfFirstStep?()
        stageOfFirstStep = nil
        done += steps
        report(done / total)
    }
}
