import Foundation

/// Cost of the K-unit flow (issue 12): the gaussian right-hand side of K = 8 units against D
/// (O(K D log D + K^2 D), fitted exponent) and the cumulant one (O(K^2 D log D): K^2 cubic actions),
/// the gaussian against the Monte Carlo closure (the plain O(M K D) loop) at one size, and K = 8,
/// D = 100 solves end to end under both closures (t = 150; shorter for `bench --quick`).
public enum CommitteeBenchmarks {
    public struct Report: Codable, Sendable {
        public let units: Int
        public let scaling: TheoryBenchmarks.ScalingFit
        public let monteCarloComparison: SpeedComparison
        public let solve: TheoryBenchmarks.SolveTiming
        public let solveTime: Double
        public let cumulantScaling: TheoryBenchmarks.ScalingFit
        public let cumulantSolve: TheoryBenchmarks.SolveTiming
        /// One class's cumulant drift: the fused leading diagram against polarisation (K^2 cubic actions).
        public let fusedComparison: SpeedComparison
    }

    public static let units = 8
    static let monteCarloSamples = 1000

    /// The default task of TheoryBenchmarks, K relu units with the mf readout.
    static func flow(length: Int, closure: ClosureSpec) throws -> CommitteeFlow {
        let task = try TheoryBenchmarks.task(latticeDimension: 1, length: length)
        let network = CommitteeNetwork(units: units, neuron: try NeuronSpec(activation: .relu, bias: 0), options: .standard)
        return try CommitteeFlow(task: task, network: network, closure: closure, learningRate: 1)
    }

    static func testState(_ flow: CommitteeFlow) throws -> [Double] {
        try Initialization.random(scale: 1, seed: 5).weights(dimension: flow.dimension)
    }

    static func timer(_ flow: CommitteeFlow, _ state: [Double], _ out: UnsafeMutablePointer<Double>) -> () -> Void {
        { state.withUnsafeBufferPointer { flow.velocity($0.baseAddress!, into: out) } }
    }

    /// Seconds per right-hand side against D and the fitted exponent.
    static func scaling(_ kind: ClosureKind, lengths: [Int], plan: BenchmarkPlan) throws -> TheoryBenchmarks.ScalingFit {
        let seconds = try lengths.map { length -> Double in
            let flow = try self.flow(length: length, closure: ClosureSpec(kind: kind))
            let state = try testState(flow), out = UnsafeMutablePointer<Double>.allocate(capacity: flow.dimension)
            defer { out.deallocate() }
            return Stopwatch.secondsPerCall(batchSeconds: plan.batchSeconds, rounds: plan.rounds, timer(flow, state, out))
        }
        return TheoryBenchmarks.ScalingFit(closure: "committee-\(kind.rawValue) K=\(units)", latticeDimension: 1, sizes: lengths, secondsPerCall: seconds)
    }

    /// A K = 8, D = 100 solve from small random weights to t = solveTime.
    static func solveTiming(_ kind: ClosureKind, solveTime: Double) throws -> TheoryBenchmarks.SolveTiming {
        var parameters = SolveParameters(task: try TheoryBenchmarks.task(latticeDimension: 1, length: 100), neuron: try NeuronSpec(activation: .relu, bias: 0),
                                         closure: try ClosureSpec(kind: kind), integrator: try IntegratorSpec(tMax: solveTime),
                                         learningRate: 1, initialization: .random(scale: 0.1, seed: 0))
        parameters.model = .committee
        parameters.hiddenUnits = units
        parameters.network = .standard
        let solve = try CommitteeSolveJob.run(parameters)
        return TheoryBenchmarks.SolveTiming(dimension: 100, closure: "committee-\(kind.rawValue) K=\(units)", seconds: solve.wallSeconds,
                                            rightHandSides: solve.trajectory.evaluations, finalIpr: solve.finalMeanIPR ?? .nan)
    }

