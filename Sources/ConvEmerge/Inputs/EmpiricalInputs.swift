import CGSL
import Foundation

/// A data set of N inputs on the lattice (an (N, D) float64 .npy, `--inputs data:FILE.npy`)
/// and its empirical statistics (SPEC §6): the covariance as it is or projected onto circulant
/// matrices, the pooled marginal's skewness and excess kurtosis, and the actions of the third
/// and fourth cumulants with their standard errors. Everything is centred by the per-site mean
/// (the mean over sites too under `circulant` stationarity). Derivation: derivations/data-inputs.md.
public struct EmpiricalInputs: Sendable {
    /// How the covariance is estimated.
    public enum Stationarity: String, Codable, CaseIterable, Sendable {
        /// Crops of photographs are not periodic: the covariance as estimated (dense, Toeplitz-like).
        case raw
        /// Averaged over lattice translations: the circulant matrix closest in Frobenius norm.
        case circulant
    }

    public let lattice: Lattice
    public let rowCount: Int
    /// Centred rows, N x D row-major.
    public let rows: [Double]
    public let stationarity: Stationarity
    /// Whether every row also enters as -x (odd cumulants vanish).
    public let signSymmetrised: Bool

    /// At least this many rows: fewer give no meaningful covariance or cumulant estimate.
    public static let minimumRows = 10

    /// `data` holds N x D values (row-major); `flag` names the option for errors.
    public init(values data: [Double], rowCount n: Int, lattice: Lattice, stationarity: Stationarity = .raw,
                symmetriseSign: Bool = false, flag: String = "--inputs") throws {
        let d = lattice.size
        try require(n * d == data.count, flag: flag, "holds \(data.count) values, not N x D with D = \(d)")
        try require(n >= Self.minimumRows, flag: flag, "needs at least \(Self.minimumRows) rows for its statistics, got \(n)")
        try require(data.allSatisfy(\.isFinite), flag: flag, "holds non-finite values (nan or inf)")
        var rows = data
        var mean = [Double](repeating: 0, count: d)
        if !symmetriseSign {
            for r in 0..<n { for i in 0..<d { mean[i] += rows[r * d + i] } }
            for i in 0..<d { mean[i] /= Double(n) }
            if stationarity == .circulant {
                let pooled = mean.reduce(0, +) / Double(d)
                mean = [Double](repeating: pooled, count: d)
            }
        }
        for r in 0..<n { for i in 0..<d { rows[r * d + i] -= mean[i] } }
        if symmetriseSign { rows += rows.map { -$0 } }
        self.lattice = lattice
        self.rowCount = symmetriseSign ? 2 * n : n
        self.rows = rows
        self.stationarity = stationarity
        self.signSymmetrised = symmetriseSign
    }

    /// Reads an (N, D) .npy; errors name `flag` and the file.
    public static func read(from path: String, lattice: Lattice, stationarity: Stationarity = .raw,
                            symmetriseSign: Bool = false, flag: String = "--inputs") throws -> EmpiricalInputs {
        let array = try NpyArray.read(from: path, flag: flag)
        try require(array.shape.count == 2 && array.shape[1] == lattice.size, flag: flag,
                    "'\(path)' has shape \(array.shape), expected (N, \(lattice.size)) for D = \(lattice.size) (--L, --dim)")
        return try EmpiricalInputs(values: array.values, rowCount: array.shape[0], lattice: lattice, stationarity: stationarity,
                                   symmetriseSign: symmetriseSign, flag: flag)
    }

    public var size: Int { lattice.size }

    /// The raw empirical covariance (1/N) X^T X of the centred rows, D x D row-major: one pass of
    /// N D^2 / 2 multiply-adds, each row's outer product added to the upper triangle with a
    /// contiguous (vectorised) inner loop. (GSL's reference cblas_dsyrk, striding through the
    /// transposed rows, made `stats` on N = 2e5 rows of D = 100 take 16 s of CPU; with this loop
    /// the whole command takes 0.4 s.)
    public func rawCovariance() -> [Double] {
        let d = size
        var c = [Double](repeating: 0, count: d * d)
        rows.withUnsafeBufferPointer { x in
            c.withUnsafeMutableBufferPointer { out in
                for r in 0..<rowCount {
                    let row = x.baseAddress! + r * d
                    for i in 0..<d {
                        let xi = row[i]
                        let target = out.baseAddress! + i * d
                        for j in i..<d { target[j] += xi * row[j] }
                    }
                }
            }
        }
        let scale = 1 / Double(rowCount)
        for i in 0..<d {
            for j in i..<d {
                c[i * d + j] *= scale
                c[j * d + i] = c[i * d + j]
            }
        }
        return c
    }

