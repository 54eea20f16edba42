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
        for bad in ["gain=1:2", "speed=0:1:3", "gain=0:1:0", "gain=1:1:3", "gain=0:1:2.5"] {
            XCTAssertThrowsError(try PhaseAxis(parsing: bad, flag: "--x"), bad)
        }
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
