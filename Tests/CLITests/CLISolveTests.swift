import ConvEmerge
import Foundation
import XCTest

/// `solve`, `closure-error` and `demo` through the binary: the run layout other
/// tools rely on, and bad input that leaves nothing behind.
final class CLISolveTests: CLITestCase {
    private let small = ["--L", "16", "--gain", "2", "--t-max", "20", "--saves", "10", "--quiet"]

    func testSolveWritesTheRunLayout() throws {
        let run = path("run")
        try runOK(["solve"] + small + ["--closure", "cumulant", "--seed", "4", "--out", run])
        let manifest = try RunDirectory.readManifest(SolveManifest.self, in: run, flag: "--theory")
        XCTAssertEqual(manifest.status, .completed)
        XCTAssertEqual(manifest.parameters.closure.kind, .cumulant)
        XCTAssertEqual(manifest.parameters.task.dimension, 16)
        XCTAssertEqual(manifest.parameters.initialization, .random(scale: 0.1, seed: 4))
        let weights = try NpyArray.read(from: run + "/weights.npy", flag: "test")
        let times = try NpyArray.read(from: run + "/times.npy", flag: "test")
        XCTAssertEqual(weights.shape, [10, 16])
        XCTAssertEqual(times.shape, [10])
        XCTAssertEqual(times.values.last!, 20, accuracy: 1e-12)
        let csv = try String(contentsOfFile: run + "/observables.csv", encoding: .utf8).split(separator: "\n")
        let header = csv[0].split(separator: ",").map(String.init)
        for column in ["t", "ipr", "participation_ratio", "q0", "q1", "loss", "center", "width"] {
            XCTAssertTrue(header.contains(column), "observables.csv lacks \(column)")
        }
        XCTAssertEqual(csv.count, 11)
        // The CSV's IPR is the IPR of the saved weights, row by row.
        let iprColumn = header.firstIndex(of: "ipr")!
        for row in 0..<10 {
            let w = Array(weights.values[(16 * row)..<(16 * row + 16)])
            let ipr = Double(csv[row + 1].split(separator: ",")[iprColumn])!
            XCTAssertEqual(ipr, Observables.inverseParticipationRatio(w), accuracy: 1e-12)
            XCTAssertEqual(Double(csv[row + 1].split(separator: ",")[0])!, times.values[row], accuracy: 1e-12)
        }
        XCTAssertEqual(manifest.finalIpr ?? .nan, Observables.inverseParticipationRatio(Array(weights.values.suffix(16))), accuracy: 1e-12)
        // The same seed gives the same run; --init from the run continues from its last row.
        let again = path("again")
        try runOK(["solve"] + small + ["--closure", "cumulant", "--seed", "4", "--out", again])
        XCTAssertEqual(try NpyArray.read(from: again + "/weights.npy", flag: "test"), weights)
        let continued = path("continued")
        try runOK(["solve"] + small + ["--closure", "cumulant", "--init", run + "/weights.npy", "--out", continued])
        let start = try NpyArray.read(from: continued + "/weights.npy", flag: "test")
        XCTAssertEqual(Array(start.values.prefix(16)), Array(weights.values.suffix(16)))
    }

    /// derivations/monte-carlo-closure.md: the montecarlo run is the same bits on one thread and
    /// on three; --mc-precision is recorded in the manifest (and a float run stays close to double).
    func testMonteCarloThreadsGiveTheSameRunAndPrecisionIsRecorded() throws {
        // 2500 x 16 values: past the size below which one thread does the whole right-hand side.
        let montecarlo = small + ["--closure", "montecarlo", "--mc-samples", "2500"]
        try runOK(["solve"] + montecarlo + ["--threads", "1", "--out", path("one")])
        try runOK(["solve"] + montecarlo + ["--threads", "3", "--out", path("three")])
        let one = try NpyArray.read(from: path("one") + "/weights.npy", flag: "test")
        XCTAssertEqual(one.values.map(\.bitPattern), try NpyArray.read(from: path("three") + "/weights.npy", flag: "test").values.map(\.bitPattern))
        try runOK(["solve"] + montecarlo + ["--mc-precision", "float", "--out", path("float")])
        let manifest = try RunDirectory.readManifest(SolveManifest.self, in: path("float"), flag: "--theory")
        XCTAssertEqual(manifest.parameters.closure.monteCarloPrecision, .float)
        XCTAssertEqual(try RunDirectory.readManifest(SolveManifest.self, in: path("one"), flag: "--theory").parameters.closure.monteCarloPrecision, .double)
        let float = try NpyArray.read(from: path("float") + "/weights.npy", flag: "test")
        XCTAssertLessThan(Observables.relativeDistance(Array(float.values.suffix(16)), Array(one.values.suffix(16))), 1e-3)
    }

