import Foundation

/// The K-unit network of `solve --model committee|twolayer`: yhat = sum_k v_k g(lambda_k + b_k),
/// lambda_k = w_k.x / sqrt D, with the readout, bias and rate conventions of `simulate`
/// (derivations/network-options.md §1, §4; derivations/committee-closures.md §1).
public struct CommitteeNetwork: Hashable, Sendable {
    public let units: Int
    public let activation: Activation
    public let options: NetworkOptions
    /// v_k at t = 0 (fixed unless the readout is trained).
    public let initialReadouts: [Double]
    /// b_k at t = 0 (fixed unless --train-bias).
    public let initialBiases: [Double]

    public init(units: Int, neuron: NeuronSpec, options: NetworkOptions) {
        self.units = units
        activation = Activation(neuron.activation)
        self.options = options
        initialReadouts = options.initialReadout(units: units)
        // The biases of SimulationParameters.bias(ofUnit:): --bias-init, else +b, -b, +b, ...
        initialBiases = (0..<units).map { k in options.initialBias(ofUnit: k, units: units) ?? (k % 2 == 0 ? neuron.bias : -neuron.bias) }
    }

    public var trainsReadout: Bool { options.readout == .trained }
    public var trainsBias: Bool { options.trainBias }
    /// The first-layer (and bias) rate over eta: K for mf and trained, sqrt K for lazy, 1 for conv.
    public var weightRateFactor: Double { options.weightRateFactor(units: units) }
}

/// Where each parameter sits in the ODE state: W (K x D, unit-major), then v (K) when the readout
/// is trained, then b (K) when the biases are.
public struct CommitteeLayout: Hashable, Sendable {
    public let units: Int
    public let dimension: Int
    public let trainsReadout: Bool
    public let trainsBias: Bool

    public var weightCount: Int { units * dimension }
    public var readoutOffset: Int { weightCount }
    public var biasOffset: Int { weightCount + (trainsReadout ? units : 0) }
    public var stateSize: Int { biasOffset + (trainsBias ? units : 0) }

    /// The initial state: weights, then the trained readout and biases.
    public func state(weights: [Double], network: CommitteeNetwork) -> [Double] {
        precondition(weights.count == weightCount)
        return weights + (trainsReadout ? network.initialReadouts : []) + (trainsBias ? network.initialBiases : [])
    }
}

/// One class's expectations for K units (derivations/committee-closures.md §1), with
/// f_k = v_k g'(lambda_k + b_k) (y - yhat):
///   weights: sqrt(D) E_c[x f_k] (K x D),  readout: E_c[(y - yhat) g(lambda_k + b_k)],  bias: E_c[f_k].
/// Instances own their scratch space and are used from one thread at a time.
public protocol CommitteeClassExpectation: AnyObject {
    /// `readoutDrift` and `biasDrift` are nil when those parameters are fixed.
    func drift(weights: UnsafePointer<Double>, readouts: UnsafePointer<Double>, biases: UnsafePointer<Double>,
               weightDrift: UnsafeMutablePointer<Double>, readoutDrift: UnsafeMutablePointer<Double>?,
               biasDrift: UnsafeMutablePointer<Double>?)
    /// E_c[(y - yhat)^2] / 2.
    func loss(weights: UnsafePointer<Double>, readouts: UnsafePointer<Double>, biases: UnsafePointer<Double>) -> Double
}

/// The population gradient flow of K units in time t = SGD steps / D (derivations/committee-closures.md §1):
///   dw_k/dt = eta r sum_c p_c sqrt(D) E_c[x f_k] - l2 w_k - l1 sign(w_k),
///   dv_k/dt = eta sum_c p_c E_c[(y_c - yhat) g_k],   db_k/dt = eta r sum_c p_c E_c[f_k],
/// r the first-layer rate factor of the readout scaling.
public final class CommitteeFlow: VelocityField, @unchecked Sendable {
    public let task: TaskSpec
    public let network: CommitteeNetwork
    public let closure: ClosureSpec
    public let learningRate: Double
    public let layout: CommitteeLayout
    public let distributions: [InputDistribution]
    let classes: [CommitteeClassExpectation]
    private let scratch: UnsafeMutablePointer<Double>
    private let lock = NSLock()

