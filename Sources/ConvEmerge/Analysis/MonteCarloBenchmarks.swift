import Foundation

/// Cost of the montecarlo closure (issue 11): its right-hand side under each loop (the C pass,
/// the Swift one pass, the previous implementation, plain one-pass loops in C and Swift), precision
/// and thread count, measured in
/// the same run; and the default demo's montecarlo solve before (previous loop, one thread, the
/// previous tolerances) and after (the current defaults).
public enum MonteCarloBenchmarks {
    /// One way of evaluating the right-hand side, timed.
    public struct Variant: Codable, Sendable {
        public let name: String
        public let threads: Int
        /// Fastest batch, seconds per call: wall clock, and CPU time of the whole process.
        public let wallSeconds: Double
        public let cpuSeconds: Double
    }

    public struct RightHandSide: Codable, Sendable {
        public let dimension: Int
        public let samplesPerClass: Int
        public let variants: [Variant]
        /// max_i |v_float - v_double| / max_i |v_double| at the probe.
        public let floatRelativeError: Double
        /// max_i |v_float - v_double|_i / SE_i: the float's error in units of the sample's own Monte Carlo error.
        public let floatErrorOverStandardError: Double
        /// max_i |v_native - v_previous| / max_i |v_previous| (the production C pass against the previous loop).
        public let chunkedRelativeDifference: Double
    }

    public struct Solve: Codable, Sendable {
        public let name: String
        public let stepper: String
        public let relativeTolerance: Double
        public let evaluations: Int
        public let wallSeconds: Double
        public let cpuSeconds: Double
        public let finalIpr: Double
    }

    public struct Report: Codable, Sendable {
        public let rightHandSide: RightHandSide
        public let solves: [Solve]
        /// |w_after - w_before| / |w_before| at t-max (the first "after" run).
        public let finalWeightsRelativeDistance: Double
        public let tMax: Double
        /// /proc/loadavg's 1, 5 and 15 minute averages when the measurement began (empty where unreadable).
        public let loadAverage: [Double]
    }

    /// The default demo's montecarlo problem (D = 100 ring, NLGP xi 0.5 vs 2, gain 3, relu, seed 0).
    static func parameters(samples: Int, precision: MonteCarloPrecision = .double, integrator: IntegratorSpec) throws -> SolveParameters {
        SolveParameters(task: try TheoryBenchmarks.task(latticeDimension: 1, length: 100), neuron: try NeuronSpec(activation: .relu, bias: 0),
                        closure: try ClosureSpec(kind: .montecarlo, monteCarloSamples: samples, monteCarloSeed: 0, monteCarloPrecision: precision),
                        integrator: integrator, learningRate: 1, initialization: .random(scale: 0.1, seed: 0))
    }

    static func flow(_ parameters: SolveParameters) throws -> GradientFlow {
        try GradientFlow(task: parameters.task, neuron: parameters.neuron, closure: parameters.closure, learningRate: parameters.learningRate)
    }

