import ConvEmerge
import Foundation
import XCTest

/// The one-layer CNN baseline (derivations/cnn-baseline.md).
final class CNNTests: XCTestCase {
    private func gaussianVector(_ count: Int, _ rng: inout Xoshiro256, scale: Double = 1) -> [Double] {
        (0..<count).map { _ in scale * rng.nextGaussian() }
    }

    /// x shifted circularly by m: x'_i = x_{(i - m) mod L}.
    private func shifted(_ x: [Double], by m: Int) -> [Double] {
        let n = x.count
        return (0..<n).map { x[(($0 - m) % n + n) % n] }
    }

    /// derivations/cnn-baseline.md §2: the gradient SGD uses equals central finite differences
    /// of the batch loss (smooth activations, so the O(h^2) error is ~1e-10 relative).
    func testGradientMatchesFiniteDifferences() {
        var rng = Xoshiro256(seed: 3)
        let length = 12
        for (kind, channels, kernelSize) in [(ActivationKind.erf, 3, 5), (.tanh, 2, 12), (.sigmoid, 1, 1)] {
            let biases = (0..<channels).map { $0 % 2 == 0 ? 0.3 : -0.3 }
            let network = ConvolutionalNetwork(channels: channels, kernelSize: kernelSize, length: length,
                                               activation: Activation(kind), biases: biases)
            let inputs = (0..<4).map { _ in gaussianVector(length, &rng) }
            let targets = [0.0, 1, 1, 0]
            let filters = gaussianVector(channels * kernelSize, &rng, scale: 0.8)
            let gradient = network.lossGradient(inputs: inputs, targets: targets, filters: filters)
            let h = 1e-5
            var numeric = [Double](repeating: 0, count: filters.count)
            for index in filters.indices {
                var plus = filters, minus = filters
                plus[index] += h
                minus[index] -= h
                numeric[index] = (network.loss(inputs: inputs, targets: targets, filters: plus)
                                  - network.loss(inputs: inputs, targets: targets, filters: minus)) / (2 * h)
            }
            let scale = (gradient.reduce(0) { $0 + $1 * $1 }).squareRoot()
            XCTAssertGreaterThan(scale, 1e-4, "\(kind): the gradient should not vanish")
            let error = (zip(gradient, numeric).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }).squareRoot()
            XCTAssertLessThan(error / scale, 1e-6, "\(kind), K = \(channels), s = \(kernelSize)")
        }
    }

    /// derivations/cnn-baseline.md §3: shifting the input shifts every channel's pre-activation
    /// map by the same amount (circular padding), so the mean readout is unchanged.
    func testTranslationEquivariance() {
        var rng = Xoshiro256(seed: 4)
        let length = 15, channels = 3, kernelSize = 4
        let network = ConvolutionalNetwork(channels: channels, kernelSize: kernelSize, length: length,
                                           activation: Activation(.relu), biases: [0.2, -0.2, 0.1])
        let filters = gaussianVector(channels * kernelSize, &rng)
        let x = gaussianVector(length, &rng)
        let map = network.preactivationMap(input: x, filters: filters)
        let output = network.output(input: x, filters: filters)
        XCTAssertGreaterThan(output, 0)
        for m in [1, 4, 14] {
            let movedMap = network.preactivationMap(input: shifted(x, by: m), filters: filters)
            for k in 0..<channels {
                let expected = shifted(Array(map[k * length..<(k + 1) * length]), by: m)
                for i in 0..<length { XCTAssertEqual(movedMap[k * length + i], expected[i], accuracy: 1e-13, "shift \(m)") }
            }
            XCTAssertEqual(network.output(input: shifted(x, by: m), filters: filters), output, accuracy: 1e-14 * max(1, abs(output)))
        }
        // A fully-connected neuron is not invariant: the same weights as a full-width RF
        // change their output under the shift (the invariance is the readout's, not the input's).
        let full = ConvolutionalNetwork(channels: 1, kernelSize: length, length: length, activation: Activation(.relu), biases: [0])
        let w = gaussianVector(length, &rng)
        let neuron = { (x: [Double]) in max(0, zip(w, x).reduce(0) { $0 + $1.0 * $1.1 } / Double(length).squareRoot()) }
        XCTAssertNotEqual(neuron(shifted(x, by: 3)), neuron(x), accuracy: 1e-6)
        XCTAssertEqual(full.output(input: shifted(x, by: 3), filters: w), full.output(input: x, filters: w), accuracy: 1e-13)
    }

    /// A CNN with K = 1 and s = L trained by the SGD loop on the `xi` task (NLGP, xi 0.6 vs 1.9,
    /// g = 1.2, relu, y = (0, 1)) learns: the test loss falls below its initial value and the
    /// test accuracy exceeds 0.5 by more than 3 standard errors of chance (800 held-out inputs).
    func testFullWidthCNNLearnsTheXiTask() throws {
        let lattice = try Lattice(dimension: 1, length: 16)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 1), gain: 1.2)
        let task = try TaskSpec.xi(base: base, xi0: 0.6, xi1: 1.9, gaussianControl: false, prior1: 0.5, targets: [0, 1])
        let testSamples = 400
        let p = try SimulationParameters(task: task, neuron: NeuronSpec(activation: .relu, bias: 0), model: .cnn,
                                         hiddenUnits: 1, learningRate: 0.5, batchSize: 1, seeds: 2, seed: 1, tMax: 200,
                                         saves: 10, initialization: .random(scale: 0.5, seed: 2), testSamples: testSamples,
                                         kernelSize: 16)
        XCTAssertEqual(p.weightShape, [1, 16])
        let result = try SimulationJob.run(p)
        XCTAssertEqual(result.overallStatus, .completed)
        XCTAssertEqual(result.weights[0].count, result.saveCount * 16)
        let table = result.meanObservables
        let column = { (name: String) in table.columns.firstIndex(of: name)! }
        let initialLoss = table.rows.first![column("test_loss")], finalLoss = table.rows.last![column("test_loss")]
        let accuracy = table.rows.last![column("test_accuracy")]
        XCTAssertLessThan(finalLoss, initialLoss)
        let standardError = (0.25 / Double(2 * testSamples)).squareRoot()
        XCTAssertGreaterThan(accuracy, 0.5 + 3 * standardError, "accuracy \(accuracy)")
    }

    /// derivations/cnn-baseline.md §4: a filter compared with its own zero-padded, circularly
    /// shifted copy has similarity 1 at the right shift, and is matched to that RF rather than
    /// to a random one; the similarity is at most 1 for any pair.
    func testAlignmentOfAShiftedFilterWithItselfIsOne() throws {
        var rng = Xoshiro256(seed: 5)
        let lattice = try Lattice(dimension: 1, length: 20)
        let filter = gaussianVector(6, &rng)
        let field = shifted(FilterAlignment.embed(filter, dimension: 20), by: 13)
        let other = gaussianVector(20, &rng)
        let matches = FilterAlignment.bestMatches(filters: [filter, gaussianVector(6, &rng)],
                                                  receptiveFields: [other, field], lattice: lattice)
        XCTAssertEqual(matches[0].unit, 1)
        XCTAssertEqual(matches[0].cosine, 1, accuracy: 1e-12)
        XCTAssertLessThan(matches[1].cosine, 1 - 1e-3)
        XCTAssertLessThanOrEqual(matches[1].cosine, 1 + 1e-12)
        // The shift found maps the filter onto the RF: shifting the embedded filter by it gives the RF.
        let back = Observables.maximalShiftedCosine(FilterAlignment.embed(filter, dimension: 20), field, lattice: lattice)
        XCTAssertEqual(back.cosine, 1, accuracy: 1e-12)
    }

    /// On the torus: the forward pass against a direct loop with indices mod L (1/s = 1/sqrt(s^2)),
    /// invariance of yhat under torus translations of x, and the gradient against finite differences.
    func testTorusForwardDirectLoopShiftInvarianceAndGradient() throws {
        let length = 6, s = 3, channels = 2
        let network = ConvolutionalNetwork(channels: channels, kernelSize: s, length: length, activation: Activation(.erf),
                                           biases: [0.2, -0.4], latticeDimension: 2)
        let filters = (0..<(channels * s * s)).map { (i: Int) -> Double in cos(0.9 * Double(i)) }
        let x = (0..<(length * length)).map { (i: Int) -> Double in sin(1.3 * Double(i)) + 0.1 * Double(i % 5) }
        var direct = 0.0
        for k in 0..<channels {
            for r in 0..<length {
                for c in 0..<length {
                    var u = 0.0
                    for a in 0..<s { for b in 0..<s { u += filters[k * s * s + a * s + b] * x[((r + a) % length) * length + (c + b) % length] } }
                    direct += erf((u / Double(s) + [0.2, -0.4][k]) / 2.0.squareRoot())
                }
            }
        }
        direct /= Double(channels * length * length)
        XCTAssertEqual(network.output(input: x, filters: filters), direct, accuracy: 1e-13)
        let shifted = (0..<(length * length)).map { (i: Int) -> Double in x[((i / length + 2) % length) * length + (i % length + 5) % length] }
        XCTAssertEqual(network.output(input: shifted, filters: filters), direct, accuracy: 1e-13)
        let gradient = network.lossGradient(inputs: [x], targets: [1], filters: filters)
        for j in filters.indices {
            var up = filters, down = filters
            up[j] += 1e-6
            down[j] -= 1e-6
            let numeric = (network.loss(inputs: [x], targets: [1], filters: up) - network.loss(inputs: [x], targets: [1], filters: down)) / 2e-6
            XCTAssertEqual(gradient[j], numeric, accuracy: 1e-8)
        }
    }

    /// The CNN's flags fail with their own name: missing or out-of-range kernel size,
    /// a kernel size on a fully-connected model.
    func testInvalidConfigurationsNameTheirFlag() throws {
        let ring = try InputSpec(lattice: Lattice(dimension: 1, length: 8), kernel: Kernel(shape: .gaussian, correlationLength: 1), gain: 1)
        let torus = try InputSpec(lattice: Lattice(dimension: 2, length: 4), kernel: Kernel(shape: .gaussian, correlationLength: 1), gain: 1)
        func flag(_ base: InputSpec, _ model: ModelKind, _ kernelSize: Int?) throws -> String? {
            let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 1, gaussianControl: false, prior1: 0.5, targets: [0, 1])
            do {
                _ = try SimulationParameters(task: task, neuron: NeuronSpec(activation: .relu, bias: 0), model: model,
                                             hiddenUnits: 2, learningRate: 1, tMax: 1, initialization: .random(scale: 0.1, seed: 0),
                                             kernelSize: kernelSize)
                return nil
            } catch let ConvEmergeError.invalidInput(flag, _) {
                return flag
            }
        }
        XCTAssertEqual(try flag(ring, .cnn, nil), "--kernel-size")
        XCTAssertEqual(try flag(ring, .cnn, 0), "--kernel-size")
        XCTAssertEqual(try flag(ring, .cnn, 9), "--kernel-size")
        XCTAssertNil(try flag(torus, .cnn, 2), "the circular CNN runs on the torus")
        XCTAssertEqual(try flag(torus, .cnn, 5), "--kernel-size")
        XCTAssertEqual(try flag(ring, .committee, 3), "--kernel-size")
        XCTAssertNil(try flag(ring, .cnn, 8))
    }
}

