import Foundation

/// The reduced dynamics of one neuron (SPEC §3), in time t = SGD steps / D:
///   dw/dt = eta sum_c p_c g_c(w),   g_c(w) = sqrt(D) E_c[x h_c(w.x / sqrt D)],
/// with the expectation closed by the chosen closure.
/// Derivation: derivations/gradient-flow.md.
public final class GradientFlow: @unchecked Sendable {
    public let task: TaskSpec
    public let neuron: NeuronSpec
    public let closure: ClosureSpec
    public let learningRate: Double
    public let distributions: [InputDistribution]
    let classes: [ClassExpectation]
    private let scratch: UnsafeMutablePointer<Double>
    private let lock = NSLock()

    public init(task: TaskSpec, neuron: NeuronSpec, closure: ClosureSpec, learningRate: Double,
                distributions: [InputDistribution]? = nil) throws {
        try requirePositive(learningRate, flag: "--lr", atMost: ParameterBound.learningRate)
        if closure.kind == .montecarlo {
            try MemoryBudget.require(MemoryBudget.product(task.classes.count, closure.monteCarloSamples, task.dimension,
                                                          closure.monteCarloPrecision.bytesPerValue),
                                     flag: "--mc-samples", for: "a fixed sample of \(closure.monteCarloSamples) inputs per class at D = \(task.dimension)")
        }
        self.task = task
        self.neuron = neuron
        self.closure = closure
        self.learningRate = learningRate
        let distributions = try distributions ?? task.distributions()
        self.distributions = distributions
        classes = try ClosureFactory.make(closure, task: task, neuron: neuron, distributions: distributions)
        scratch = .allocate(capacity: task.dimension)
    }

    deinit { scratch.deallocate() }

    public var dimension: Int { task.dimension }

    /// Threads of the Monte Carlo closure's right-hand side (1 unless set): any value gives the
    /// same bits (derivations/monte-carlo-closure.md, "One pass in fixed chunks").
    public var monteCarloThreads = 1 {
        didSet { for case let sample as MonteCarloClosure in classes { sample.threads = monteCarloThreads } }
    }

    /// Refuses a thread count outside 1 ... 1024 (`--threads`).
    public static func requireThreads(_ threads: Int) throws {
        try require(threads >= 1 && threads <= 1024, flag: "--threads", "must be in 1 ... 1024, got \(threads)")
    }

    /// The Monte Carlo closure's loop (`.chunked` unless a benchmark asks for a reference).
    public var monteCarloKernel = MonteCarloKernel.chunked {
        didSet { for case let sample as MonteCarloClosure in classes { sample.kernel = monteCarloKernel } }
    }

    /// dw/dt at w, into `out`. Serialised: closures own scratch buffers.
    public func velocity(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        lock.lock(); defer { lock.unlock() }
        let d = dimension
        for i in 0..<d { out[i] = 0 }
        for (c, expectation) in classes.enumerated() {
            expectation.drift(w, into: scratch)
            let weight = learningRate * task.priors[c]
            for i in 0..<d { out[i] += weight * scratch[i] }
        }
    }

    public func velocity(_ w: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: dimension)
        w.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { velocity(input.baseAddress!, into: $0.baseAddress!) }
        }
        return out
    }

    /// The class-resolved drifts g_0(w), g_1(w) (before the learning rate and priors).
    public func classDrifts(_ w: [Double]) -> [[Double]] {
        lock.lock(); defer { lock.unlock() }
        return classes.map { expectation in
            var out = [Double](repeating: 0, count: dimension)
            w.withUnsafeBufferPointer { input in
                out.withUnsafeMutableBufferPointer { expectation.drift(input.baseAddress!, into: $0.baseAddress!) }
            }
            return out
        }
    }

    /// Per-component standard error of `velocity` for the Monte Carlo closure
    /// (independent samples per class); zeros for the deterministic closures.
    public func monteCarloStandardError(_ w: [Double]) -> [Double] {
        lock.lock(); defer { lock.unlock() }
        var variance = [Double](repeating: 0, count: dimension)
        for (c, expectation) in classes.enumerated() {
            guard let sample = expectation as? MonteCarloClosure else { continue }
            let error = w.withUnsafeBufferPointer { sample.driftStandardError($0.baseAddress!) }
            let weight = learningRate * task.priors[c]
            for i in 0..<dimension { variance[i] += weight * weight * error[i] * error[i] }
        }
        return variance.map { $0.squareRoot() }
    }

    /// sum_c p_c (1/2) E_c[(y_c - yhat)^2] under the closure.
    public func loss(_ w: [Double]) -> Double {
        lock.lock(); defer { lock.unlock() }
        return w.withUnsafeBufferPointer { input in
            zip(task.priors, classes).reduce(0) { $0 + $1.0 * $1.1.loss(input.baseAddress!) }
        }
    }

    /// q_c = w.C_c w / D for each class.
    public func overlaps(_ w: [Double]) -> [Double] {
        distributions.map { $0.quadraticForm(w) / Double(dimension) }
    }

    /// d(dw/dt)/dw by central differences (row-major D x D), step relative to |w|.
    /// Used by the implicit steppers and by the stability analysis.
    public func jacobian(at w: [Double], relativeStep: Double = 1e-6) -> [Double] {
        let norm = euclideanNorm(w)
        let h = relativeStep * max(norm, 1e-8) / Double(dimension).squareRoot()
        return centralDifferenceJacobian(at: w, step: h, velocity)
    }
}
