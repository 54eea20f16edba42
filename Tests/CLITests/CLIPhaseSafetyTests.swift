import ConvEmerge
import Foundation
import XCTest

/// `convemerge phase` re-run, interrupted, sharded and fed nonsense (issue 8): phase.csv is
/// always the single run's bytes, a killed sweep leaves no hidden file and resumes, and a bad
/// flag writes nothing.
final class CLIPhaseSafetyTests: CLITestCase {
    /// A 4 x 3 grid of the SPEC §3 task at L = 16: milliseconds per cell.
    private func quick(_ out: String, x: String = "gain=0:3:4", _ extra: String...) -> [String] {
        ["phase", "--x", x, "--y", "xi1=1:2:3", "--L", "16", "--t-max", "20", "--measure", "ipr,growth", "--quiet", "--out", out] + extra
    }

    /// A 3 x 2 grid under the montecarlo closure on one thread: ~0.2 s per cell, slow enough to
    /// be interrupted after its first cell and before its last.
    private func slow(_ out: String, _ extra: String...) -> [String] {
        ["phase", "--x", "gain=0:3:3", "--y", "xi1=1:2:2", "--L", "16", "--t-max", "20", "--closure", "montecarlo",
         "--mc-samples", "2000", "--threads", "1", "--quiet", "--out", out] + extra
    }

    /// The slow grid's phase.csv, computed once for the tests that interrupt it.
    nonisolated(unsafe) private static var slowReference: Data?

