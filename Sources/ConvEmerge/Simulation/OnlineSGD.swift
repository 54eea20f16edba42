import Foundation

/// What `SGDReplica` trains: a network whose trained parameters are the weights
/// (K rows of `weightsPerUnit`) and the readout v (K x H values, trained or fixed).
/// One instance per replica: it owns scratch buffers, so it is confined to one thread.
public protocol SGDNetwork: AnyObject {
    /// Whether SGD moves the readout v.
    var trainsReadout: Bool { get }
    /// yhat for one input x (D values): the first head's output.
    func prediction(_ x: UnsafePointer<Double>, weights: UnsafePointer<Double>, readout: UnsafePointer<Double>) -> Double
    /// For one input x of class `label` with target y, adds weightRate x (-dL/dw) to `weightStep` and, when the
    /// readout is trained, readoutRate x (-dL/dv) to `readoutStep`, L = 1/2 (y - yhat)^2 for one mse head.
    /// Reads `weights` and `readout` only before it writes, so the steps may be the weights
    /// themselves (B = 1 updates in place).
    func accumulateDescent(_ x: UnsafePointer<Double>, target: Double, label: Int,
                           weights: UnsafePointer<Double>, readout: UnsafePointer<Double>,
                           weightRate: Double, readoutRate: Double,
                           weightStep: UnsafeMutablePointer<Double>, readoutStep: UnsafeMutablePointer<Double>)
}

/// The fully-connected models (neuron, committee, twolayer) with H heads:
/// y_c = sum_k v_kc sigma(lambda_k + b_k), lambda_k = w_k.x / sqrt D (derivations/network-options.md §1).
/// With the standard options (one mse head, fixed biases) the update is today's, operation for operation.
public final class FullyConnectedNetwork: SGDNetwork {
    public let dimension: Int
    public let units: Int
    public let heads: Int
    public let trainsReadout: Bool
    public let trainsBias: Bool
    private let activation: Activation
    /// b_k: fixed, or moved by `applyBiasDescent`.
    public private(set) var biases: [Double]
    private let loss: HeadLoss
    /// Head targets per class (NetworkOptions.headTargets).
    private let headTargets: [[Double]]
    private let isStandard: Bool
    private let derivatives: UnsafeMutablePointer<Double>
    private let activations: UnsafeMutablePointer<Double>
    private let outputs: UnsafeMutablePointer<Double>
    private let deltas: UnsafeMutablePointer<Double>
    /// sum over the batch of -dL/db_k.
    private let biasDescent: UnsafeMutablePointer<Double>

    public init(dimension: Int, units: Int, activation: Activation, biases: [Double], trainsReadout: Bool,
                options: NetworkOptions = .standard, taskTargets: [Double] = [0, 1]) {
        precondition(biases.count == units, "FullyConnectedNetwork: one bias per unit")
        self.dimension = dimension
        self.units = units
        self.heads = options.heads
        self.activation = activation
        self.biases = biases
        self.trainsReadout = trainsReadout
        trainsBias = options.trainBias
        loss = HeadLoss(kind: options.loss, heads: options.heads)
        headTargets = (0..<2).map { options.headTargets(label: $0, taskTargets: taskTargets, activation: activation.kind) }
        isStandard = options.heads == 1 && options.loss == .mse && !options.trainBias
        derivatives = .allocate(capacity: units)
        activations = .allocate(capacity: units)
        outputs = .allocate(capacity: options.heads)
        deltas = .allocate(capacity: options.heads)
        biasDescent = .allocate(capacity: units)
        biasDescent.initialize(repeating: 0, count: units)
    }

    deinit {
        derivatives.deallocate()
        activations.deallocate()
        outputs.deallocate()
        deltas.deallocate()
        biasDescent.deallocate()
    }

    @inline(__always)
    public func prediction(_ x: UnsafePointer<Double>, weights w: UnsafePointer<Double>, readout v: UnsafePointer<Double>) -> Double {
        let d = dimension
        let inverseRoot = 1 / Double(d).squareRoot()
        var prediction = 0.0
        for unit in 0..<units {
            prediction += v[unit * heads] * activation.value(dot(w + unit * d, x, d) * inverseRoot + biases[unit])
        }
        return prediction
    }

