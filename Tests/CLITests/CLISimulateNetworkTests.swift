import ConvEmerge
import Foundation
import XCTest

/// `simulate --preset published` and the network flags end to end (derivations/network-options.md).
final class CLISimulateNetworkTests: CLITestCase {
    private func manifest(_ run: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: run + "/manifest.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The preset's values reach the manifest; the biases start at the published halves
    /// (+1 for units 0-3, -1 for 4-7) and SGD moves them; the first save of the two-head mse
    /// loss is 1/(2H) sum_c (t_c - y_c)^2 with t = +-1 and |y| <= 1, so within [0, 2].
    func testPresetPublishedRunsEndToEnd() throws {
        let run = path("published")
        try runOK(["simulate", "--preset", "published", "--L", "16", "--t-max", "4", "--saves", "4",
                   "--test-samples", "100", "--quiet", "--out", run])
        let parameters = try XCTUnwrap(try manifest(run)["parameters"] as? [String: Any])
        XCTAssertEqual(parameters["model"] as? String, "committee")
        XCTAssertEqual(parameters["hidden_units"] as? Int, 8)
        XCTAssertEqual(double(parameters["learning_rate"]), 0.1)
        XCTAssertEqual(parameters["batch_size"] as? Int, 1)
        let network = try XCTUnwrap(parameters["network"] as? [String: Any])
        XCTAssertEqual(network["readout"] as? String, "mf")
        XCTAssertEqual(network["heads"] as? Int, 2)
        XCTAssertEqual(network["train_bias"] as? Bool, true)
        XCTAssertEqual(network["bias_init"] as? String, "halves")
        let neuron = try XCTUnwrap(parameters["neuron"] as? [String: Any])
        XCTAssertEqual(neuron["activation"] as? String, "erf")
        let biases = try NpyArray.read(from: run + "/biases.npy", flag: "test")
        let saves = try NpyArray.read(from: run + "/times.npy", flag: "test").values.count
        XCTAssertGreaterThanOrEqual(saves, 2)
        XCTAssertEqual(biases.shape, [1, saves, 8])
        XCTAssertEqual(Array(biases.values[0..<8]), [1, 1, 1, 1, -1, -1, -1, -1])
        XCTAssertNotEqual(Array(biases.values[(saves - 1) * 8..<saves * 8]), [1, 1, 1, 1, -1, -1, -1, -1])
        let csv = try String(contentsOfFile: run + "/observables.csv", encoding: .utf8).split(separator: "\n")
        let columns = csv[0].split(separator: ",").map(String.init)
        let loss = try XCTUnwrap(Double(csv[1].split(separator: ",")[try XCTUnwrap(columns.firstIndex(of: "test_loss"))]))
        XCTAssertTrue((0...2).contains(loss), "two-head mse loss \(loss)")
    }

    /// Explicit flags override the preset: one ce head takes lr 0.05 (the published value, the
    /// same normalisation), --K 4 and --xi1 3 are kept.
    func testExplicitFlagsOverrideThePreset() throws {
        let run = path("override")
        try runOK(["simulate", "--preset", "published", "--L", "16", "--K", "4", "--heads", "1", "--loss", "ce", "--xi1", "3",
                   "--no-train-bias", "--t-max", "2", "--saves", "3", "--test-samples", "50", "--quiet", "--out", run])
        let parameters = try XCTUnwrap(try manifest(run)["parameters"] as? [String: Any])
        XCTAssertEqual(parameters["hidden_units"] as? Int, 4)
        XCTAssertEqual(double(parameters["learning_rate"]), 0.05)
        let network = try XCTUnwrap(parameters["network"] as? [String: Any])
        XCTAssertEqual(network["heads"] as? Int, 1)
        XCTAssertEqual(network["loss"] as? String, "ce")
        XCTAssertEqual(network["train_bias"] as? Bool, false)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/biases.npy"))
    }

    /// --readout trained on a committee is the twolayer model; its readout is saved.
    func testReadoutTrainedIsTheTwoLayerModel() throws {
        let run = path("trained")
        try runOK(["simulate", "--model", "committee", "--readout", "trained", "--K", "2", "--L", "16", "--t-max", "1",
                   "--saves", "2", "--test-samples", "20", "--quiet", "--out", run])
        let parameters = try XCTUnwrap(try manifest(run)["parameters"] as? [String: Any])
        XCTAssertEqual(parameters["model"] as? String, "twolayer")
        let readout = try NpyArray.read(from: run + "/readout.npy", flag: "test")
        XCTAssertEqual(readout.shape, [1, 2, 2])
        XCTAssertEqual(Array(readout.values[0..<2]), [0.5, 0.5])
    }
}
