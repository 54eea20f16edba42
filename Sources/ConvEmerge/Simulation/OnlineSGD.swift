import Foundation

/// One replica of online SGD on fresh inputs (SPEC §3): per step a batch of B
/// inputs, each of class c with prior p_c, and
///   w_k += (eta K / B) sum_b e_b v_k sigma'(lambda_kb + b_k) x_b / sqrt D,   e_b = y_b - yhat_b,
///   v_k += (eta / (B D)) sum_b e_b sigma(lambda_kb + b_k)                    (twolayer only),
/// time t = steps / D. For the neuron (K = 1, v = 1) this is
/// w += (eta / B) sum_b h_c(lambda_b) x_b / sqrt D, whose drift is the gradient flow
/// of `solve` (derivations/gradient-flow.md, derivations/sgd-noise-scaling.md).
/// The factor K makes each unit of a committee (v_k = 1/K) learn at rate eta,
/// as the neuron does.
public final class SGDReplica {
    public let parameters: SimulationParameters
    public let dimension: Int
    public let units: Int
    private let samplers: [SimulationSampler]
    private let activation: Activation
    private let biases: [Double]
    private let targets: [Double]
    private var rng: Xoshiro256
    /// K x D, row-major: unit k's weights are w[k D ..< (k + 1) D].
    public var weights: [Double]
    /// v_k.
    public var readout: [Double]
    public private(set) var steps = 0
    private let input: UnsafeMutablePointer<Double>
    private let gradient: UnsafeMutablePointer<Double>
    private let readoutGradient: UnsafeMutablePointer<Double>
    private let derivatives: UnsafeMutablePointer<Double>
    private let activations: UnsafeMutablePointer<Double>

    /// Replica `replica` of `parameters` from the weights `initial` (K D values),
    /// drawing its inputs from `distributions` (one per class, shared read-only).
    public init(_ parameters: SimulationParameters, distributions: [InputDistribution], initial: [Double], replica: Int) {
        self.parameters = parameters
        dimension = parameters.dimension
        units = parameters.hiddenUnits
        precondition(initial.count == units * dimension, "SGDReplica: initial weights must have K D entries")
        samplers = distributions.map { SimulationSampler($0, mode: parameters.sampler) }
        activation = Activation(parameters.neuron.activation)
        biases = (0..<units).map(parameters.bias(ofUnit:))
        targets = parameters.task.targets
        rng = Xoshiro256(seed: parameters.seed, stream: replica + 2)
        weights = initial
        readout = [Double](repeating: parameters.initialReadout, count: units)
        input = .allocate(capacity: dimension)
        gradient = .allocate(capacity: units * dimension)
        readoutGradient = .allocate(capacity: units)
        derivatives = .allocate(capacity: units)
        activations = .allocate(capacity: units)
    }

    deinit {
        input.deallocate()
        gradient.deallocate()
        readoutGradient.deallocate()
        derivatives.deallocate()
        activations.deallocate()
    }

    /// `count` SGD steps.
    public func step(_ count: Int = 1) {
        let d = dimension, k = units, batch = parameters.batchSize
        let inverseRoot = 1 / Double(d).squareRoot()
        let unitRate = parameters.learningRate * Double(k)
        let readoutRate = parameters.learningRate / Double(d)
        let trainsReadout = parameters.model == .twolayer
        let prior1 = parameters.task.prior1
        // With B = 1 the single input's update goes straight into w (its
        // preactivations were taken before); with B > 1 it is accumulated first.
        let direct = batch == 1
        let x = input
        weights.withUnsafeMutableBufferPointer { weightBuffer in
            readout.withUnsafeMutableBufferPointer { readoutBuffer in
                let w = weightBuffer.baseAddress!, v = readoutBuffer.baseAddress!
                let target = direct ? w : gradient
                let targetReadout = direct ? v : readoutGradient
                for _ in 0..<count {
                    if !direct {
                        gradient.update(repeating: 0, count: k * d)
                        readoutGradient.update(repeating: 0, count: k)
                    }
                    for _ in 0..<batch {
                        let c = rng.nextOpenUniform() < prior1 ? 1 : 0
                        samplers[c].sample(into: x, rng: &rng)
                        var prediction = 0.0
                        for unit in 0..<k {
                            let preactivation = dot(w + unit * d, x, d) * inverseRoot + biases[unit]
                            activations[unit] = activation.value(preactivation)
                            derivatives[unit] = activation.derivative(preactivation)
                            prediction += v[unit] * activations[unit]
                        }
                        let error = targets[c] - prediction
                        for unit in 0..<k {
                            let coefficient = (direct ? unitRate : 1) * error * v[unit] * derivatives[unit] * inverseRoot
                            axpy(coefficient, x, target + unit * d, d)
                        }
                        if trainsReadout {
                            for unit in 0..<k { targetReadout[unit] += (direct ? readoutRate : 1) * error * activations[unit] }
                        }
                    }
                    if !direct {
                        axpy(unitRate / Double(batch), gradient, w, k * d)
                        if trainsReadout { axpy(readoutRate / Double(batch), readoutGradient, v, k) }
                    }
                }
            }
        }
        steps += count
    }

    /// yhat for every row of `inputs` (n x D row-major).
    public func predictions(_ inputs: [Double]) -> [Double] {
        let d = dimension
        let n = inputs.count / d
        let inverseRoot = 1 / Double(d).squareRoot()
        var out = [Double](repeating: 0, count: n)
        inputs.withUnsafeBufferPointer { xs in
            weights.withUnsafeBufferPointer { w in
                for row in 0..<n {
                    var prediction = 0.0
                    for unit in 0..<units {
                        let preactivation = dot(w.baseAddress! + unit * d, xs.baseAddress! + row * d, d) * inverseRoot + biases[unit]
                        prediction += readout[unit] * activation.value(preactivation)
                    }
                    out[row] = prediction
                }
            }
        }
        return out
    }
}

/// sum_i a_i b_i with four partial sums (the compiler does not reassociate a
/// floating-point reduction on its own).
@inline(__always)
func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> Double {
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    var i = 0
    while i + 4 <= n {
        s0 += a[i] * b[i]
        s1 += a[i + 1] * b[i + 1]
        s2 += a[i + 2] * b[i + 2]
        s3 += a[i + 3] * b[i + 3]
        i += 4
    }
    while i < n {
        s0 += a[i] * b[i]
        i += 1
    }
    return (s0 + s1) + (s2 + s3)
}

/// y += alpha x.
@inline(__always)
func axpy(_ alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
    for i in 0..<n { y[i] += alpha * x[i] }
}
