import Foundation

// Inner loops and vector helpers shared across the library (and the CLI).

/// sum_i a_i b_i of two equal-length vectors.
public func dot(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "dot: vectors of different lengths")
    return a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in dot(x.baseAddress!, y.baseAddress!, a.count) } }
}

/// |v|, the Euclidean norm.
public func euclideanNorm(_ v: [Double]) -> Double { dot(v, v).squareRoot() }

/// v / |v|.
public func normalised(_ v: [Double]) -> [Double] {
    let length = euclideanNorm(v)
    return v.map { $0 / length }
}

/// sum_i a_i b_i with four partial sums (the compiler does not reassociate a
/// floating-point reduction on its own).
@inline(__always)
func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> Double {
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    var i = 0
    while i + 4 <= n {
        s0 += a[i] * b[i]
        s1 += a[i + 1] * b[i + 1]
        s2 += a[i + 2] * b[i + 2]
        s3 += a[i + 3] * b[i + 3]
        i += 4
    }
    while i < n {
        s0 += a[i] * b[i]
        i += 1
    }
    return (s0 + s1) + (s2 + s3)
}

/// y += alpha x.
@inline(__always)
func axpy(_ alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
    for i in 0..<n { y[i] += alpha * x[i] }
}
