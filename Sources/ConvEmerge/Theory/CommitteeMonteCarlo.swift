import Foundation

/// The `montecarlo` closure of K units: the single neuron's fixed sample of M inputs per class
/// (same streams, so K = 1 reproduces it), and per sample one pass: K dots, the output, the
/// error, K axpys; O(M K D) per right-hand side (derivations/committee-closures.md §2).
public final class CommitteeMonteCarloClosure: CommitteeClassExpectation {
    public let sampleCount: Int
    private let size: Int
    private let units: Int
    private let target: Double
    private let activation: Activation
    /// M x D row-major.
    private let inputs: [Double]
    private let activations: UnsafeMutablePointer<Double>
    private let derivatives: UnsafeMutablePointer<Double>

    public init(distribution: InputDistribution, target: Double, network: CommitteeNetwork, samples: Int, rng: inout Xoshiro256) {
        size = distribution.size
        units = network.units
        self.target = target
        activation = network.activation
        // As MonteCarloClosure: a data class is its rows (derivations/data-inputs.md, "Gradient flow on data").
        if let data = distribution.dataSet, distribution.isDataRows {
            inputs = data.fixedSample(rng: &rng)
        } else {
            inputs = distribution.sample(count: samples, rng: &rng)
        }
        sampleCount = inputs.count / size
        activations = .allocate(capacity: units)
        derivatives = .allocate(capacity: units)
    }

    deinit {
        activations.deallocate()
        derivatives.deallocate()
    }

    /// Fills g_k and g'_k of one input and returns the error y - yhat.
    @inline(__always)
    private func forward(_ row: UnsafePointer<Double>, _ w: UnsafePointer<Double>, _ v: UnsafePointer<Double>,
                         _ b: UnsafePointer<Double>) -> Double {
        let scale = 1 / Double(size).squareRoot()
        var prediction = 0.0
        for k in 0..<units {
            let a = dot(row, w + k * size, size) * scale + b[k]
            activations[k] = activation.value(a)
            derivatives[k] = activation.derivative(a)
            prediction += v[k] * activations[k]
        }
        return target - prediction
    }

    public func drift(weights w: UnsafePointer<Double>, readouts v: UnsafePointer<Double>, biases b: UnsafePointer<Double>,
                      weightDrift out: UnsafeMutablePointer<Double>, readoutDrift: UnsafeMutablePointer<Double>?,
                      biasDrift: UnsafeMutablePointer<Double>?) {
        let count = units * size
        for i in 0..<count { out[i] = 0 }
        for k in 0..<units {
            readoutDrift?[k] = 0
            biasDrift?[k] = 0
        }
        inputs.withUnsafeBufferPointer { x in
            for m in 0..<sampleCount {
                let row = x.baseAddress! + m * size
                let error = forward(row, w, v, b)
                for k in 0..<units {
                    let f = error * v[k] * derivatives[k]
                    if f != 0 { axpy(f, row, out + k * size, size) }
                    readoutDrift?[k] += error * activations[k]
                    biasDrift?[k] += f
                }
            }
        }
        let scale = Double(size).squareRoot() / Double(sampleCount)
        for i in 0..<count { out[i] *= scale }
        for k in 0..<units {
            readoutDrift?[k] /= Double(sampleCount)
            biasDrift?[k] /= Double(sampleCount)
        }
    }

    public func loss(weights w: UnsafePointer<Double>, readouts v: UnsafePointer<Double>, biases b: UnsafePointer<Double>) -> Double {
        var total = 0.0
        inputs.withUnsafeBufferPointer { x in
            for m in 0..<sampleCount {
                let error = forward(x.baseAddress! + m * size, w, v, b)
                total += 0.5 * error * error
            }
        }
        return total / Double(sampleCount)
    }

    /// Per-component standard error of sqrt(D) E_c[x f_k] from the sample's spread (K x D).
    public func weightDriftStandardError(weights w: UnsafePointer<Double>, readouts v: UnsafePointer<Double>,
                                         biases b: UnsafePointer<Double>) -> [Double] {
        let count = units * size
        var sum = [Double](repeating: 0, count: count), sumSquares = sum
        inputs.withUnsafeBufferPointer { x in
            for m in 0..<sampleCount {
                let row = x.baseAddress! + m * size
                let error = forward(row, w, v, b)
                for k in 0..<units {
                    let f = error * v[k] * derivatives[k]
                    for i in 0..<size {
                        let term = f * row[i]
                        sum[k * size + i] += term
                        sumSquares[k * size + i] += term * term
                    }
                }
            }
        }
        let n = Double(sampleCount), d = Double(size)
        return (0..<count).map { i in
            let mean = sum[i] / n
            return d.squareRoot() * (max(0, sumSquares[i] / n - mean * mean) / n).squareRoot()
        }
    }
}
