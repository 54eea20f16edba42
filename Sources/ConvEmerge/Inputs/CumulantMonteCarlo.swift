import Foundation

/// Monte Carlo mean of x_i f(w.x) over `n` draws of the class, with per-component standard
/// errors: the reference of the cumulant actions (T by f = He3-like, S by f = He2-like).
/// 16 fixed random streams run concurrently, so the estimate depends only on the seed.
/// derivations/fourth-cumulant.md §5, derivations/third-cumulant-closure.md §4.
func monteCarloProjection(_ distribution: InputDistribution, w: [Double], samples n: Int, seed: UInt64,
                          weight f: @escaping @Sendable (Double) -> Double) -> (mean: [Double], standardError: [Double]) {
    let D = distribution.size
    precondition(w.count == D && n >= 2)
    let streams = 16
    var sums = [Double](repeating: 0, count: 2 * D * streams)
    sums.withUnsafeMutableBufferPointer { buffer in
        let all = SharedBuffer(buffer.baseAddress!)
        DispatchQueue.concurrentPerform(iterations: streams) { stream in
            var rng = Xoshiro256(seed: seed, stream: stream)
            let scratch = distribution.makeScratch()
            let x = UnsafeMutablePointer<Double>.allocate(capacity: D)
            defer { x.deallocate() }
            let sum = all.pointer + 2 * D * stream, sumSquares = sum + D
            let count = n / streams + (stream < n % streams ? 1 : 0)
            w.withUnsafeBufferPointer { weights in
                for _ in 0..<count {
                    distribution.sample(into: x, rng: &rng, scratch: scratch)
                    let h = f(dot(weights.baseAddress!, x, D))
                    for i in 0..<D {
                        let value = x[i] * h
                        sum[i] += value
                        sumSquares[i] += value * value
                    }
                }
            }
        }
    }
    var mean = [Double](repeating: 0, count: D), standardError = mean
    for i in 0..<D {
        var total = 0.0, totalSquares = 0.0
        for stream in 0..<streams {
            total += sums[2 * D * stream + i]
            totalSquares += sums[2 * D * stream + D + i]
        }
        let m = total / Double(n)
        mean[i] = m
        let variance = max(0, (totalSquares - Double(n) * m * m) / Double(n - 1))
        standardError[i] = (variance / Double(n)).squareRoot()
    }
    return (mean, standardError)
}

/// A buffer written by concurrent workers at disjoint indices.
struct SharedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Double>
    init(_ pointer: UnsafeMutablePointer<Double>) { self.pointer = pointer }
}
