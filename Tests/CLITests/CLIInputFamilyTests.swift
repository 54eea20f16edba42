import ConvEmerge
import Foundation
import XCTest

/// `--inputs`: copula families through every command, and the one-line refusals (exit 2,
/// nothing written) where a closure or flag is not defined on them. derivations/copula-inputs.md,
/// "Closures on copula inputs".
final class CLIInputFamilyTests: CLITestCase {
    func testStatsOfLaplaceCopula() throws {
        let stats = try runOK(["stats", "--L", "32", "--inputs", "copula:laplace", "--json"]).json()
        XCTAssertEqual(stats["inputs"] as? String, "copula:laplace")
        XCTAssertEqual(try XCTUnwrap(double(stats["variance"])), 1)
        XCTAssertEqual(try XCTUnwrap(double(stats["excess_kurtosis"])), 3, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(double(stats["skewness"])), 0)
        XCTAssertTrue(stats["gain"] is NSNull && stats["gamma"] is NSNull, "a laplace copula has no gain")
        let row = doubles(stats["covariance_row"])
        XCTAssertEqual(row.count, 32)
        XCTAssertTrue(row.dropFirst().allSatisfy { $0 < 1 && $0 > -1 })
        XCTAssertEqual(doubles(stats["spectrum"]).count, 32)
        let hermite = try XCTUnwrap(stats["hermite"] as? [[Any]])
        XCTAssertEqual(hermite.compactMap { ($0.first as? NSNumber)?.intValue }, Array(1...9))
        // The exponential is skewed: even coefficients appear.
        let exponential = try runOK(["stats", "--L", "16", "--inputs", "copula:exponential", "--json"]).json()
        XCTAssertEqual(try XCTUnwrap(double(exponential["skewness"])), 2)
        let c2 = try XCTUnwrap(double((exponential["hermite"] as? [[Any]])?[1][1]))
        XCTAssertGreaterThan(abs(c2), 0.1)
    }

    func testErfCopulaSamplesLikeTheNLGP() throws {
        _ = try runOK(["sample", "--L", "16", "--n", "20", "--seed", "9", "--inputs", "copula:erf:2", "--out", path("copula.npy")])
        _ = try runOK(["sample", "--L", "16", "--n", "20", "--seed", "9", "--gain", "2", "--out", path("nlgp.npy")])
        XCTAssertEqual(try NpyArray.read(from: path("copula.npy"), flag: "--out").values,
                       try NpyArray.read(from: path("nlgp.npy"), flag: "--out").values)
        let w = try writeVector((0..<16).map { sin(Double($0)) }, named: "w.npy")
        let t = try runOK(["cumulant", "--L", "16", "--w", w, "--inputs", "copula:student:6", "--json"]).json()
        XCTAssertEqual(t["inputs"] as? String, "copula:student:6")
        XCTAssertEqual(doubles(t["T"]).count, 16)
    }

