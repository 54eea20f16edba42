import Foundation

/// Which data file a class of `--inputs data:FILE.npy[,FILE.npy]` came from, as the manifest
/// records it: enough to say which data a run used (path, rows, a checksum of the file's bytes)
/// and how its statistics were taken. Derivation: derivations/data-inputs.md.
public struct DataSetReference: Codable, Hashable, Sendable {
    public var path: String
    /// Rows in the file (before `--symmetrise sign` doubles them).
    public var rowCount: Int
    /// "fnv1a64:" and the 16 hex digits of the 64-bit FNV-1a hash of the file's bytes.
    public var checksum: String
    public var stationarity: EmpiricalInputs.Stationarity
    public var signSymmetrised: Bool
    /// `--augment translate`: every draw of a row is moved by a uniformly random lattice
    /// translation (nil: rows as given).
    public var augmentation: DataAugmentation?

    public init(path: String, rowCount: Int, checksum: String, stationarity: EmpiricalInputs.Stationarity, signSymmetrised: Bool,
                augmentation: DataAugmentation? = nil) {
        self.path = path
        self.rowCount = rowCount
        self.checksum = checksum
        self.stationarity = stationarity
        self.signSymmetrised = signSymmetrised
        self.augmentation = augmentation
    }

    /// Reads and checks the file (shape, dtype, values) and returns its reference.
    public static func inspect(path: String, lattice: Lattice, stationarity: EmpiricalInputs.Stationarity,
                               signSymmetrised: Bool, augmentation: DataAugmentation? = nil) throws -> DataSetReference {
        try LoadedDataSet.load(path: path, lattice: lattice, stationarity: stationarity, signSymmetrised: signSymmetrised,
                               augmentation: augmentation).reference
    }
}

/// `--augment`: how rows are varied when they are drawn.
public enum DataAugmentation: String, Codable, CaseIterable, Sendable {
    /// A uniformly random lattice translation (periodic roll) per draw. The distribution of the
    /// translated rows has the translation-averaged (circulant) covariance exactly, so it goes
    /// with `--stationarity circulant` (derivations/data-inputs.md, "Translations").
    case translate
}

/// The 64-bit FNV-1a hash (offset basis 14695981039346656037, prime 1099511628211): a content
/// checksum with no package behind it; it identifies a file, it does not protect against forgery.
public func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 14_695_981_039_346_656_037
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 1_099_511_628_211
    }
    return hash
}

/// A data set in memory: its rows as given (and their negatives under `--symmetrise sign`) for
/// the montecarlo closure and the simulation, its centred statistics (EmpiricalInputs) for the
/// covariance and T(w), and the covariance the theory uses: dense (`raw`) or circulant.
public final class LoadedDataSet: @unchecked Sendable {
    public let reference: DataSetReference
    public let lattice: Lattice
    /// Rows as given, N' x D row-major; N' = 2 N under sign symmetrisation (x_n, then -x_n).
    public let rows: [Double]
    /// Centred rows and their empirical cumulant actions.
    public let statistics: EmpiricalInputs
    /// The empirical covariance, D x D row-major: raw, or its circulant projection.
    public let covarianceMatrix: [Double]
    /// The first row of the circulant projection (the covariance itself under `--stationarity circulant`).
    public let circulantProjection: [Double]
    /// Whether the covariance is circulant (`--stationarity circulant`): then FFTs replace dense products.
    public var isCirculant: Bool { reference.stationarity == .circulant }
    /// |C - P(C)|_F / |C|_F, how far the raw covariance is from circulant.
    public let distanceFromCirculant: Double

    public var rowCount: Int { rows.count / lattice.size }

