import Foundation

/// The `montecarlo` closure: a fixed sample of M inputs per class, so that the
/// right-hand side is a smooth function of w (common random numbers) and exact
/// as M -> inf: g_c(w) = sqrt(D)/M sum_m x_m h_c(w.x_m / sqrt D).
/// Derivation: derivations/gradient-flow.md; the loops: derivations/monte-carlo-closure.md.
public final class MonteCarloClosure: ClassExpectation, @unchecked Sendable {
    /// The sample, M x D row-major, in the chosen precision (data rows in double share the data set's storage).
    private enum Storage {
        case double([Double])
        case float([Float])
    }

    let signal: ErrorSignal
    public let sampleCount: Int
    public let precision: MonteCarloPrecision
    /// Threads `drift` may use; the result is the same bits for any value (fixed chunks).
    public var threads = 1
    /// The loop `drift` runs: `.native` unless a test or the benchmark asks for a reference.
    public var kernel = MonteCarloKernel.native
    private let size: Int
    private let storage: Storage
    /// derivations/monte-carlo-closure.md, "One pass in fixed chunks": fixed by M alone.
    public let chunkCount: Int
    /// chunkCount accumulators of D doubles, allocated once: `drift` does not allocate.
    private let partials: UnsafeMutablePointer<Double>
    private let preactivations: UnsafeMutablePointer<Double>
    private let queue = ChunkQueue()

    /// Rows per chunk are at least this (so that a chunk's accumulator costs little next to its
    /// rows), and there are at most `maximumChunks` chunks.
    static let minimumRowsPerChunk = 64
    static let maximumChunks = 16
    /// Below this many stored values (256 kB of doubles) a right-hand side takes microseconds, as
    /// long as waking a second thread: it runs on the calling thread (the same chunks, the same bits).
    static let minimumParallelValues = 1 << 15

    public init(distribution: InputDistribution, signal: ErrorSignal, samples: Int,
                precision: MonteCarloPrecision = .double, rng: inout Xoshiro256) {
        self.signal = signal
        self.precision = precision
        let d = distribution.size
        size = d
        // A data class is its rows, as given or each at one random translation (derivations/data-inputs.md,
        // "Gradient flow on data"): full-batch gradient flow on the empirical distribution.
        let dataRows = distribution.isDataRows ? distribution.dataSet : nil
        switch (precision, dataRows) {
        case let (.double, data?):
            storage = .double(data.fixedSample(rng: &rng))
        case (.double, nil):
            storage = .double(distribution.sample(count: samples, rng: &rng))
        case let (.float, data):
            // Row by row through one row of doubles: the same draws as the double sample, never held in double.
            let rows = data?.rowCount ?? samples
            let row = UnsafeMutablePointer<Double>.allocate(capacity: d)
            defer { row.deallocate() }
            let scratch = data == nil ? distribution.makeScratch() : nil
            var values = [Float](repeating: 0, count: rows * d)
            values.withUnsafeMutableBufferPointer { out in
                for m in 0..<rows {
                    if let data { data.draw(m, into: row, rng: &rng) } else { distribution.sample(into: row, rng: &rng, scratch: scratch!) }
                    for i in 0..<d { out[m * d + i] = Float(row[i]) }
                }
            }
            storage = .float(values)
        }
        switch storage {
        case let .double(values): sampleCount = values.count / d
        case let .float(values): sampleCount = values.count / d
        }
        chunkCount = max(1, min(Self.maximumChunks, sampleCount / Self.minimumRowsPerChunk))
        partials = .allocate(capacity: chunkCount * d)
        preactivations = .allocate(capacity: sampleCount)
    }

    deinit {
        partials.deallocate()
        preactivations.deallocate()
    }

    /// Rows [chunk M / K, (chunk + 1) M / K) of chunk `chunk`.
    private func rows(ofChunk chunk: Int) -> Range<Int> {
        (chunk * sampleCount / chunkCount)..<((chunk + 1) * sampleCount / chunkCount)
    }

    public func drift(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        switch storage {
        case let .double(values): values.withUnsafeBufferPointer { drift(rows: $0.baseAddress!, w, into: out) }
        case let .float(values): values.withUnsafeBufferPointer { drift(rows: $0.baseAddress!, w, into: out) }
        }
    }

