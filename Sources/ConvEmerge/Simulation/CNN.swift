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
    /// 1 (ring) or 2 (L x L torus, filters s x s; derivations/cnn-baseline.md §1).
    public let latticeDimension: Int
    public let trainsReadout = false
    private let activation: Activation
    private let biases: [Double]
    /// x followed by its first s - 1 entries: the circular padding, so that window i is
    /// padded[i ..< i + s] without index wrapping in the inner loops.
    private let padded: UnsafeMutablePointer<Double>
    /// K x L: sigma'(u_ki), then the back-propagated coefficients.
    private let derivatives: UnsafeMutablePointer<Double>

    /// On the torus: offsets of the s x s filter entries and of the L x L window origins in the
    /// circularly padded (L + s - 1) x (L + s - 1) image.
    private let filterOffsets: [Int], positionOffsets: [Int]

    public init(channels: Int, kernelSize: Int, length: Int, activation: Activation, biases: [Double], latticeDimension: Int = 1) {
        precondition(channels >= 1 && kernelSize >= 1 && kernelSize <= length && biases.count == channels && (1...2).contains(latticeDimension),
                     "ConvolutionalNetwork: need K >= 1, 1 <= s <= L, K biases, dim 1 or 2")
        self.channels = channels
        self.kernelSize = kernelSize
        self.length = length
        self.latticeDimension = latticeDimension
        self.activation = activation
        self.biases = biases
        let side = length + kernelSize - 1
        if latticeDimension == 2 {
            filterOffsets = (0..<kernelSize).flatMap { a in (0..<kernelSize).map { a * side + $0 } }
            positionOffsets = (0..<length).flatMap { r in (0..<length).map { r * side + $0 } }
            padded = .allocate(capacity: side * side)
            derivatives = .allocate(capacity: channels * length * length)
        } else {
            filterOffsets = []
            positionOffsets = []
            padded = .allocate(capacity: side)
            derivatives = .allocate(capacity: channels * length)
        }
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
        if latticeDimension == 2 { return torusForward(x, filters: f, keepDerivatives: false) }
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
        if latticeDimension == 2 { return torusDescent(target: target, filters: f, weightRate: weightRate, weightStep: weightStep, x) }
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

// The torus (derivations/cnn-baseline.md §1): u_k(i) = (1/s) sum_{a,b<s} f_kab x_((i_r+a) mod L, (i_c+b) mod L) + b_k,
// 1/s = 1/sqrt(s^2) as 1/sqrt s on the ring, yhat = the mean of sigma(u) over the K L^2 channels and positions.
extension ConvolutionalNetwork {
    private var filterSize: Int { kernelSize * kernelSize }
    private var positions: Int { length * length }

    private func padTorus(_ x: UnsafePointer<Double>) {
        let side = length + kernelSize - 1
        for r in 0..<side { for c in 0..<side { padded[r * side + c] = x[(r % length) * length + c % length] } }
    }

    /// yhat; with `keepDerivatives`, sigma'(u_k(i)) into `derivatives`.
    private func torusForward(_ x: UnsafePointer<Double>, filters f: UnsafePointer<Double>, keepDerivatives: Bool) -> Double {
        padTorus(x)
        let scale = 1 / Double(kernelSize)
        var sum = 0.0
        for k in 0..<channels {
            let filter = f + k * filterSize
            for p in 0..<positions {
                let origin = padded + positionOffsets[p]
                var dot = 0.0
                for j in 0..<filterSize { dot += filter[j] * origin[filterOffsets[j]] }
                let u = dot * scale + biases[k]
                sum += activation.value(u)
                if keepDerivatives { derivatives[k * positions + p] = activation.derivative(u) }
            }
        }
        return sum / Double(channels * positions)
    }

    /// -dL/df_kab = e (1/(K L^2 s)) sum_i sigma'(u_k(i)) x_((i_r+a), (i_c+b)), e = y - yhat.
    private func torusDescent(target: Double, filters f: UnsafePointer<Double>, weightRate: Double,
                              weightStep: UnsafeMutablePointer<Double>, _ x: UnsafePointer<Double>) {
        let error = target - torusForward(x, filters: f, keepDerivatives: true)
        let coefficient = weightRate * error / (Double(channels * positions) * Double(kernelSize))
        for k in 0..<channels {
            for j in 0..<filterSize {
                var sum = 0.0
                for p in 0..<positions { sum += derivatives[k * positions + p] * padded[positionOffsets[p] + filterOffsets[j]] }
                weightStep[k * filterSize + j] += coefficient * sum
            }
        }
    }
}

// Array-valued entry points for tests and analysis (not the hot loop).
extension ConvolutionalNetwork {
    /// Input values: L on the ring, L^2 on the torus; filter values: s or s^2.
    private var inputSize: Int { latticeDimension == 2 ? length * length : length }
    private var weightCount: Int { channels * (latticeDimension == 2 ? kernelSize * kernelSize : kernelSize) }

    /// The K x L map u_ki (bias included) for one input.
    public func preactivationMap(input x: [Double], filters: [Double]) -> [Double] {
        precondition(latticeDimension == 1 && x.count == length && filters.count == channels * kernelSize, "ConvolutionalNetwork: wrong sizes (the map is the ring's)")
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
        precondition(x.count == inputSize && filters.count == weightCount, "ConvolutionalNetwork: wrong sizes")
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
        precondition(filters.count == weightCount, "ConvolutionalNetwork: wrong sizes")
        var gradient = [Double](repeating: 0, count: filters.count)
        var unused = 0.0
        let rate = -1 / Double(inputs.count)
        for (x, y) in zip(inputs, targets) {
            precondition(x.count == inputSize, "ConvolutionalNetwork: wrong input size")
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
