import ConvEmerge
import Foundation
import XCTest

/// `solve --model committee|twolayer --K K`: the run directory with a unit axis, simulate's w0,
/// continuation from a committee run, and one-line refusals.
final class CLICommitteeSolveTests: CLITestCase {
    private let small = ["--L", "16", "--gain", "2", "--activation", "erf", "--quiet"]

    func testTwoLayerSolveWritesUnitAxisAndStartsFromSimulatesWeights() throws {
        let run = path("run")
        try runOK(["solve", "--model", "twolayer", "--K", "3", "--train-bias", "--bias-init", "0.2", "--closure", "gaussian",
                   "--t-max", "2", "--saves", "5", "--seed", "6", "--out", run] + small)
        let weights = try NpyArray.read(from: run + "/weights.npy", flag: "test")
        XCTAssertEqual(weights.shape, [5, 3, 16])
        XCTAssertEqual(try NpyArray.read(from: run + "/times.npy", flag: "test").shape, [5])
        let readouts = try NpyArray.read(from: run + "/readouts.npy", flag: "test")
        XCTAssertEqual(readouts.shape, [5, 3])
        XCTAssertEqual(Array(readouts.values.prefix(3)), [1.0 / 3, 1.0 / 3, 1.0 / 3])
        let biases = try NpyArray.read(from: run + "/biases.npy", flag: "test")
        XCTAssertEqual(Array(biases.values.prefix(3)), [0.2, 0.2, 0.2])
        XCTAssertNotEqual(Array(biases.values.suffix(3)), [0.2, 0.2, 0.2], "the biases are trained")
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/manifest.json"))) as? [String: Any])
        let parameters = try XCTUnwrap(manifest["parameters"] as? [String: Any])
        XCTAssertEqual(parameters["model"] as? String, "twolayer")
        XCTAssertEqual(double(parameters["hidden_units"]), 3)
        XCTAssertEqual((parameters["network"] as? [String: Any])?["readout"] as? String, "trained")
        let header = try String(contentsOfFile: run + "/observables.csv", encoding: .utf8).split(separator: "\n")[0]
        for column in ["t", "loss", "ipr", "ipr_2", "q1_2", "norm_0", "center_1", "v_2", "b_0"] {
            XCTAssertTrue(header.split(separator: ",").contains(Substring(column)), "observables.csv lacks \(column)")
        }
        // simulate's committee starts from the same w0 with the same --seed.
        let simulation = path("sgd")
        try runOK(["simulate", "--model", "twolayer", "--K", "3", "--t-max", "0.5", "--saves", "2", "--seed", "6", "--out", simulation] + small)
        let sgd = try NpyArray.read(from: simulation + "/weights.npy", flag: "test")
        XCTAssertEqual(Array(sgd.values.prefix(48)), Array(weights.values.prefix(48)))
        // A committee run continues from the last save of another.
        let continued = path("continued")
        try runOK(["solve", "--model", "twolayer", "--K", "3", "--closure", "gaussian", "--t-max", "1", "--saves", "3",
                   "--init", run + "/weights.npy", "--out", continued] + small)
        let start = try NpyArray.read(from: continued + "/weights.npy", flag: "test")
        XCTAssertEqual(Array(start.values.prefix(48)), Array(weights.values.suffix(48)))
    }

    func testCommitteeSolveRefusesUnsupportedCombinationsInOneLine() throws {
        // No --closure: gaussian is the K-unit default, so each refusal below is the flag's own.
        let base = ["solve", "--model", "committee", "--K", "2", "--t-max", "1"] + small
        let wrongShape = try writeVector([Double](repeating: 1, count: 16), named: "w16.npy")
        let bad: [([String], String)] = [
            (["--closure", "conditional"], "--closure"), (["--heads", "2"], "--heads"),
            (["--loss", "ce"], "--loss"), (["--activation", "tanh", "--closure", "gaussian"], "--activation"),
            (["--init", wrongShape], "--init"), (["--bias", "0.5", "--bias-init", "halves"], "--bias-init"),
        ]
        var cases = bad.map { (base + $0.0, $0.1) }
        cases += [(["solve", "--model", "neuron", "--K", "3"] + small, "--K"), (["solve", "--model", "cnn"] + small, "--model"),
                  (["solve", "--model", "twolayer", "--readout", "lazy"] + small, "--readout"),
                  (["solve", "--model", "committee", "--K", "0"] + small, "--K"),
                  (["solve", "--model", "committee", "--K", "2", "--closure", "cumulant", "--inputs", "copula:exponential", "--L", "16", "--quiet"], "--closure")]
        for (arguments, flag) in cases {
            let outcome = try CLI.run(arguments + ["--out", path("run")])
            XCTAssertEqual(outcome.status, 2, "\(arguments): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderrLines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(flag), "\(arguments): '\(outcome.stderr)' does not name \(flag)")
            XCTAssertFalse(fileExists("run"), "\(arguments) left a run directory")
        }
    }
}
