import Foundation

/// The one-layer CNN baseline of SPEC §2 on the ring (derivations/cnn-baseline.md):
/// K filters f_k of size s, circular padding, pre-activations
///   u_ki = (1/sqrt s) sum_{j<s} f_kj x_{(i+j) mod L} + b_k,   i = 0 ... L-1,
/// and the readout yhat = (1/K) sum_k (1/L) sum_i sigma(u_ki): the mean over channels and
/// positions, which makes yhat invariant under circular shifts of x.
///
/// The convolution is a direct loop, O(K L s) per input: each pre-activation is one
/// contiguous dot product of length s against the padded input, and each filter gradient
/// one of length L. For the sizes of the studies (s <= L <= ~100) this costs less than the
/// FFTs (two transforms of length L per channel and per input, plus the spectral products)
/// and is exact; only for s ~ L >> 100 would an FFT convolution, O(K L log L), win.
public final class ConvolutionalNetwork: SGDNetwork {
    public let channels: Int
    public let kernelSize: Int
    public let length: Int
    public let trainsReadout = false
    private let activation: Activation
    private let biases: [Double]
    /// x followed by its first s - 1 entries: the circular padding, so that window i is
    /// padded[i ..< i + s] without index wrapping in the inner loops.
    private let padded: UnsafeMutablePointer<Double>
    /// K x L: sigma'(u_ki), then the back-propagated coefficients.
    private let derivatives: UnsafeMutablePointer<Double>

    public init(channels: Int, kernelSize: Int, length: Int, activation: Activation, biases: [Double]) {
        precondition(channels >= 1 && kernelSize >= 1 && kernelSize <= length && biases.count == channels,
                     "ConvolutionalNetwork: need K >= 1, 1 <= s <= L and K biases")
        self.channels = channels
        self.kernelSize = kernelSize
        self.length = length
        self.activation = activation
        self.biases = biases
        padded = .allocate(capacity: length + kernelSize - 1)
        derivatives = .allocate(capacity: channels * length)
    }

    deinit {
        padded.deallocate()
        derivatives.deallocate()
    }

    @inline(__always)
    private func pad(_ x: UnsafePointer<Double>) {
        padded.update(from: x, count: length)
        (padded + length).update(from: x, count: kernelSize - 1)
    }

    /// u_ki for the padded input already in `padded`.
    @inline(__always)
    private func preactivation(channel k: Int, position i: Int, filters f: UnsafePointer<Double>) -> Double {
        dot(f + k * kernelSize, padded + i, kernelSize) / Double(kernelSize).squareRoot() + biases[k]
    }

    @inline(__always)
    public func prediction(_ x: UnsafePointer<Double>, weights f: UnsafePointer<Double>, readout _: UnsafePointer<Double>) -> Double {
        pad(x)
        var sum = 0.0
        for k in 0..<channels {
            for i in 0..<length { sum += activation.value(preactivation(channel: k, position: i, filters: f)) }
        }
        return sum / Double(channels * length)
    }

    /// -dL/df_kj = e (1/(K L sqrt s)) sum_i sigma'(u_ki) x_{(i+j) mod L}, e = y - yhat
    /// (derivations/cnn-baseline.md §2): a correlation of the padded input with the
    /// per-position coefficients, one dot product of length L per filter entry.
    @inline(__always)
    public func accumulateDescent(_ x: UnsafePointer<Double>, target: Double, label _: Int,
                                  weights f: UnsafePointer<Double>, readout _: UnsafePointer<Double>,
                                  weightRate: Double, readoutRate _: Double,
                                  weightStep: UnsafeMutablePointer<Double>, readoutStep _: UnsafeMutablePointer<Double>) {
        pad(x)
        var sum = 0.0
        for k in 0..<channels {
            for i in 0..<length {
                let u = preactivation(channel: k, position: i, filters: f)
                sum += activation.value(u)
                derivatives[k * length + i] = activation.derivative(u)
            }
        }
        let error = target - sum / Double(channels * length)
        let coefficient = weightRate * error / (Double(channels * length) * Double(kernelSize).squareRoot())
        for index in 0..<(channels * length) { derivatives[index] *= coefficient }
        for k in 0..<channels {
            for j in 0..<kernelSize {
                weightStep[k * kernelSize + j] += dot(derivatives + k * length, padded + j, length)
            }
        }
    }
}

// Array-valued entry points for tests and analysis (not the hot loop).
extension ConvolutionalNetwork {
    /// The K x L map u_ki (bias included) for one input.
    public func preactivationMap(input x: [Double], filters: [Double]) -> [Double] {
        precondition(x.count == length && filters.count == channels * kernelSize, "ConvolutionalNetwork: wrong sizes")
        var map = [Double](repeating: 0, count: channels * length)
        x.withUnsafeBufferPointer { input in
            filters.withUnsafeBufferPointer { f in
                pad(input.baseAddress!)
                for k in 0..<channels {
                    for i in 0..<length { map[k * length + i] = preactivation(channel: k, position: i, filters: f.baseAddress!) }
                }
            }
        }
        return map
    }

    /// yhat for one input.
    public func output(input x: [Double], filters: [Double]) -> Double {
        precondition(x.count == length && filters.count == channels * kernelSize, "ConvolutionalNetwork: wrong sizes")
        return x.withUnsafeBufferPointer { input in
            filters.withUnsafeBufferPointer { f in
                prediction(input.baseAddress!, weights: f.baseAddress!, readout: f.baseAddress!)
            }
        }
    }

    /// The batch loss (1/B) sum_b 1/2 (y_b - yhat_b)^2.
    public func loss(inputs: [[Double]], targets: [Double], filters: [Double]) -> Double {
        var total = 0.0
        for (x, y) in zip(inputs, targets) {
            let error = y - output(input: x, filters: filters)
            total += 0.5 * error * error
        }
        return total / Double(inputs.count)
    }

    /// d loss / d f on a batch, through the same routine SGD uses.
    public func lossGradient(inputs: [[Double]], targets: [Double], filters: [Double]) -> [Double] {
        precondition(filters.count == channels * kernelSize, "ConvolutionalNetwork: wrong sizes")
        var gradient = [Double](repeating: 0, count: filters.count)
        var unused = 0.0
        let rate = -1 / Double(inputs.count)
        for (x, y) in zip(inputs, targets) {
            precondition(x.count == length, "ConvolutionalNetwork: wrong input size")
            x.withUnsafeBufferPointer { input in
                filters.withUnsafeBufferPointer { f in
                    gradient.withUnsafeMutableBufferPointer { g in
                        accumulateDescent(input.baseAddress!, target: y, label: 0, weights: f.baseAddress!, readout: f.baseAddress!,
                                          weightRate: rate, readoutRate: 0, weightStep: g.baseAddress!, readoutStep: &unused)
                    }
                }
            }
        }
        return gradient
    }
}