    /// The H outputs y_c for one input.
    public func headOutputs(_ x: UnsafePointer<Double>, weights w: UnsafePointer<Double>, readout v: UnsafePointer<Double>) -> [Double] {
        let d = dimension
        let inverseRoot = 1 / Double(d).squareRoot()
        var y = [Double](repeating: 0, count: heads)
        for unit in 0..<units {
            let a = activation.value(dot(w + unit * d, x, d) * inverseRoot + biases[unit])
            for c in 0..<heads { y[c] += v[unit * heads + c] * a }
        }
        return y
    }

    @inline(__always)
    public func accumulateDescent(_ x: UnsafePointer<Double>, target: Double, label: Int,
                                  weights w: UnsafePointer<Double>, readout v: UnsafePointer<Double>,
                                  weightRate: Double, readoutRate: Double,
                                  weightStep: UnsafeMutablePointer<Double>, readoutStep: UnsafeMutablePointer<Double>) {
        let d = dimension
        let inverseRoot = 1 / Double(d).squareRoot()
        if isStandard {
            var prediction = 0.0
            for unit in 0..<units {
                let preactivation = dot(w + unit * d, x, d) * inverseRoot + biases[unit]
                activations[unit] = activation.value(preactivation)
                derivatives[unit] = activation.derivative(preactivation)
                prediction += v[unit] * activations[unit]
            }
            let error = target - prediction
            for unit in 0..<units {
                axpy(weightRate * error * v[unit] * derivatives[unit] * inverseRoot, x, weightStep + unit * d, d)
            }
            if trainsReadout {
                for unit in 0..<units { readoutStep[unit] += readoutRate * error * activations[unit] }
            }
            return
        }
        // derivations/network-options.md §3: -dL/dw_k = (sum_c delta_c v_kc) sigma'_k x / sqrt D,
        // -dL/db_k = (sum_c delta_c v_kc) sigma'_k, -dL/dv_kc = delta_c sigma_k.
        for c in 0..<heads { outputs[c] = 0 }
        for unit in 0..<units {
            let preactivation = dot(w + unit * d, x, d) * inverseRoot + biases[unit]
            activations[unit] = activation.value(preactivation)
            derivatives[unit] = activation.derivative(preactivation)
            for c in 0..<heads { outputs[c] += v[unit * heads + c] * activations[unit] }
        }
        loss.descent(outputs: outputs, label: label, targets: headTargets[label], into: deltas)
        for unit in 0..<units {
            var signal = 0.0
            for c in 0..<heads { signal += deltas[c] * v[unit * heads + c] }
            axpy(weightRate * signal * derivatives[unit] * inverseRoot, x, weightStep + unit * d, d)
            if trainsBias { biasDescent[unit] += signal * derivatives[unit] }
        }
        if trainsReadout {
            for unit in 0..<units {
                for c in 0..<heads { readoutStep[unit * heads + c] += readoutRate * deltas[c] * activations[unit] }
            }
        }
    }

    /// b += rate x (the accumulated -dL/db), then clears the accumulator: called once per step,
    /// after the batch, so that every input of the batch saw the same biases.
    public func applyBiasDescent(rate: Double) {
        for unit in 0..<units {
            biases[unit] += rate * biasDescent[unit]
            biasDescent[unit] = 0
        }
    }
}

extension SimulationParameters {
    /// The network `model` describes, fresh scratch buffers included; `biases` replaces the
    /// initial ones (a saved network of a --train-bias run, for its test loss).
    public func makeNetwork(biases trained: [Double]? = nil) -> SGDNetwork {
        let activation = Activation(neuron.activation)
        let biases = trained ?? (0..<hiddenUnits).map(bias(ofUnit:))
        switch model {
        case .neuron, .committee, .twolayer:
            return FullyConnectedNetwork(dimension: dimension, units: hiddenUnits, activation: activation,
                                         biases: biases, trainsReadout: model == .twolayer,
                                         options: networkOptions, taskTargets: task.targets)
        case .cnn where isPublishedCNN:
            return PublishedConvolutionalNetwork(channels: hiddenUnits, kernelSize: kernelSize!, length: task.lattice.length,
                                                 latticeDimension: task.lattice.dimension, activation: activation,
                                                 biases: biases, options: networkOptions)
        case .cnn:
            return ConvolutionalNetwork(channels: hiddenUnits, kernelSize: kernelSize!, length: task.lattice.length,
                                        activation: activation, biases: biases, latticeDimension: task.lattice.dimension)
        }
    }
}

