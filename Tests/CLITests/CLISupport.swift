import ConvEmerge
import Foundation
import XCTest

/// Runs the `convemerge` binary that `swift test` built next to the test bundle.
enum CLI {
    struct Outcome {
        let status: Int32
        let stdout: String
        let stderr: String
        var stderrLines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: true) }

        /// The stdout parsed as one JSON object.
        func json(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
            return try XCTUnwrap(object as? [String: Any], "stdout is not a JSON object: \(stdout.prefix(200))", file: file, line: line)
        }
    }

    /// The directory of the running test bundle: on Linux the .xctest is itself
    /// the executable (argv[0]); on macOS it is a bundle loaded by `xctest`.
    static let executable: URL? = {
        var directories = Bundle.allBundles.filter { $0.bundlePath.hasSuffix(".xctest") }.map { $0.bundleURL.deletingLastPathComponent() }
        directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
        directories.append(Bundle.main.bundleURL)
        return directories.map { $0.appendingPathComponent("convemerge") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    /// Runs the binary to completion; `directory` is its working directory (default: the test's).
    /// A run still going after `timeout` seconds is killed and reported with status -1.
    static func run(_ arguments: [String], in directory: URL? = nil, timeout: Double = 600,
                    file: StaticString = #filePath, line: UInt = #line) throws -> Outcome {
        try start(arguments, in: directory, file: file, line: line).wait(timeout: timeout)
    }

    /// Starts the binary without waiting, for tests that run several at once or signal one.
    static func start(_ arguments: [String], in directory: URL? = nil,
                      file: StaticString = #filePath, line: UInt = #line) throws -> RunningCLI {
        let binary = try XCTUnwrap(executable, "convemerge binary not found next to the test bundle", file: file, line: line)
        return try RunningCLI(binary: binary, arguments: arguments, directory: directory)
    }

    /// A PID no process has: Linux hands out PIDs below pid_max only.
    static var deadProcessIdentifier: Int32 {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8)) ?? ""
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? Int32.max
    }
}

/// A running `convemerge`; its stdout and stderr go to files, not pipes, so a large output
/// cannot block it.
final class RunningCLI {
    private let process = Process()
    private let scratch: URL

    fileprivate init(binary: URL, arguments: [String], directory: URL?) throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("convemerge-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: scratch.appendingPathComponent("stdout").path, contents: nil)
        _ = FileManager.default.createFile(atPath: scratch.appendingPathComponent("stderr").path, contents: nil)
        process.executableURL = binary
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = try FileHandle(forWritingTo: scratch.appendingPathComponent("stdout"))
        process.standardError = try FileHandle(forWritingTo: scratch.appendingPathComponent("stderr"))
        try process.run()
    }

    deinit {
        // A test that failed before `wait` must not leave the process running.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: scratch)
    }

    func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    var isRunning: Bool { process.isRunning }

    /// The outcome once the process has ended; `status` is the signal's number if one killed it,
    /// -1 if it was still running after `timeout` seconds (it is then killed).
    func wait(timeout: Double = .infinity) -> CLI.Outcome {
        let deadline = Date().addingTimeInterval(min(timeout, 1e9))
        while process.isRunning && Date() < deadline { usleep(5_000) }
        let timedOut = process.isRunning
        if timedOut { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let text = { (name: String) in (try? String(contentsOf: self.scratch.appendingPathComponent(name), encoding: .utf8)) ?? "" }
        return CLI.Outcome(status: timedOut ? -1 : process.terminationStatus, stdout: text("stdout"), stderr: text("stderr"))
    }
}

/// A fresh directory per test, removed afterwards.
class CLITestCase: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("convemerge-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func fileExists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    /// Polls `condition` every 20 ms until it holds or `timeout` seconds pass (generous: the
    /// machine may be loaded); returns whether it held.
    func eventually(within timeout: TimeInterval = 60, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { return false }
            usleep(20_000)
        }
        return true
    }

    /// Succeeds and returns the outcome, or fails the test with the command's stderr.
    @discardableResult
    func runOK(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Outcome {
        let outcome = try CLI.run(arguments, file: file, line: line)
        XCTAssertEqual(outcome.status, 0, "convemerge \(arguments.joined(separator: " ")): \(outcome.stderr)", file: file, line: line)
        return outcome
    }

    /// A vector written as a (D,) .npy file.
    func writeVector(_ values: [Double], named name: String) throws -> String {
        try NpyArray(shape: [values.count], values: values).write(to: path(name))
        return path(name)
    }
}

/// JSON numbers as Doubles (JSONSerialization may hand back Int for whole numbers).
func doubles(_ value: Any?) -> [Double] {
    (value as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.doubleValue }
}

func double(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