    /// The cumulant drift of one class (NLGP, class 1) at D = size, fused against polarised, alternating.
    static func fusedComparison(size: Int, plan: BenchmarkPlan) throws -> SpeedComparison {
        let task = try TheoryBenchmarks.task(latticeDimension: 1, length: size)
        let distribution = try InputDistribution(task.classes[1])
        let cumulant = try FourthCumulant(distribution, method: .leading)
        let network = CommitteeNetwork(units: units, neuron: try NeuronSpec(activation: .relu, bias: 0), options: .standard)
        let closures = [true, false].map {
            CommitteeCumulantClosure(distribution: distribution, target: task.targets[1], network: network, cumulant: cumulant, fusedLeadingDiagram: $0)
        }
        let weights = try Initialization.random(scale: 1, seed: 5).weights(dimension: units * size)
        let readouts = network.initialReadouts, biases = network.initialBiases
        var outputs = [[Double]](repeating: [Double](repeating: 0, count: units * size), count: 2)
        func timer(_ index: Int) -> () -> Void {
            {
                outputs[index].withUnsafeMutableBufferPointer {
                    closures[index].drift(weights: weights, readouts: readouts, biases: biases, weightDrift: $0.baseAddress!, readoutDrift: nil, biasDrift: nil)
                }
            }
        }
        let times = Stopwatch.compare(batchSeconds: plan.batchSeconds, rounds: plan.rounds, candidate: timer(0), baseline: timer(1))
        let scale = outputs[1].map(abs).max() ?? 0
        let difference = zip(outputs[0], outputs[1]).map { abs($0 - $1) }.max() ?? 0
        return SpeedComparison(task: "committee K=\(units) cumulant drift (one class)", size: size, candidate: "fused leading diagram (2K FFTs)",
                               baseline: "polarisation (K^2 cubic actions)", candidateSecondsPerCall: times.candidate,
                               baselineSecondsPerCall: times.baseline, baselineSetupSeconds: 0,
                               maximumRelativeDifference: scale > 0 ? difference / scale : 0)
    }

    public static func run(lengths: [Int], solveTime: Double, plan: BenchmarkPlan, progress: (String) -> Void = { _ in }) throws -> Report {
        progress("right-hand side of the committee gaussian closure, K = \(units), D = \(lengths)")
        let fit = try scaling(.gaussian, lengths: lengths, plan: plan)
        progress("right-hand side of the committee cumulant closure, K = \(units), D = \(lengths)")
        let cumulantFit = try scaling(.cumulant, lengths: lengths, plan: plan)

        let size = lengths[lengths.count / 2]
        progress("committee right-hand side at D = \(size): gaussian vs montecarlo (M = \(monteCarloSamples)), alternating")
        let gaussian = try self.flow(length: size, closure: ClosureSpec(kind: .gaussian))
        var monteCarlo: CommitteeFlow?
        let setup = try Stopwatch.seconds { monteCarlo = try flow(length: size, closure: ClosureSpec(kind: .montecarlo, monteCarloSamples: monteCarloSamples)) }
        let state = try testState(gaussian), out = UnsafeMutablePointer<Double>.allocate(capacity: gaussian.dimension)
        defer { out.deallocate() }
        let times = Stopwatch.compare(batchSeconds: plan.batchSeconds, rounds: plan.rounds,
                                      candidate: timer(gaussian, state, out), baseline: timer(monteCarlo!, state, out))
        let comparison = SpeedComparison(task: "committee K=\(units) right-hand side", size: size, candidate: "gaussian (pairs, FFT)",
                                         baseline: "montecarlo M=\(monteCarloSamples)", candidateSecondsPerCall: times.candidate,
                                         baselineSecondsPerCall: times.baseline, baselineSetupSeconds: setup, maximumRelativeDifference: nil)

        progress("committee cumulant drift at D = \(size): fused leading diagram vs polarisation, alternating")
        let fused = try fusedComparison(size: size, plan: plan)

        progress("committee solves (K = \(units), D = 100, gaussian and cumulant closures, t = \(solveTime))")
        let solve = try solveTiming(.gaussian, solveTime: solveTime)
        let cumulantSolve = try solveTiming(.cumulant, solveTime: solveTime)
        return Report(units: units, scaling: fit, monteCarloComparison: comparison, solve: solve, solveTime: solveTime,
                      cumulantScaling: cumulantFit, cumulantSolve: cumulantSolve, fusedComparison: fused)
    }
}