    private func drift<S: SampleScalar>(rows: UnsafePointer<S>, _ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        let d = size, preactivationScale = 1 / Double(d).squareRoot()
        let scale = Double(d).squareRoot() / Double(sampleCount)
        switch kernel {
        case .previous:
            MonteCarloLoops.previous(rows, count: sampleCount, dimension: d, w: w, preactivationScale: preactivationScale, into: out, signal: signal)
        case .plainC where S.self == Double.self && signal.activation.kind == .relu:
            MonteCarloNativePass.plainReluPass(UnsafeRawPointer(rows).assumingMemoryBound(to: Double.self), count: sampleCount, dimension: d,
                                               w: w, preactivationScale: preactivationScale, bias: signal.bias, target: signal.target, into: out)
        case .plain, .plainC:
            MonteCarloLoops.plain(rows, count: sampleCount, dimension: d, w: w, preactivationScale: preactivationScale, into: out, signal: signal)
        case .chunked, .native:
            let native = kernel == .native && signal.activation.kind == .relu
            forEachChunk { chunk in
                if native { accumulateNative(rows, chunk: chunk, w, preactivationScale: preactivationScale) }
                else { accumulate(rows, chunk: chunk, w, preactivationScale: preactivationScale) }
            }
            // Chunk order, whatever thread computed which chunk.
            for i in 0..<d { out[i] = partials[i] }
            for chunk in 1..<chunkCount {
                let partial = partials + chunk * d
                for i in 0..<d { out[i] += partial[i] }
            }
        }
        for i in 0..<d { out[i] *= scale }
    }

    /// One chunk's sum into its accumulator, with relu's error signal written out so that it inlines.
    private func accumulate<S: SampleScalar>(_ rows: UnsafePointer<S>, chunk: Int, _ w: UnsafePointer<Double>, preactivationScale: Double) {
        let accumulator = partials + chunk * size, range = self.rows(ofChunk: chunk)
        if signal.activation.kind == .relu {
            // (y - relu(x)) relu'(x): y - x for x > 0, 0 otherwise, to the bit.
            let bias = signal.bias, target = signal.target
            MonteCarloLoops.onePass(rows, range, dimension: size, w: w, preactivationScale: preactivationScale, into: accumulator) { lambda in
                let x = lambda + bias
                return x > 0 ? target - x : 0
            }
        } else {
            let signal = self.signal
            MonteCarloLoops.onePass(rows, range, dimension: size, w: w, preactivationScale: preactivationScale,
                                    into: accumulator) { signal($0) }
        }
    }

    /// One chunk's sum by the C pass (relu only), on this CPU's widest instruction set.
    private func accumulateNative<S: SampleScalar>(_ rows: UnsafePointer<S>, chunk: Int, _ w: UnsafePointer<Double>,
                                                   preactivationScale: Double) {
        let accumulator = partials + chunk * size, range = self.rows(ofChunk: chunk)
        let first = UnsafeRawPointer(rows + range.lowerBound * size)
        if S.self == Float.self {
            MonteCarloNativePass.reluPass(first.assumingMemoryBound(to: Float.self), count: range.count, dimension: size, w: w,
                                          preactivationScale: preactivationScale, bias: signal.bias, target: signal.target,
                                          into: accumulator, variant: Self.nativeVariant)
        } else {
            MonteCarloNativePass.reluPass(first.assumingMemoryBound(to: Double.self), count: range.count, dimension: size, w: w,
                                          preactivationScale: preactivationScale, bias: signal.bias, target: signal.target,
                                          into: accumulator, variant: Self.nativeVariant)
        }
    }

    /// Chosen once per process: the same binary on the same machine gives the same bits. AVX2 + FMA
    /// where supported: this streaming pass ran ~10% slower on AVX-512F (its lower clock) in
    /// alternating C runs here (derivations/monte-carlo-closure.md, "C kernel").
    static let nativeVariant: KernelVariant = KernelVariant.supported.contains(.avx2FMA) ? .avx2FMA : .best

    /// Runs `body` on every chunk, on up to `threads` threads, each chunk exactly once.
    private func forEachChunk(_ body: (Int) -> Void) {
        let workers = sampleCount * size >= Self.minimumParallelValues ? min(threads, chunkCount) : 1
        guard workers > 1 else {
            for chunk in 0..<chunkCount { body(chunk) }
            return
        }
        queue.reset(count: chunkCount)
        withoutActuallyEscaping(body) { body in
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while let chunk = queue.take() { work.value(chunk) }
            }
        }
    }

    /// lambda_m = w.x_m / sqrt(D) for every row, into `preactivations`.
    private func computePreactivations(_ w: UnsafePointer<Double>) {
        let scale = 1 / Double(size).squareRoot()
        forEachRow { m, row in
            var lambda = 0.0
            for i in 0..<size { lambda += row(i) * w[i] }
            preactivations[m] = lambda * scale
        }
    }

    /// `body(m, x_m)` for each row m in order, x_m read as Double.
    private func forEachRow(_ body: (Int, (Int) -> Double) -> Void) {
        let d = size
        switch storage {
        case let .double(values):
            values.withUnsafeBufferPointer { x in for m in 0..<sampleCount { body(m) { x[m * d + $0] } } }
        case let .float(values):
            values.withUnsafeBufferPointer { x in for m in 0..<sampleCount { body(m) { Double(x[m * d + $0]) } } }
        }
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
        forEachRow { m, row in
            let h = signal(preactivations[m])
            for i in 0..<size {
                let term = h * row(i)
                sum[i] += term
                sumSquares[i] += term * term
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

/// A value handed to the workers of a concurrent loop that only read it.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