    public static func run(samples: Int, tMax: Double, threads: Int, plan: BenchmarkPlan,
                           progress: (String) -> Void = { _ in }) throws -> Report {
        let load = loadAverage()
        progress("montecarlo right-hand side, D = 100, M = \(samples) per class: loops, precisions, threads")
        let integrator = try IntegratorSpec.suited(to: .montecarlo, tMax: tMax)
        let double = try flow(parameters(samples: samples, integrator: integrator))
        let float = try flow(parameters(samples: samples, precision: .float, integrator: integrator))
        // Unit-variance weights: preactivations of order 1, about half the rows past relu's kink.
        let w = TheoryBenchmarks.testVector(double.dimension)
        typealias Configuration = (name: String, flow: GradientFlow, kernel: MonteCarloKernel, threads: Int)
        let variant = MonteCarloClosure.nativeVariant.name
        let threaded: [Configuration] = threads > 1 ? [
            ("C pass (\(variant)), double", double, .native, threads), ("C pass (\(variant)), float", float, .native, threads),
            ("Swift one pass, double", double, .chunked, threads),
        ] : []
        let configurations: [Configuration] = [
            ("C pass (\(variant)), double", double, .native, 1), ("Swift one pass, double", double, .chunked, 1),
            ("previous implementation", double, .previous, 1), ("plain C loop", double, .plainC, 1),
            ("plain Swift loop", double, .plain, 1), ("C pass (\(variant)), float", float, .native, 1),
            ("Swift one pass, float", float, .chunked, 1),
        ] + threaded
        let times = alternate(configurations.map { configuration in {
            configuration.flow.monteCarloKernel = configuration.kernel
            configuration.flow.threads = configuration.threads
            _ = configuration.flow.velocity(w)
        } }, plan: plan)
        let variants = zip(configurations, times).map { configuration, time in
            Variant(name: configuration.name, threads: configuration.threads, wallSeconds: time.wall, cpuSeconds: time.cpu)
        }
        for flow in [double, float] { flow.monteCarloKernel = .native; flow.threads = 1 }
        let reference = double.velocity(w), rounded = float.velocity(w)
        double.monteCarloKernel = .previous
        let previous = double.velocity(w)
        double.monteCarloKernel = .native
        let standardError = double.monteCarloStandardError(w)
        let scale = reference.map(abs).max() ?? 1
        let floatError = zip(rounded, reference).map { abs($0 - $1) }
        let rightHandSide = RightHandSide(
            dimension: double.dimension, samplesPerClass: samples, variants: variants,
            floatRelativeError: (floatError.max() ?? 0) / scale,
            floatErrorOverStandardError: zip(floatError, standardError).map { $0 / max($1, .leastNormalMagnitude) }.max() ?? 0,
            chunkedRelativeDifference: (zip(reference, previous).map { abs($0 - $1) }.max() ?? 0) / scale)

        progress("demo montecarlo solve (t = \(tMax)): previous loop and tolerances on one thread, then the defaults")
        let before = try IntegratorSpec(stepper: .rkf45, relativeTolerance: 1e-5, absoluteTolerance: 1e-6, tMax: tMax)
        let runs: [(name: String, integrator: IntegratorSpec, precision: MonteCarloPrecision, kernel: MonteCarloKernel, threads: Int)] = [
            ("before: previous loop, rkf45 1e-5, 1 thread", before, .double, .previous, 1),
            ("after: defaults, \(threads) thread\(threads == 1 ? "" : "s")", integrator, .double, .native, threads),
            ("after: defaults, 1 thread", integrator, .double, .native, 1),
            ("after: defaults, Swift one pass, 1 thread", integrator, .double, .chunked, 1),
            ("after: defaults, float, \(threads) thread\(threads == 1 ? "" : "s")", integrator, .float, .native, threads),
        ]
        var trajectories: [[Double]] = []
        let solves = try runs.map { run -> Solve in
            let parameters = try parameters(samples: samples, precision: run.precision, integrator: run.integrator)
            let flow = try flow(parameters)
            flow.monteCarloKernel = run.kernel
            flow.threads = run.threads
            var result: SolveResult?
            let cpu = try CPUClock.processSeconds { result = try SolveJob.run(parameters, flow: flow) }
            trajectories.append(result!.trajectory.weights.last ?? [])
            return Solve(name: run.name, stepper: run.integrator.stepper.rawValue, relativeTolerance: run.integrator.relativeTolerance,
                         evaluations: result!.trajectory.evaluations, wallSeconds: result!.wallSeconds, cpuSeconds: cpu,
                         finalIpr: result!.finalIPR ?? .nan)
        }
        let distance = Observables.relativeDistance(trajectories[1], trajectories[0])
        return Report(rightHandSide: rightHandSide, solves: solves, finalWeightsRelativeDistance: distance, tMax: tMax,
                      loadAverage: load)
    }

    /// The machine's load (timings on a shared machine are read against it).
    static func loadAverage() -> [Double] {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return [] }
        return text.split(separator: " ").prefix(3).compactMap { Double($0) }
    }

    /// Seconds per call of each body, alternating batches (each of about `plan.batchSeconds`) so
    /// that a change of load hits all of them; the fastest batch of each, wall and process CPU.
    static func alternate(_ bodies: [() -> Void], plan: BenchmarkPlan) -> [(wall: Double, cpu: Double)] {
        let calls = bodies.map { Stopwatch.callsPerBatch(batchSeconds: plan.batchSeconds, $0) }
        var best = Array(repeating: (wall: Double.infinity, cpu: Double.infinity), count: bodies.count)
        for _ in 0..<max(1, plan.rounds) {
            for (k, body) in bodies.enumerated() {
                var wall = 0.0
                let cpu = CPUClock.processSeconds { wall = Stopwatch.seconds { for _ in 0..<calls[k] { body() } } }
                best[k] = (min(best[k].wall, wall / Double(calls[k])), min(best[k].cpu, cpu / Double(calls[k])))
            }
        }
        return best
    }
}

/// CPU time of the whole process (every thread), from clock_gettime.
public enum CPUClock {
    public static var processNow: Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + 1e-9 * Double(time.tv_nsec)
    }

    public static func processSeconds(_ body: () throws -> Void) rethrows -> Double {
        let start = processNow
        try body()
        return processNow - start
    }
}
