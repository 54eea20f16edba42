import Foundation

/// Filter layout of `--model cnn`: ours (circular padding, mean readout; derivations/cnn-baseline.md)
/// or the published `ConvTwoLayer` (derivations/network-options.md §5).
public enum CNNStyle: String, Codable, CaseIterable, Sendable {
    case circular
    case published
}

/// The networks whose biases SGD can move: biases are read by the forward pass and
/// updated once per step from the accumulated -dL/db.
public protocol BiasTrainable: AnyObject {
    var biases: [Double] { get }
    func applyBiasDescent(rate: Double)
}

extension FullyConnectedNetwork: BiasTrainable {}

/// The published CNN (sgoldt/conv_emerge, network.py l. 110-197; derivations/network-options.md §5)
/// on the ring (dim 1) or the L x L torus read as an image (dim 2): K filters f_k of s^dim weights,
/// valid cross-correlation u_k(i) = sum_j f_kj x_(i+j) + b_k at the n = L - s + 1 positions per axis
/// (no padding, no 1/sqrt s, as torch's Conv1d/Conv2d), max-pool over 2 (2 x 2) blocks, and two
/// heads y_0 = (1/P) sum of the P pooled values over channels and blocks, y_1 = -y_0.
public final class PublishedConvolutionalNetwork: SGDNetwork, BiasTrainable {
    public let channels: Int
    public let kernelSize: Int
    public let length: Int
    public let latticeDimension: Int
    public let trainsReadout = false
    public let trainsBias: Bool
    public private(set) var biases: [Double]
    private let activation: Activation
    private let loss: HeadLoss
    private let headTargets: [[Double]]
    /// Valid positions per axis, pooled blocks per axis, filter entries.
    private let outputLength: Int, pooledLength: Int, filterSize: Int
    /// Offset in x of each filter entry j, and of each valid position's window origin.
    private let filterOffsets: [Int], positionOffsets: [Int]
    /// Valid positions of each pooled block (2 or 4 of them).
    private let blocks: [[Int]]
    private let preactivations: UnsafeMutablePointer<Double>
    private let biasDescent: UnsafeMutablePointer<Double>
    private var outputs = [0.0, 0.0], deltas = [0.0, 0.0]

    public init(channels: Int, kernelSize: Int, length: Int, latticeDimension: Int, activation: Activation,
                biases: [Double], options: NetworkOptions) {
        precondition(kernelSize >= 1 && length - kernelSize + 1 >= 2 && biases.count == channels && (1...2).contains(latticeDimension),
                     "PublishedConvolutionalNetwork: need 1 <= s <= L - 1, K biases, dim 1 or 2")
        self.channels = channels
        self.kernelSize = kernelSize
        self.length = length
        self.latticeDimension = latticeDimension
        self.activation = activation
        self.biases = biases
        trainsBias = options.trainBias
        loss = HeadLoss(kind: options.loss, heads: 2)
        var twoHeads = options
        twoHeads.heads = 2
        headTargets = (0..<2).map { twoHeads.headTargets(label: $0, taskTargets: [0, 1], activation: activation.kind) }
        outputLength = length - kernelSize + 1
        pooledLength = outputLength / 2
        let axes = latticeDimension
        func grid(_ size: Int) -> [[Int]] { axes == 1 ? (0..<size).map { [$0] } : (0..<size).flatMap { r in (0..<size).map { [r, $0] } } }
        func offset(_ index: [Int]) -> Int { index.reduce(0) { $0 * length + $1 } }
        filterSize = axes == 1 ? kernelSize : kernelSize * kernelSize
        filterOffsets = grid(kernelSize).map(offset)
        positionOffsets = grid(outputLength).map(offset)
        // Position p of the valid grid has index (row-major over n per axis).
        let n = outputLength
        blocks = grid(pooledLength).map { block in
            axes == 1 ? [2 * block[0], 2 * block[0] + 1]
                : [0, 1].flatMap { dr in [0, 1].map { dc in (2 * block[0] + dr) * n + 2 * block[1] + dc } }
        }
        preactivations = .allocate(capacity: channels * positionOffsets.count)
        biasDescent = .allocate(capacity: channels)
        biasDescent.initialize(repeating: 0, count: channels)
    }