    private func slowReference() throws -> Data {
        if let data = Self.slowReference { return data }
        try runOK(slow(path("reference")))
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path("reference/phase.csv")))
        Self.slowReference = data
        return data
    }

    private func table(_ out: String) -> Data? { FileManager.default.contents(atPath: out + "/phase.csv") }

    private func finishedCells(_ out: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: out + "/cells")) ?? []).filter { !$0.hasPrefix(".") }.count
    }

    /// Entries of `out`, at any depth, whose name starts with '.' (.lock, the sweep's lock, is allowed).
    private func hiddenEntries(_ out: String) -> [String] {
        let all = FileManager.default.enumerator(atPath: out)?.allObjects as? [String] ?? []
        return all.filter { ($0 as NSString).lastPathComponent.hasPrefix(".") && $0 != ".lock" }
    }

    func testConcurrentShardsShareOneDirectory() throws {
        try runOK(quick(path("single"), "--threads", "1"))
        let reference = try XCTUnwrap(table(path("single")))
        // Started together into one --out whose parent does not exist yet; the third joins shard 0.
        let shared = path("runs/shared")
        let runs = try [quick(shared, "--shard", "0/2", "--threads", "1"), quick(shared, "--shard", "1/2", "--threads", "1"),
                        quick(shared, "--shard", "0/2", "--threads", "1", "--resume")].map { try CLI.start($0) }
        for (k, run) in runs.enumerated() {
            let outcome = run.wait()
            XCTAssertEqual(outcome.status, 0, "process \(k): \(outcome.stderr)")
        }
        XCTAssertEqual(table(shared), reference)
        XCTAssertEqual(hiddenEntries(shared), [])
    }

    func testResumeAndMergeKeepAFinishedTable() throws {
        let out = path("sweep")
        try runOK(quick(out))
        let reference = try XCTUnwrap(table(out))
        let inode = { try FileManager.default.attributesOfItem(atPath: out + "/phase.csv")[.systemFileNumber] as? Int }
        let original = try inode()
        try runOK(quick(out, "--resume"))
        try runOK(["phase", "merge", out])
        try runOK(["phase", "merge", out])
        XCTAssertEqual(table(out), reference)
        XCTAssertEqual(try inode(), original, "an unchanged phase.csv was rewritten")
        try runOK(["phase", "merge", out, "--out", path("copy")])
        XCTAssertEqual(table(path("copy")), reference)

        // Another sweep merged into it is refused, naming --out, and changes nothing.
        try runOK(quick(path("other"), x: "gain=0:3:5"))
        let refused = try CLI.run(["phase", "merge", path("other"), "--out", out])
        XCTAssertEqual(refused.status, 2)
        XCTAssertEqual(refused.stderrLines.count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--out") && refused.stderr.contains("another sweep"), refused.stderr)
        XCTAssertEqual(table(out), reference)

        // An incomplete merge writes nothing.
        try runOK(quick(path("half"), "--shard", "0/2"))
        let incomplete = try CLI.run(["phase", "merge", path("half"), "--out", path("merged")])
        XCTAssertEqual(incomplete.status, 2, incomplete.stderr)
        XCTAssertFalse(fileExists("merged"))
    }

    /// Interrupted by SIGINT, resumed, interrupted by SIGTERM, resumed to the end.
    func testSignalsLeaveNoHiddenFileAndResumeToTheSameTable() throws {
        let reference = try slowReference()
        let out = path("sweep")
        for (signal, resume) in [(SIGINT, false), (SIGTERM, true)] {
            let before = finishedCells(out)
            let run = try CLI.start(resume ? slow(out, "--resume") : slow(out))
            XCTAssertTrue(eventually { finishedCells(out) > before }, "no cell was finished")
            run.send(signal)
            let outcome = run.wait()
            XCTAssertEqual(outcome.status, 128 + signal, outcome.stderr)
            XCTAssertLessThan(finishedCells(out), 6, "the sweep finished before signal \(signal)")
            XCTAssertEqual(hiddenEntries(out), [])
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/phase.csv"))
        }
        try runOK(slow(out, "--resume"))
        XCTAssertEqual(table(out), reference)
    }

    func testKill9ThenResumeSweepsStaleStaging() throws {
        let reference = try slowReference()
        let out = path("sweep")
        let run = try CLI.start(slow(out))
        XCTAssertTrue(eventually { finishedCells(out) >= 1 }, "no cell was finished")
        run.send(SIGKILL)
        _ = run.wait()
        // What kill -9 in the middle of a write leaves (too brief a window to hit on purpose).
        let dead = CLI.deadProcessIdentifier
        for stale in ["cells/.0000005.csv.tmp-\(dead)-1", ".phase.csv.tmp-\(dead)-2", ".sweep.json.tmp-\(dead)-3"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: out + "/" + stale, contents: Data("half".utf8)))
        }
        let again = try CLI.run(slow(out))
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("--resume"), again.stderr)
        try runOK(slow(out, "--resume"))
        XCTAssertEqual(table(out), reference)
        XCTAssertEqual(hiddenEntries(out), [])
    }

    /// Each error is one line naming the flag the user typed, and nothing is created.
    func testBadFlagsAreOneLineAndWriteNothing() throws {
        let out = path("runs/sweep")
        let grid = ["--L", "16", "--t-max", "20", "--out", out]
        let cases: [([String], String, String)] = [
            (["--x", "L=2:8:3", "--y", "gain=0:1:2"], "--x", "L = 2 is out of range: must be >= 4"),
            (["--x", "gain=0:1:2", "--y", "L=16:2:3"], "--y", "L = 2"),
            (["--x", "L=16.5:20:2", "--y", "gain=0:1:2"], "--x", "whole"),
            (["--x", "gain=1:2:1", "--y", "xi1=1:2:2"], "--x", "b must equal a"),
            (["--x", "gain=0:1:10000", "--y", "xi1=1:2:10000"], "--y", "at most 100000"),
            (["--x", "gain=nan:1:3", "--y", "xi1=1:2:2"], "--x", "finite"),
            (["--x", "gain=0:inf:3", "--y", "xi1=1:2:2"], "--x", "finite"),
            (["--x", "gain=0:1:3", "--y", "xi1=-inf:2:2"], "--y", "finite"),
            (["--x", "gain=0:1:inf", "--y", "xi1=1:2:2"], "--x", "whole number"),
            (["--x", "xi=2:20:2", "--y", "gain=0:1:2", "--task", "clone"], "--x", "xi = 20"),
            (["--y", "xi1=1:2:2"], "--x", "required"),
            (["--x", "gain=0:1:2"], "--y", "required"),
            (["--x", "gain=0:1:2", "--y", "xi1=1:2:2", "--threads", "0"], "--threads", "1 ... 1024"),
            (["--x", "gain=0:1:2", "--y", "xi1=1:2:2", "--shard", "1/0"], "--shard", "0 <= i < N"),
            (["--x", "gain=0:1:2", "--y", "xi1=1:2:2", "--shard=-1/2"], "--shard", "0 <= i < N"),
            (["--x", "gain=0:1:2", "--y", "xi1=1:2:2", "--shard", "a/b"], "--shard", "i/N"),
            (["--x", "gain=0:1:2", "--y", "xi1=1:2:2", "--measure", "ipr,"], "--measure", "ipr and/or growth"),
            (["--x", "gain=0:1:2", "--y", "xi1=1:2:2", "--measure", "ipr,speed"], "--measure", "ipr and/or growth"),
            (["--bogus"], "--bogus", "Unknown option"),
        ]
        for (arguments, flag, text) in cases {
            let outcome = try CLI.run(["phase"] + grid + arguments)
            XCTAssertEqual(outcome.status, 2, "\(arguments): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderrLines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(flag) && outcome.stderr.contains(text), "\(arguments): '\(outcome.stderr)' lacks \(flag) / '\(text)'")
            XCTAssertFalse(fileExists("runs"), "\(arguments) created --out")
        }
    }

    /// `instability`'s refusal of a montecarlo Jacobian for a kinked neuron, up front.
    func testMontecarloGrowthIsRefusedLikeInstability() throws {
        let refused = try CLI.run(["phase", "--x", "gain=0:1:2", "--y", "xi1=1:2:2", "--L", "16", "--closure", "montecarlo",
                                   "--measure", "ipr,growth", "--out", path("sweep")])
        let instability = try CLI.run(["instability", "--L", "16", "--closure", "montecarlo"])
        XCTAssertEqual(refused.status, 2)
        XCTAssertEqual(refused.stderrLines.count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.hasPrefix("error: --closure: montecarlo"), refused.stderr)
        XCTAssertEqual(refused.stderr, instability.stderr)
        XCTAssertFalse(fileExists("sweep"))
    }
}
