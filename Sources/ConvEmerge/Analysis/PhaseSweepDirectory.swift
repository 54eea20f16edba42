import Foundation

/// A sweep directory: sweep.json (the grid), cells/NNNNNNN.csv (one finished cell each),
/// phase.csv once every cell is finished, and .lock. Several processes may work in one directory
/// at once (shards, or the same command started twice): the steps that read and write the shared
/// files run under flock(2) on DIR/.lock, and every file appears by one rename(2).
extension PhaseSweep {
    public static func cellsDirectory(_ directory: String) -> String { (directory as NSString).appendingPathComponent("cells") }
    static func specPath(_ directory: String) -> String { (directory as NSString).appendingPathComponent("sweep.json") }
    public static func csvPath(_ directory: String) -> String { (directory as NSString).appendingPathComponent("phase.csv") }
    static func lockPath(_ directory: String) -> String { (directory as NSString).appendingPathComponent(".lock") }
    static func cellPath(_ directory: String, _ cell: Int) -> String {
        (cellsDirectory(directory) as NSString).appendingPathComponent(String(format: "%07d.csv", cell))
    }

    /// A process's hold on an open sweep: a shared flock(2) on sweep.json, released when the
    /// lease is freed or the process ends however it ends. While any is held, another process
    /// opening the sweep knows it is running, joins it without --resume, and leaves its staging
    /// files alone (their PIDs may belong to another machine sharing the directory).
    public final class Lease {
        private let descriptor: Int32

        fileprivate init(descriptor: Int32) { self.descriptor = descriptor }

        deinit { close(descriptor) }
    }

    /// Creates (with its missing parents) or reopens DIR for `spec` and returns the lease to hold
    /// while computing. An existing DIR must hold the same sweep; finished cells of this shard are
    /// accepted with `resume`, or while another process is running the sweep. Nothing is created
    /// when DIR exists and is not that sweep's directory.
    @discardableResult
    public static func prepare(_ directory: String, spec: PhaseSweepSpec, resume: Bool,
                               shard: (index: Int, count: Int) = (0, 1)) throws -> Lease {
        try require(!directory.isEmpty, flag: "--out", "must be a directory path, got an empty string")
        try requireSweepDirectory(directory, of: spec)
        try makeDirectories(directory)
        return try withLock(directory) {
            // Again under the lock: another process may have created the sweep meanwhile.
            try requireSweepDirectory(directory, of: spec)
            if !FileManager.default.fileExists(atPath: specPath(directory)) {
                try AtomicFile.write(RunDirectory.encoder.encode(spec), to: specPath(directory), sweepingStale: false)
            }
            try makeDirectories(cellsDirectory(directory))
            let (lease, othersRunning) = try openLease(directory)
            if !resume && !othersRunning {
                let started = finishedCellIndices(directory).filter { $0 % shard.count == shard.index }.count
                try require(started == 0, flag: "--resume",
                            "'\(directory)' already holds \(started) finished cells of this sweep\(shard.count > 1 ? " (shard \(shard.index)/\(shard.count))" : ""): "
                            + "pass --resume to continue it, or choose another --out")
            }
            if !othersRunning {
                sweepStaleStaging(in: directory)
                sweepStaleStaging(in: cellsDirectory(directory))
            }
            return lease
        }
    }

