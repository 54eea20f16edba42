import Foundation

/// How the fixed Monte Carlo sample is stored (derivations/monte-carlo-closure.md, "Float sample").
public enum MonteCarloPrecision: String, Codable, CaseIterable, Sendable {
    /// Each input as drawn.
    case double
    /// Each input rounded to Float (relative error <= 2^-24), read back as Double: half the bytes
    /// streamed per right-hand side; products and sums stay in Double.
    case float

    var bytesPerValue: Int { self == .float ? 4 : 8 }
}

/// How `MonteCarloClosure.drift` walks the sample: the production kernel (`.native`) and the
/// references it is tested and benchmarked against (they agree to rounding).
public enum MonteCarloKernel: String, CaseIterable, Sendable {
    /// `.chunked`'s chunks and order, each chunk's pass in C compiled for this CPU's widest
    /// instruction set (`KernelVariant.best`; derivations/monte-carlo-closure.md, "C kernel") where
    /// the activation is relu; other activations run `.chunked`.
    case native
    /// One pass per row (SIMD4 dot, error signal, axpy) over a fixed number of chunks,
    /// each into its own accumulator, summed in chunk order: the same bits on any number of threads
    /// (derivations/monte-carlo-closure.md, "One pass in fixed chunks").
    case chunked
    /// The implementation before issue 11: one serial pass, four scalar partial sums per dot.
    case previous
    /// The plainest one-pass loop (one scalar accumulator per dot, scalar axpy): the reference speed.
    case plain
    /// The same plain loop in C (the reference), for relu on a double sample (otherwise `.plain`).
    case plainC
}

/// A stored sample value, read as Double four at a time.
protocol SampleScalar {
    static func load4(_ p: UnsafePointer<Self>) -> SIMD4<Double>
    var asDouble: Double { get }
}

extension Double: SampleScalar {
    @inline(__always) static func load4(_ p: UnsafePointer<Double>) -> SIMD4<Double> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Double>.self)
    }
    @inline(__always) var asDouble: Double { self }
}

extension Float: SampleScalar {
    /// Lane by lane: the generic SIMD conversion initialiser compiled to slower code here.
    @inline(__always) static func load4(_ p: UnsafePointer<Float>) -> SIMD4<Double> {
        let f = UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
        return SIMD4<Double>(Double(f[0]), Double(f[1]), Double(f[2]), Double(f[3]))
    }
    @inline(__always) var asDouble: Double { Double(self) }
}

/// The inner loops over rows m of an M x D row-major sample, accumulating
/// sum_m x_m h(w.x_m / sqrt D) into `accumulator` (which they first clear).
enum MonteCarloLoops {
    /// The production loop over rows `range`: the row's dot product in two SIMD4 partial sums
    /// (SIMD8 and four-sum variants measured no faster on the SSE2 baseline this builds for), then,
    /// while the row is in L1, its axpy (which the compiler vectorises; skipped where h = 0, half of
    /// a relu class).
    @inline(__always)
    static func onePass<S: SampleScalar>(_ rows: UnsafePointer<S>, _ range: Range<Int>, dimension d: Int,
                                         w: UnsafePointer<Double>, preactivationScale: Double,
                                         into accumulator: UnsafeMutablePointer<Double>, signal: (Double) -> Double) {
        for i in 0..<d { accumulator[i] = 0 }
        let vectorEnd = d & ~3
        for m in range {
            let row = rows + m * d
            var s0 = SIMD4<Double>(), s1 = SIMD4<Double>()
            var i = 0
            while i + 8 <= vectorEnd {
                s0 += S.load4(row + i) * Double.load4(w + i)
                s1 += S.load4(row + i + 4) * Double.load4(w + i + 4)
                i += 8
            }
            if i < vectorEnd {
                s0 += S.load4(row + i) * Double.load4(w + i)
                i += 4
            }
            var lambda = (s0 + s1).sum()
            while i < d {
                lambda += row[i].asDouble * w[i]
                i += 1
            }
            let h = signal(lambda * preactivationScale)
            if h == 0 { continue }
            for i in 0..<d { accumulator[i] += h * row[i].asDouble }
        }
    }

    /// The loop before issue 11, kept as the benchmark's baseline (VectorKernels' four-sum dot).
    static func previous<S: SampleScalar>(_ rows: UnsafePointer<S>, count: Int, dimension d: Int, w: UnsafePointer<Double>,
                                          preactivationScale: Double, into accumulator: UnsafeMutablePointer<Double>,
                                          signal: ErrorSignal) {
        for i in 0..<d { accumulator[i] = 0 }
        for m in 0..<count {
            let row = rows + m * d
            var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
            var i = 0
            while i + 4 <= d {
                s0 += row[i].asDouble * w[i]
                s1 += row[i + 1].asDouble * w[i + 1]
                s2 += row[i + 2].asDouble * w[i + 2]
                s3 += row[i + 3].asDouble * w[i + 3]
                i += 4
            }
            while i < d {
                s0 += row[i].asDouble * w[i]
                i += 1
            }
            let h = signal(((s0 + s1) + (s2 + s3)) * preactivationScale)
            if h != 0 { for i in 0..<d { accumulator[i] += h * row[i].asDouble } }
        }
    }

    /// The plainest loop: one accumulator per dot product, scalar axpy.
    static func plain<S: SampleScalar>(_ rows: UnsafePointer<S>, count: Int, dimension d: Int, w: UnsafePointer<Double>,
                                       preactivationScale: Double, into accumulator: UnsafeMutablePointer<Double>,
                                       signal: ErrorSignal) {
        for i in 0..<d { accumulator[i] = 0 }
        for m in 0..<count {
            let row = rows + m * d
            var lambda = 0.0
            for i in 0..<d { lambda += row[i].asDouble * w[i] }
            let h = signal(lambda * preactivationScale)
            if h != 0 { for i in 0..<d { accumulator[i] += h * row[i].asDouble } }
        }
    }
}

/// Hands out chunk indices 0, 1, ... to whichever worker asks first: a loaded core takes fewer
/// chunks, and each chunk still writes only its own accumulator.
final class ChunkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var count = 0

    func reset(count: Int) { next = 0; self.count = count }

    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}
