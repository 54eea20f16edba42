import Foundation

/// Cost of the gradient-flow right-hand side (issue 3): how it scales with D
/// for the closures that must be O(D log D), the speed-up over the same closure
/// evaluated with dense O(D^2) products, and a default `solve` end to end.
public enum TheoryBenchmarks {
    /// Seconds per right-hand side at each size and the fitted exponent p of
    /// time ~ D^p (least squares in log-log; O(D log D) reads as p slightly above 1).
    public struct ScalingFit: Codable, Sendable {
        public let closure: String
        public let latticeDimension: Int
        public let sizes: [Int]
        public let secondsPerCall: [Double]
        public var exponent: Double {
            let x = sizes.map { log(Double($0)) }, y = secondsPerCall.map(log)
            let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
            let sxy = zip(x, y).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
            let sxx = x.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
            return sxy / sxx
        }
    }

    public struct SolveTiming: Codable, Sendable {
        public let dimension: Int
        public let closure: String
        public let seconds: Double
        public let rightHandSides: Int
        public let finalIpr: Double
    }

    /// Seconds per call of the whole right-hand side on 1 and 2 threads, from alternating
    /// batches, each keeping its best: wall-clock (the speed-up) and process CPU time (what the
    /// split costs in work: 1 would be free). `loadAverage`: the 1-minute load when measured.
    public struct ThreadTiming: Codable, Sendable {
        public let closure: String
        public let dimension: Int
        public let oneThreadSeconds: Double
        public let twoThreadSeconds: Double
        public let oneThreadCPUSeconds: Double
        public let twoThreadCPUSeconds: Double
        /// max relative difference of the two velocities (0: the same to the bit).
        public let relativeDifference: Double
        public let loadAverage: Double
        public var speedup: Double { oneThreadSeconds / twoThreadSeconds }
        public var cpuRatio: Double { twoThreadCPUSeconds / oneThreadCPUSeconds }
    }

    public struct Report: Codable, Sendable {
        public let scaling: [ScalingFit]
        public let denseComparison: [SpeedComparison]
        /// The whole right-hand side (both classes) on 2 threads against 1 (`GradientFlow.threads`).
        public let threadComparison: [ThreadTiming]
        public let defaultSolve: SolveTiming
        /// The K-unit flow at the same ring sizes (issue 12).
        public let monteCarlo: MonteCarloBenchmarks.Report
        public var committee: CommitteeBenchmarks.Report?
    }

    /// The closures timed: the two that must be O(D log D).
    static let closures: [(name: String, cumulant: Bool)] = [("gaussian", false), ("cumulant-leading", true)]

    /// The default task (NLGP xi 0.5 vs 2, gain 3) on a ring of `length` or an L x L torus.
    static func task(latticeDimension: Int, length: Int) throws -> TaskSpec {
        let lattice = try Lattice(dimension: latticeDimension, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3)
        return try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
    }

    /// Class 1's inputs and, for the cumulant closure, their leading cumulant: shared by
    /// the FFT closure and its dense baseline.
    static func classOne(_ task: TaskSpec, cumulant: Bool) throws -> (InputDistribution, FourthCumulant?) {
        let distribution = try InputDistribution(task.classes[1])
        return (distribution, cumulant ? try FourthCumulant(distribution, method: .leading) : nil)
    }

    /// The closure's drift for a relu neuron with target 1, FFT or dense.
    static func drift(_ inputs: (InputDistribution, FourthCumulant?), dense: Bool) -> GaussianClosure {
        GaussianClosure(distribution: inputs.0, signal: ErrorSignal(activation: Activation(.relu), bias: 0, target: 1),
                        cumulant: inputs.1, denseBaseline: dense)
    }

    static func testVector(_ d: Int) -> [Double] {
        var rng = Xoshiro256(seed: 5)
        return (0..<d).map { _ in rng.nextGaussian() }
    }

