import Foundation

/// A float64 array in NumPy's .npy format (version 1.0, little-endian '<f8',
/// C order), the exchange format of every run directory.
public struct NpyArray: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Double]

    public init(shape: [Int], values: [Double]) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the number of values")
        self.shape = shape
        self.values = values
    }

    /// A 2-D array from equal-length rows.
    public init(rows: [[Double]]) {
        let columns = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == columns })
        self.init(shape: [rows.count, columns], values: rows.flatMap { $0 })
    }

    public func encoded() -> Data {
        var data = NpyArray.header(shape: shape)
        values.withUnsafeBufferPointer { buffer in
            for v in buffer {
                var bits = v.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
            }
        }
        return data
    }

    /// Magic, version 1.0, and the header dictionary for `shape`, space-padded so that the
    /// payload starts at a multiple of 64 bytes, or at `length` bytes when given (a streamed
    /// file that ended short rewrites its header in the room its planned shape took).
    static func header(shape: [Int], length: Int? = nil) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shapeText), }"
        // Magic (6) + version (2) + header length (2) + header + newline.
        let unpadded = 10 + header.utf8.count + 1
        let padding = length.map { $0 - unpadded } ?? (64 - unpadded % 64) % 64
        precondition(padding >= 0, "NpyArray.header: the shape does not fit the header's room")
        header += String(repeating: " ", count: padding) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let count = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(count & 0xff), UInt8(count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        return data
    }

    /// Writes `count` doubles as little-endian float64 (the payload of a .npy file).
    static func writeValues(_ values: UnsafePointer<Double>, count: Int, to descriptor: Int32) throws {
        #if _endian(little)
        try AtomicFile.writeAll(descriptor, UnsafeRawBufferPointer(start: values, count: 8 * count))
        #else
        var block = [UInt64](repeating: 0, count: 4096)
        var start = 0
        while start < count {
            let n = min(block.count, count - start)
            for k in 0..<n { block[k] = values[start + k].bitPattern.littleEndian }
            try block.withUnsafeBytes { try AtomicFile.writeAll(descriptor, UnsafeRawBufferPointer(rebasing: $0[0..<(8 * n)])) }
            start += n
        }
        #endif
    }

    /// Atomic write (AtomicFile), straight from `values` (no encoded copy); `flag` names the
    /// option that gave the path in errors.
    public func write(to path: String, flag: String = "--out") throws {
        let header = NpyArray.header(shape: shape)
        try AtomicFile.write(to: path, flag: flag) { descriptor in
            try header.withUnsafeBytes { try AtomicFile.writeAll(descriptor, $0) }
            try values.withUnsafeBufferPointer { try NpyArray.writeValues($0.baseAddress!, count: $0.count, to: descriptor) }
        }
    }

    /// Reads a '<f8' C-order .npy file; `flag` names the option that gave the path.
    public static func read(from path: String, flag: String) throws -> NpyArray {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "cannot read file '\(path)'")
        }
        return try decode(data, path: path, flag: flag)
    }

    /// Parses the bytes of a '<f8' C-order .npy file read from `path` (named in errors).
    public static func decode(_ data: Data, path: String, flag: String) throws -> NpyArray {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(path)' is not a .npy file")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else {
            guard bytes.count >= 12 else { throw ConvEmergeError.invalidInput(flag: flag, message: "'\(path)' is truncated") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        }
        guard bytes.count >= headerStart + headerLength,
              let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .ascii) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(path)' has a truncated header")
        }
        guard header.contains("'<f8'") else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(path)' must hold little-endian float64 ('<f8')")
        }
        guard header.contains("'fortran_order': False") else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(path)' must be in C order")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(path)' has no shape in its header")
        }
        let shape = header[open.upperBound..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        let count = shape.reduce(1, *)
        let payload = headerStart + headerLength
        guard bytes.count - payload == 8 * count else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(path)' holds \((bytes.count - payload) / 8) values, its shape says \(count)")
        }
        var values = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for k in 0..<count {
                let bits = raw.loadUnaligned(fromByteOffset: payload + 8 * k, as: UInt64.self)
                values[k] = Double(bitPattern: UInt64(littleEndian: bits))
            }
        }
        return NpyArray(shape: shape, values: values)
    }

    /// A weight vector of D entries: a (D,) array, or the last row of an (n, D) array
    /// (e.g. a run's weights.npy, whose last row is the final receptive field).
    /// Finite and nonzero, or an error naming `flag`.
    public static func readWeights(from path: String, dimension d: Int, flag: String) throws -> [Double] {
        let array = try read(from: path, flag: flag)
        let last = array.shape.last ?? 0
        try require(last == d && array.shape.count <= 2 && !array.values.isEmpty, flag: flag,
                    "'\(path)' must hold D = \(d) weights (shape (\(d),) or (n, \(d))), has shape \(array.shape)")
        let w = Array(array.values.suffix(d))
        try require(w.allSatisfy(\.isFinite), flag: flag, "'\(path)' holds non-finite weights")
        try require(w.contains { $0 != 0 }, flag: flag, "'\(path)' holds the zero vector")
        return w
    }
}