    public init(task: TaskSpec, network: CommitteeNetwork, closure: ClosureSpec, learningRate: Double,
                distributions: [InputDistribution]? = nil) throws {
        try requirePositive(learningRate, flag: "--lr", atMost: ParameterBound.learningRate)
        try CommitteeClosures.requireSupported(closure, task: task, network: network)
        if closure.kind == .montecarlo {
            try MemoryBudget.require(MemoryBudget.product(task.classes.count, closure.monteCarloSamples, task.dimension, 8),
                                     flag: "--mc-samples", for: "a fixed sample of \(closure.monteCarloSamples) inputs per class at D = \(task.dimension)")
        }
        self.task = task
        self.network = network
        self.closure = closure
        self.learningRate = learningRate
        layout = CommitteeLayout(units: network.units, dimension: task.dimension,
                                 trainsReadout: network.trainsReadout, trainsBias: network.trainsBias)
        let distributions = try distributions ?? task.distributions()
        self.distributions = distributions
        classes = try CommitteeClosures.make(closure, task: task, network: network, distributions: distributions)
        scratch = .allocate(capacity: layout.stateSize)
    }

    deinit { scratch.deallocate() }

    public var dimension: Int { layout.stateSize }

    /// Runs `body` with pointers to W, v and b of `state` (the fixed v and b when not trained).
    private func withParameters<R>(_ state: UnsafePointer<Double>,
                                   _ body: (UnsafePointer<Double>, UnsafePointer<Double>, UnsafePointer<Double>) -> R) -> R {
        let readouts = layout.trainsReadout ? nil : network.initialReadouts
        let biases = layout.trainsBias ? nil : network.initialBiases
        func pointer(_ fixed: [Double]?, offset: Int, _ use: (UnsafePointer<Double>) -> R) -> R {
            guard let fixed else { return use(state + offset) }
            return fixed.withUnsafeBufferPointer { use($0.baseAddress!) }
        }
        return pointer(readouts, offset: layout.readoutOffset) { v in
            pointer(biases, offset: layout.biasOffset) { b in body(state, v, b) }
        }
    }

    public func velocity(_ state: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        lock.lock(); defer { lock.unlock() }
        let size = layout.stateSize, weightCount = layout.weightCount
        for i in 0..<size { out[i] = 0 }
        let rate = learningRate * network.weightRateFactor
        withParameters(state) { w, v, b in
            for (c, expectation) in classes.enumerated() {
                expectation.drift(weights: w, readouts: v, biases: b, weightDrift: scratch,
                                  readoutDrift: layout.trainsReadout ? scratch + layout.readoutOffset : nil,
                                  biasDrift: layout.trainsBias ? scratch + layout.biasOffset : nil)
                let weight = rate * task.priors[c]
                for i in 0..<weightCount { out[i] += weight * scratch[i] }
                if layout.trainsReadout {
                    let readoutWeight = learningRate * task.priors[c]
                    for i in layout.readoutOffset..<(layout.readoutOffset + layout.units) { out[i] += readoutWeight * scratch[i] }
                }
                if layout.trainsBias {
                    for i in layout.biasOffset..<size { out[i] += weight * scratch[i] }
                }
            }
        }
        // derivations/network-options.md §4: w -= (l/D) ... per step is rate l per unit of t.
        let l1 = network.options.l1, l2 = network.options.l2
        if l2 > 0 { for i in 0..<weightCount { out[i] -= l2 * state[i] } }
        if l1 > 0 { for i in 0..<weightCount where state[i] != 0 { out[i] -= state[i] > 0 ? l1 : -l1 } }
    }

    public func velocity(_ state: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: dimension)
        state.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { velocity(input.baseAddress!, into: $0.baseAddress!) }
        }
        return out
    }

    /// sum_c p_c E_c[(y_c - yhat)^2] / 2 under the closure.
    public func loss(_ state: [Double]) -> Double {
        lock.lock(); defer { lock.unlock() }
        return state.withUnsafeBufferPointer { input in
            withParameters(input.baseAddress!) { w, v, b in
                zip(task.priors, classes).reduce(0) { $0 + $1.0 * $1.1.loss(weights: w, readouts: v, biases: b) }
            }
        }
    }

    /// Per-component standard error of `velocity` (the whole state) and of `loss` under `montecarlo`
    /// (independent samples per class); nil for the deterministic closures.
    public func monteCarloStandardErrors(_ state: [Double]) -> (velocity: [Double], loss: Double)? {
        lock.lock(); defer { lock.unlock() }
        guard closure.kind == .montecarlo else { return nil }
        var variance = [Double](repeating: 0, count: layout.stateSize), lossVariance = 0.0
        let rate = learningRate * network.weightRateFactor
        state.withUnsafeBufferPointer { input in
            withParameters(input.baseAddress!) { w, v, b in
                for (c, expectation) in classes.enumerated() {
                    let errors = (expectation as! CommitteeMonteCarloClosure).standardErrors(weights: w, readouts: v, biases: b)
                    func add(_ values: [Double], weight: Double, offset: Int) {
                        for (i, error) in values.enumerated() { variance[offset + i] += weight * weight * error * error }
                    }
                    add(errors.weights, weight: rate * task.priors[c], offset: 0)
                    if layout.trainsReadout { add(errors.readouts, weight: learningRate * task.priors[c], offset: layout.readoutOffset) }
                    if layout.trainsBias { add(errors.biases, weight: rate * task.priors[c], offset: layout.biasOffset) }
                    lossVariance += task.priors[c] * task.priors[c] * errors.loss * errors.loss
                }
            }
        }
        return (variance.map { $0.squareRoot() }, lossVariance.squareRoot())
    }

    /// Q_kk of class c, w_k.C_c w_k / D, for each unit k: [class][unit].
    public func overlaps(_ state: [Double]) -> [[Double]] {
        let d = layout.dimension
        return distributions.map { distribution in
            (0..<layout.units).map { k in distribution.quadraticForm(Array(state[(k * d)..<((k + 1) * d)])) / Double(d) }
        }
    }

    /// Central differences, for the implicit steppers (O((K D)^2) memory: small runs only).
    public func jacobian(at w: [Double], relativeStep: Double = 1e-6) -> [Double] {
        let h = relativeStep * max(euclideanNorm(w), 1e-8) / Double(dimension).squareRoot()
        return centralDifferenceJacobian(at: w, step: h, velocity)
    }
}