    /// Refuses, naming --out, a path that is a file, a directory of anything but a sweep, or the
    /// directory of another sweep. A missing path passes.
    static func requireSweepDirectory(_ directory: String, of spec: PhaseSweepSpec) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: directory, isDirectory: &isDirectory) else { return }
        try require(isDirectory.boolValue, flag: "--out", "'\(directory)' exists and is not a directory; choose another path")
        if manager.fileExists(atPath: specPath(directory)) {
            let existing = try readSpec(directory, flag: "--out")
            try require(existing.describesSameSweep(as: spec), flag: "--out",
                        "'\(directory)' holds another sweep (\(spec.difference(from: existing))); choose another --out")
            return
        }
        // What a process that died before writing sweep.json may have left.
        let leftovers = { (name: String) in
            name == ".lock" || stagingTarget(of: name) == "sweep.json"
                || (name == "cells" && (try? manager.contentsOfDirectory(atPath: cellsDirectory(directory)))?.isEmpty == true)
        }
        let names = (try? manager.contentsOfDirectory(atPath: directory)) ?? []
        if let foreign = names.sorted().first(where: { !leftovers($0) }) {
            throw ConvEmergeError.invalidInput(flag: "--out", message: "'\(directory)' exists and is not a phase sweep directory "
                                               + "(no sweep.json, holds '\(foreign)'); choose another path")
        }
    }

    /// mkdir -p, where a directory made by a concurrent process is as good as one made here.
    static func makeDirectories(_ path: String) throws {
        var current = URL(fileURLWithPath: "/")
        for component in URL(fileURLWithPath: path).standardizedFileURL.pathComponents.dropFirst() {
            current.appendPathComponent(component)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: current.path, isDirectory: &isDirectory), isDirectory.boolValue { continue }
            if mkdir(current.path, 0o755) != 0 {
                let code = errno
                guard code == EEXIST, FileManager.default.fileExists(atPath: current.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                    let reason = code == EEXIST ? "it exists and is not a directory" : String(cString: strerror(code))
                    throw ConvEmergeError.invalidInput(flag: "--out", message: "cannot create directory '\(current.path)': \(reason)")
                }
            }
        }
    }

    /// Runs `body` holding an exclusive flock(2) on DIR/.lock (released by close, or by the
    /// kernel if the process is killed).
    static func withLock<T>(_ directory: String, _ body: () throws -> T) throws -> T {
        let descriptor = open(lockPath(directory), O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ConvEmergeError.invalidInput(flag: "--out", message: "cannot open '\(lockPath(directory))': \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw ConvEmergeError.invalidInput(flag: "--out", message: "cannot lock '\(lockPath(directory))': \(String(cString: strerror(errno)))")
            }
        }
        return try body()
    }

    /// Under the lock of DIR: a lease on sweep.json, and whether another process holds one (an
    /// exclusive lock is then refused). All lock changes on sweep.json happen under the lock of
    /// DIR, so the probe and the downgrade to shared race with nothing.
    private static func openLease(_ directory: String) throws -> (Lease, othersRunning: Bool) {
        // Read-only suffices locally; NFS emulates an exclusive flock only on a writable descriptor.
        var descriptor = open(specPath(directory), O_RDWR | O_CLOEXEC)
        if descriptor < 0 { descriptor = open(specPath(directory), O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else {
            throw ConvEmergeError.invalidInput(flag: "--out", message: "cannot open '\(specPath(directory))': \(String(cString: strerror(errno)))")
        }
        // A probe that fails for any other reason counts as a running sweep: the safe side, as
        // it only spares finished cells and staging files.
        let alone = flock(descriptor, LOCK_EX | LOCK_NB) == 0
        _ = flock(descriptor, LOCK_SH | LOCK_NB)
        return (Lease(descriptor: descriptor), !alone)
    }

    /// The file a staging sibling `.NAME.tmp-PID-N` (or `.partial-`, `.old-`) stands for.
    static func stagingTarget(of name: String) -> String? {
        guard name.hasPrefix(".") else { return nil }
        for kind in Staging.Kind.allCases {
            if let marker = name.range(of: ".\(kind.rawValue)-", options: .backwards), marker.lowerBound > name.index(after: name.startIndex) {
                return String(name[name.index(after: name.startIndex)..<marker.lowerBound])
            }
        }
        return nil
    }

    /// Removes the staging files that killed processes (kill -9) left in `directory`: one scan
    /// when the sweep is opened, instead of one per cell written.
    static func sweepStaleStaging(in directory: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for target in Set(names.compactMap(stagingTarget)) {
            Staging.sweepStale(next: URL(fileURLWithPath: directory).appendingPathComponent(target))
        }
    }

    public static func readSpec(_ directory: String, flag: String = "--out") throws -> PhaseSweepSpec {
        let path = specPath(directory)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(directory)' is not a phase sweep directory (no sweep.json)")
        }
        do {
            return try RunDirectory.decoder.decode(PhaseSweepSpec.self, from: data)
        } catch {
            throw ConvEmergeError.invalidInput(flag: flag, message: "'\(path)' is not a sweep description this version can read (\(describeDecodingError(error)))")
        }
    }

    /// Indices of the finished cells, from the file names alone.
    static func finishedCellIndices(_ directory: String) -> Set<Int> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cellsDirectory(directory))) ?? []
        // Hidden names are staging files of cells being written.
        return Set(names.lazy.filter { $0.hasSuffix(".csv") && !$0.hasPrefix(".") }.compactMap { Int($0.dropLast(4)) })
    }

    /// Finished cell index -> its CSV line.
    public static func finishedCells(_ directory: String) throws -> [Int: String] {
        var cells: [Int: String] = [:]
        for index in finishedCellIndices(directory) {
            guard let text = try? String(contentsOfFile: cellPath(directory, index), encoding: .utf8) else { continue }
            cells[index] = text.trimmingCharacters(in: .newlines)
        }
        return cells
    }

    /// The finished cells of `directories` (one sweep, or its shards; the first directory's line
    /// wins). Throws if the directories hold different sweeps.
    static func collectCells(of directories: [String]) throws -> (spec: PhaseSweepSpec, cells: [Int: String]) {
        try require(!directories.isEmpty, flag: "phase merge", "needs at least one directory")
        let spec = try readSpec(directories[0], flag: "phase merge")
        var cells: [Int: String] = [:]
        for directory in directories {
            let other = try readSpec(directory, flag: "phase merge")
            try require(other.describesSameSweep(as: spec), flag: "phase merge",
                        "'\(directory)' holds another sweep than '\(directories[0])' (\(spec.difference(from: other)))")
            cells.merge(try finishedCells(directory)) { first, _ in first }
        }
        return (spec, cells)
    }

    /// phase.csv from the cells of `directories`, sorted by cell index; nil while cells are missing.
    public static func table(of directories: [String]) throws -> (spec: PhaseSweepSpec, text: String?, missing: Int) {
        let (spec, cells) = try collectCells(of: directories)
        let missing = (0..<spec.cellCount).filter { cells[$0] == nil }.count
        guard missing == 0 else { return (spec, nil, missing) }
        let lines = (0..<spec.cellCount).map { cells[$0]! }
        return (spec, ([spec.header] + lines).joined(separator: "\n") + "\n", 0)
    }

    /// Writes DIR/phase.csv if every cell is finished and returns the number still missing. Under
    /// the lock, so that of shards finishing together the last one sees all cells (and the file
    /// system's caches are revalidated on NFS); a phase.csv with the same bytes is left untouched.
    @discardableResult
    public static func writeTableIfComplete(_ directory: String) throws -> Int {
        try withLock(directory) {
            let (_, text, missing) = try table(of: [directory])
            if let text, FileManager.default.contents(atPath: csvPath(directory)) != Data(text.utf8) {
                try AtomicFile.write(text, to: csvPath(directory), sweepingStale: false)
            }
            return missing
        }
    }

    /// Merges the directories of one sweep into `output` (new, empty, one of the inputs, or the
    /// same sweep's directory): its missing cell files, then phase.csv from its cells, byte-identical
    /// to a single run's. Nothing is written unless every cell is there.
    public static func merge(_ directories: [String], into output: String) throws -> PhaseSweepSpec {
        let (spec, cells) = try collectCells(of: directories)
        let missing = (0..<spec.cellCount).filter { cells[$0] == nil }.count
        try require(missing == 0, flag: "phase merge",
                    "\(missing) of \(spec.cellCount) cells are missing from \(directories.joined(separator: " ")); nothing was written")
        let lease = try prepare(output, spec: spec, resume: true)
        try withExtendedLifetime(lease) {
            let present = finishedCellIndices(output)
            for (cell, line) in cells where !present.contains(cell) {
                try AtomicFile.write(line + "\n", to: cellPath(output, cell), sweepingStale: false)
            }
            try writeTableIfComplete(output)
        }
        return spec
    }
}