    deinit {
        preactivations.deallocate()
        biasDescent.deallocate()
    }

    /// P: the pooled values over all channels, the published `num_hidden`.
    public var pooledUnits: Int { channels * blocks.count }

    /// Fills the pre-activations and returns y_0 = (1/P) sum of the block maxima of sigma(u).
    @inline(__always)
    private func forward(_ x: UnsafePointer<Double>, filters f: UnsafePointer<Double>) -> Double {
        let positions = positionOffsets.count
        for k in 0..<channels {
            let filter = f + k * filterSize
            for p in 0..<positions {
                let origin = x + positionOffsets[p]
                var u = biases[k]
                for j in 0..<filterSize { u += filter[j] * origin[filterOffsets[j]] }
                preactivations[k * positions + p] = u
            }
        }
        var sum = 0.0
        for k in 0..<channels { for block in blocks { sum += activation.value(preactivations[k * positions + argmax(block, channel: k)]) } }
        return sum / Double(pooledUnits)
    }

    /// The position of the block's maximum of sigma(u) (the first one on ties, as torch).
    @inline(__always)
    private func argmax(_ block: [Int], channel k: Int) -> Int {
        let base = k * positionOffsets.count
        var best = block[0], top = activation.value(preactivations[base + best])
        for p in block.dropFirst() {
            let value = activation.value(preactivations[base + p])
            if value > top { top = value; best = p }
        }
        return best
    }

    public func prediction(_ x: UnsafePointer<Double>, weights f: UnsafePointer<Double>, readout _: UnsafePointer<Double>) -> Double {
        forward(x, filters: f)
    }

    /// -dL/df_kj = g sum_blocks sigma'(u_k(p*)) x_(p* + j), -dL/db_k = g sum_blocks sigma'(u_k(p*)),
    /// p* the block's maximum, g = (delta_0 - delta_1) / P (derivations/network-options.md §5).
    public func accumulateDescent(_ x: UnsafePointer<Double>, target _: Double, label: Int,
                                  weights f: UnsafePointer<Double>, readout _: UnsafePointer<Double>,
                                  weightRate: Double, readoutRate _: Double,
                                  weightStep: UnsafeMutablePointer<Double>, readoutStep _: UnsafeMutablePointer<Double>) {
        let y0 = forward(x, filters: f)
        outputs[0] = y0
        outputs[1] = -y0
        outputs.withUnsafeBufferPointer { y in
            deltas.withUnsafeMutableBufferPointer { loss.descent(outputs: y.baseAddress!, label: label, targets: headTargets[label], into: $0.baseAddress!) }
        }
        let g = (deltas[0] - deltas[1]) / Double(pooledUnits)
        let positions = positionOffsets.count
        for k in 0..<channels {
            for block in blocks {
                let p = argmax(block, channel: k)
                let coefficient = g * activation.derivative(preactivations[k * positions + p])
                let origin = x + positionOffsets[p]
                for j in 0..<filterSize { weightStep[k * filterSize + j] += weightRate * coefficient * origin[filterOffsets[j]] }
                if trainsBias { biasDescent[k] += coefficient }
            }
        }
    }

    public func applyBiasDescent(rate: Double) {
        for k in 0..<channels {
            biases[k] += rate * biasDescent[k]
            biasDescent[k] = 0
        }
    }

    /// (y_0, y_1) for one input (tests and analysis).
    public func headOutputs(input x: [Double], filters: [Double]) -> [Double] {
        precondition(x.count == positionsInInput && filters.count == channels * filterSize, "PublishedConvolutionalNetwork: wrong sizes")
        let y0 = x.withUnsafeBufferPointer { input in filters.withUnsafeBufferPointer { forward(input.baseAddress!, filters: $0.baseAddress!) } }
        return [y0, -y0]
    }

    private var positionsInInput: Int { latticeDimension == 1 ? length : length * length }
}
