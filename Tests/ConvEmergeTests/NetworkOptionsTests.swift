import ConvEmerge
import Foundation
import XCTest

/// The published network options (derivations/network-options.md): each one SGD step at
/// D = 4, K = 2 on one given input, against the step computed here from the loss alone,
/// with its gradient taken by central finite differences (independent of the engine's
/// hand-derived gradients), the readout scalings and the rates written out from the formulas.
final class NetworkOptionsTests: XCTestCase {
    private let d = 4, k = 2, eta = 0.3
    private let x = [0.9, -1.3, 0.4, 2.1]
    private let w0 = [0.5, -0.2, 0.8, 0.1, -0.6, 0.3, 0.2, -0.9]

    private func parameters(model: ModelKind = .committee, bias: Double = 0, options: NetworkOptions,
                            targets: [Double] = [0, 1]) throws -> SimulationParameters {
        let lattice = try Lattice(dimension: 1, length: d)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 1), gain: 1)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 1, gaussianControl: false, prior1: 0.5, targets: targets)
        return try SimulationParameters(task: task, neuron: NeuronSpec(activation: .erf, bias: bias), model: model,
                                        hiddenUnits: k, learningRate: eta, tMax: 1, saves: 2,
                                        initialization: .random(scale: 0.1, seed: 1), testSamples: 10, network: options)
    }

    /// The loss of the network y_c = sum_k v_kc erf(lambda_k / sqrt 2), lambda_k = w_k.x / sqrt D + b_k,
    /// for class `label`, written from its definition: mse 1/(2H) sum_c (t_c - y_c)^2, ce -log p(label).
    private func loss(w: [Double], b: [Double], v: [Double], heads: Int, kind: LossKind, label: Int, targets: [Double]) -> Double {
        var y = [Double](repeating: 0, count: heads)
        for unit in 0..<k {
            var lambda = b[unit]
            for i in 0..<d { lambda += w[unit * d + i] * x[i] / Double(d).squareRoot() }
            for c in 0..<heads { y[c] += v[unit * heads + c] * erf(lambda / 2.0.squareRoot()) }
        }
        switch kind {
        case .mse:
            let t = heads == 1 ? [targets[label]] : [label == 0 ? 1.0 : -1.0, label == 1 ? 1.0 : -1.0]
            return zip(t, y).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(2 * heads)
        case .ce:
            if heads == 1 {
                let p1 = 1 / (1 + exp(-y[0]))
                return -log(label == 1 ? p1 : 1 - p1)
            }
            return -log(exp(y[label]) / (exp(y[0]) + exp(y[1])))
        }
    }

    /// Central differences of `f` at `point`.
    private func gradient(_ f: ([Double]) -> Double, at point: [Double]) -> [Double] {
        let h = 1e-6
        return point.indices.map { i in
            var up = point, down = point
            up[i] += h
            down[i] -= h
            return (f(up) - f(down)) / (2 * h)
        }
    }

    private struct Expected {
        var readout: [Double]
        var biases: [Double]
        var weightRate: Double
    }

    /// One step of the engine on (x, label) against w - rate dL/dw, b - (rate/D) dL/db,
    /// v - (eta/D) dL/dv, then the decay (l2/D) w and (l1/D) sign w.
    private func checkStep(_ options: NetworkOptions, model: ModelKind = .committee, label: Int, expected: Expected,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try parameters(model: model, options: options)
        let replica = try SGDReplica(p, distributions: p.task.classes.map(InputDistribution.init), initial: w0, replica: 0)
        XCTAssertEqual(replica.readout, expected.readout, "initial readout", file: file, line: line)
        XCTAssertEqual(replica.biases, expected.biases, "initial biases", file: file, line: line)
        let v0 = replica.readout, b0 = replica.biases, heads = options.heads
        let lossOf = { (w: [Double], b: [Double], v: [Double]) in
            self.loss(w: w, b: b, v: v, heads: heads, kind: options.loss, label: label, targets: [0, 1])
        }
        let gw = gradient({ lossOf($0, b0, v0) }, at: w0)
        let gb = gradient({ lossOf(w0, $0, v0) }, at: b0)
        let gv = gradient({ lossOf(w0, b0, $0) }, at: v0)
        var w = zip(w0, gw).map { $0 - expected.weightRate * $1 }
        w = w.map { $0 - options.l2 / Double(d) * $0 }
        w = w.map { $0 - options.l1 / Double(d) * ($0 > 0 ? 1 : -1) }
        let b = options.trainBias ? zip(b0, gb).map { $0 - expected.weightRate / Double(d) * $1 } : b0
        let v = model == .twolayer ? zip(v0, gv).map { $0 - eta / Double(d) * $1 } : v0
        replica.step(input: x, label: label)
        for (got, want) in zip(replica.weights, w) { XCTAssertEqual(got, want, accuracy: 1e-8, "w", file: file, line: line) }
        for (got, want) in zip(replica.biases, b) { XCTAssertEqual(got, want, accuracy: 1e-8, "b", file: file, line: line) }
        for (got, want) in zip(replica.readout, v) { XCTAssertEqual(got, want, accuracy: 1e-8, "v", file: file, line: line) }
        // The step moved something: the checks above are not of an unchanged state.
        XCTAssertGreaterThan(zip(replica.weights, w0).map { abs($0 - $1) }.max()!, 1e-4, file: file, line: line)
    }

    func testReadoutScalingsAndTheirRates() throws {
        let root2 = 2.0.squareRoot()
        try checkStep(NetworkOptions(readout: .mf), label: 1, expected: Expected(readout: [0.5, 0.5], biases: [0, 0], weightRate: eta * 2))
        try checkStep(NetworkOptions(readout: .lazy), label: 1,
                      expected: Expected(readout: [1 / root2, 1 / root2], biases: [0, 0], weightRate: eta * root2))
        try checkStep(NetworkOptions(readout: .conv), label: 0, expected: Expected(readout: [1, 1], biases: [0, 0], weightRate: eta))
        try checkStep(NetworkOptions(readout: .trained), model: .twolayer, label: 1,
                      expected: Expected(readout: [0.5, 0.5], biases: [0, 0], weightRate: eta * 2))
    }

    func testTrainedBiasesFromThePublishedHalvesMoveAtTheRateOverD() throws {
        try checkStep(NetworkOptions(trainBias: true, biasInit: "halves"), label: 1,
                      expected: Expected(readout: [0.5, 0.5], biases: [1, -1], weightRate: eta * 2))
        try checkStep(NetworkOptions(trainBias: true, biasInit: "0.25"), label: 0,
                      expected: Expected(readout: [0.5, 0.5], biases: [0.25, 0.25], weightRate: eta * 2))
    }

    func testTwoHeadsWithOneHotTargets() throws {
        try checkStep(NetworkOptions(heads: 2), label: 0, expected: Expected(readout: [0.5, -0.5, 0.5, -0.5], biases: [0, 0], weightRate: eta * 2))
        try checkStep(NetworkOptions(readout: .trained, trainBias: true, biasInit: "halves", heads: 2), model: .twolayer, label: 1,
                      expected: Expected(readout: [0.5, -0.5, 0.5, -0.5], biases: [1, -1], weightRate: eta * 2))
    }

    func testCrossEntropyOnASigmoidAndOnTheSoftmaxOfTwoHeads() throws {
        try checkStep(NetworkOptions(loss: .ce), label: 1, expected: Expected(readout: [0.5, 0.5], biases: [0, 0], weightRate: eta * 2))
        try checkStep(NetworkOptions(loss: .ce), label: 0, expected: Expected(readout: [0.5, 0.5], biases: [0, 0], weightRate: eta * 2))
        try checkStep(NetworkOptions(heads: 2, loss: .ce), label: 1,
                      expected: Expected(readout: [0.5, -0.5, 0.5, -0.5], biases: [0, 0], weightRate: eta * 2))
    }

    func testWeightDecayL1AndL2PerStepOverD() throws {
        try checkStep(NetworkOptions(l2: 0.7), label: 1, expected: Expected(readout: [0.5, 0.5], biases: [0, 0], weightRate: eta * 2))
        try checkStep(NetworkOptions(l1: 0.05), label: 0, expected: Expected(readout: [0.5, 0.5], biases: [0, 0], weightRate: eta * 2))
    }

    /// The standard options are today's committee: w_k += eta K e (1/K) sigma'(lambda_k) x / sqrt D,
    /// e = y - yhat (derivations/gradient-flow.md), to rounding.
    func testStandardOptionsAreTodaysCommitteeStep() throws {
        let p = try parameters(bias: 0.5, options: .standard)
        let replica = try SGDReplica(p, distributions: p.task.classes.map(InputDistribution.init), initial: w0, replica: 0)
        replica.step(input: x, label: 1)
        let bias = [0.5, -0.5]
        let lambdas = (0..<k).map { unit in (0..<d).map { w0[unit * d + $0] * x[$0] }.reduce(0, +) / 2 + bias[unit] }
        let error = 1 - lambdas.map { 0.5 * erf($0 / 2.0.squareRoot()) }.reduce(0, +)
        for unit in 0..<k {
            let slope = (2 / Double.pi).squareRoot() * exp(-lambdas[unit] * lambdas[unit] / 2)
            for i in 0..<d {
                XCTAssertEqual(replica.weights[unit * d + i], w0[unit * d + i] + eta * 2 * error * 0.5 * slope * x[i] / 2, accuracy: 1e-14)
            }
        }
        let json = try JSONEncoder().encode(p)
        let decoded = try JSONDecoder().decode(SimulationParameters.self, from: json)
        XCTAssertEqual(decoded.networkOptions, .standard)
    }

    /// Symmetry: two heads with opposite fixed readouts and +-1 one-hot targets give the
    /// signal (delta_0 - delta_1) v = (t_0 - y_0) v, so the mse run equals one head with
    /// targets (+1, -1) along a whole trajectory of drawn inputs.
    func testTwoOppositeMSEHeadsEqualOneHeadWithTargetsPlusMinusOne() throws {
        let two = try parameters(options: NetworkOptions(heads: 2), targets: [0, 1])
        let one = try parameters(options: .standard, targets: [1, -1])
        let a = try SGDReplica(two, distributions: two.task.classes.map(InputDistribution.init), initial: w0, replica: 0)
        let b = try SGDReplica(one, distributions: one.task.classes.map(InputDistribution.init), initial: w0, replica: 0)
        a.step(300)
        b.step(300)
        XCTAssertGreaterThan(zip(a.weights, w0).map { abs($0 - $1) }.max()!, 1e-2)
        for (u, v) in zip(a.weights, b.weights) { XCTAssertEqual(u, v, accuracy: 1e-10) }
    }

    func testOptionsOutsideTheirRangeNameTheFlag() throws {
        func flag(_ body: () throws -> Void) -> String? {
            do { try body() } catch let ConvEmergeError.invalidInput(flag, _) { return flag } catch { return "other" }
            return nil
        }
        XCTAssertEqual(flag { _ = try NetworkOptions(heads: 3) }, "--heads")
        XCTAssertEqual(flag { _ = try NetworkOptions(l2: -1) }, "--l2")
        XCTAssertEqual(flag { _ = try NetworkOptions(l1: .nan) }, "--l1")
        XCTAssertEqual(flag { _ = try NetworkOptions(biasInit: "wide") }, "--bias-init")
        XCTAssertEqual(flag { _ = try self.parameters(bias: 0.5, options: NetworkOptions(biasInit: "halves")) }, "--bias-init")
        XCTAssertEqual(flag { _ = try self.parameters(options: NetworkOptions(readout: .trained)) }, "--readout")
    }
}