    /// solve and simulate on a copula record the family in manifest.json, it reads back into
    /// the same task, and `compare` matches the two runs (and refuses an NLGP simulation).
    func testSolveAndSimulateRecordTheCopula() throws {
        let common = ["--L", "16", "--inputs", "copula:laplace", "--t-max", "2", "--saves", "3"]
        _ = try runOK(["solve"] + common + ["--closure", "montecarlo", "--mc-samples", "500", "--out", path("ode"), "--quiet"])
        _ = try runOK(["simulate"] + common + ["--out", path("sim"), "--quiet"])
        _ = try runOK(["simulate", "--L", "16", "--t-max", "2", "--saves", "3", "--out", path("nlgp"), "--quiet"])
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("ode/manifest.json")))) as? [String: Any]
        let classes = try XCTUnwrap(((manifest?["parameters"] as? [String: Any])?["task"] as? [String: Any])?["classes"] as? [[String: Any]])
        XCTAssertEqual(classes.map { $0["family"] as? String }, ["copula:laplace", "copula:laplace"])
        let decoded = try RunDirectory.readManifest(SolveManifest.self, in: path("ode"), flag: "--theory")
        XCTAssertEqual(decoded.parameters.task.classes.map(\.family), [.copula(.laplace), .copula(.laplace)])
        _ = try runOK(["compare", "--theory", path("ode"), "--sim", path("sim")])
        let mismatch = try CLI.run(["compare", "--theory", path("ode"), "--sim", path("nlgp")], in: directory)
        XCTAssertEqual(mismatch.status, 2, mismatch.stderr)
        XCTAssertTrue(mismatch.stderr.contains("another task"), mismatch.stderr)
    }

    /// A phase sweep on a copula records it in sweep.json, and resuming it with other --inputs
    /// is refused (one line naming --out) rather than mixing two families in one table.
    func testPhaseSweepRecordsTheCopula() throws {
        let sweep = ["phase", "--x", "lr=0.5:1:2", "--y", "xi1=1.5:2:2", "--L", "16", "--t-max", "1", "--closure", "gaussian",
                     "--out", path("sweep"), "--quiet", "--threads", "1"]
        _ = try runOK(sweep + ["--inputs", "copula:laplace"])
        let spec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("sweep/sweep.json")))) as? [String: Any]
        XCTAssertEqual((spec?["base"] as? [String: Any])?["inputs"] as? String, "copula:laplace")
        let other = try CLI.run(sweep + ["--inputs", "copula:uniform", "--resume"], in: directory)
        XCTAssertEqual(other.status, 2, other.stderr)
        XCTAssertEqual(other.stderrLines.count, 1, other.stderr)
        XCTAssertTrue(other.stderr.hasPrefix("error: --out: "), other.stderr)
    }

    private func assertRefused(_ arguments: [String], flag: String, message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let outcome = try CLI.run(arguments, in: directory, file: file, line: line)
        XCTAssertEqual(outcome.status, 2, outcome.stderr, file: file, line: line)
        XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr, file: file, line: line)
        XCTAssertTrue(outcome.stderr.hasPrefix("error: \(flag): "), outcome.stderr, file: file, line: line)
        XCTAssertTrue(outcome.stderr.contains(message), "'\(outcome.stderr)' lacks '\(message)'", file: file, line: line)
        XCTAssertEqual(outcome.stdout, "", file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != "w.npy" }, [],
                       "a refused run wrote into its directory", file: file, line: line)
    }

    func testBadInputsAreOneLineAndWriteNothing() throws {
        try assertRefused(["stats", "--inputs", "copula:student:3"], flag: "--inputs", message: "student needs 4 < nu <= 10000, got 3")
        try assertRefused(["sample", "--n", "2", "--inputs", "copula:alg:1", "--out", "x.npy"], flag: "--inputs", message: "alg needs 4 < k <= 10000")
        try assertRefused(["stats", "--inputs", "copula"], flag: "--inputs", message: "copula:laplace")
        try assertRefused(["stats", "--inputs", "copula:gumbel"], flag: "--inputs", message: "unknown marginal 'gumbel'")
        // A gain with a copula would be silently ignored: refused instead.
        try assertRefused(["stats", "--inputs", "copula:laplace", "--gain", "2"], flag: "--gain", message: "applies to --inputs nlgp only")
        let w = try writeVector(Array(repeating: 0.25, count: 16), named: "w.npy")
        try assertRefused(["cumulant", "--L", "16", "--w", w, "--inputs", "copula:laplace", "--cumulant", "full", "--out", "t.npy"],
                          flag: "--cumulant", message: "use --cumulant leading")
        // Where a closure or a flag is not defined on a copula, the refusal names it.
        try assertRefused(["solve", "--L", "16", "--inputs", "copula:exponential", "--cumulant", "full", "--out", "run"],
                          flag: "--cumulant", message: "use --cumulant leading")
        try assertRefused(["solve", "--L", "16", "--inputs", "copula:laplace", "--cumulant", "full", "--out", "run"],
                          flag: "--cumulant", message: "use --cumulant leading")
        try assertRefused(["closure-error", "--L", "16", "--inputs", "copula:laplace", "--gains", "1"], flag: "--gains",
                          message: "applies to --inputs nlgp only")
        try assertRefused(["instability", "--L", "16", "--inputs", "copula:laplace", "--scan-gain", "0:1"], flag: "--scan-gain",
                          message: "applies to --inputs nlgp only")
        try assertRefused(["phase", "--L", "16", "--inputs", "copula:laplace", "--x", "gain=1:2:2", "--y", "xi1=1.5:2:2", "--out", "sweep"],
                          flag: "--x", message: "gain applies to --inputs nlgp only")
        try assertRefused(["phase", "--L", "16", "--inputs", "copula:exponential", "--cumulant", "full", "--x", "lr=1:2:2", "--y", "xi1=1.5:2:2", "--out", "sweep"],
                          flag: "--cumulant", message: "use --cumulant leading")
    }
}