extension CNNTests {
    /// derivations/cnn-baseline.md §4-5: on NLGP inputs (xi 0.5 vs 2, g = 3) a committee with fixed
    /// biases +-0.5 and a CNN on the same task learn filters that match the committee's RFs after
    /// alignment far better than random filters of the same size do.
    func testCNNFiltersMatchCommitteeReceptiveFields() throws {
        let lattice = try Lattice(dimension: 1, length: 24)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
        let committee = try SimulationParameters(task: task, neuron: NeuronSpec(activation: .relu, bias: 0.5), model: .committee,
                                                 hiddenUnits: 4, learningRate: 0.1, batchSize: 4, seeds: 2, seed: 2, tMax: 3000,
                                                 saves: 5, initialization: .random(scale: 1, seed: 0), testSamples: 400)
        let study = try FilterStudy.run(committee: committee, kernelSize: 8)
        XCTAssertEqual(study.matches.count, 8)
        XCTAssertTrue(study.matches.allSatisfy { $0.cosine <= 1 + 1e-12 })
        XCTAssertGreaterThan(study.meanSimilarity, study.chanceSimilarity + 0.3,
                             "similarity \(study.meanSimilarity), chance \(study.chanceSimilarity)")
        XCTAssertGreaterThan(study.cnnAccuracy, 0.6)
    }
}
