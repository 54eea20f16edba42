import ConvEmerge
import Foundation
import XCTest

/// The published CNN (derivations/network-options.md §5): its forward pass against a direct loop
/// written here from the definition (valid cross-correlation, max-pool 2, mean of the pooled
/// values, y_1 = -y_0), in 1D and 2D, and one SGD step against the finite-difference gradient.
final class PublishedCNNTests: XCTestCase {
    private let channels = 2, eta = 0.4

    private func parameters(dim: Int, length: Int, kernel: Int, loss: LossKind = .mse, trainBias: Bool = true) throws -> SimulationParameters {
        let lattice = try Lattice(dimension: dim, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 1, jitter: 0.1), gain: 1)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 1, gaussianControl: false, prior1: 0.5, targets: [0, 1])
        return try SimulationParameters(task: task, neuron: NeuronSpec(activation: .erf, bias: 0.3), model: .cnn, hiddenUnits: channels,
                                        learningRate: eta, tMax: 1, saves: 2, initialization: .random(scale: 0.5, seed: 3),
                                        testSamples: 10, kernelSize: kernel,
                                        network: NetworkOptions(trainBias: trainBias, heads: 2, loss: loss), cnnStyle: .published)
    }

    /// y_0 by direct loops over channels, pooled blocks and the positions inside them.
    private func directOutput(x: [Double], filters f: [Double], biases b: [Double], dim: Int, length: Int, kernel s: Int) -> Double {
        let n = length - s + 1, m = n / 2
        func u(_ k: Int, _ r: Int, _ c: Int) -> Double {
            var sum = b[k]
            if dim == 1 {
                for j in 0..<s { sum += f[k * s + j] * x[c + j] }
            } else {
                for a in 0..<s { for j in 0..<s { sum += f[k * s * s + a * s + j] * x[(r + a) * length + c + j] } }
            }
            return erf(sum / 2.0.squareRoot())
        }
        var total = 0.0, count = 0
        for k in 0..<channels {
            if dim == 1 {
                for block in 0..<m { total += max(u(k, 0, 2 * block), u(k, 0, 2 * block + 1)); count += 1 }
            } else {
                for br in 0..<m {
                    for bc in 0..<m {
                        var block: [Double] = []
                        for dr in 0..<2 { for dc in 0..<2 { block.append(u(k, 2 * br + dr, 2 * bc + dc)) } }
                        total += block.max()!
                        count += 1
                    }
                }
            }
        }
        XCTAssertEqual(count, channels * (dim == 1 ? m : m * m))
        return total / Double(count)
    }

    private func input(_ size: Int, seed: Double) -> [Double] {
        (0..<size).map { (i: Int) -> Double in
            let phase: Double = 1.7 * Double(i) + seed
            return 1.3 * sin(phase) + 0.2 * Double(i % 3)
        }
    }

    func testForwardPassMatchesADirectLoopIn1DAnd2D() throws {
        for (dim, length, kernel) in [(1, 11, 4), (2, 7, 3)] {
            let p = try parameters(dim: dim, length: length, kernel: kernel)
            let filters = try p.initialWeights()
            let network = PublishedConvolutionalNetwork(channels: channels, kernelSize: kernel, length: length, latticeDimension: dim,
                                                        activation: Activation(.erf), biases: [0.3, -0.3], options: p.networkOptions)
            for seed in [0.0, 1.0, 2.5] {
                let x = input(p.dimension, seed: seed)
                let y = network.headOutputs(input: x, filters: filters)
                let want = directOutput(x: x, filters: filters, biases: [0.3, -0.3], dim: dim, length: length, kernel: kernel)
                XCTAssertEqual(y[0], want, accuracy: 1e-13, "dim \(dim)")
                XCTAssertEqual(y[1], -want, accuracy: 1e-13)
            }
        }
    }

    /// f -= eta dL/df and b -= eta dL/db (every parameter at lr, as published), L the two-head
    /// mse 1/4 sum_c (t_c - y_c)^2 with t = +-1 one-hot, or the softmax cross-entropy.
    func testOneStepFollowsTheFiniteDifferenceGradient() throws {
        for (dim, length, kernel, loss) in [(1, 10, 3, LossKind.mse), (2, 6, 2, LossKind.mse), (2, 6, 3, LossKind.ce)] {
            let p = try parameters(dim: dim, length: length, kernel: kernel, loss: loss)
            let f0 = try p.initialWeights(), b0 = [0.3, -0.3], label = 1
            let x = input(p.dimension, seed: 0.7)
            let lossOf = { (f: [Double], b: [Double]) -> Double in
                let y0 = self.directOutput(x: x, filters: f, biases: b, dim: dim, length: length, kernel: kernel)
                if loss == .ce { return -log(exp(-y0) / (exp(y0) + exp(-y0))) }
                return ((-1 - y0) * (-1 - y0) + (1 + y0) * (1 + y0)) / 4
            }
            func gradient(_ g: ([Double]) -> Double, at point: [Double]) -> [Double] {
                point.indices.map { i in
                    var up = point, down = point
                    up[i] += 1e-6
                    down[i] -= 1e-6
                    return (g(up) - g(down)) / 2e-6
                }
            }
            let gf = gradient({ lossOf($0, b0) }, at: f0), gb = gradient({ lossOf(f0, $0) }, at: b0)
            let replica = try SGDReplica(p, distributions: p.task.classes.map(InputDistribution.init), initial: f0, replica: 0)
            replica.step(input: x, label: label)
            for (got, (w, g)) in zip(replica.weights, zip(f0, gf)) { XCTAssertEqual(got, w - eta * g, accuracy: 1e-8, "dim \(dim) \(loss)") }
            for (got, (b, g)) in zip(replica.biases, zip(b0, gb)) { XCTAssertEqual(got, b - eta * g, accuracy: 1e-8, "dim \(dim) \(loss)") }
            XCTAssertGreaterThan(zip(replica.weights, f0).map { abs($0 - $1) }.max()!, 1e-4)
        }
    }
}
