import Foundation

/// The `montecarlo` closure: a fixed sample of M inputs per class, so that the
/// right-hand side is a smooth function of w (common random numbers) and exact
/// as M -> inf: g_c(w) = sqrt(D)/M sum_m x_m h_c(w.x_m / sqrt D).
/// Derivation: derivations/gradient-flow.md.
public final class MonteCarloClosure: ClassExpectation {
    let signal: ErrorSignal
    public let sampleCount: Int
    private let size: Int
    /// M x D row-major.
    private let inputs: [Double]
    private let preactivations: UnsafeMutablePointer<Double>

    public init(distribution: InputDistribution, signal: ErrorSignal, samples: Int, rng: inout Xoshiro256) {
        self.signal = signal
        size = distribution.size
        // A data class is its rows, as given or each at one random translation (derivations/data-inputs.md,
        // "Gradient flow on data"): full-batch gradient flow on the empirical distribution.
        if let data = distribution.dataSet, distribution.isDataRows {
            inputs = data.fixedSample(rng: &rng)
        } else {
            inputs = distribution.sample(count: samples, rng: &rng)
        }
        sampleCount = inputs.count / size
        preactivations = .allocate(capacity: sampleCount)
    }

    deinit { preactivations.deallocate() }

    private func computePreactivations(_ w: UnsafePointer<Double>) {
        let scale = 1 / Double(size).squareRoot()
        inputs.withUnsafeBufferPointer { x in
            for m in 0..<sampleCount {
                let row = x.baseAddress! + m * size
                preactivations[m] = dot(row, w, size) * scale
            }
        }
    }

    public func drift(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        for i in 0..<size { out[i] = 0 }
        let preactivationScale = 1 / Double(size).squareRoot()
        // One pass over the sample: each row is used for its preactivation and,
        // while still in cache, for its contribution (the loop is memory-bound).
        inputs.withUnsafeBufferPointer { x in
            for m in 0..<sampleCount {
                let row = x.baseAddress! + m * size
                let h = signal(dot(row, w, size) * preactivationScale)
                if h != 0 { axpy(h, row, out, size) }
            }
        }
        let scale = Double(size).squareRoot() / Double(sampleCount)
        for i in 0..<size { out[i] *= scale }
    }

    public func loss(_ w: UnsafePointer<Double>) -> Double {
        computePreactivations(w)
        var total = 0.0
        for m in 0..<sampleCount { total += signal.loss(preactivations[m]) }
        return total / Double(sampleCount)
    }

    /// Per-component standard error of g_c(w) from the sample's spread: the
    /// yardstick for closure errors (closure-error table, tests).
    public func driftStandardError(_ w: UnsafePointer<Double>) -> [Double] {
        computePreactivations(w)
        var sum = [Double](repeating: 0, count: size), sumSquares = sum
        inputs.withUnsafeBufferPointer { x in
            for m in 0..<sampleCount {
                let h = signal(preactivations[m])
                let row = x.baseAddress! + m * size
                for i in 0..<size {
                    let term = h * row[i]
                    sum[i] += term
                    sumSquares[i] += term * term
                }
            }
        }
        let n = Double(sampleCount), d = Double(size)
        return (0..<size).map { i in
            let mean = sum[i] / n
            let variance = max(0, sumSquares[i] / n - mean * mean)
            return d.squareRoot() * (variance / n).squareRoot()
        }
    }
}