/// A float64 .npy file written row by row as the rows are computed, so that a long run never
/// holds its saved trajectory in memory. The header goes first with the planned number of rows;
/// a run that stops early (diverged, blew up) keeps the rows it wrote, and `finish` rewrites
/// the header with their number in the same room. The file lives in a run's staging directory
/// (`RunDirectory.npyWriter`), so nothing half-written ever appears at the final path.
public final class NpyStreamWriter {
    public let path: String
    /// Values per row: the product of the shape after its first axis.
    public let rowCount: Int
    public let plannedRows: Int
    public private(set) var rows = 0
    private let rowShape: [Int]
    private let headerLength: Int
    private var descriptor: Int32
    private let flag: String
    /// The path errors name (the final one, not the staging directory's).
    private let reportedPath: String

    /// Creates `path` (which must not exist) for an array of shape [plannedRows] + rowShape.
    init(path: String, reportedPath: String, plannedRows: Int, rowShape: [Int], flag: String) throws {
        self.path = path
        self.reportedPath = reportedPath
        self.plannedRows = plannedRows
        self.rowShape = rowShape
        self.flag = flag
        rowCount = rowShape.reduce(1, *)
        let header = NpyArray.header(shape: [plannedRows] + rowShape)
        headerLength = header.count
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure(errno) }
        try attempt { try header.withUnsafeBytes { try AtomicFile.writeAll(descriptor, $0) } }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Appends whole rows (a multiple of `rowCount` values, at most the planned rows in all).
    public func append(_ values: UnsafeBufferPointer<Double>) throws {
        precondition(values.count % rowCount == 0 && rows + values.count / rowCount <= plannedRows && descriptor >= 0,
                     "NpyStreamWriter: whole rows, no more than planned, before finish")
        try attempt { try NpyArray.writeValues(values.baseAddress!, count: values.count, to: descriptor) }
        rows += values.count / rowCount
    }

    public func append(_ values: [Double]) throws {
        try values.withUnsafeBufferPointer { try append($0) }
    }

    /// Closes the file; with fewer rows than planned, first rewrites the header with the rows written.
    /// Returns the array's shape.
    @discardableResult
    public func finish() throws -> [Int] {
        let shape = [rows] + rowShape
        if rows < plannedRows {
            let header = NpyArray.header(shape: shape, length: headerLength)
            try attempt {
                try header.withUnsafeBytes { raw in
                    guard pwrite(descriptor, raw.baseAddress!, raw.count, 0) == raw.count else { throw POSIXRename.Failure(code: errno) }
                }
            }
        }
        let code = close(descriptor)
        descriptor = -1
        guard code == 0 else { throw failure(errno) }
        return shape
    }

    private func attempt(_ body: () throws -> Void) throws {
        do { try body() } catch let error as POSIXRename.Failure { throw failure(error.code) }
    }

    private func failure(_ code: Int32) -> ConvEmergeError {
        .invalidInput(flag: flag, message: "cannot write '\(reportedPath)': \(POSIXRename.reason(code))")
    }
}
