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

    /// The forward pass over the whole sample: `body` gets each input and its error y - yhat, with the
    /// units' g_k and g'_k in `activations` and `derivatives` (the drift, its standard errors and the loss).
    @inline(__always)
    private func forEachInput(_ w: UnsafePointer<Double>, _ v: UnsafePointer<Double>, _ b: UnsafePointer<Double>,
                              _ body: (UnsafePointer<Double>, Double) -> Void) {
        inputs.withUnsafeBufferPointer { x in
            for m in 0..<sampleCount {
                let row = x.baseAddress! + m * size
                body(row, forward(row, w, v, b))
            }
        }
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
        forEachInput(w, v, b) { row, error in
            for k in 0..<units {
                let f = error * v[k] * derivatives[k]
                if f != 0 { axpy(f, row, out + k * size, size) }
                readoutDrift?[k] += error * activations[k]
                biasDrift?[k] += f
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
        forEachInput(w, v, b) { _, error in total += 0.5 * error * error }
        return total / Double(sampleCount)
    }

    /// Standard errors of the class drift from the sample's spread: the weight part sqrt(D) E_c[x f_k]
    /// (K x D), E_c[(y - yhat) g_k] and E_c[f_k] (K each), and of the loss E_c[(y - yhat)^2] / 2.
    public func standardErrors(weights w: UnsafePointer<Double>, readouts v: UnsafePointer<Double>,
                               biases b: UnsafePointer<Double>) -> (weights: [Double], readouts: [Double], biases: [Double], loss: Double) {
        let count = units * size, root = Double(size).squareRoot()
        var weightTerms = SampleMoments(count), readoutTerms = SampleMoments(units), biasTerms = SampleMoments(units), lossTerms = SampleMoments(1)
        forEachInput(w, v, b) { row, error in
            for k in 0..<units {
                let f = error * v[k] * derivatives[k]
                for i in 0..<size { weightTerms.add(root * f * row[i], at: k * size + i) }
                readoutTerms.add(error * activations[k], at: k)
                biasTerms.add(f, at: k)
            }
            lossTerms.add(0.5 * error * error, at: 0)
        }
        precondition(weightTerms.sum.count == count)
        return (weightTerms.standardErrors(sampleCount), readoutTerms.standardErrors(sampleCount),
                biasTerms.standardErrors(sampleCount), lossTerms.standardErrors(sampleCount)[0])
    }
}

/// Sums and sums of squares of per-sample terms: the standard error of their means.
struct SampleMoments {
    var sum: [Double], sumSquares: [Double]
    init(_ count: Int) {
        sum = [Double](repeating: 0, count: count)
        sumSquares = sum
    }

    @inline(__always)
    mutating func add(_ term: Double, at i: Int) {
        sum[i] += term
        sumSquares[i] += term * term
    }

    func standardErrors(_ n: Int) -> [Double] {
        let n = Double(n)
        return zip(sum, sumSquares).map { total, squares in
            let mean = total / n
            return (max(0, squares / n - mean * mean) / n).squareRoot()
        }
    }
}
