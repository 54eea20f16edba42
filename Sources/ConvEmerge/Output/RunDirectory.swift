import Foundation

/// A run's output directory: manifest.json, .npy arrays and observables.csv.
/// Everything is written into a hidden staging sibling and moved into place by `commit`
/// with one atomic rename, so a crash, a signal or a bad input never leaves a half-written
/// run, and an earlier run at the same path stays whole until the new one replaces it.
public final class RunDirectory {
    public let path: String
    private let flag: String
    private let staging: URL
    private var committed = false
    /// The parents of `path` this run created, deepest first: removed again (while empty) when the
    /// run never commits, so a refused or interrupted run into a fresh `a/b/run` leaves no `a/b`.
    private let createdParents: [String]

    /// File types a run writes; a directory holding anything else is not replaced.
    static let runFileExtensions: Set<String> = ["json", "npy", "csv", "png", "md"]

    /// `flag` names the option that gave the path, for error messages. `size`: the bound on what
    /// the run will write, checked against the free space before anything is created (DiskBudget).
    public init(path: String, flag: String = "--out", expecting size: OutputSize? = nil) throws {
        try RunDirectory.requireReplaceable(path, flag: flag)
        if let size { try DiskBudget.require(size, writingTo: path, flag: flag) }
        let url = URL(fileURLWithPath: path).standardizedFileURL
        Staging.sweepStale(next: url)
        self.path = url.path
        self.flag = flag
        staging = Staging.sibling(of: url, kind: .partial)
        // `--out runs/mc` in a fresh directory: the parents are created like `mkdir -p`.
        var missing: [String] = [], parent = url.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: parent.path) && parent.path != "/" {
            missing.append(parent.path)
            parent = parent.deletingLastPathComponent()
        }
        createdParents = missing
        Staging.registerCreatedParents(missing)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        Staging.register(staging.path)
        guard mkdir(staging.path, 0o755) == 0 else {
            let reason = POSIXRename.reason()
            Staging.unregister(staging.path)
            Staging.removeCreatedParents(missing)
            throw ConvEmergeError.invalidInput(flag: flag, message: "cannot create a directory next to '\(path)': \(reason)")
        }
    }

    /// Checks, before any work, that `path` may receive a run: it is new, an empty directory,
    /// or an earlier run (manifest.json and only the kinds of files a run writes).
    public static func requireReplaceable(_ path: String, flag: String) throws {
        try require(!path.isEmpty, flag: flag, "must be a directory path, got an empty string")
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let manager = FileManager.default
        try require(url.path != manager.currentDirectoryPath && url.path != "/", flag: flag,
                    "'\(path)' is the working directory; give a new or run directory path")
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            try require(isDirectory.boolValue, flag: flag, "'\(path)' exists and is not a directory (nothing was changed)")
            let contents = (try? manager.contentsOfDirectory(atPath: url.path)) ?? []
            try require(contents.isEmpty || contents.contains("manifest.json"), flag: flag,
                        "'\(path)' exists, is not empty and is not a ConvEmerge run directory; choose another path")
            if let foreign = contents.sorted().first(where: { name in
                var isSubdirectory: ObjCBool = false
                _ = manager.fileExists(atPath: url.appendingPathComponent(name).path, isDirectory: &isSubdirectory)
                return isSubdirectory.boolValue || !runFileExtensions.contains((name as NSString).pathExtension)
            }) {
                throw ConvEmergeError.invalidInput(flag: flag, message: "run directory '\(path)' also holds '\(foreign)', which a run does not write; "
                                                   + "re-running would replace it: move it away or choose another path")
            }
        }
        // A missing parent is created when the run starts; an existing one must be a directory.
        var ancestor = url.deletingLastPathComponent()
        while !manager.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) && ancestor.path != "/" {
            ancestor = ancestor.deletingLastPathComponent()
        }
        try require(isDirectory.boolValue, flag: flag, "'\(ancestor.path)' is not a directory, so '\(path)' cannot be created")
    }

    deinit {
        if !committed { try? FileManager.default.removeItem(at: staging) }
        Staging.unregister(staging.path)
        if committed { Staging.unregisterCreatedParents(createdParents) } else { Staging.removeCreatedParents(createdParents) }
    }

    public func write(_ array: NpyArray, as name: String) throws {
        try stagingWrite { try array.write(to: staging.appendingPathComponent(name).path, flag: flag) }
    }

    /// `name` in the staged directory, to be filled row by row (a trajectory as it is computed);
    /// `finish` it before `commit`. Its errors name the user's path.
    public func npyWriter(_ name: String, plannedRows: Int, rowShape: [Int]) throws -> NpyStreamWriter {
        try NpyStreamWriter(path: staging.appendingPathComponent(name).path, reportedPath: path + "/" + name,
                            plannedRows: plannedRows, rowShape: rowShape, flag: flag)
    }

    /// Writes the rows of `parts` one after the other as one array of `shape` (no joined copy).
    public func write(_ parts: [[Double]], shape: [Int], as name: String) throws {
        let rowShape = Array(shape.dropFirst())
        let writer = try npyWriter(name, plannedRows: shape[0], rowShape: rowShape)
        for part in parts { try writer.append(part) }
        try writer.finish()
        precondition(writer.rows == shape[0], "RunDirectory.write: the parts do not fill the shape")
    }

    public func write(text: String, as name: String) throws {
        try stagingWrite { try AtomicFile.write(text, to: staging.appendingPathComponent(name).path, flag: flag, sweepingStale: false) }
    }

    public func write<T: Encodable>(json value: T, as name: String) throws {
        try write(text: String(decoding: try RunDirectory.encoder.encode(value), as: UTF8.self) + "\n", as: name)
    }

    /// Errors about the hidden staging path are reported against the user's path.
    private func stagingWrite(_ body: () throws -> Void) throws {
        do { try body() } catch let ConvEmergeError.invalidInput(_, message) {
            let reason = message.components(separatedBy: "': ").last ?? message
            throw ConvEmergeError.invalidInput(flag: flag, message: "cannot write the run into '\(path)': \(reason)")
        }
    }

    /// Writes the manifest last and moves the staged directory into place, replacing an
    /// earlier run at the same path in one atomic step.
    public func commit<Manifest: Encodable>(manifest: Manifest) throws {
        try write(json: manifest, as: "manifest.json")
        do {
            try POSIXRename.replace(staging, onto: URL(fileURLWithPath: path))
            committed = true
        } catch let failure as POSIXRename.Failure {
            throw ConvEmergeError.invalidInput(flag: flag, message: "cannot move the finished run into '\(path)': \(POSIXRename.reason(failure.code))")
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
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(file)' is not a manifest this version can read (\(describeDecodingError(error)))")
        }
    }
}

/// One line for a JSON decoding failure, instead of DecodingError's dump of coding paths.
public func describeDecodingError(_ error: Error) -> String {
    guard let decoding = error as? DecodingError else { return "not valid JSON" }
    func path(_ keys: [CodingKey]) -> String { keys.map(\.stringValue).joined(separator: ".") }
    switch decoding {
    case let .keyNotFound(key, context): return "missing key '\(path(context.codingPath + [key]))'"
    case let .typeMismatch(_, context), let .valueNotFound(_, context):
        return "unexpected value at '\(path(context.codingPath))'"
    case let .dataCorrupted(context):
        return context.codingPath.isEmpty ? "not valid JSON" : "invalid value at '\(path(context.codingPath))'"
    @unknown default: return "unreadable"
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
