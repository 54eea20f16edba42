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
    /// One drift buffer per class, so that the classes can be evaluated at the same time.
    private let scratch: [UnsafeMutablePointer<Double>]
    private let lock = NSLock()
    /// Threads for `velocity`: with 2 or more, the gaussian and cumulant closures evaluate the two
    /// classes' drifts at once (each class on one thread, with its own buffers and FFT workspace)
    /// from D = `parallelMinimumDimension` up, and sum them in the same order as one thread does,
    /// so the velocity is the same to the bit for any number of threads. The montecarlo closure
    /// splits its sample into fixed chunks on up to this many threads instead, again with the
    /// same bits for any value (derivations/monte-carlo-closure.md, "One pass in fixed chunks").
    public var threads = 1 {
        didSet { for case let sample as MonteCarloClosure in classes { sample.threads = threads } }
    }
    /// Below this D a class's drift costs about as much as handing it to another thread.
    public static let parallelMinimumDimension = 4096

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
        scratch = classes.map { _ in .allocate(capacity: task.dimension) }
    }

    deinit { for buffer in scratch { buffer.deallocate() } }

    /// Whether `velocity` splits the classes across threads.
    public var evaluatesClassesInParallel: Bool {
        threads >= 2 && classes.count == 2 && dimension >= Self.parallelMinimumDimension
            && (closure.kind == .gaussian || closure.kind == .cumulant)
    }

    public var dimension: Int { task.dimension }

    /// Refuses a thread count outside 1 ... 1024 (`--threads`).
    public static func requireThreads(_ threads: Int) throws {
        try require(threads >= 1 && threads <= 1024, flag: "--threads", "must be in 1 ... 1024, got \(threads)")
    }

    /// The Monte Carlo closure's loop (`.native` unless a benchmark asks for a reference).
    public var monteCarloKernel = MonteCarloKernel.native {
        didSet { for case let sample as MonteCarloClosure in classes { sample.kernel = monteCarloKernel } }
    }

    /// dw/dt at w, into `out`. Serialised: closures own scratch buffers.
    public func velocity(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        lock.lock(); defer { lock.unlock() }
        let d = dimension
        if evaluatesClassesInParallel {
            let input = WorkerShared(w), classes = WorkerShared(classes), scratch = WorkerShared(scratch)
            DispatchQueue.concurrentPerform(iterations: classes.value.count) { c in
                classes.value[c].drift(input.value, into: scratch.value[c])
            }
        } else {
            for (c, expectation) in classes.enumerated() { expectation.drift(w, into: scratch[c]) }
        }
        for i in 0..<d { out[i] = 0 }
        for c in classes.indices {
            let weight = learningRate * task.priors[c], drift = scratch[c]
            for i in 0..<d { out[i] += weight * drift[i] }
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
