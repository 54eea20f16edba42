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
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shapeText), }"
        // Magic (6) + version (2) + header length (2) + header must be a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBufferPointer { buffer in
            for v in buffer {
                var bits = v.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
            }
        }
        return data
    }

    /// Atomic write (AtomicFile); `flag` names the option that gave the path in errors.
    public func write(to path: String, flag: String = "--out") throws {
        try AtomicFile.write(encoded(), to: path, flag: flag)
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
