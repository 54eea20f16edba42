import ConvEmerge
import Foundation
import XCTest

/// Issue 11's memory paths: the test set evaluated in chunks after the steps, and `solve`
/// writing its saves as they come. Each must give what the in-memory path gives.
final class StreamedOutputTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("streamed-output-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// SPEC §3 setting on a ring of `length`: xi 0.6 vs 1.9, g = 1.2 (`gaussian`: the Gaussian clones).
    private func task(length: Int, gaussian: Bool) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 1), gain: 1.2)
        return try TaskSpec.xi(base: base, xi0: 0.6, xi1: 1.9, gaussianControl: gaussian, prior1: 0.5, targets: [0, 1])
    }

    private func relu() throws -> NeuronSpec { try NeuronSpec(activation: .relu, bias: 0) }

    private func assertSameObservables(_ streamed: SimulationResult, _ stored: SimulationResult, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(streamed.observables.count, stored.observables.count, file: file, line: line)
        for (a, b) in zip(streamed.observables, stored.observables) {
            XCTAssertEqual(a.columns, b.columns, file: file, line: line)
            // Bit for bit: the same inputs in the same order, summed in the same order.
            XCTAssertEqual(a.rows.map { $0.map(\.bitPattern) }, b.rows.map { $0.map(\.bitPattern) }, file: file, line: line)
        }
    }

    /// The neuron on NLGP inputs with the test set in three chunks (1500 inputs per class at
    /// D = 1024, 512 per 4 MB chunk): test loss and accuracy equal to the stored set's, bit for bit.
    func testStreamedTestLossEqualsTheStoredSet() throws {
        let parameters = try SimulationParameters(task: task(length: 1024, gaussian: false), neuron: relu(), learningRate: 1,
                                                  seeds: 2, tMax: 0.5, saves: 8, initialization: .random(scale: 0.5, seed: 3),
                                                  testSamples: 1500)
        let streamed = try SimulationJob.run(parameters)
        let stored = try SimulationJob.run(parameters, testSet: .stored)
        assertSameObservables(streamed, stored)
        let lossColumn = streamed.observables[0].columns.firstIndex(of: "test_loss")!
        XCTAssertTrue(streamed.observables.allSatisfy { $0.rows.allSatisfy { $0[lossColumn].isFinite } })
    }

    /// Trained biases, two heads and a trained readout: every save's network is rebuilt from its
    /// saved weights, readout and biases for the streamed evaluation, and scores as the live one did.
    func testStreamedTestLossOfSavedNetworksWithTrainedBiases() throws {
        let options = try NetworkOptions(readout: .trained, trainBias: true, biasInit: "halves", heads: 2)
        let parameters = try SimulationParameters(task: task(length: 64, gaussian: false), neuron: relu(), model: .twolayer,
                                                  hiddenUnits: 3, learningRate: 0.5, seeds: 2, tMax: 2, saves: 6,
                                                  initialization: .random(scale: 0.5, seed: 4), testSamples: 300, network: options)
        let streamed = try SimulationJob.run(parameters)
        assertSameObservables(streamed, try SimulationJob.run(parameters, testSet: .stored))
        // The biases did move, so the saved networks differ from the initial one.
        XCTAssertNotEqual(Array(streamed.biases[0].prefix(3)), Array(streamed.biases[0].suffix(3)))
    }

    /// derivations/stein-gaussian-closure.md (exact for Gaussian inputs): the streamed test loss at
    /// the final save is a Monte Carlo estimate of the population loss of the final weights, which
    /// the gaussian closure gives exactly. They agree within 4 standard errors, the per-input
    /// variance of the loss estimated from an independent sample.
    func testStreamedTestLossEstimatesThePopulationLoss() throws {
        let task = try task(length: 256, gaussian: true)
        let n = 2000
        let parameters = try SimulationParameters(task: task, neuron: relu(), learningRate: 1, tMax: 2, saves: 4,
                                                  initialization: .random(scale: 1, seed: 5), testSamples: n)
        let result = try SimulationJob.run(parameters)
        let table = result.observables[0]
        let testLoss = table.rows.last![table.columns.firstIndex(of: "test_loss")!]
        let w = result.weights(seed: 0, save: result.saveCount - 1)
        let flow = try GradientFlow(task: task, neuron: relu(), closure: ClosureSpec(kind: .gaussian), learningRate: 1)
        let population = flow.loss(w)
        var rng = Xoshiro256(seed: 99, stream: 7)
        let d = Double(task.dimension)
        var variance = 0.0
        for (c, distribution) in flow.distributions.enumerated() {
            let x = distribution.sample(count: n, rng: &rng)
            let losses = (0..<n).map { row -> Double in
                let lambda = zip(w, x[(row * task.dimension)..<((row + 1) * task.dimension)]).reduce(0) { $0 + $1.0 * $1.1 } / d.squareRoot()
                let error = task.targets[c] - max(lambda, 0)
                return 0.5 * error * error
            }
            let mean = losses.reduce(0, +) / Double(n)
            let classVariance = losses.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
            variance += task.priors[c] * task.priors[c] * classVariance / Double(n)
        }
        XCTAssertEqual(testLoss, population, accuracy: 4 * variance.squareRoot())
    }

    private func solveParameters(tMax: Double, saves: Int, blowUpFactor: Double? = nil) throws -> SolveParameters {
        let lattice = try Lattice(dimension: 1, length: 16)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 1)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
        let integrator = try IntegratorSpec(tMax: tMax, saves: saves, blowUpFactor: blowUpFactor ?? IntegratorSpec.defaultBlowUpFactor)
        return SolveParameters(task: task, neuron: try relu(), closure: try ClosureSpec(kind: .cumulant), integrator: integrator,
                               learningRate: 1, initialization: .random(scale: 0.1, seed: 1))
    }

    private func contents(_ run: URL, _ name: String) -> Data? {
        FileManager.default.contents(atPath: run.appendingPathComponent(name).path)
    }

    /// The streamed run directory holds, byte for byte, the files the in-memory run writes:
    /// weights.npy equals NumPy's encoding of the in-memory trajectory.
    func testStreamedSavesEqualTheInMemoryResult() throws {
        let parameters = try solveParameters(tMax: 30, saves: 25)
        let memory = try SolveJob.run(parameters)
        XCTAssertEqual(memory.trajectory.status, .completed)
        let inMemory = scratch.appendingPathComponent("memory"), streamed = scratch.appendingPathComponent("streamed")
        try SolveJob.save(memory, to: RunDirectory(path: inMemory.path))
        let summary = try SolveJob.runAndSave(parameters, to: RunDirectory(path: streamed.path))
        XCTAssertEqual(summary.trajectory.times, memory.trajectory.times)
        XCTAssertEqual(summary.finalIPR, memory.finalIPR)
        let encoded = NpyArray(shape: [25, 16], values: memory.trajectory.weights.flatMap { $0 }).encoded()
        XCTAssertEqual(contents(streamed, "weights.npy"), encoded)
        XCTAssertEqual(contents(inMemory, "weights.npy"), encoded)
        for name in ["times.npy", "observables.csv"] { XCTAssertEqual(contents(streamed, name), contents(inMemory, name), name) }
    }

    /// A run that blows up keeps the saves it streamed: the header is rewritten with their number,
    /// the rows are the in-memory trajectory's, and the manifest says why it stopped.
    func testBlownUpStreamedSolveKeepsItsSaves() throws {
        let parameters = try solveParameters(tMax: 100, saves: 50, blowUpFactor: 1.1)
        let memory = try SolveJob.run(parameters)
        XCTAssertEqual(memory.trajectory.status, .blewUp)
        let run = scratch.appendingPathComponent("blown")
        let summary = try SolveJob.runAndSave(parameters, to: RunDirectory(path: run.path))
        XCTAssertEqual(summary.trajectory.status, .blewUp)
        let saved = try NpyArray.read(from: run.appendingPathComponent("weights.npy").path, flag: "--out")
        let n = memory.trajectory.weights.count
        XCTAssertGreaterThan(n, 1)
        XCTAssertLessThan(n, 50)
        XCTAssertEqual(saved.shape, [n, 16])
        XCTAssertEqual(saved.values, memory.trajectory.weights.flatMap { $0 })
        // The payload still starts at a multiple of 64 bytes, as NumPy writes it.
        XCTAssertEqual((contents(run, "weights.npy")!.count - 8 * n * 16) % 64, 0)
        let manifest = try RunDirectory.readManifest(SolveManifest.self, in: run.path, flag: "--out")
        XCTAssertEqual(manifest.status, .blewUp)
        XCTAssertEqual(manifest.arrays["weights.npy"]?.shape, [n, 16])
        XCTAssertFalse(manifest.message.isEmpty)
    }
}

/// `GradientFlow.threads`: the two classes' drifts on two threads give the velocity of one
/// thread to the bit (each class on one thread, summed in the same order).
final class ThreadedVelocityTests: XCTestCase {
    func testTwoThreadsGiveTheSingleThreadVelocityBitForBit() throws {
        let d = GradientFlow.parallelMinimumDimension
        let lattice = try Lattice(dimension: 1, length: d)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.3, targets: [0, 1])
        var rng = Xoshiro256(seed: 11)
        let w = (0..<d).map { _ in rng.nextGaussian() }
        for kind in [ClosureKind.gaussian, .cumulant] {
            let flow = try GradientFlow(task: task, neuron: NeuronSpec(activation: .relu, bias: 0.1), closure: ClosureSpec(kind: kind),
                                        learningRate: 0.7)
            XCTAssertFalse(flow.evaluatesClassesInParallel)
            let single = flow.velocity(w)
            flow.threads = 2
            XCTAssertTrue(flow.evaluatesClassesInParallel)
            for _ in 0..<3 {
                XCTAssertEqual(flow.velocity(w).map(\.bitPattern), single.map(\.bitPattern), "\(kind)")
            }
            XCTAssertTrue(single.contains { $0 != 0 })
        }
    }
}
