import ConvEmerge
import Foundation
import XCTest

/// Phase sweeps: a cell is a `solve` and/or an `instability` run; resume, threads and shards
/// must not change a byte of phase.csv.
final class PhaseTests: ScratchDirectoryTestCase {

    private func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    /// A 3 x 2 grid over gain and xi1 of the SPEC §3 task on a ring of 16 sites, cumulant closure.
    private func spec(measures: [PhaseMeasure] = [.ipr, .growth]) throws -> PhaseSweepSpec {
        let base = PhaseBase(dimension: 1, length: 16, kernel: .gaussian, xi: 2, gain: 1, jitter: 0, task: .xi, xi0: 0.5, xi1: 2,
                             gaussianControl: false, prior1: 0.5, targets: [0, 1], activation: .relu, bias: 0,
                             closure: try ClosureSpec(kind: .cumulant), integrator: try IntegratorSpec(tMax: 40, saves: 2),
                             learningRate: 1, initScale: 0.1, seed: 3)
        return try PhaseSweepSpec(base: base, x: PhaseAxis(parsing: "gain=0:2:3", flag: "--x"),
                                  y: PhaseAxis(parsing: "xi1=1.5:2.5:2", flag: "--y"), measures: measures)
    }

    private func csv(_ directory: String) throws -> Data {
        let (_, text, missing) = try PhaseSweep.table(of: [directory])
        XCTAssertEqual(missing, 0)
        return Data(try XCTUnwrap(text).utf8)
    }

    /// Each cell is exactly the `solve` and `instability` of its parameters; at gain 0 (Gaussian
    /// inputs) the cumulant closure's growth rate is the Gaussian one, below zero (the extended state
    /// is stable), and it turns positive at gain 2 (derivations/linear-stability.md §5).
    func testCellsAreSolveAndInstabilityRuns() throws {
        let spec = try spec()
        for cell in [0, 2] {
            let result = PhaseSweep.compute(spec, cell: cell)
            let (x, y) = spec.coordinates(of: cell)
            let parameters = try spec.base.setting(.gain, to: x).setting(.xi1, to: y).solveParameters()
            let solution = try SolveJob.run(parameters)
            XCTAssertEqual(result.finalIPR, try XCTUnwrap(solution.finalIPR), accuracy: 1e-12)
            let analysis = try InstabilityAnalysis(task: parameters.task, neuron: parameters.neuron, closure: parameters.closure,
                                                   learningRate: 1)
            XCTAssertEqual(result.growthRate, try analysis.analyse().growthRate, accuracy: 1e-12)
        }
        XCTAssertLessThan(PhaseSweep.compute(spec, cell: 0).growthRate, 0)
        XCTAssertGreaterThan(PhaseSweep.compute(spec, cell: 2).growthRate, 0)
    }

    /// Shards 0/2 and 1/2 merged, and a run on 3 threads, give phase.csv byte for byte as one run on one thread.
    func testShardsAndThreadsReproduceTheSingleRun() throws {
        let spec = try spec()
        try PhaseSweep.prepare(path("single"), spec: spec, resume: false)
        XCTAssertEqual(try PhaseSweep.run(spec, directory: path("single"), threads: 1), spec.cellCount)
        let reference = try csv(path("single"))
        for i in 0..<2 {
            try PhaseSweep.prepare(path("shard\(i)"), spec: spec, resume: false)
            try PhaseSweep.run(spec, directory: path("shard\(i)"), threads: 2, shard: (i, 2))
            XCTAssertNil(try PhaseSweep.table(of: [path("shard\(i)")]).text)
        }
        _ = try PhaseSweep.merge([path("shard0"), path("shard1")], into: path("merged"))
        XCTAssertEqual(FileManager.default.contents(atPath: PhaseSweep.csvPath(path("merged"))), reference)
        try PhaseSweep.prepare(path("threads"), spec: spec, resume: false)
        try PhaseSweep.run(spec, directory: path("threads"), threads: 3)
        XCTAssertEqual(try csv(path("threads")), reference)
        // Shards may also share one directory, whose last finisher writes phase.csv.
        for i in 0..<2 {
            try PhaseSweep.prepare(path("shared"), spec: spec, resume: false, shard: (i, 2))
            try PhaseSweep.run(spec, directory: path("shared"), threads: 1, shard: (i, 2))
            XCTAssertEqual(try PhaseSweep.writeTableIfComplete(path("shared")), i == 0 ? spec.cellCount / 2 : 0)
        }
        XCTAssertEqual(FileManager.default.contents(atPath: PhaseSweep.csvPath(path("shared"))), reference)
    }