/// Which closures exist for K units, and their construction.
public enum CommitteeClosures {
    /// Activations whose conditional Gaussian moments E[g^(n)(N(mu, s^2))], n <= 2, are closed
    /// forms (derivations/committee-closures.md §3).
    public static let gaussianActivations: [ActivationKind] = [.relu, .erf, .linear, .quadratic]

    public static func requireSupported(_ closure: ClosureSpec, task: TaskSpec, network: CommitteeNetwork) throws {
        try closure.requireApplicable(to: task)
        // Also instability's check: the messages name no command.
        try require(network.options.heads == 1, flag: "--heads", "the K-unit theory integrates one output head (1), got \(network.options.heads)")
        try require(network.options.loss == .mse, flag: "--loss", "the K-unit theory integrates the mse loss only, got \(network.options.loss.rawValue)")
        switch closure.kind {
        case .montecarlo:
            return
        case .gaussian, .cumulant:
            try require(gaussianActivations.contains(network.activation.kind), flag: "--activation",
                        "the committee \(closure.kind.rawValue) closure needs relu, erf, linear or quadratic (closed-form pair expectations), got \(network.activation.kind.rawValue); use --closure montecarlo")
            if closure.kind == .cumulant { try requireSymmetricModelInputs(task) }
        case .conditional, .lufkin:
            throw ConvEmergeError.invalidInput(flag: "--closure", message: "--model committee|twolayer supports montecarlo, gaussian and cumulant, got \(closure.kind.rawValue)")
        }
    }

    /// The K-unit cumulant closure is first order in T (derivations/committee-closures.md §5): it refuses
    /// data (empirical T), skewed families (third-cumulant terms) and elliptical ones (their cumulants
    /// of every order are O(1) whatever the weights).
    static func requireSymmetricModelInputs(_ task: TaskSpec) throws {
        for input in task.classes where !input.isGaussianClone {
            try require(input.dataSet == nil && input.family.isOdd && input.family.radialLaw == nil, flag: "--closure",
                        "cumulant for --model committee|twolayer needs odd model inputs (nlgp, odd copulas), got \(input.family); use gaussian or montecarlo")
        }
    }

    static func make(_ closure: ClosureSpec, task: TaskSpec, network: CommitteeNetwork,
                     distributions: [InputDistribution]) throws -> [CommitteeClassExpectation] {
        try (0..<2).map { c -> CommitteeClassExpectation in
            switch closure.kind {
            case .gaussian:
                return CommitteeGaussianClosure(distribution: distributions[c], target: task.targets[c], network: network)
            case .cumulant:
                let distribution = distributions[c]
                let cumulant = distribution.isGaussian ? nil : try FourthCumulant(distribution, method: closure.cumulantMethod)
                return CommitteeCumulantClosure(distribution: distribution, target: task.targets[c], network: network, cumulant: cumulant)
            default:
                // The single-neuron closure's sample: the same streams, so K = 1 is that run.
                var rng = Xoshiro256(seed: closure.monteCarloSeed, stream: c)
                return CommitteeMonteCarloClosure(distribution: distributions[c], target: task.targets[c], network: network,
                                                  samples: closure.monteCarloSamples, rng: &rng)
            }
        }
    }
}