    static func time(_ closure: GaussianClosure, _ w: [Double], plan: BenchmarkPlan) -> Double {
        var out = [Double](repeating: 0, count: w.count)
        return w.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                Stopwatch.secondsPerCall(batchSeconds: plan.batchSeconds, rounds: plan.rounds) {
                    closure.drift(input.baseAddress!, into: output.baseAddress!)
                }
            }
        }
    }

    /// `lengths1D` ring sizes, `lengths2D` torus sides; dense comparison at `denseSize` (ring);
    /// 2 threads against 1 at `threadSizes` (ring). The montecarlo rows use `monteCarloSamples` per
    /// class and a solve to `monteCarloTMax` (MonteCarloBenchmarks). `committeeSolveTime`: t of the
    /// K = 8 committee solve (CommitteeBenchmarks).
    public static func run(lengths1D: [Int], lengths2D: [Int], denseSize: Int, threadSizes: [Int], monteCarloSamples: Int = 20000,
                           monteCarloTMax: Double = 150, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                           committeeSolveTime: Double = 150, plan: BenchmarkPlan,
                           progress: (String) -> Void = { _ in }) throws -> Report {
        var fits: [ScalingFit] = []
        for closure in closures {
            for (dimension, lengths) in [(1, lengths1D), (2, lengths2D)] {
                progress("right-hand side of the \(closure.name) closure, \(dimension)-D, D = \(lengths.map { dimension == 1 ? $0 : $0 * $0 })")
                let seconds = try lengths.map { length -> Double in
                    let task = try task(latticeDimension: dimension, length: length)
                    let drift = try self.drift(classOne(task, cumulant: closure.cumulant), dense: false)
                    return time(drift, testVector(task.dimension), plan: plan)
                }
                fits.append(ScalingFit(closure: closure.name, latticeDimension: dimension,
                                       sizes: lengths.map { dimension == 1 ? $0 : $0 * $0 }, secondsPerCall: seconds))
            }
        }
        var comparisons: [SpeedComparison] = []
        for closure in closures {
            progress("right-hand side of the \(closure.name) closure at D = \(denseSize): FFT vs dense")
            let task = try task(latticeDimension: 1, length: denseSize)
            let inputs = try classOne(task, cumulant: closure.cumulant)
            let fast = drift(inputs, dense: false), w = testVector(task.dimension)
            var slow: GaussianClosure?
            // Only what the dense baseline adds: the dense matrices.
            let setup = Stopwatch.seconds { slow = drift(inputs, dense: true) }
            let difference = Observables.relativeDistance(velocity(fast, w), velocity(slow!, w))
            comparisons.append(SpeedComparison(
                task: "\(closure.name) right-hand side", size: denseSize, candidate: "FFT", baseline: "dense GSL dsymv",
                candidateSecondsPerCall: time(fast, w, plan: plan), baselineSecondsPerCall: time(slow!, w, plan: plan),
                baselineSetupSeconds: setup, maximumRelativeDifference: difference))
        }
        var threadComparisons: [ThreadTiming] = []
        for closure in closures {
            for size in threadSizes {
                progress("right-hand side of the \(closure.name) closure at D = \(size): 2 threads vs 1")
                threadComparisons.append(try threadComparison(closure, size: size, plan: plan))
            }
        }
        progress("default solve (D = 100, cumulant-leading closure, t = 150)")
        let parameters = SolveParameters(task: try task(latticeDimension: 1, length: 100), neuron: try NeuronSpec(activation: .relu, bias: 0),
                                         closure: try ClosureSpec(kind: .cumulant), integrator: try IntegratorSpec(),
                                         learningRate: 1, initialization: .random(scale: 0.1, seed: 0))
        let solve = try SolveJob.run(parameters)
        let timing = SolveTiming(dimension: 100, closure: "cumulant-leading", seconds: solve.wallSeconds,
                                 rightHandSides: solve.trajectory.evaluations, finalIpr: solve.finalIPR ?? .nan)
        let monteCarlo = try MonteCarloBenchmarks.run(samples: monteCarloSamples, tMax: monteCarloTMax, threads: threads,
                                                      plan: plan, progress: progress)
        var report = Report(scaling: fits, denseComparison: comparisons, threadComparison: threadComparisons, defaultSolve: timing,
                            monteCarlo: monteCarlo)
        report.committee = try CommitteeBenchmarks.run(lengths: lengths1D, solveTime: committeeSolveTime, plan: plan, progress: progress)
        return report
    }

    /// The gradient flow's velocity (both classes, relu neuron) on 2 threads against 1.
    static func threadComparison(_ closure: (name: String, cumulant: Bool), size: Int, plan: BenchmarkPlan) throws -> ThreadTiming {
        let task = try task(latticeDimension: 1, length: size)
        let flow = try GradientFlow(task: task, neuron: NeuronSpec(activation: .relu, bias: 0),
                                    closure: ClosureSpec(kind: closure.cumulant ? .cumulant : .gaussian), learningRate: 1)
        let w = testVector(size)
        var out = [Double](repeating: 0, count: size)
        func velocity(threads: Int) {
            flow.threads = threads
            w.withUnsafeBufferPointer { input in out.withUnsafeMutableBufferPointer { flow.velocity(input.baseAddress!, into: $0.baseAddress!) } }
        }
        velocity(threads: 1)
        let single = out
        velocity(threads: 2)
        let difference = Observables.relativeDistance(out, single)
        let calls = Stopwatch.callsPerBatch(batchSeconds: plan.batchSeconds) { velocity(threads: 1) }
        var best = (wall: [Double.infinity, .infinity], cpu: [Double.infinity, .infinity])
        for _ in 0..<max(1, plan.rounds) {
            for (slot, threads) in [1, 2].enumerated() {
                let cpuStart = CPUClock.processNow
                let wall = Stopwatch.seconds { for _ in 0..<calls { velocity(threads: threads) } }
                best.wall[slot] = min(best.wall[slot], wall / Double(calls))
                best.cpu[slot] = min(best.cpu[slot], (CPUClock.processNow - cpuStart) / Double(calls))
            }
        }
        var load = [0.0, 0.0, 0.0]
        return ThreadTiming(closure: closure.name, dimension: size, oneThreadSeconds: best.wall[0], twoThreadSeconds: best.wall[1],
                            oneThreadCPUSeconds: best.cpu[0], twoThreadCPUSeconds: best.cpu[1], relativeDifference: difference,
                            loadAverage: getloadavg(&load, 3) >= 1 ? load[0] : .nan)
    }

    static func velocity(_ closure: GaussianClosure, _ w: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { closure.drift(input.baseAddress!, into: $0.baseAddress!) }
        }
        return out
    }
}
