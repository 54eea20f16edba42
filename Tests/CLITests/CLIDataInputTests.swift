import ConvEmerge
import Foundation
import XCTest

/// `solve`, `simulate` and `compare` on `--inputs data:` through the binary: the manifest says
/// which data a run used, runs on the same data match and runs on other data do not, `--epochs`
/// sets the number of steps, a seed reproduces a run, and bad data files end in one line.
final class CLIDataInputTests: CLITestCase {
    /// FNV-1a 64, written out here so that the manifest's checksum is checked independently.
    func fnv1a(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return "fnv1a64:" + String(hash, radix: 16).leftPadded(to: 16)
    }

    func manifest(_ run: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("\(run)/manifest.json")))) as? [String: Any])
    }

    func testSolveAndSimulateOnADataFileRecordItAndCompare() throws {
        try runOK(["sample", "--L", "16", "--n", "400", "--seed", "3", "--out", path("rows.npy")])
        try runOK(["sample", "--L", "16", "--n", "400", "--seed", "4", "--out", path("other.npy")])
        let common = ["--L", "16", "--inputs", "data:\(path("rows.npy"))", "--symmetrise", "sign", "--t-max", "2", "--saves", "3", "--quiet"]
        try runOK(["solve"] + common + ["--closure", "montecarlo", "--out", path("ode")])
        try runOK(["solve"] + common + ["--closure", "cumulant", "--out", path("cumulant")])
        try runOK(["simulate"] + common + ["--out", path("sim")])
        try runOK(["simulate"] + common + ["--out", path("again")])
        try runOK(["simulate"] + common.map { $0.replacingOccurrences(of: "rows.npy", with: "other.npy") } + ["--out", path("other")])
        let task = try XCTUnwrap((manifest("ode")["parameters"] as? [String: Any])?["task"] as? [String: Any])
        XCTAssertEqual(task["kind"] as? String, "clone")
        let classes = try XCTUnwrap(task["classes"] as? [[String: Any]])
        XCTAssertEqual(classes.map { $0["family"] as? String }, ["data", "data"])
        XCTAssertEqual(classes.map { $0["is_gaussian_clone"] as? Bool }, [true, false])
        let file = try XCTUnwrap(classes[1]["data_set"] as? [String: Any])
        XCTAssertEqual(file["row_count"] as? Int, 400)
        XCTAssertEqual(file["sign_symmetrised"] as? Bool, true)
        XCTAssertEqual(file["checksum"] as? String, fnv1a(try Data(contentsOf: URL(fileURLWithPath: path("rows.npy")))))
        // The same data: compare accepts; other data (another checksum): another task.
        _ = try runOK(["compare", "--theory", path("ode"), "--sim", path("sim")])
        let mismatch = try CLI.run(["compare", "--theory", path("ode"), "--sim", path("other")], in: directory)
        XCTAssertEqual(mismatch.status, 2, mismatch.stderr)
        XCTAssertTrue(mismatch.stderr.contains("another task"), mismatch.stderr)
        // Rows drawn with the seed's streams: the same seed gives the same run, bit for bit.
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("sim/weights.npy"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("again/weights.npy"))))
    }

    func testEpochsSetTheNumberOfSteps() throws {
        try runOK(["sample", "--L", "16", "--n", "300", "--seed", "5", "--out", path("a.npy")])
        try runOK(["sample", "--L", "16", "--n", "200", "--seed", "6", "--gain", "1", "--out", path("b.npy")])
        // Two files, p1 = 0.25: max(300 / 0.75, 200 / 0.25) = 800 steps per epoch.
        let output = try runOK(["simulate", "--L", "16", "--inputs", "data:\(path("a.npy")),\(path("b.npy"))", "--p1", "0.25",
                                "--epochs", "3", "--saves", "3", "--out", path("epochs"), "--quiet"]).stdout
        XCTAssertTrue(output.contains("1 seeds x 2400 steps"), output)
        let parameters = try XCTUnwrap(manifest("epochs")["parameters"] as? [String: Any])
        XCTAssertEqual(parameters["epochs"] as? Int, 3)
        XCTAssertEqual((parameters["task"] as? [String: Any])?["kind"] as? String, "data")
    }

    /// On two sign-symmetrised data files the montecarlo reference is the exact empirical flow,
    /// so closure-error measures each closure's exactness (derivations/data-inputs.md, "Closures
    /// on data"): gaussian is exact for a linear neuron, cumulant (empirical T) for a cubic error
    /// signal (quadratic sigma, b = 0), where gaussian is not.
    func testClosureErrorOnTwoDataFilesFindsTheExactClosuresExact() throws {
        try runOK(["sample", "--L", "16", "--n", "1000", "--seed", "7", "--out", path("a.npy")])
        try runOK(["sample", "--L", "16", "--n", "800", "--seed", "8", "--inputs", "copula:laplace", "--out", path("b.npy")])
        func errors(_ activation: String) throws -> [String: [Double]] {
            let report = try runOK(["closure-error", "--L", "16", "--inputs", "data:\(path("a.npy")),\(path("b.npy"))", "--symmetrise", "sign",
                                    "--activation", activation, "--bias", "0", "--mc-samples", "100", "--json"]).json()
            let rows = try XCTUnwrap(report["rows"] as? [[String: Any]])
            return Dictionary(grouping: rows, by: { $0["closure"] as? String ?? "" }).mapValues { $0.compactMap { double($0["relative_error"]) } }
        }
        let linear = try errors("linear"), quadratic = try errors("quadratic")
        XCTAssertEqual(Set(linear.keys), ["gaussian", "cumulant-leading"], "conditional is not defined on data")
        XCTAssertLessThan(try XCTUnwrap(linear["gaussian"]).max()!, 1e-12)
        XCTAssertLessThan(try XCTUnwrap(quadratic["cumulant-leading"]).max()!, 1e-12)
        XCTAssertGreaterThan(try XCTUnwrap(quadratic["gaussian"]).min()!, 1e-3)
    }

    func testBadDataFilesAreRefusedInOneLineBySolveAndSimulate() throws {
        try writeVector([Double](repeating: 1, count: 16), named: "vector.npy")
        try NpyArray(shape: [20, 15], values: [Double](repeating: 1, count: 300)).write(to: path("wrong-d.npy"))
        try NpyArray(shape: [3, 16], values: [Double](repeating: 1, count: 48)).write(to: path("few.npy"))
        try NpyArray(shape: [20, 16], values: (0..<320).map { $0 == 7 ? .nan : Double($0) }).write(to: path("nan.npy"))
        let good = NpyArray(shape: [20, 16], values: (0..<320).map { sin(Double($0)) }).encoded()
        func variant(_ name: String, _ from: String, _ to: String) throws {
            var bytes = good
            bytes.replaceSubrange(bytes.range(of: Data(from.utf8))!, with: Data(to.utf8))
            try bytes.write(to: directory.appendingPathComponent(name))
        }
        try variant("float32.npy", "<f8", "<f4")
        try variant("fortran.npy", "'fortran_order': False", "'fortran_order': True ")
        for name in ["vector.npy", "wrong-d.npy", "few.npy", "nan.npy", "float32.npy", "fortran.npy", "missing.npy"] {
            for command in [["solve", "--closure", "gaussian"], ["simulate"]] {
                let outcome = try CLI.run(command + ["--L", "16", "--inputs", "data:\(path(name))", "--out", "run"], in: directory)
                XCTAssertEqual(outcome.status, 2, "\(name): \(outcome.stderr)")
                XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
                XCTAssertTrue(outcome.stderr.hasPrefix("error: --inputs:"), "\(name): \(outcome.stderr)")
                XCTAssertFalse(fileExists("run"), "\(command[0]) \(name) wrote output")
            }
        }
        let wrongD = try CLI.run(["solve", "--L", "16", "--inputs", "data:\(path("wrong-d.npy"))", "--out", "run"], in: directory)
        XCTAssertTrue(wrongD.stderr.contains("--L"), wrongD.stderr)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
