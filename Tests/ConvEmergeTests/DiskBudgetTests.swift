import ConvEmerge
import Foundation
import XCTest

/// The bound on a run's output (OutputSize) against what small runs really write, and the
/// refusal of DiskBudget against the free space of a real file system.
final class DiskBudgetTests: ScratchDirectoryTestCase {
    private func task(length: Int = 24) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3)
        return try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.4, targets: [0, 1])
    }

    private func solveParameters(saves: Int) throws -> SolveParameters {
        try SolveParameters(task: task(), neuron: NeuronSpec(activation: .erf, bias: 0.2), closure: ClosureSpec(kind: .gaussian),
                            integrator: IntegratorSpec.suited(to: .gaussian, tMax: 5, saves: saves, logSpacedSaves: true),
                            learningRate: 1, initialization: .random(scale: 0.5, seed: 3))
    }

    /// The bytes of every file in `directory` (their apparent sizes).
    private func writtenBytes(_ directory: String) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: directory).reduce(0) { total, name in
            let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/" + name)
            return total + ((attributes[.size] as? NSNumber)?.intValue ?? 0)
        }
    }

    /// The bound holds (estimate >= actual) and is tight: at most 1.2 x actual plus its fixed
    /// allowance for headers, the manifest and partly filled blocks.
    private func assertBounds(_ size: OutputSize, directory: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let actual = try writtenBytes(directory)
        let estimate = try XCTUnwrap(size.total, file: file, line: line)
        let fixed = try XCTUnwrap(size.fixed, file: file, line: line)
        XCTAssertGreaterThanOrEqual(estimate, actual, "the estimate must bound what was written", file: file, line: line)
        XCTAssertLessThanOrEqual(Double(estimate), 1.2 * Double(actual) + Double(fixed), "estimate \(estimate), actual \(actual)", file: file, line: line)
        // The saves must dominate, or the 1.2 x test would say nothing about the per-save bound.
        XCTAssertGreaterThan(actual, 2 * fixed, "too few saves to test the per-save bound", file: file, line: line)
    }

    func testNeuronSolveEstimateBoundsWhatItWrites() throws {
        let parameters = try solveParameters(saves: 2000)
        let out = scratch.appendingPathComponent("neuron").path
        _ = try SolveJob.runAndSave(parameters, to: RunDirectory(path: out))
        try assertBounds(parameters.outputSize, directory: out)
    }

    /// Two-layer with trained biases: the weights, readouts.npy and biases.npy are all counted.
    func testCommitteeSolveEstimateBoundsWhatItWrites() throws {
        var parameters = try solveParameters(saves: 600)
        parameters.model = .twolayer
        parameters.hiddenUnits = 3
        parameters.network = try NetworkOptions(readout: .trained, trainBias: true)
        let out = scratch.appendingPathComponent("committee").path
        _ = try CommitteeSolveJob.runAndSave(parameters, to: RunDirectory(path: out))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/biases.npy"))
        try assertBounds(parameters.outputSize, directory: out)
    }

    /// Two replicas of a two-layer net with trained biases: per-replica weights, their mean,
    /// readouts, biases and each replica's observables.
    func testSimulationEstimateBoundsWhatItWrites() throws {
        let parameters = try SimulationParameters(task: task(length: 16), neuron: NeuronSpec(activation: .erf, bias: 0), model: .twolayer,
                                                  hiddenUnits: 2, learningRate: 0.5, seeds: 2, tMax: 40, saves: 600, logSpacedSaves: false,
                                                  initialization: .random(scale: 0.1, seed: 1), testSamples: 10,
                                                  network: NetworkOptions(readout: .trained, trainBias: true))
        let out = scratch.appendingPathComponent("simulation").path
        try SimulationJob.save(SimulationJob.run(parameters), to: RunDirectory(path: out))
        try assertBounds(parameters.outputSize, directory: out)
    }

    private func refusal(_ size: OutputSize) throws -> ConvEmergeError {
        let out = scratch.appendingPathComponent("run").path
        do {
            _ = try RunDirectory(path: out, expecting: size)
        } catch let error as ConvEmergeError {
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a refused run must create nothing")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [], "nothing staged")
            return error
        }
        XCTFail("the run was not refused")
        throw CocoaError(.featureUnsupported)
    }

    /// Saves of a thousandth of the free space each: --saves is named with the largest count whose
    /// bound fits in 90% of the free space (free space read again: other writers share the disk).
    func testTooManySavesNamesTheLargestCountThatFits() throws {
        let free = try XCTUnwrap(DiskBudget.freeBytes(forOutputAt: scratch.appendingPathComponent("run").path))
        let size = OutputSize(saves: 2000, arrayValuesPerSave: free / 8000, csvCellsPerSave: 3, files: 4, sizeFlag: "--L", saveShape: "D = 1")
        guard case let .invalidInput(flag, message) = try refusal(size) else { return XCTFail() }
        XCTAssertEqual(flag, "--saves", message)
        let allowed = try XCTUnwrap(message.components(separatedBy: "saves <= ").last.flatMap { Int($0.prefix { $0.isNumber }) }, message)
        // 0.9 x 1000 saves of free / 1000 each, less the fixed part: 899 or 900, up to what others wrote meanwhile.
        XCTAssertEqual(Double(allowed), 900, accuracy: 10, message)
        XCTAssertTrue(message.contains("free"), message)
    }

    /// When even two saves do not fit, the flag that sets the size of a save is named.
    func testAHugeSaveNamesTheSizeFlag() throws {
        let free = try XCTUnwrap(DiskBudget.freeBytes(forOutputAt: scratch.appendingPathComponent("run").path))
        let size = OutputSize(saves: 100, arrayValuesPerSave: free / 8, csvCellsPerSave: 3, files: 4, sizeFlag: "--K", saveShape: "K x D = 9 x 9")
        guard case let .invalidInput(flag, message) = try refusal(size) else { return XCTFail() }
        XCTAssertEqual(flag, "--K", message)
        XCTAssertTrue(message.contains("not even 2 saves"), message)
    }

    /// Runs written side by side (demo): their bounds add up, and the size flag is named even
    /// when fewer saves would fit, since demo's saves are not the user's to choose.
    func testRunsSideBySideAddUpAndNameTheSizeFlag() throws {
        let free = try XCTUnwrap(DiskBudget.freeBytes(forOutputAt: scratch.appendingPathComponent("run").path))
        let one = OutputSize(saves: 100, arrayValuesPerSave: free / 1600, csvCellsPerSave: 3, files: 4, sizeFlag: "--L", saveShape: "D")
        let both = OutputSize.together([one, one], sizeFlag: "--L", saveShape: "D")
        XCTAssertEqual(both.total, MemoryBudget.sum(one.total, one.total))
        XCTAssertNoThrow(try DiskBudget.require(one, writingTo: scratch.appendingPathComponent("run").path), "half the free space fits")
        guard case let .invalidInput(flag, message) = try refusal(both) else { return XCTFail() }
        XCTAssertEqual(flag, "--L", message)
        XCTAssertFalse(message.contains("saves"), "demo's saves are not the user's to change: \(message)")
    }

    /// A bound that overflows Int is refused as well.
    func testAnOverflowingBoundIsRefused() throws {
        let size = OutputSize(saves: 1_000_000, arrayValuesPerSave: Int.max / 4, csvCellsPerSave: 3, files: 4, sizeFlag: "--L", saveShape: "D")
        XCTAssertNil(size.total)
        guard case let .invalidInput(flag, message) = try refusal(size) else { return XCTFail() }
        XCTAssertEqual(flag, "--L", message)
        XCTAssertTrue(message.contains("more than 2^63 bytes"), message)
    }
}
