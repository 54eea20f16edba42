import ConvEmerge
import Foundation
import XCTest

/// `compare` and `analyze` on K-unit runs through the binary: a committee whose receptive fields are
/// bumps placed by hand, and a theory run of `solve --model committee --K K`'s layout (weights
/// (saves, K, D)) holding the same bumps relabelled and translated, so that the answer is known.
final class CLICompareTests: CLITestCase {
    static let length = 40
    /// Gaps 7, 12, 12, 9 around the ring: no translation but 0 maps the set onto itself.
    static let centres = [2.5, 9.5, 21.5, 33.5]

    func bumps(at centres: [Double]) throws -> [[Double]] {
        let ring = try Lattice(dimension: 1, length: Self.length)
        return centres.map { ChanceLevel.bump(width: 1.5, centre: [$0], lattice: ring) }
    }

    /// A simulate run of K = 4 units whose weights are `fields` at both saves, and a theory run
    /// (a solve manifest naming the committee, weights (2, K, D)) holding `theoryFields`.
    func runs(fields: [[Double]], theoryFields: [[Double]]) throws -> (theory: String, simulation: String) {
        let k = fields.count, d = Self.length
        try runOK(["simulate", "--L", "\(d)", "--model", "committee", "--K", "\(k)", "--t-max", "1",
                   "--saves", "2", "--seeds", "1", "--out", path("sim"), "--quiet"])
        try FileManager.default.removeItem(atPath: path("sim/weights.npy"))
        try NpyArray(shape: [1, 2, k, d], values: (0..<2).flatMap { _ in fields.joined() }).write(to: path("sim/weights.npy"))
        try runOK(["solve", "--L", "\(d)", "--t-max", "1", "--saves", "2", "--out", path("ode"), "--quiet"])
        let manifestURL = URL(fileURLWithPath: path("ode/manifest.json"))
        var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        var parameters = try XCTUnwrap(manifest["parameters"] as? [String: Any])
        parameters["model"] = "committee"
        parameters["hidden_units"] = k
        manifest["parameters"] = parameters
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        for name in ["weights.npy", "times.npy"] { try FileManager.default.removeItem(atPath: path("ode/\(name)")) }
        try NpyArray(shape: [2, k, d], values: (0..<2).flatMap { _ in theoryFields.joined() }).write(to: path("ode/weights.npy"))
        try FileManager.default.copyItem(atPath: path("sim/times.npy"), toPath: path("ode/times.npy"))
        return (path("ode"), path("sim"))
    }

    /// Theory unit i is simulation unit permutation[i] moved 3 sites back: compare finds the
    /// permutation and the shift +3 and distance 0 in its JSON and CSV. Without the shift search every
    /// theory bump is >= 3 sites from every simulated one (the centres' differences are 0, +-7, +-9,
    /// +-12, +-16, +-19), so each matched pair is at least sqrt(2 - 2 exp(-3^2 / (8 1.5^2))) = 0.887
    /// apart (two unit-norm Gaussian bumps of width 1.5, overlap exp(-delta^2 / (8 s^2))). analyze reads the
    /// theory's K units and measures the nearest-neighbour spacing of the placed centres (7, 7, 12, 9).
    func testRelabelledShiftedBumpsAreMatchedBackAndAnalysed() throws {
        let permutation = [1, 3, 0, 2]
        let theoryCentres = permutation.map { (Self.centres[$0] - 3 + Double(Self.length)).truncatingRemainder(dividingBy: Double(Self.length)) }
        let (theory, simulation) = try runs(fields: bumps(at: Self.centres), theoryFields: bumps(at: theoryCentres))
        let report = try runOK(["compare", "--theory", theory, "--sim", simulation, "--json", "--csv", path("curve.csv")]).json()
        let mean = try XCTUnwrap(report["seed_mean"] as? [String: Any])
        XCTAssertEqual(mean["permutation"] as? [Int], permutation)
        XCTAssertEqual(mean["shift"] as? [Int], [3])
        XCTAssertEqual(try XCTUnwrap(double(report["distance"])), 0, accuracy: 1e-12)
        let csv = try String(contentsOfFile: path("curve.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 3)
        XCTAssertTrue(csv[0].hasPrefix("t,theory_t,distance,best_distance,seed_distance,seed_best_distance,distance_0,"))

        let unshifted = try runOK(["compare", "--theory", theory, "--sim", simulation, "--json", "--no-shift"]).json()
        XCTAssertGreaterThan(try XCTUnwrap(double(unshifted["distance"])), 0.85)

        let tiling = try runOK(["analyze", theory, "--json", "--null-samples", "1000"]).json()
        XCTAssertEqual((tiling["units"] as? [Any])?.count, 4)
        XCTAssertEqual(tiling["localised_counts"] as? [Int], [4])
        let spacing = try XCTUnwrap(tiling["nearest_neighbour"] as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(double(spacing["observed"])), (7.0 + 7 + 12 + 9) / 4, accuracy: 1e-6)
    }

    /// An unwritable --csv is refused in one line before anything is computed.
    func testUnwritableCSVIsOneLine() throws {
        let (theory, simulation) = try runs(fields: bumps(at: Self.centres), theoryFields: bumps(at: Self.centres))
        let outcome = try CLI.run(["compare", "--theory", theory, "--sim", simulation, "--csv", path("missing/curve.csv")])
        XCTAssertEqual(outcome.status, 2)
        XCTAssertEqual(outcome.stderrLines.count, 1)
        XCTAssertTrue(outcome.stderr.hasPrefix("error: --csv: "), outcome.stderr)
    }
}
