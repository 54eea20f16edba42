import Foundation

/// A run's output directory: manifest.json, .npy arrays and observables.csv.
/// Everything is written into a hidden staging sibling and renamed into place
/// by `commit`, so a crash or a bad input never leaves a half-written run.
public final class RunDirectory {
    public let path: String
    private let staging: URL
    private var committed = false

    /// `flag` names the option that gave the path, for error messages.
    public init(path: String, flag: String = "--out") throws {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            try require(isDirectory.boolValue, flag: flag, "'\(path)' exists and is not a directory")
            let contents = (try? manager.contentsOfDirectory(atPath: url.path)) ?? []
            try require(contents.isEmpty || contents.contains("manifest.json"), flag: flag,
                        "'\(path)' exists, is not empty and is not a ConvEmerge run directory; choose another path")
        }
        let parent = url.deletingLastPathComponent()
        try require(manager.fileExists(atPath: parent.path), flag: flag, "the parent directory of '\(path)' does not exist")
        self.path = url.path
        staging = parent.appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try manager.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw ConvEmergeError.invalidInput(flag: flag, message: "cannot create a directory next to '\(path)': \(error.localizedDescription)")
        }
    }

    deinit {
        if !committed { try? FileManager.default.removeItem(at: staging) }
    }

    public func write(_ array: NpyArray, as name: String) throws {
        try array.write(to: staging.appendingPathComponent(name).path)
    }

    public func write(text: String, as name: String) throws {
        try AtomicFile.write(text, to: staging.appendingPathComponent(name).path)
    }

    public func write<T: Encodable>(json value: T, as name: String) throws {
        try write(text: String(decoding: try RunDirectory.encoder.encode(value), as: UTF8.self) + "\n", as: name)
    }

    /// Writes the manifest last and moves the staged directory into place,
    /// replacing an earlier run at the same path.
    public func commit<Manifest: Encodable>(manifest: Manifest) throws {
        try write(json: manifest, as: "manifest.json")
        let manager = FileManager.default
        let target = URL(fileURLWithPath: path)
        do {
            if manager.fileExists(atPath: target.path) {
                let old = staging.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).old-\(getpid())")
                try manager.moveItem(at: target, to: old)
                try manager.moveItem(at: staging, to: target)
                try? manager.removeItem(at: old)
            } else {
                try manager.moveItem(at: staging, to: target)
            }
            committed = true
        } catch {
            throw ConvEmergeError.io(path: path, reason: "cannot move the finished run into place: \(error.localizedDescription)")
        }
    }

    /// JSON with snake_case keys, sorted, and infinities as strings (gain = inf).
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    /// Reads `manifest.json` of an earlier run.
    public static func readManifest<Manifest: Decodable>(_ type: Manifest.Type, in directory: String, flag: String) throws -> Manifest {
        let file = URL(fileURLWithPath: directory).appendingPathComponent("manifest.json").path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(directory)' has no manifest.json")
        }
        do { return try decoder.decode(type, from: data) } catch {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(file)' is not a manifest this version can read: \(error)")
        }
    }
}

/// A CSV table with a header row, numbers printed to full precision.
public struct CSVTable: Sendable {
    public let columns: [String]
    public private(set) var rows: [[Double]] = []

    public init(columns: [String]) { self.columns = columns }

    public mutating func append(_ row: [Double]) {
        precondition(row.count == columns.count)
        rows.append(row)
    }

    public var text: String {
        ([columns.joined(separator: ",")] + rows.map { $0.map { "\($0)" }.joined(separator: ",") })
            .joined(separator: "\n") + "\n"
    }
}
