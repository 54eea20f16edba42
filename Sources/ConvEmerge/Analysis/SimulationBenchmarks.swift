import Foundation

/// Speed of the online-SGD loop (issue 4's targets, one core, NLGP sampling included):
/// steps per second of one relu neuron at D = 400, B = 1 with the fast sampler, the
/// exact FFT sampler and the dense Cholesky sampler (the ratio is the FFT speed-up
/// measured in the same run), and of a K = 8 committee; plus the measured accuracy
/// of the fast erf. `convemerge bench` can print `SimulationBenchmarks.run()`.
public enum SimulationBenchmarks {
    public struct Measurement: Codable, Sendable {
        public var name: String
        public var stepsPerSecond: Double
        /// The same loop with the dense O(D^2) sampler, and fast / dense.
        public var denseStepsPerSecond: Double?
        public var ratio: Double?
    }

    /// The benchmark problem: NLGP xi 0.5 vs 2 at g = 3 on a ring of `dimension`
    /// sites, with a tiny jitter so that the dense Cholesky baseline exists.
    public static func parameters(dimension: Int = 400, model: ModelKind = .neuron, units: Int = 1,
                                  sampler: SamplerMode = .fast) throws -> SimulationParameters {
        let lattice = try Lattice(dimension: 1, length: dimension)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2, jitter: 1e-6), gain: 3)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
        return try SimulationParameters(task: task, neuron: NeuronSpec(activation: .relu, bias: model == .neuron ? 0 : 0.5),
                                        model: model, hiddenUnits: units, learningRate: 0.5, tMax: 1,
                                        initialization: .random(scale: 0.1, seed: 1), sampler: sampler)
    }

    /// Steps per second of one replica (one thread) over at least `seconds` of wall time.
    public static func stepsPerSecond(_ parameters: SimulationParameters, seconds: Double = 1) throws -> Double {
        let distributions = try parameters.task.classes.map(InputDistribution.init)
        let initial = try parameters.initialWeights()
        let replica = try SGDReplica(parameters, distributions: distributions, initial: initial, replica: 0)
        replica.step(100)
        var steps = 0, chunk = 1000
        let start = Date()
        var elapsed = 0.0
        while elapsed < seconds {
            replica.step(chunk)
            steps += chunk
            elapsed = Date().timeIntervalSince(start)
            if elapsed < 0.05 { chunk *= 2 }
        }
        return Double(steps) / elapsed
    }

    /// Total steps per second of `threads` independent replicas run concurrently
    /// (one per thread, as `--seeds` does) divided by that of one replica: the
    /// speed-up of seeds across cores (ideal: the number of free cores).
    public static func seedScaling(_ parameters: SimulationParameters, threads: Int, seconds: Double = 1) throws -> Double {
        let single = try stepsPerSecond(parameters, seconds: seconds)
        let rates = ParallelSlots(count: threads, initial: Double.nan)
        DispatchQueue.concurrentPerform(iterations: threads) { k in
            rates[k] = (try? stepsPerSecond(parameters, seconds: seconds)) ?? .nan
        }
        return rates.values.reduce(0, +) / single
    }

    /// Neuron (fast vs dense, and the exact FFT sampler) and K = 8 committee (fast vs dense).
    public static func run(dimension: Int = 400, seconds: Double = 1) throws -> [Measurement] {
        func measure(_ name: String, model: ModelKind, units: Int) throws -> Measurement {
            let fast = try stepsPerSecond(parameters(dimension: dimension, model: model, units: units, sampler: .fast), seconds: seconds)
            let dense = try stepsPerSecond(parameters(dimension: dimension, model: model, units: units, sampler: .dense), seconds: seconds)
            return Measurement(name: name, stepsPerSecond: fast, denseStepsPerSecond: dense, ratio: fast / dense)
        }
        let exact = try stepsPerSecond(parameters(dimension: dimension, sampler: .exact), seconds: seconds)
        return [try measure("sgd neuron D=\(dimension) B=1 (fast sampler)", model: .neuron, units: 1),
                Measurement(name: "sgd neuron D=\(dimension) B=1 (exact FFT sampler)", stepsPerSecond: exact),
                try measure("sgd committee K=8 D=\(dimension) B=1 (fast sampler)", model: .committee, units: 8)]
    }
}
