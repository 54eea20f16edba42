import ConvEmerge
import Foundation
import XCTest

final class CompareTests: ScratchDirectoryTestCase {

    private func task(gaussian: Bool, length: Int = 16) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 1), gain: 1.2)
        return try TaskSpec.xi(base: base, xi0: 0.6, xi1: 1.9, gaussianControl: gaussian, prior1: 0.5, targets: [0, 1])
    }

    /// Writes a gaussian-closure solve run and a simulate run of the same problem.
    private func runs(theoryTask: TaskSpec, simulationTask: TaskSpec, lr: Double, tMax: Double) throws -> (String, String) {
        let neuron = try NeuronSpec(activation: .relu, bias: 0)
        let initial = Initialization.random(scale: 0.5, seed: 3)
        let ode = try SolveJob.run(SolveParameters(task: theoryTask, neuron: neuron, closure: ClosureSpec(kind: .gaussian),
                                                   integrator: IntegratorSpec(tMax: tMax, saves: 25), learningRate: lr,
                                                   initialization: initial))
        let theoryPath = scratch.appendingPathComponent("ode").path
        try SolveJob.save(ode, to: RunDirectory(path: theoryPath))
        let sim = try SimulationJob.run(SimulationParameters(task: simulationTask, neuron: neuron, learningRate: lr, batchSize: 16,
                                                             seeds: 6, seed: 9, tMax: tMax, saves: 25, initialization: initial,
                                                             testSamples: 100))
        let simulationPath = scratch.appendingPathComponent("sim").path
        try SimulationJob.save(sim, to: RunDirectory(path: simulationPath))
        return (theoryPath, simulationPath)
    }

    /// Round trip through the two run directories: every saved time is matched, the
    /// comparison starts at distance 0 and cosine 1 (same w0), the seed mean is closer to
    /// the exact (Gaussian) theory than a single replica (averaging 6 independent noises
    /// should gain ~sqrt 6), and the shifted cosine is at least the raw one.
    func testCompareReadsBothRunsAndSeedMeanBeatsReplicas() throws {
        let task = try task(gaussian: true)
        let (theory, simulation) = try runs(theoryTask: task, simulationTask: task, lr: 0.1, tMax: 200)
        let comparison = try TheoryVersusSimulation.load(theory: theory, simulation: simulation)
        let manifest = try RunDirectory.readManifest(SimulationManifest.self, in: simulation, flag: "--sim")
        XCTAssertEqual(manifest.arrays["weights.npy"]?.shape, [6, comparison.curve.count, 16])
        XCTAssertTrue(comparison.warnings.isEmpty)
        let first = comparison.curve[0]
        XCTAssertEqual(first.t, 0)
        XCTAssertEqual(first.distance, 0, accuracy: 1e-14)
        XCTAssertEqual(first.cosine, 1, accuracy: 1e-14)
        let seedMean = comparison.seedDistances.reduce(0, +) / Double(comparison.seedDistances.count)
        XCTAssertLessThan(comparison.distance, 0.7 * seedMean)
        XCTAssertGreaterThan(comparison.cosine, 0.95)
        for point in comparison.curve { XCTAssertGreaterThanOrEqual(point.shiftedCosine, point.cosine - 1e-12) }
        XCTAssertEqual(comparison.curve.last!.iprOfSeedMean, comparison.curve.last!.iprTheory,
                       accuracy: 0.3 * comparison.curve.last!.iprTheory)
    }

    /// A simulation of another task is refused, naming --sim.
    func testMismatchedTaskNamesTheSimFlag() throws {
        let (theory, simulation) = try runs(theoryTask: task(gaussian: true), simulationTask: task(gaussian: false), lr: 0.5, tMax: 2)
        XCTAssertThrowsError(try TheoryVersusSimulation.load(theory: theory, simulation: simulation)) { error in
            guard case let ConvEmergeError.invalidInput(flag, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(flag, "--sim")
        }
    }

    /// Maximised over shifts, a translated copy is found exactly (cosine 1), and the
    /// distance of a scaled copy is |s - 1|.
    func testShiftAndScaleInvariances() throws {
        let lattice = try Lattice(dimension: 1, length: 12)
        let w = (0..<12).map { exp(-Double(($0 - 4) * ($0 - 4)) / 3) }
        let shifted = (0..<12).map { w[($0 + 12 - 5) % 12] }
        let comparison = try TheoryVersusSimulation.compare(lattice: lattice, theoryTimes: [0, 1], theoryWeights: [w, w],
                                                            simulationTimes: [0, 1], simulationWeights: [[w.map { 1.5 * $0 }, shifted]])
        XCTAssertEqual(comparison.curve[0].distance, 0.5, accuracy: 1e-12)
        XCTAssertEqual(comparison.curve[1].shiftedCosine, 1, accuracy: 1e-12)
        XCTAssertLessThan(comparison.curve[1].cosine, 0.5)
    }
}