    /// The covariance used by the theory: raw, or its average over lattice translations, with
    /// the relative Frobenius distance between the two (0 for periodic data with enough rows).
    public func covariance() -> (matrix: [Double], firstRow: [Double]?, distanceFromCirculant: Double) {
        let raw = rawCovariance()
        let d = size
        var row = [Double](repeating: 0, count: d)
        for i in 0..<d { for j in 0..<d { row[lattice.offset(from: i, to: j)] += raw[i * d + j] / Double(d) } }
        var difference = 0.0, norm = 0.0
        for i in 0..<d {
            for j in 0..<d {
                let projected = row[lattice.offset(from: i, to: j)]
                difference += (raw[i * d + j] - projected) * (raw[i * d + j] - projected)
                norm += raw[i * d + j] * raw[i * d + j]
            }
        }
        let distance = (difference / max(norm, .leastNormalMagnitude)).squareRoot()
        guard stationarity == .circulant else { return (raw, nil, distance) }
        var projected = raw
        for i in 0..<d { for j in 0..<d { projected[i * d + j] = row[lattice.offset(from: i, to: j)] } }
        return (projected, row, distance)
    }

    /// Skewness and excess kurtosis of the marginal pooled over sites (each site standardised by
    /// the pooled variance: a stationary field has one marginal).
    public func marginalMoments() -> (skewness: Double, excessKurtosis: Double) {
        var m2 = 0.0, m3 = 0.0, m4 = 0.0
        for x in rows {
            let x2 = x * x
            m2 += x2
            m3 += x2 * x
            m4 += x2 * x2
        }
        let count = Double(rows.count)
        m2 /= count; m3 /= count; m4 /= count
        return (m3 / pow(m2, 1.5), m4 / (m2 * m2) - 3)
    }

    /// A cumulant action with the standard error of each component.
    public struct Action: Sendable {
        public let value: [Double]
        public let standardError: [Double]
    }

    /// S(w)_i = sum_jk K_ijk w_j w_k = E[x_i p^2], p = w.x, for centred inputs: one pass.
    public func thirdCumulantAction(_ w: [Double]) -> Action {
        rowAverage(w) { x, p, i in x[i] * p * p }
    }

    /// T(w)_i = E[x_i p^3] - 3 (C w)_i (w.C w) (SPEC §1) with (C w)_i = E[x_i p], w.C w = E[p^2]:
    /// two passes over the data, no D x D matrix. The standard error is the delta method's: the
    /// per-row influence x_i p^3 - 3 (x_i p b + a_i p^2), a = C w, b = w.C w, has the same
    /// fluctuations as the estimator to first order (derivations/data-inputs.md).
    public func fourthCumulantAction(_ w: [Double]) -> Action {
        let a = rowAverage(w) { x, p, i in x[i] * p }.value
        // w.C w = E[p^2] = sum_i w_i E[x_i p]: no pass of its own.
        let b = dot(w, a)
        let influence = rowAverage(w) { x, p, i in x[i] * p * p * p - 3 * (x[i] * p * b + a[i] * p * p) }
        return Action(value: (0..<size).map { influence.value[$0] + 3 * a[$0] * b }, standardError: influence.standardError)
    }

    /// mean over rows of term(x, p = w.x, i) for each site i, with the standard error of the mean.
    private func rowAverage(_ w: [Double], _ term: (UnsafePointer<Double>, Double, Int) -> Double) -> Action {
        let d = size
        var sum = [Double](repeating: 0, count: d), sumSquares = sum
        rows.withUnsafeBufferPointer { x in
            w.withUnsafeBufferPointer { weights in
                for r in 0..<rowCount {
                    let row = x.baseAddress! + r * d
                    let projection = dot(row, weights.baseAddress!, d)
                    for i in 0..<d {
                        let value = term(row, projection, i)
                        sum[i] += value
                        sumSquares[i] += value * value
                    }
                }
            }
        }
        let n = Double(rowCount)
        let mean = sum.map { $0 / n }
        let standardError = (0..<d).map { i in (max(sumSquares[i] / n - mean[i] * mean[i], 0) / (n - 1)).squareRoot() }
        return Action(value: mean, standardError: standardError)
    }
}

extension Lattice {
    /// The index of the displacement from site i to site j (the column of a circulant's first
    /// row that holds its (i, j) entry).
    public func offset(from i: Int, to j: Int) -> Int {
        let a = coordinates(of: i), b = coordinates(of: j)
        let row = ((b.row - a.row) % length + length) % length
        let column = ((b.column - a.column) % length + length) % length
        return dimension == 1 ? column : row * length + column
    }
}