/// One replica of online SGD on fresh inputs (SPEC §3): per step a batch of B
/// inputs, each of class c with prior p_c, and
///   w += (eta K / B) sum_b (-dL_b/dw),   v += (eta / (B D)) sum_b (-dL_b/dv)   (twolayer only),
/// time t = steps / D. For the fully-connected models -dL/dw_k = e v_k sigma'(lambda_k + b_k) x / sqrt D,
/// e = y - yhat; for the neuron (K = 1, v = 1) this is w += (eta / B) sum_b h_c(lambda_b) x_b / sqrt D,
/// whose drift is the gradient flow of `solve` (derivations/gradient-flow.md,
/// derivations/sgd-noise-scaling.md). The factor K makes each unit of a committee or each
/// channel of a CNN (readout 1/K) learn at rate eta, as the neuron does (derivations/cnn-baseline.md).
public final class SGDReplica {
    public let parameters: SimulationParameters
    public let dimension: Int
    public let units: Int
    /// Weights per unit: D, or s for a CNN filter.
    public let unitSize: Int
    public let network: SGDNetwork
    private let samplers: [SimulationSampler]
    private let targets: [Double]
    private var rng: Xoshiro256
    /// K x unitSize, row-major: unit k's weights are w[k unitSize ..< (k + 1) unitSize].
    public var weights: [Double]
    /// v_kc, K x H row-major (H = 1 head unless --heads 2).
    public var readout: [Double]
    public private(set) var steps = 0
    private let input: UnsafeMutablePointer<Double>
    private let gradient: UnsafeMutablePointer<Double>
    private let readoutGradient: UnsafeMutablePointer<Double>

    /// Replica `replica` of `parameters` from the weights `initial` (K x unitSize values),
    /// drawing its inputs from `distributions` (one per class, shared read-only);
    /// `samplerImplementation` selects `bench`'s baseline of the fast sampler.
    public init(_ parameters: SimulationParameters, distributions: [InputDistribution], initial: [Double], replica: Int,
                samplerImplementation: SimulationSampler.Implementation = .tuned) throws {
        self.parameters = parameters
        dimension = parameters.dimension
        units = parameters.hiddenUnits
        unitSize = parameters.weightsPerUnit
        precondition(initial.count == units * unitSize, "SGDReplica: initial weights must have K x \(unitSize) entries")
        network = parameters.makeNetwork()
        samplers = try distributions.map {
            try SimulationSampler($0, mode: parameters.sampler, inEpochs: parameters.epochs != nil, implementation: samplerImplementation)
        }
        targets = parameters.task.targets
        rng = Xoshiro256(seed: parameters.seed, stream: replica + 2)
        weights = initial
        readout = parameters.initialReadouts
        input = .allocate(capacity: dimension)
        gradient = .allocate(capacity: units * unitSize)
        readoutGradient = .allocate(capacity: readout.count)
    }

    deinit {
        input.deallocate()
        gradient.deallocate()
        readoutGradient.deallocate()
    }

    /// `count` SGD steps.
    public func step(_ count: Int = 1) { step(count, given: nil) }

    /// One SGD step on the input x of class `label` (B = 1) instead of a drawn one: the update of
    /// `step`, by the same code, for checks against a step computed by hand.
    public func step(input: [Double], label: Int) {
        precondition(input.count == dimension && (label == 0 || label == 1), "SGDReplica: one input of D values, label 0 or 1")
        step(1, given: (input, label))
    }

