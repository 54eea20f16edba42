import Foundation

/// Writes go to a hidden sibling and are renamed into place with one rename(2), so an
/// interrupted or failed run never leaves a half-written file and never loses the old one.
/// (FileManager.replaceItemAt on Linux renames the original away first and can fail after.)
public enum AtomicFile {
    /// `flag` names the option that gave the path in every error. `sweepingStale: false` skips
    /// the scan for leftovers of killed processes (for many small files in one directory, whose
    /// owner sweeps once).
    public static func write(_ data: Data, to path: String, flag: String = "--out", sweepingStale: Bool = true) throws {
        try write(to: path, flag: flag, sweepingStale: sweepingStale) { descriptor in
            try data.withUnsafeBytes { try writeAll(descriptor, $0) }
        }
    }

    /// The same, for content that `produce` writes into the new file's descriptor piece by piece
    /// (a large array straight from its buffer, without an encoded copy in memory).
    static func write(to path: String, flag: String = "--out", sweepingStale: Bool = true,
                             _ produce: (Int32) throws -> Void) throws {
        try requireTarget(path, flag: flag)
        let target = URL(fileURLWithPath: path)
        if sweepingStale { Staging.sweepStale(next: target) }
        let temporary = Staging.sibling(of: target, kind: .tmp).path
        Staging.register(temporary)
        defer { Staging.unregister(temporary) }
        do {
            try writeNewFile(at: temporary, produce)
            guard rename(temporary, path) == 0 else { throw POSIXRename.Failure(code: errno) }
        } catch let failure as POSIXRename.Failure {
            unlink(temporary)
            throw ConvEmergeError.invalidInput(flag: flag, message: "cannot write '\(path)': \(POSIXRename.reason(failure.code))")
        }
    }

    public static func write(_ text: String, to path: String, flag: String = "--out", sweepingStale: Bool = true) throws {
        try write(Data(text.utf8), to: path, flag: flag, sweepingStale: sweepingStale)
    }

    /// Fails early, naming `flag`, when `path` cannot receive a file: it must be non-empty, not
    /// an existing directory (a directory is never replaced by a file), and its directory must exist.
    public static func requireTarget(_ path: String, flag: String) throws {
        try require(!path.isEmpty, flag: flag, "must be a file path, got an empty string")
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        try require(!(exists && isDirectory.boolValue), flag: flag, "'\(path)' is a directory; give a file path (nothing was changed)")
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try require(FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue,
                    flag: flag, "directory '\(directory)' does not exist")
    }

    /// open(O_EXCL) + write: errors are errno values, not Foundation's prose. (No fsync: the
    /// guarantee is against killed processes, and phase sweeps write thousands of small files.)
    private static func writeNewFile(at path: String, _ produce: (Int32) throws -> Void) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw POSIXRename.Failure(code: errno) }
        defer { close(descriptor) }
        try produce(descriptor)
    }

    /// write(2) until every byte is out (short writes and EINTR retried); errno as a `POSIXRename.Failure`.
    static func writeAll(_ descriptor: Int32, _ raw: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < raw.count {
            let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw POSIXRename.Failure(code: errno)
            }
            offset += written
        }
    }
}
