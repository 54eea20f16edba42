import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Peak resident memory (RSS) of a workload, in bytes.
///
/// getrusage(RUSAGE_SELF).ru_maxrss is a process-lifetime maximum, so it cannot tell apart
/// the workloads of one `bench` run. Two per-workload measurements are used instead:
/// - in process: Linux (>= 4.0) resets the high-water mark VmHWM of /proc/self/status when
///   "5" is written to /proc/self/clear_refs; the peak of a workload is VmHWM read after it.
///   Cheap, and it needs no second process, so every bench section uses it.
/// - in a child process: the VmHWM of /proc/PID/status, read every millisecond while the
///   child runs (it only grows, and the child's own address space starts afresh at exec).
///   wait4's ru_maxrss is not the child's alone: posix_spawn's vfork makes the parent's
///   address space the one that exec replaces, and Linux keeps its high-water mark in the
///   child's maxrss, so a child of a large bench process would report at least the parent's
///   size. Used for whole commands with their default flags (`simulate`, `solve`), whose peak
///   includes the executable, as a user would see it.
/// Where neither is available the peak is nil and bench prints "-".
public enum PeakMemory {
    /// Resets the process's VmHWM; false where the kernel does not support it.
    public static func resetHighWaterMark() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    /// VmHWM of /proc/self/status (or of process `pid`'s) in bytes, nil where it cannot be read.
    public static func highWaterMark(of pid: pid_t? = nil) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kiB = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kiB * 1024
    }

    /// The result of `body` and its peak RSS (nil if the high-water mark cannot be reset or read).
    public static func measure<T>(_ body: () throws -> T) rethrows -> (value: T, peakBytes: Int?) {
        let reset = resetHighWaterMark()
        let value = try body()
        return (value, reset ? highWaterMark() : nil)
    }

    /// Runs `executable` with `arguments` (stdout and stderr discarded) and returns its exit
    /// status and its own peak RSS in bytes (its VmHWM as last read while it ran; ru_maxrss
    /// of wait4 where /proc cannot be read).
    public static func child(_ executable: String, _ arguments: [String]) throws -> (status: Int32, peakBytes: Int?) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw ConvEmergeError.io(path: executable, reason: "cannot start it (errno \(spawned))")
        }
        var status: Int32 = 0
        var usage = rusage()
        var polled: Int?
        while true {
            let reaped = wait4(pid, &status, WNOHANG, &usage)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { break }
            if let mark = highWaterMark(of: pid) { polled = max(polled ?? 0, mark) }
            usleep(1000)
        }
        let exited = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exited, polled ?? (usage.ru_maxrss > 0 ? usage.ru_maxrss * 1024 : nil))
    }
}
