import ConvEmerge
import Foundation
import XCTest

/// Re-running into the same path, interrupting and killing `solve`, `simulate` and `sample`
/// (issue 8): the previous output survives byte for byte or the new one is complete, SIGTERM
/// leaves nothing hidden behind, and what kill -9 leaves is swept by the next run.
final class CLIFaultTests: CLITestCase {
    /// Each command twice: a quick run that fills the path, and a slow one (seconds) to interrupt.
    private struct Workload {
        let name: String
        let output: String
        let quick: [String]
        let slow: [String]
    }

    private var workloads: [Workload] {
        let run = path("run"), npy = path("x.npy")
        return [
            Workload(name: "solve", output: run,
                     quick: ["solve", "--L", "16", "--t-max", "20", "--quiet", "--out", run],
                     slow: ["solve", "--L", "40", "--closure", "montecarlo", "--mc-samples", "40000", "--t-max", "300", "--out", run]),
            Workload(name: "simulate", output: run,
                     quick: ["simulate", "--L", "16", "--t-max", "5", "--quiet", "--out", run],
                     slow: ["simulate", "--L", "64", "--t-max", "20000", "--seeds", "2", "--out", run]),
            Workload(name: "sample", output: npy,
                     quick: ["sample", "--L", "16", "--n", "4", "--seed", "3", "--out", npy],
                     slow: ["sample", "--L", "512", "--n", "30000", "--seed", "4", "--out", npy]),
        ]
    }

