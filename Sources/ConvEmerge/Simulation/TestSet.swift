import Foundation

/// How `simulate` evaluates the test loss and accuracy on its held-out inputs.
public enum TestSetEvaluation: Sendable {
    /// After the SGD steps, in one pass over the held-out inputs regenerated chunk by chunk
    /// (`TestSet.chunkBytes` at a time) against every replica's saved networks: memory
    /// independent of --test-samples, the same sampling and arithmetic as `stored`.
    case streamed
    /// The whole set held in memory (2 x --test-samples x D doubles) and evaluated at each save:
    /// the reference the streamed evaluation is checked against.
    case stored
}

/// A fixed held-out sample per class (exact sampler, stream 1 of the run's seed: class 0's
/// inputs, then class 1's), the same for every replica. The score of a network sums its losses
/// over the inputs in this order, in either evaluation, so the two agree to the bit.
struct TestSet: Sendable {
    let samplesPerClass: Int
    let priors: [Double]
    let targets: [Double]
    let loss: HeadLoss
    let headTargets: [[Double]]
    let isStandard: Bool
    private let parameters: SimulationParameters
    private let distributions: [InputDistribution]
    /// The stored inputs (`.stored` only), per class n x D.
    private let inputs: [[Double]]?

    /// Bytes of held-out inputs generated at a time by the streamed evaluation.
    static let chunkBytes = 4 << 20

    init(_ parameters: SimulationParameters, distributions: [InputDistribution], evaluation: TestSetEvaluation) {
        self.parameters = parameters
        self.distributions = distributions
        samplesPerClass = parameters.testSamples
        priors = parameters.task.priors
        targets = parameters.task.targets
        let options = parameters.networkOptions
        loss = HeadLoss(kind: options.loss, heads: options.heads)
        headTargets = (0..<2).map { options.headTargets(label: $0, taskTargets: parameters.task.targets, activation: parameters.neuron.activation) }
        isStandard = options.heads == 1 && options.loss == .mse
        if evaluation == .stored {
            var rng = TestSet.generator(parameters)
            inputs = distributions.map { $0.sample(count: parameters.testSamples, rng: &rng) }
        } else {
            inputs = nil
        }
    }

    static func generator(_ parameters: SimulationParameters) -> Xoshiro256 { Xoshiro256(seed: parameters.seed, stream: 1) }

    /// Per class, the summed loss and the number of inputs classified correctly.
    struct Score {
        var loss = [0.0, 0.0]
        var correct = [0.0, 0.0]
    }

    /// Prior-weighted (1/2)(y - yhat)^2 and the fraction of inputs whose yhat is
    /// closer to their own class's target than to the other's.
    /// With --heads 2 or --loss ce: the training loss of the heads and the class they pick.
    func lossAndAccuracy(_ score: Score) -> (loss: Double, accuracy: Double) {
        var loss = 0.0, accuracy = 0.0
        for c in 0..<2 {
            loss += priors[c] * score.loss[c] / Double(samplesPerClass)
            accuracy += priors[c] * score.correct[c] / Double(samplesPerClass)
        }
        return (loss, accuracy)
    }

    /// Adds the `rows` inputs of class `c` at `x` (row-major) to `score`, for `network` with
    /// weights `w` and readout `v`.
    func accumulate(class c: Int, _ x: UnsafePointer<Double>, rows: Int, network: SGDNetwork,
                    weights w: UnsafePointer<Double>, readout v: UnsafePointer<Double>, into score: inout Score) {
        let d = parameters.dimension
        var classLoss = score.loss[c], correct = score.correct[c]
        if isStandard {
            let own = targets[c], other = targets[1 - c]
            for row in 0..<rows {
                let yhat = network.prediction(x + row * d, weights: w, readout: v)
                classLoss += 0.5 * (own - yhat) * (own - yhat)
                if abs(yhat - own) < abs(yhat - other) { correct += 1 }
            }
        } else {
            var scratch = [Double](repeating: 0, count: loss.heads)
            for row in 0..<rows {
                let y = headOutputs(network, x + row * d, weights: w, readout: v)
                classLoss += y.withUnsafeBufferPointer { loss.descent(outputs: $0.baseAddress!, label: c, targets: headTargets[c], into: &scratch) }
                if loss.isCorrect(outputs: y, label: c, taskTargets: targets) { correct += 1 }
            }
        }
        score.loss[c] = classLoss
        score.correct[c] = correct
    }