    /// While a process holds its lease on a sweep, another run of the same sweep joins it without
    /// --resume (the same command started twice); once it is gone, finished cells need --resume.
    func testARunningSweepIsJoinedWithoutResume() throws {
        let spec = try spec(measures: [.ipr])
        do {
            let lease = try PhaseSweep.prepare(path("sweep"), spec: spec, resume: false)
            try withExtendedLifetime(lease) {
                XCTAssertEqual(try PhaseSweep.run(spec, directory: path("sweep"), threads: 1, shard: (0, 2)), 3)
                XCTAssertNoThrow(try PhaseSweep.prepare(path("sweep"), spec: spec, resume: false))
            }
        }
        XCTAssertThrowsError(try PhaseSweep.prepare(path("sweep"), spec: spec, resume: false)) { error in
            XCTAssertEqual(flag(of: error), "--resume")
        }
        // Shard 1's cells are not started: it needs no --resume.
        XCTAssertNoThrow(try PhaseSweep.prepare(path("sweep"), spec: spec, resume: false, shard: (1, 2)))
    }

    /// Staging files of dead processes (kill -9 during a write) are removed when the sweep is
    /// reopened; those of a live process are not.
    func testReopeningRemovesStaleStagingOnly() throws {
        let spec = try spec(measures: [.ipr])
        try PhaseSweep.prepare(path("sweep"), spec: spec, resume: false)
        let pidMax = try String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let cells = PhaseSweep.cellsDirectory(path("sweep"))
        let stale = [cells + "/.0000001.csv.tmp-\(pidMax)-7", path("sweep") + "/.phase.csv.tmp-\(pidMax)-8"]
        let live = cells + "/.0000002.csv.tmp-1-9"
        for file in stale + [live] { XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data())) }
        try PhaseSweep.prepare(path("sweep"), spec: spec, resume: true)
        for file in stale { XCTAssertFalse(FileManager.default.fileExists(atPath: file), file) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
    }

    /// Merging never rewrites an unchanged phase.csv, and refuses another sweep's directory as output.
    func testMergeKeepsTheTableAndRefusesAnotherSweep() throws {
        let spec = try spec(measures: [.ipr])
        try PhaseSweep.prepare(path("sweep"), spec: spec, resume: false)
        try PhaseSweep.run(spec, directory: path("sweep"), threads: 2)
        _ = try PhaseSweep.merge([path("sweep")], into: path("sweep"))
        let csv = PhaseSweep.csvPath(path("sweep"))
        let before = try FileManager.default.attributesOfItem(atPath: csv)[.systemFileNumber] as? Int
        _ = try PhaseSweep.merge([path("sweep")], into: path("sweep"))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: csv)[.systemFileNumber] as? Int, before)
        let other = try PhaseSweepSpec(base: spec.base, x: spec.x, y: PhaseAxis(parsing: "xi1=1.5:3:2", flag: "--y"), measures: [.ipr])
        try PhaseSweep.prepare(path("other"), spec: other, resume: false)
        try PhaseSweep.run(other, directory: path("other"), threads: 2)
        XCTAssertThrowsError(try PhaseSweep.merge([path("other")], into: path("sweep"))) { XCTAssertEqual(flag(of: $0), "--out") }
        XCTAssertThrowsError(try PhaseSweep.merge([path("sweep"), path("other")], into: path("both")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("both")))
    }

    /// A sweep stopped part way (here: only one shard's cells and one deleted cell file) resumes
    /// computing exactly the missing cells, and the result is the uninterrupted run's CSV.
    func testResumeComputesOnlyMissingCells() throws {
        let spec = try spec(measures: [.ipr])
        try PhaseSweep.prepare(path("full"), spec: spec, resume: false)
        try PhaseSweep.run(spec, directory: path("full"), threads: 2)
        let reference = try csv(path("full"))

        try PhaseSweep.prepare(path("killed"), spec: spec, resume: false)
        let first = try PhaseSweep.run(spec, directory: path("killed"), threads: 1, shard: (0, 2))
        try FileManager.default.removeItem(atPath: PhaseSweep.cellsDirectory(path("killed")) + "/0000000.csv")
        XCTAssertThrowsError(try PhaseSweep.prepare(path("killed"), spec: spec, resume: false))
        try PhaseSweep.prepare(path("killed"), spec: spec, resume: true)
        let second = try PhaseSweep.run(spec, directory: path("killed"), threads: 2)
        XCTAssertEqual(second, spec.cellCount - first + 1)
        XCTAssertEqual(try PhaseSweep.run(spec, directory: path("killed"), threads: 2), 0)
        XCTAssertEqual(try csv(path("killed")), reference)
        // A different sweep cannot resume into the directory.
        let other = try PhaseSweepSpec(base: spec.base, x: spec.x, y: PhaseAxis(parsing: "xi1=1.5:3:2", flag: "--y"), measures: [.ipr])
        XCTAssertThrowsError(try PhaseSweep.prepare(path("killed"), spec: other, resume: true))
    }

    func testAxisParsing() throws {
        let axis = try PhaseAxis(parsing: "L=16:32:3", flag: "--x")
        XCTAssertEqual(axis.parameter, .L)
        XCTAssertEqual((0..<3).map(axis.value), [16, 24, 32])
        XCTAssertEqual(try PhaseAxis(parsing: "gain=1:1:1", flag: "--x").count, 1)
        for bad in ["gain=1:2", "speed=0:1:3", "gain=0:1:0", "gain=1:1:3", "gain=0:1:2.5", "gain=1:2:1", "L=16.5:20:2",
                    "L=16:20:3.5", "L=16:21:3", "gain=nan:1:2", "gain=0:inf:2", "gain=-inf:0:2", "gain=0:1:inf", "gain=0:1:1e300",
                    "L=4:1e30:2", "gain=0:1:100001", "gain=0::3"] {
            XCTAssertThrowsError(try PhaseAxis(parsing: bad, flag: "--y"), bad) { XCTAssertEqual(flag(of: $0), "--y", bad) }
        }
    }

    /// Errors found at the grid's corners name the axis flag, not the swept parameter's own flag;
    /// a bad fixed flag keeps its own name.
    func testCornerErrorsNameTheAxis() throws {
        let base = try spec().base
        func error(_ x: String, _ y: String, base: PhaseBase = base) -> ConvEmergeError? {
            do {
                _ = try PhaseSweepSpec(base: base, x: PhaseAxis(parsing: x, flag: "--x"), y: PhaseAxis(parsing: y, flag: "--y"), measures: [.ipr])
                return nil
            } catch { return error as? ConvEmergeError }
        }
        XCTAssertEqual(error("L=2:8:3", "gain=0:1:2"), .invalidInput(flag: "--x", message: "L = 2 is out of range: must be >= 4"))
        XCTAssertEqual(error("gain=0:1:2", "L=16:2:3"), .invalidInput(flag: "--y", message: "L = 2 is out of range: must be >= 4"))
        // --L is fixed, the kernel does not fit at the large end of the xi0 axis.
        XCTAssertEqual(flag(of: error("xi0=0.5:20:2", "gain=0:1:2")), "--x")
        XCTAssertEqual(flag(of: error("gain=0:3:2", "xi1=1:20:2")), "--y")
        var badRate = base
        badRate.learningRate = -1
        XCTAssertEqual(flag(of: error("gain=0:1:2", "xi1=1:2:2", base: badRate)), "--lr")
        XCTAssertNil(error("lr=0.5:1:2", "xi1=1:2:2", base: badRate))
        XCTAssertEqual(flag(of: error("gain=0:1:1000", "xi1=1:2:1000")), "--y")
    }

    /// `--measure growth` refuses a closure without a Jacobian as `instability` does, before any cell.
    func testGrowthWithoutAJacobianIsRefusedUpFront() throws {
        var base = try spec().base
        base.closure = try ClosureSpec(kind: .montecarlo)
        let x = try PhaseAxis(parsing: "gain=0:1:2", flag: "--x"), y = try PhaseAxis(parsing: "xi1=1:2:2", flag: "--y")
        var phaseError: Error?, instabilityError: Error?
        XCTAssertThrowsError(try PhaseSweepSpec(base: base, x: x, y: y, measures: [.growth])) { phaseError = $0 }
        XCTAssertThrowsError(try InstabilityAnalysis.requireJacobian(closure: .montecarlo, activation: .relu)) { instabilityError = $0 }
        XCTAssertEqual(flag(of: phaseError), "--closure")
        XCTAssertEqual(phaseError as? ConvEmergeError, instabilityError as? ConvEmergeError)
        XCTAssertNoThrow(try PhaseSweepSpec(base: base, x: x, y: y, measures: [.ipr]))
    }

    /// xi-ratio sets xi1 = ratio * xi0, and cannot be combined with an xi0 or xi1 axis.
    func testRatioAxisSetsXi1FromXi0() throws {
        let base = try spec().base
        let cell = try base.setting(.xiRatio, to: 3).solveParameters()
        XCTAssertEqual(cell.task.classes[1].kernel.correlationLength, 3 * base.xi0, accuracy: 1e-15)
        XCTAssertEqual(cell.task.classes[0].kernel.correlationLength, base.xi0)
        XCTAssertThrowsError(try PhaseSweepSpec(base: base, x: PhaseAxis(parsing: "xi-ratio=2:4:2", flag: "--x"),
                                                y: PhaseAxis(parsing: "xi0=0.5:1:2", flag: "--y"), measures: [.ipr]))
        XCTAssertNoThrow(try PhaseSweepSpec(base: base, x: PhaseAxis(parsing: "xi-ratio=2:4:2", flag: "--x"),
                                            y: PhaseAxis(parsing: "gain=0.5:1:2", flag: "--y"), measures: [.ipr]))
    }
}

private func flag(of error: Error?) -> String? {
    guard case let .invalidInput(flag, _)? = error as? ConvEmergeError else { return nil }
    return flag
}