    /// Every regular file under `path` (or `path` itself) with its bytes.
    private func snapshot(_ path: String) -> [String: Data] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [:] }
        guard isDirectory.boolValue else { return ["": FileManager.default.contents(atPath: path) ?? Data()] }
        let names = FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []
        return Dictionary(uniqueKeysWithValues: names.map { ($0, FileManager.default.contents(atPath: "\(path)/\($0)") ?? Data()) })
    }

    private var hiddenEntries: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasPrefix(".") }
    }

    /// Waits until the slow run has staged its output (or 2 s for `sample`, which stages only
    /// when it writes), so that the signal arrives in the middle of the work.
    private func waitUntilBusy(_ run: RunningCLI, _ workload: Workload) {
        let deadline = Date().addingTimeInterval(workload.name == "sample" ? 0.5 : 20)
        while Date() < deadline && run.isRunning {
            if workload.name != "sample" && hiddenEntries.contains(where: { $0.contains(".partial-") }) { return }
            usleep(10_000)
        }
    }

    func testRerunningIntoTheSamePathReplacesAtomically() throws {
        for workload in workloads {
            try runOK(workload.quick)
            let first = snapshot(workload.output)
            XCTAssertFalse(first.isEmpty, workload.name)
            try runOK(workload.quick)
            XCTAssertEqual(snapshot(workload.output).keys.sorted(), first.keys.sorted(), "\(workload.name): a re-run changed the files")
            XCTAssertEqual(hiddenEntries, [], workload.name)
        }
    }

    /// Fills the output with the quick run, then starts the slow one and sends `signal` in the
    /// middle of its work. `interrupted` is the status of a process the signal ended: 128 + N
    /// after our handler (SIGTERM), the signal itself when it cannot be caught (SIGKILL).
    private func interrupt(_ workload: Workload, with signal: Int32, interrupted: Int32) throws
        -> (previous: [String: Data], outcome: CLI.Outcome) {
        try runOK(workload.quick)
        let previous = snapshot(workload.output)
        let run = try CLI.start(workload.slow)
        waitUntilBusy(run, workload)
        run.send(signal)
        let outcome = run.wait(timeout: 60)
        // `sample` stages only when it writes, so the signal may come after it finished.
        if workload.name != "sample" {
            XCTAssertEqual(outcome.status, interrupted, "\(workload.name) was not interrupted: \(outcome.stderr)")
        }
        if outcome.status == interrupted {
            XCTAssertEqual(snapshot(workload.output), previous, "\(workload.name): signal \(signal) damaged the previous output")
        } else {
            XCTAssertEqual(outcome.status, 0, "\(workload.name): \(outcome.stderr)")
        }
        return (previous, outcome)
    }

    func testSIGTERMKeepsThePreviousOutputAndLeavesNothingHidden() throws {
        for workload in workloads {
            let (_, outcome) = try interrupt(workload, with: SIGTERM, interrupted: 128 + SIGTERM)
            if outcome.status == 128 + SIGTERM {
                XCTAssertTrue(outcome.stderr.contains("interrupted by SIGTERM"), outcome.stderr)
            }
            XCTAssertEqual(hiddenEntries, [], "\(workload.name): SIGTERM left hidden staging behind")
            try FileManager.default.removeItem(atPath: workload.output)
        }
    }

    func testKillNineKeepsThePreviousOutputAndTheNextRunSweepsItsLeftovers() throws {
        for workload in workloads {
            let (previous, _) = try interrupt(workload, with: SIGKILL, interrupted: SIGKILL)
            // The next run into the same path removes the dead process's staging.
            try runOK(workload.quick)
            // The manifest records the time of the run; every array and table must be the same bytes.
            XCTAssertEqual(snapshot(workload.output).filter { $0.key != "manifest.json" },
                           previous.filter { $0.key != "manifest.json" }, "\(workload.name): the same quick run gave other bytes")
            XCTAssertEqual(hiddenEntries, [], "\(workload.name): leftovers of the killed run were not swept")
            try FileManager.default.removeItem(atPath: workload.output)
        }
    }

    func testAPathThatIsNotARunIsNeverReplaced() throws {
        // A directory with a user's file, the working directory, an empty path and a file where a
        // run directory is expected: refused, naming --out, and untouched.
        try FileManager.default.createDirectory(atPath: path("mine"), withIntermediateDirectories: false)
        try Data("notes".utf8).write(to: directory.appendingPathComponent("mine/notes.txt"))
        try Data("data".utf8).write(to: directory.appendingPathComponent("file.txt"))
        let before = snapshot(directory.path)
        for out in [path("mine"), ".", "", path("file.txt")] {
            let outcome = try CLI.run(["solve", "--L", "16", "--t-max", "5", "--out", out], in: directory)
            XCTAssertEqual(outcome.status, 2, "--out '\(out)': \(outcome.stderr)")
            XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
            XCTAssertTrue(outcome.stderr.contains("--out"), outcome.stderr)
        }
        // A run directory to which the user added a file of their own is not replaced either.
        try runOK(["solve", "--L", "16", "--t-max", "5", "--quiet", "--out", path("run")])
        try Data("mine".utf8).write(to: directory.appendingPathComponent("run/notes.txt"))
        let refused = try CLI.run(["solve", "--L", "16", "--t-max", "5", "--out", path("run")])
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("notes.txt"), refused.stderr)
        for (name, data) in before { XCTAssertEqual(snapshot(directory.path)[name], data, name) }

        // tensor --save onto a run directory, '.' or '' refuses before computing anything.
        for save in [path("run"), ".", ""] {
            let outcome = try CLI.run(["tensor", "--L", "16", "--restarts", "1", "--save", save], in: directory)
            XCTAssertEqual(outcome.status, 2, outcome.stderr)
            XCTAssertTrue(outcome.stderr.hasPrefix("error: --save:"), outcome.stderr)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("run/manifest.json")))
    }

    func testAFullOrReadOnlyDiskNamesTheFlagAndThePath() throws {
        // /proc is read-only for everyone, root included.
        let outcome = try CLI.run(["sample", "--L", "16", "--n", "2", "--out", "/proc/x.npy"])
        XCTAssertEqual(outcome.status, 2, outcome.stderr)
        XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
        XCTAssertTrue(outcome.stderr.hasPrefix("error: --out: cannot write '/proc/x.npy'"), outcome.stderr)
        XCTAssertFalse(outcome.stderr.contains(".tmp-"), "the hidden staging path reached the user: \(outcome.stderr)")
    }
}