    /// The H head outputs for one input: the published CNN's (y, -y), a fully-connected
    /// network's heads, or the single output.
    private func headOutputs(_ network: SGDNetwork, _ x: UnsafePointer<Double>,
                             weights w: UnsafePointer<Double>, readout v: UnsafePointer<Double>) -> [Double] {
        if parameters.isPublishedCNN {
            let y = network.prediction(x, weights: w, readout: v)
            return [y, -y]
        }
        if let fullyConnected = network as? FullyConnectedNetwork { return fullyConnected.headOutputs(x, weights: w, readout: v) }
        return [network.prediction(x, weights: w, readout: v)]
    }

    /// The stored evaluation of a replica's current network.
    func lossAndAccuracy(_ replica: SGDReplica) -> (loss: Double, accuracy: Double) {
        guard let inputs else { preconditionFailure("TestSet: the streamed evaluation has no stored inputs") }
        var score = Score()
        replica.weights.withUnsafeBufferPointer { w in
            replica.readout.withUnsafeBufferPointer { v in
                for c in 0..<2 {
                    inputs[c].withUnsafeBufferPointer {
                        accumulate(class: c, $0.baseAddress!, rows: samplesPerClass, network: replica.network,
                                   weights: w.baseAddress!, readout: v.baseAddress!, into: &score)
                    }
                }
            }
        }
        return lossAndAccuracy(score)
    }

    /// One replica's saved networks: `saves` sets of weights, readouts and (trained only) biases.
    struct SavedNetworks {
        let weights: [Double]
        let readouts: [Double]
        let biases: [Double]
        let saves: Int
    }

    /// The streamed evaluation: per replica, the loss and accuracy of each of its saved networks.
    /// The inputs are generated once, a chunk at a time, and each chunk is scored against every
    /// saved network, the networks split over the cores (each network's sum stays in input order).
    /// `progress`: the fraction of the held-out inputs scored, after each chunk.
    func lossAndAccuracy(of replicas: [SavedNetworks], progress: ((Double) -> Void)? = nil) -> [[(loss: Double, accuracy: Double)]] {
        let d = parameters.dimension, k = parameters.hiddenUnits
        let weightCount = k * parameters.weightsPerUnit, readoutCount = parameters.initialReadouts.count
        let tracksBias = parameters.networkOptions.trainBias
        let items = replicas.enumerated().flatMap { r, replica in (0..<replica.saves).map { (replica: r, save: $0) } }
        let scores = ParallelSlots(count: items.count, initial: Score())
        let workers = max(1, min(items.count, ProcessInfo.processInfo.activeProcessorCount))
        // Fixed biases: one network per worker serves every save.
        let sharedNetworks = WorkerShared(tracksBias ? [] : (0..<workers).map { _ in parameters.makeNetwork() })
        let rowsPerChunk = max(1, min(samplesPerClass, TestSet.chunkBytes / (8 * d)))
        let chunk = UnsafeMutablePointer<Double>.allocate(capacity: rowsPerChunk * d)
        defer { chunk.deallocate() }
        let x = WorkerShared(UnsafePointer(chunk))
        var rng = TestSet.generator(parameters)
        for c in 0..<2 {
            let scratch = distributions[c].makeScratch()
            var start = 0
            while start < samplesPerClass {
                let rows = min(rowsPerChunk, samplesPerClass - start)
                for row in 0..<rows { distributions[c].sample(into: chunk + row * d, rng: &rng, scratch: scratch) }
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    for index in stride(from: worker, to: items.count, by: workers) {
                        let item = items[index], saved = replicas[item.replica]
                        let network = tracksBias
                            ? parameters.makeNetwork(biases: Array(saved.biases[(item.save * k)..<((item.save + 1) * k)]))
                            : sharedNetworks.value[worker]
                        var score = scores[index]
                        saved.weights.withUnsafeBufferPointer { w in
                            saved.readouts.withUnsafeBufferPointer { v in
                                accumulate(class: c, x.value, rows: rows, network: network,
                                           weights: w.baseAddress! + item.save * weightCount,
                                           readout: v.baseAddress! + item.save * readoutCount, into: &score)
                            }
                        }
                        scores[index] = score
                    }
                }
                start += rows
                progress?(Double(c * samplesPerClass + start) / Double(2 * samplesPerClass))
            }
        }
        var results = replicas.map { _ in [(loss: Double, accuracy: Double)]() }
        for (item, score) in zip(items, scores.values) { results[item.replica].append(lossAndAccuracy(score)) }
        return results
    }
}
