import Foundation

/// Peak RSS of `simulate` and `solve` with their default flags against the size D of the
/// ring, the baseline of issue 11's memory goal (peak <= 1.3 x the arrays written plus the
/// working set). Each run is a child process, so its peak is its own (see `PeakMemory`);
/// only --t-max is shortened (saves and test sets, the D-dependent arrays, keep their defaults).
public enum MemoryBenchmarks {
    public struct Measurement: Sendable {
        public let command: String
        public let dimension: Int
        /// The child's peak RSS in bytes (nil where the kernel does not report it).
        public let peakBytes: Int?
        /// Total bytes of the .npy arrays the run wrote.
        public let arrayBytes: Int
        /// The same command's peak at D = `baseDimension`: the program's own footprint (code,
        /// libraries, runtime), the part of the working set that does not grow with D.
        public let basePeakBytes: Int?
        public var peakBytesPerSite: Double? { peakBytes.map { Double($0) / Double(dimension) } }
        public var peakOverArrays: Double? { peakBytes.map { Double($0) / Double(max(arrayBytes, 1)) } }
        /// Issue 11's measure: peak / (arrays written + working set), the goal <= 1.3.
        public var peakOverArraysAndBase: Double? {
            guard let peakBytes, let basePeakBytes else { return nil }
            return Double(peakBytes) / Double(arrayBytes + basePeakBytes)
        }
    }

    /// The size of the run that measures each command's own footprint.
    public static let baseDimension = 64

    /// The command lines measured: default flags on a ring of `dimension` sites, short runs.
    public static func arguments(command: String, dimension: Int, out: String) -> [String] {
        let shortRun = command == "simulate" ? "0.01" : "1"
        return [command, "--L", String(dimension), "--t-max", shortRun, "--quiet", "--out", out]
    }

    /// Runs `executable` (this very program) for each command and size, in a scratch directory
    /// that is removed afterwards.
    public static func run(executable: String, commands: [String] = ["simulate", "solve"], dimensions: [Int],
                           progress: (String) -> Void = { _ in }) throws -> [Measurement] {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("convemerge-bench-memory-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var measurements: [Measurement] = []
        for command in commands {
            func measure(_ dimension: Int) throws -> (peakBytes: Int?, arrayBytes: Int) {
                progress("peak RSS of \(command) at D = \(dimension)")
                let out = scratch + "/\(command)-\(dimension)"
                let run = try PeakMemory.child(executable, arguments(command: command, dimension: dimension, out: out))
                guard run.status == 0 else {
                    throw ConvEmergeError.io(path: executable, reason: "\(command) at D = \(dimension) exited with status \(run.status)")
                }
                return (run.peakBytes, npyBytes(under: out))
            }
            let base = try measure(baseDimension).peakBytes
            for dimension in dimensions {
                let run = try measure(dimension)
                measurements.append(Measurement(command: command, dimension: dimension, peakBytes: run.peakBytes,
                                                arrayBytes: run.arrayBytes, basePeakBytes: base))
            }
        }
        return measurements
    }

    static func npyBytes(under directory: String) -> Int {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var total = 0
        for case let name as String in walker where name.hasSuffix(".npy") {
            let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? nil
            total += size ?? 0
        }
        return total
    }
}
