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

/// The SGD step against the hardware limit (issue 11): CPU time per step of one replica
/// (thread CPU time, best of alternating rounds) with the tuned fast sampler and with the
/// implementation before issue 11 (`SimulationSampler.Implementation.baseline`), and the limit
/// measured in the same run: the sum of the primitives a step cannot avoid, each timed alone
/// in a tight loop.
public enum StepCostBenchmarks {
    public struct Measurement: Codable, Sendable {
        public var name: String
        public var dimension: Int
        public var units: Int
        /// CPU seconds per step: tuned, and the baseline implementation.
        public var stepSeconds: Double
        public var baselineSeconds: Double
        /// Sum of `primitives` (neuron only: the committee's are K dots and axpys more).
        public var limitSeconds: Double?
        /// CPU seconds per call: one c2r of D (aligned, with the refill of its input), D ziggurat
        /// normals, D table erfs (psi_g), one dot and one axpy of D; and, not in the limit, the
        /// Swift normals and erf kernels that the C ones replace (keys ending in " (Swift)").
        public var primitives: [String: Double]
        /// 1-minute load average when the row was measured (the machine may be shared).
        public var loadAverage: Double
        public var speedup: Double { baselineSeconds / stepSeconds }
        public var fractionOfLimit: Double? { limitSeconds.map { $0 / stepSeconds } }
    }

    /// Rows for the neuron and the K = 8 committee at `dimension`; `rounds` alternating
    /// rounds of `stepsPerRound` steps each. Short rounds, many of them: on a shared machine the
    /// best round is the one that kept its core and its caches.
    public static func run(dimension: Int = 400, stepsPerRound: Int = 2500, rounds: Int = 31) throws -> [Measurement] {
        let primitives = try primitiveSeconds(dimension: dimension, calls: max(500, stepsPerRound / 2), rounds: rounds)
        let limit = primitives.filter { !$0.key.hasSuffix(swiftReferenceSuffix) }.values.reduce(0, +)
        return try [(ModelKind.neuron, 1), (.committee, 8)].map { model, units in
            let parameters = try SimulationBenchmarks.parameters(dimension: dimension, model: model, units: units)
            let (tuned, baseline) = try stepSeconds(parameters, steps: stepsPerRound, rounds: rounds)
            let name = model == .neuron ? "SGD step D=\(dimension)" : "SGD step K=\(units) D=\(dimension)"
            return Measurement(name: name + " (erf \(KernelVariant.best.name))",
                               dimension: dimension, units: units, stepSeconds: tuned, baselineSeconds: baseline,
                               limitSeconds: units == 1 ? limit : nil, primitives: primitives, loadAverage: loadAverage())
        }
    }

    /// CPU seconds per step, tuned and baseline, from identical replicas (same seed and weights).
    static func stepSeconds(_ parameters: SimulationParameters, steps: Int, rounds: Int) throws -> (tuned: Double, baseline: Double) {
        let distributions = try parameters.task.classes.map(InputDistribution.init)
        let initial = try parameters.initialWeights()
        let replicas = try [SimulationSampler.Implementation.tuned, .baseline].map {
            try SGDReplica(parameters, distributions: distributions, initial: initial, replica: 0, samplerImplementation: $0)
        }
        for replica in replicas { replica.step(steps / 10 + 1) }
        var best = [Double.infinity, .infinity]
        for _ in 0..<rounds {
            for (k, replica) in replicas.enumerated() {
                best[k] = min(best[k], threadCPUSeconds { replica.step(steps) } / Double(steps))
            }
        }
        return (best[0], best[1])
    }

    /// Marks the primitives timed for comparison only: the Swift kernels behind the C ones.
    static let swiftReferenceSuffix = " (Swift)"

    /// The primitives of one neuron step at D, CPU seconds per call, best of `rounds`.
    static func primitiveSeconds(dimension d: Int, calls: Int, rounds: Int) throws -> [String: Double] {
        let parameters = try SimulationBenchmarks.parameters(dimension: d)
        let distribution = try InputDistribution(parameters.task.classes[1])
        let sampler = try SimulationSampler(distribution, mode: .fast)
        let fft = RealFFT.plans(for: distribution.lattice)
        let spectrumCount = 2 * fft.complexCount
        let spectrum = RealFFT.allocateAligned(spectrumCount), field = RealFFT.allocateAligned(d)
        let source = UnsafeMutablePointer<Double>.allocate(capacity: max(spectrumCount, d))
        let output = UnsafeMutablePointer<Double>.allocate(capacity: d)
        defer {
            RealFFT.deallocateAligned(spectrum); RealFFT.deallocateAligned(field)
            source.deallocate(); output.deallocate()
        }
        var rng = Xoshiro256(seed: 1)
        rng.fillZigguratGaussian(source, count: max(spectrumCount, d))
        for i in 0..<d { output[i] = 0.05 * source[i] }
        var sink = 0.0
        let kernels: [(String, () -> Void)] = [
            ("c2r", { spectrum.update(from: source, count: spectrumCount); fft.backwardAligned(spectrum, field) }),
            ("normals", { rng.fillZigguratGaussianNative(field, count: d) }),
            ("erf", { sampler.applyFastNonlinearity(source, into: field) }),
            // The Swift kernels the C ones replace in the tuned sampler, for comparison (not in the limit).
            ("normals" + swiftReferenceSuffix, { rng.fillZigguratGaussian(field, count: d) }),
            ("erf" + swiftReferenceSuffix, {
                FastErf.shared.coefficients.withUnsafeBufferPointer {
                    FastErf.evaluate(source, into: field, count: d, argumentScale: 2.12, outputScale: 0.9, table: $0.baseAddress!)
                }
            }),
            ("dot+axpy", { sink += dot(output, source, d); axpy(1e-9, source, output, d) }),
        ]
        var best = [String: Double]()
        for _ in 0..<rounds {
            for (name, kernel) in kernels {
                let seconds = threadCPUSeconds { for _ in 0..<calls { kernel() } } / Double(calls)
                best[name] = min(best[name] ?? .infinity, seconds)
            }
            sink += field[0]
        }
        precondition(sink.isFinite, "StepCostBenchmarks: a primitive produced a non-finite value")
        return best
    }

    /// CPU time of the calling thread spent in `body` (not wall time: the machine may be shared).
    static func threadCPUSeconds(_ body: () -> Void) -> Double {
        func now() -> Double {
            var time = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
            return Double(time.tv_sec) + 1e-9 * Double(time.tv_nsec)
        }
        let start = now()
        body()
        return now() - start
    }

    static func loadAverage() -> Double {
        var loads = [Double](repeating: .nan, count: 1)
        _ = getloadavg(&loads, 1)
        return loads[0]
    }
}