    func testSolveRejectsBadInputAndWritesNothing() throws {
        let bad: [([String], String)] = [
            (["--rtol", "0"], "--rtol"), (["--t-max=-1"], "--t-max"), (["--saves", "1"], "--saves"),
            (["--lr", "0"], "--lr"), (["--closure", "exact"], "--closure"), (["--targets", "1"], "--targets"),
            (["--p1", "1.5"], "--p1"), (["--init", path("absent.npy")], "--init"), (["--init-scale", "0"], "--init-scale"),
            (["--mc-samples", "0", "--closure", "montecarlo"], "--mc-samples"), (["--xi1", "0"], "--xi"),
            (["--task", "clone", "--gaussian"], "--gaussian"),
        ]
        let wrongLength = try writeVector([1, 2, 3], named: "w3.npy")
        for (arguments, flag) in bad + [(["--init", wrongLength], "--init")] {
            let outcome = try CLI.run(["solve"] + small + arguments + ["--out", path("run")])
            XCTAssertEqual(outcome.status, 2, "\(arguments): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderrLines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(flag), "\(arguments): '\(outcome.stderr)' does not name \(flag)")
            XCTAssertFalse(fileExists("run"), "\(arguments) left a run directory")
        }
        // Nothing but the input file we wrote: no staging directories left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["w3.npy"])
        // A directory that is not a run is never overwritten.
        try AtomicFile.write("precious", to: path("notes.txt"))
        let outcome = try CLI.run(["solve"] + small + ["--out", directory.path])
        XCTAssertEqual(outcome.status, 2)
        XCTAssertTrue(outcome.stderr.contains("--out"))
    }

    func testDemoAndClosureErrorRun() throws {
        let demo = try runOK(["demo", "--L", "16", "--t-max", "5", "--mc-samples", "300", "--seeds", "2", "--batch", "8", "--out", path("demo")])
        for closure in ["gaussian", "cumulant-leading", "cumulant-full", "conditional", "montecarlo", "gaussian-control", "simulation"] {
            XCTAssertTrue(fileExists("demo/\(closure)/manifest.json"), "demo did not write \(closure)")
            XCTAssertTrue(demo.stdout.contains(closure))
        }
        let table = try runOK(["closure-error", "--L", "16", "--gains", "0.5,2", "--mc-samples", "2000", "--json"]).json()
        let rows = try XCTUnwrap(table["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 2 * 2 * 4)
        for row in rows {
            let error = try XCTUnwrap(double(row["relative_error"]))
            XCTAssertTrue(error.isFinite && error >= 0)
        }
    }

    func testHelpShowsAnExample() throws {
        for command in ["solve", "closure-error", "demo"] {
            XCTAssertTrue(try runOK([command, "--help"]).stdout.contains("convemerge \(command)"), "\(command) --help has no example")
        }
    }
}

extension CLISolveTests {
    /// closure-error at a run's final RF (`--w weights.npy`), and a probe of the wrong length refused.
    func testClosureErrorAtARunsFinalReceptiveField() throws {
        let run = path("run")
        try runOK(["solve", "--L", "16", "--gain", "2", "--t-max", "20", "--saves", "5", "--quiet", "--out", run])
        let table = try runOK(["closure-error", "--L", "16", "--gains", "2", "--mc-samples", "2000", "--skip-full",
                               "--w", run + "/weights.npy", "--json"]).json()
        let rows = try XCTUnwrap(table["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.filter { ($0["probe"] as? String) == "file" }.count, 3)
        let short = try writeVector([1, 2, 3], named: "short.npy")
        let outcome = try CLI.run(["closure-error", "--L", "16", "--w", short])
        XCTAssertEqual(outcome.status, 2)
        XCTAssertTrue(outcome.stderr.contains("--w"), outcome.stderr)
    }
}

extension CLISolveTests {
    /// Bad flags of the long-running commands are refused before anything is computed or written.
    func testLongCommandsRejectBadInputUpFront() throws {
        let cases: [([String], String)] = [
            (["phase", "--x", "gain=0:1:3", "--y", "xi1=1:2:3", "--L", "16", "--shard", "3/2", "--out", path("sweep")], "--shard"),
            (["phase", "--x", "gain=0:1:3", "--y", "xi1=1:2:3", "--L", "16", "--threads", "0", "--out", path("sweep")], "--threads"),
            (["phase", "--x", "speed=0:1:3", "--y", "xi1=1:2:3", "--L", "16", "--out", path("sweep")], "--x"),
            (["validate", "--out", path("missing/report.md")], "--out"),
            (["instability", "--L", "16", "--closure", "montecarlo"], "--closure"),
            (["simulate", "--L", "16", "--model", "cnn", "--kernel-size", "17", "--out", path("sim")], "--kernel-size"),
            (["tensor", "--L", "16", "--restarts", "0"], "--restarts"),
        ]
        for (arguments, flag) in cases {
            let outcome = try CLI.run(arguments)
            XCTAssertEqual(outcome.status, 2, "\(arguments): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderrLines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(flag), "\(arguments): '\(outcome.stderr)' does not name \(flag)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [], "a rejected command left files")
    }
}