    private func step(_ count: Int, given: (input: [Double], label: Int)?) {
        let weightCount = units * unitSize, batch = given == nil ? parameters.batchSize : 1, readoutCount = readout.count
        let options = parameters.networkOptions
        // The published CNN trains every parameter at lr (conv_emerge_online.py l. 234-235).
        let published = parameters.isPublishedCNN
        let unitRate = parameters.learningRate * (published ? 1 : options.weightRateFactor(units: units))
        let readoutRate = parameters.learningRate / Double(dimension)
        // derivations/network-options.md §4: biases at the first-layer rate / D (conv_emerge_online.py
        // line 247), decay of l/D per step, i.e. at rate l per unit of t whatever D.
        let biasNetwork = options.trainBias ? network as? BiasTrainable : nil
        let biasRate = unitRate / (published ? 1 : Double(dimension)) / Double(batch)
        let decay = options.l2 / Double(dimension), shrink = options.l1 / Double(dimension)
        let trainsReadout = network.trainsReadout
        let prior1 = parameters.task.prior1
        // With B = 1 the single input's update goes straight into w (the network reads w
        // before it writes); with B > 1 it is accumulated first.
        let direct = batch == 1
        let x = input
        weights.withUnsafeMutableBufferPointer { weightBuffer in
            readout.withUnsafeMutableBufferPointer { readoutBuffer in
                let w = weightBuffer.baseAddress!, v = readoutBuffer.baseAddress!
                let weightStep = direct ? w : gradient
                let readoutStep = direct ? v : readoutGradient
                for _ in 0..<count {
                    if !direct {
                        gradient.update(repeating: 0, count: weightCount)
                        readoutGradient.update(repeating: 0, count: readoutCount)
                    }
                    for _ in 0..<batch {
                        let c: Int
                        if let given {
                            c = given.label
                            x.update(from: given.input, count: dimension)
                        } else {
                            c = rng.nextOpenUniform() < prior1 ? 1 : 0
                            samplers[c].sample(into: x, rng: &rng)
                        }
                        network.accumulateDescent(x, target: targets[c], label: c, weights: w, readout: v,
                                                  weightRate: direct ? unitRate : 1, readoutRate: direct ? readoutRate : 1,
                                                  weightStep: weightStep, readoutStep: readoutStep)
                    }
                    if !direct {
                        axpy(unitRate / Double(batch), gradient, w, weightCount)
                        if trainsReadout { axpy(readoutRate / Double(batch), readoutGradient, v, readoutCount) }
                    }
                    biasNetwork?.applyBiasDescent(rate: biasRate)
                    if decay > 0 { for i in 0..<weightCount { w[i] -= decay * w[i] } }
                    if shrink > 0 { for i in 0..<weightCount where w[i] != 0 { w[i] -= w[i] > 0 ? shrink : -shrink } }
                }
            }
        }
        steps += count
    }

    /// The current biases b_k (moved by SGD under --train-bias).
    public var biases: [Double] {
        (network as? BiasTrainable)?.biases ?? (0..<units).map(parameters.bias(ofUnit:))
    }

    /// The H head outputs for every row of `inputs` (n x D row-major): n x H values.
    public func headOutputs(_ inputs: [Double]) -> [[Double]] {
        if parameters.isPublishedCNN { return predictions(inputs).map { [$0, -$0] } }
        guard let fullyConnected = network as? FullyConnectedNetwork else { return predictions(inputs).map { [$0] } }
        let d = dimension
        return inputs.withUnsafeBufferPointer { xs in
            weights.withUnsafeBufferPointer { w in
                readout.withUnsafeBufferPointer { v in
                    (0..<(inputs.count / d)).map { row in
                        fullyConnected.headOutputs(xs.baseAddress! + row * d, weights: w.baseAddress!, readout: v.baseAddress!)
                    }
                }
            }
        }
    }

    /// yhat for every row of `inputs` (n x D row-major).
    public func predictions(_ inputs: [Double]) -> [Double] {
        let d = dimension
        let n = inputs.count / d
        var out = [Double](repeating: 0, count: n)
        inputs.withUnsafeBufferPointer { xs in
            weights.withUnsafeBufferPointer { w in
                readout.withUnsafeBufferPointer { v in
                    for row in 0..<n {
                        out[row] = network.prediction(xs.baseAddress! + row * d, weights: w.baseAddress!, readout: v.baseAddress!)
                    }
                }
            }
        }
        return out
    }

    /// Unit k's weights as a lattice vector: w_k itself, or a CNN filter zero-padded to D.
    public func latticeWeights(ofUnit k: Int) -> [Double] {
        let row = Array(weights[k * unitSize..<(k + 1) * unitSize])
        if unitSize == dimension { return row }
        let lattice = parameters.task.lattice
        guard lattice.dimension == 2, let s = parameters.kernelSize else { return FilterAlignment.embed(row, dimension: dimension) }
        // An s x s filter placed at the corner of the L x L torus.
        var embedded = [Double](repeating: 0, count: dimension)
        for a in 0..<s { for b in 0..<s { embedded[a * lattice.length + b] = row[a * s + b] } }
        return embedded
    }
}
