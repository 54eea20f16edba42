import CPosix
import Foundation

/// Hidden siblings that hold output while it is being written (`.NAME.tmp-PID-N` for files,
/// `.NAME.partial-PID-N` for run directories). They are registered while their process lives,
/// removed by `Interruption` on SIGINT/SIGTERM/SIGHUP, and swept by the next command that
/// writes to the same path once the process that made them is gone (kill -9 leaves them).
public enum Staging {
    public enum Kind: String, CaseIterable { case tmp, partial, old }

    /// A fresh hidden sibling of `target` in the same directory, so that rename(2) is atomic.
    static func sibling(of target: URL, kind: Kind) -> URL {
        target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).\(kind.rawValue)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var live: Set<String> = []

    /// Blocks for good once `removeAllForExit` has begun (it keeps the lock until the process
    /// exits), so no new staging path appears while the registry is being emptied.
    static func register(_ path: String) {
        lock.lock(); defer { lock.unlock() }
        live.insert(path)
    }

    static func unregister(_ path: String) {
        lock.lock(); defer { lock.unlock() }
        live.remove(path)
    }

    /// Parents of output paths created by this process, deepest first; rmdir(2) removes them only
    /// while empty, so whatever else appeared in them meanwhile is never touched.
    nonisolated(unsafe) private static var createdParents: [String] = []

    static func registerCreatedParents(_ paths: [String]) {
        lock.lock(); defer { lock.unlock() }
        createdParents = paths + createdParents
    }

    static func unregisterCreatedParents(_ paths: [String]) {
        lock.lock(); defer { lock.unlock() }
        createdParents.removeAll { paths.contains($0) }
    }

    /// For output that was never committed: its created parents go, deepest first, when empty.
    static func removeCreatedParents(_ paths: [String]) {
        lock.lock(); defer { lock.unlock() }
        for path in paths { _ = rmdir(path) }
        createdParents.removeAll { paths.contains($0) }
    }

    /// Removes every registered path and keeps the lock: the caller exits next.
    static func removeAllForExit() {
        lock.lock()
        for path in live { try? FileManager.default.removeItem(atPath: path) }
        live.removeAll()
        for path in createdParents { _ = rmdir(path) }
    }

    /// Removes the staging siblings of `target` left by processes that no longer exist. An `old`
    /// sibling holds a previous run that was being replaced: it is put back if the target is
    /// missing (the replacement never arrived), and removed otherwise.
    public static func sweepStale(next target: URL) {
        let directory = target.deletingLastPathComponent()
        let manager = FileManager.default
        guard let names = try? manager.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names {
            for kind in Kind.allCases {
                let prefix = ".\(target.lastPathComponent).\(kind.rawValue)-"
                guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }),
                      pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
                let stale = directory.appendingPathComponent(name).path
                if kind == .old && !manager.fileExists(atPath: target.path) {
                    _ = rename(stale, target.path)
                } else {
                    try? manager.removeItem(atPath: stale)
                }
            }
        }
    }
}

/// Ctrl-C, `kill` and a closed terminal end the process, but first remove the hidden staging
/// files and directories of unfinished output, so an interrupted run leaves nothing behind and
/// the previous contents of every output path untouched.
public enum Interruption {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// Call once at start-up, before any output is staged.
    public static func installCleanupHandlers() {
        let queue = DispatchQueue(label: "convemerge.signals")
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            // Delivered to the dispatch source instead of killing the process at once.
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                Staging.removeAllForExit()
                let name = signalNumber == SIGINT ? "SIGINT" : signalNumber == SIGTERM ? "SIGTERM" : "SIGHUP"
                FileHandle.standardError.write(Data("\nconvemerge: interrupted by \(name); unfinished output removed, earlier results untouched\n".utf8))
                _exit(128 + signalNumber)
            }
            source.resume()
            sources.append(source)
        }
    }
}

/// rename(2)-family calls with errno turned into a readable reason.
enum POSIXRename {
    static func reason(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// Moves `from` onto `to`, replacing `to` atomically if it exists: a directory swaps places
    /// with the old one (RENAME_EXCHANGE), whose copy is then removed. Without renameat2 the
    /// old directory is first set aside as an `old` sibling (`Staging.sweepStale` restores it
    /// if the process dies before the new one is in place).
    static func replace(_ from: URL, onto to: URL) throws {
        if convemerge_rename_noreplace(from.path, to.path) == 0 { return }
        var code = errno
        if code == EEXIST || code == ENOTEMPTY {
            if convemerge_rename_exchange(from.path, to.path) == 0 {
                try? FileManager.default.removeItem(at: from)
                return
            }
            code = errno
        }
        guard code == EINVAL || code == ENOSYS || code == EEXIST || code == ENOTEMPTY else { throw Failure(code: code) }
        // File systems without renameat2 flags.
        if !FileManager.default.fileExists(atPath: to.path) {
            guard rename(from.path, to.path) == 0 else { throw Failure(code: errno) }
            return
        }
        let aside = Staging.sibling(of: to, kind: .old)
        guard rename(to.path, aside.path) == 0 else { throw Failure(code: errno) }
        guard rename(from.path, to.path) == 0 else {
            let failure = Failure(code: errno)
            _ = rename(aside.path, to.path)
            throw failure
        }
        try? FileManager.default.removeItem(at: aside)
    }

    struct Failure: Error { let code: Int32 }
}