    /// Loads `path`, naming `flag` in every error: the memory is checked from the file's size
    /// before it is read (the bytes, the values, the rows, the centred rows, the covariance).
    public static func load(path: String, lattice: Lattice, stationarity: EmpiricalInputs.Stationarity,
                            signSymmetrised: Bool, augmentation: DataAugmentation? = nil, flag: String = "--inputs") throws -> LoadedDataSet {
        try require(augmentation == nil || stationarity == .circulant, flag: "--augment",
                    "translate averages the data over lattice translations, whose covariance is circulant: use --stationarity circulant (the default with --augment)")
        let d = lattice.size
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let fileSize = (attributes[.size] as? NSNumber)?.intValue else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "cannot read data file '\(path)'")
        }
        let copies = signSymmetrised ? 6 : 4
        // D x D: the covariance, its circulant projection as a matrix, and the clone's Cholesky input and factor.
        try MemoryBudget.require(MemoryBudget.sum(MemoryBudget.product(copies, fileSize), MemoryBudget.product(4, d, d, 8)),
                                 flag: flag, for: "the data set '\(path)' (\(fileSize) bytes) with its statistics")
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "cannot read data file '\(path)'")
        }
        let hash = bytes.withUnsafeBytes(fnv1a64)
        let array = try NpyArray.decode(bytes, path: path, flag: flag)
        try require(array.shape.count == 2 && array.shape[1] == d, flag: flag,
                    "'\(path)' has shape \(array.shape), expected (N, D) with D = L^dim = \(d) (--L, --dim)")
        let n = array.shape[0]
        let statistics = try EmpiricalInputs(values: array.values, rowCount: n, lattice: lattice, stationarity: stationarity,
                                             symmetriseSign: signSymmetrised, flag: flag)
        let reference = DataSetReference(path: path, rowCount: n, checksum: String(format: "fnv1a64:%016llx", hash),
                                         stationarity: stationarity, signSymmetrised: signSymmetrised, augmentation: augmentation)
        return LoadedDataSet(reference: reference, lattice: lattice,
                             rows: signSymmetrised ? array.values + array.values.map { -$0 } : array.values,
                             statistics: statistics)
    }

    private init(reference: DataSetReference, lattice: Lattice, rows: [Double], statistics: EmpiricalInputs) {
        self.reference = reference
        self.lattice = lattice
        self.rows = rows
        self.statistics = statistics
        let (matrix, _, distance) = statistics.covariance()
        covarianceMatrix = matrix
        let d = lattice.size
        var projection = [Double](repeating: 0, count: d)
        for i in 0..<d { for j in 0..<d { projection[lattice.offset(from: i, to: j)] += matrix[i * d + j] / Double(d) } }
        circulantProjection = projection
        distanceFromCirculant = distance
    }

    public var isTranslated: Bool { reference.augmentation == .translate }

    /// Row `index` into `x`, rolled by the lattice displacement `shift` (0 ..< D; 0 is the row as given):
    /// x_i = row_(i + shift), coordinates added modulo L on the torus.
    @inline(__always)
    public func copyRow(_ index: Int, into x: UnsafeMutablePointer<Double>, shift: Int = 0) {
        let d = lattice.size, length = lattice.length
        rows.withUnsafeBufferPointer { all in
            let row = all.baseAddress! + index * d
            if shift == 0 { return x.update(from: row, count: d) }
            if lattice.dimension == 1 {
                for i in 0..<d { x[i] = row[(i + shift) % d] }
            } else {
                let rowShift = shift / length, columnShift = shift % length
                for r in 0..<length {
                    let source = row + ((r + rowShift) % length) * length
                    for c in 0..<length { x[r * length + c] = source[(c + columnShift) % length] }
                }
            }
        }
    }

    /// Row `index`, randomly translated under `--augment translate`: the one draw both samplers use.
    @inline(__always)
    public func draw(_ index: Int, into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256) {
        copyRow(index, into: x, shift: isTranslated ? uniformIndex(lattice.size, rng: &rng) : 0)
    }

    /// The rows, each at one random translation drawn from `rng` (the montecarlo closure's fixed
    /// sample), or as given.
    public func fixedSample(rng: inout Xoshiro256) -> [Double] {
        guard isTranslated else { return rows }
        let d = lattice.size
        var sample = [Double](repeating: 0, count: rows.count)
        sample.withUnsafeMutableBufferPointer { out in
            for n in 0..<rowCount { draw(n, into: out.baseAddress! + n * d, rng: &rng) }
        }
        return sample
    }

    /// The lower Cholesky factor of the covariance, for the clone's dense sampler, and the
    /// diagonal jitter it needed: 0 when C is positive definite, otherwise the smallest
    /// 10^k x mean variance (k = -12 ... -4) that makes it so (an empirical covariance with
    /// N <= D rows, or with exact translation symmetry, is only semidefinite).
    public func choleskyFactor() throws -> (factor: [Double], jitter: Double) {
        let d = lattice.size
        let scale = (0..<d).reduce(0) { $0 + covarianceMatrix[$1 * d + $1] } / Double(d)
        var jitter = 0.0
        for exponent in [nil] + (-12 ... -4).map(Optional.some) {
            if let exponent { jitter = pow(10, Double(exponent)) * max(scale, .leastNormalMagnitude) }
            var matrix = covarianceMatrix
            for i in 0..<d { matrix[i * d + i] += jitter }
            if let factor = try? DenseLinearAlgebra.cholesky(matrix, n: d) { return (factor, jitter) }
        }
        throw ConvEmergeError.invalidInput(flag: "--inputs", message: "the covariance of '\(reference.path)' is not positive semidefinite even with a jitter of 1e-4 x its mean variance")
    }
}

/// Draws rows of a data set: uniformly with replacement, or in passes (epochs) that each visit
/// every row once in a fresh random order (Fisher-Yates with the caller's generator).
public final class DataRowSampler {
    public let data: LoadedDataSet
    public let withoutReplacement: Bool
    private var order: [Int]
    private var cursor: Int

    public init(_ data: LoadedDataSet, withoutReplacement: Bool) {
        self.data = data
        self.withoutReplacement = withoutReplacement
        order = withoutReplacement ? Array(0..<data.rowCount) : []
        cursor = order.count
    }

    /// The index of the next row.
    @inline(__always)
    public func nextRow(rng: inout Xoshiro256) -> Int {
        let n = data.rowCount
        guard withoutReplacement else { return uniformIndex(n, rng: &rng) }
        if cursor == n {
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, uniformIndex(i + 1, rng: &rng)) }
            cursor = 0
        }
        defer { cursor += 1 }
        return order[cursor]
    }

    /// Copies the next row into `x` (D doubles), translated under `--augment translate`.
    @inline(__always)
    public func sample(into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256) {
        data.draw(nextRow(rng: &rng), into: x, rng: &rng)
    }

}

/// Uniform in 0 ..< n by rejection (no modulo bias).
@inline(__always)
func uniformIndex(_ n: Int, rng: inout Xoshiro256) -> Int {
    let bound = UInt64(n)
    let limit = UInt64.max - UInt64.max % bound
    while true {
        let draw = rng.next()
        if draw < limit { return Int(draw % bound) }
    }
}
