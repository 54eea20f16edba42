import ConvEmerge
import Foundation
import XCTest

/// Every example a user can copy — the "Example" lines of each command's help and the command
/// lines of README.md — runs verbatim, in order, in an empty directory (issue 8). Two are left
/// out because they are studies of a minute or more that `make bench` and `make validate` run:
/// `convemerge bench` without `--quick`, and `convemerge validate`.
final class CLIExamplesTests: CLITestCase {
    static let studies = ["convemerge validate", "convemerge bench"]

    /// Shell lines joined at trailing backslashes.
    static func joinContinuations(_ lines: [String]) -> [String] {
        var commands: [String] = []
        var pending: String?
        for raw in lines {
            let line = raw.trimmingCharacters(in: .whitespaces)
            let text = pending.map { $0 + " " + line } ?? line
            if text.hasSuffix("\\") {
                pending = String(text.dropLast()).trimmingCharacters(in: .whitespaces)
            } else {
                commands.append(text)
                pending = nil
            }
        }
        return commands
    }

    static func isRunnable(_ command: String) -> Bool {
        command.hasPrefix("convemerge ")
            && !studies.contains { command.hasPrefix($0) && !command.contains("--quick") }
            // `plot` would install matplotlib into a missing .venv; make test needs no Python packages.
            && (!command.hasPrefix("convemerge plot") || CLI.projectVenvReady)
    }

    /// The "Example" block of `convemerge help <command>`: indented lines after the heading.
    func helpExamples(_ command: [String]) throws -> [String] {
        let help = try runOK(["help"] + command).stdout
        var lines: [String] = []
        var inExample = false
        for line in help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("Example") { inExample = true; continue }
            if inExample && (line.isEmpty || !line.hasPrefix(" ")) { inExample = false }
            if inExample { lines.append(line) }
        }
        return Self.joinContinuations(lines)
    }

    /// Commands in README.md, in the order they appear: fenced ``` blocks, four-space indented
    /// blocks, and `convemerge ...` in backticks in the rows of the command table. A block after
    /// a line `<!-- examples-test: skip (reason) -->` is left out (cluster schedulers).
    func readmeExamples() throws -> [String] {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        var block: [String] = []
        var commands: [String] = []
        var fenced = false, skipping = false
        func flush() { commands += Self.joinContinuations(block); block = [] }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.contains("examples-test: skip") { flush(); skipping = true; continue }
            if skipping {
                if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("    ") { continue }
                skipping = false
            }
            if line.hasPrefix("```") { flush(); fenced.toggle(); continue }
            if fenced || line.hasPrefix("    ") {
                block.append(line)
                continue
            }
            flush()
            guard line.hasPrefix("|") else { continue }
            var rest = Substring(line)
            while let open = rest.range(of: "`convemerge "), let close = rest[open.upperBound...].firstIndex(of: "`") {
                commands.append(String(rest[rest.index(after: open.lowerBound)..<close]))
                rest = rest[rest.index(after: close)...]
            }
        }
        flush()
        return commands
    }

    /// Runs `commands` with bash in a fresh directory, `convemerge` on the PATH.
    func runInOrder(_ commands: [String], label: String) throws {
        let workspace = directory.appendingPathComponent(label)
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: false)
        let binaryDirectory = try XCTUnwrap(CLI.executable).deletingLastPathComponent().path
        for command in commands where Self.isRunnable(command) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", "set -e; export PATH=\"\(binaryDirectory):$PATH\"; \(command) > /dev/null 2> .stderr"]
            process.currentDirectoryURL = workspace
            try process.run()
            process.waitUntilExit()
            let stderr = (try? String(contentsOf: workspace.appendingPathComponent(".stderr"), encoding: .utf8)) ?? ""
            XCTAssertEqual(process.terminationStatus, 0, "\(label): `\(command)` failed: \(stderr.suffix(500))")
        }
    }

    func testEveryHelpExampleRunsInOrderInAnEmptyDirectory() throws {
        let commands = ["stats", "sample", "cumulant", "solve", "closure-error", "simulate", "compare",
                        "instability", "criterion", "tensor", "phase", "analyze", "plot", "demo", "bench"].map { [$0] } + [["phase", "merge"]]
        var total = 0
        for command in commands {
            let examples = try helpExamples(command)
            XCTAssertFalse(examples.isEmpty, "`convemerge help \(command.joined(separator: " "))` shows no example")
            total += examples.filter(Self.isRunnable).count
            try runInOrder(examples, label: command.joined(separator: "-"))
        }
        XCTAssertGreaterThan(total, 15)
    }

    func testEveryReadmeCommandRunsInOrderInAnEmptyDirectory() throws {
        let examples = try readmeExamples()
        XCTAssertGreaterThan(examples.filter(Self.isRunnable).count, 15)
        try runInOrder(examples, label: "readme")
    }
}
