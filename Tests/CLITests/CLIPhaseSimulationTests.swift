import ConvEmerge
import Foundation
import XCTest

/// `convemerge phase --engine sgd` (issue 10, item 4): a cell is the `simulate` run with the same
/// flags and seed, reduced by the same statistics as `analyze`; shards, resume and merge behave
/// as for the ODE, and an ODE sweep and an SGD sweep never mix.
final class CLIPhaseSimulationTests: CLITestCase {
    /// The network and task fixed over the tiny grid (D = 16, 2 x 2 cells, 2 replicas, t = 5).
    private static let network = ["--L", "16", "--K", "4", "--seeds", "2", "--t-max", "5", "--test-samples", "200"]
    private static let axes = ["--x", "gain=1:3:2", "--y", "xi1=1:2:2"]
    /// Every unit counts as localised, so that the tiling columns are defined this early in training.
    private static let tiling = ["--threshold", "0", "--null-samples", "500"]

    private func sweep(_ out: String, _ extra: String...) -> [String] {
        ["phase", "--engine", "sgd"] + Self.axes + Self.network + Self.tiling + ["--quiet", "--out", out] + extra
    }

    private func rows(_ out: String) throws -> (header: [String], rows: [[String]]) {
        let text = try String(contentsOfFile: out + "/phase.csv", encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        return (lines[0], Array(lines.dropFirst()))
    }

    private func table(_ out: String) -> Data? { FileManager.default.contents(atPath: out + "/phase.csv") }

    func testCellIsTheSimulateRunWithTheSameSeed() throws {
        try runOK(sweep(path("sweep")))
        let (header, rows) = try rows(path("sweep"))
        XCTAssertEqual(header, ["cell", "gain", "xi1"] + PhaseSimulation.columns)
        XCTAssertEqual(rows.count, 4)
        func column(_ row: [String], _ name: String) throws -> Double { try XCTUnwrap(Double(row[try XCTUnwrap(header.firstIndex(of: name))])) }
        let d = 16.0
        for row in rows {
            XCTAssertEqual(row.last, "completed")
            // Cauchy-Schwarz: 1/D <= IPR <= 1 for every unit, hence for their means.
            XCTAssertGreaterThanOrEqual(try column(row, "ipr_mean"), 1 / d - 1e-12)
            XCTAssertLessThanOrEqual(try column(row, "ipr_mean"), 1)
            XCTAssertEqual(try column(row, "localised_mean"), 4)  // threshold 0: every unit
            // The nearest of 4 points on a ring of 16 sites is at most 16/4 away.
            XCTAssertLessThanOrEqual(try column(row, "nn_distance"), d / 4 + 1e-12)
            // Null mean: 4 uniform centres on a ring of L sites lie L/(2 x 4) apart on average
            // (derivations/tiling-statistics.md §4); each draw lies in [0, L/4], so its sd is at
            // most L/8 (Popoviciu), and 500 draws put the sample mean within 4 x (L/8)/sqrt(500).
            XCTAssertEqual(try column(row, "nn_null_mean"), d / 8, accuracy: 4 * (d / 8) / 500.0.squareRoot())
        }
        // Cell 3 (gain 3, xi1 2) by hand: the same weights, so the same IPR and accuracy to round-off.
        let cell = rows[3]
        try runOK(["simulate", "--model", "committee", "--gain", "3", "--xi1", "2"] + Self.network + ["--quiet", "--out", path("run")])
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("run/manifest.json")))) as? [String: Any])
        let iprs = doubles(manifest["final_ipr_per_seed"])
        XCTAssertEqual(iprs.count, 2)
        let meanIPR = (iprs[0] + iprs[1]) / 2
        XCTAssertEqual(try column(cell, "ipr_mean"), meanIPR, accuracy: 1e-9 * meanIPR)
        XCTAssertEqual(try column(cell, "ipr_sd"), abs(iprs[0] - iprs[1]) / 2.squareRoot(), accuracy: 1e-9 * meanIPR)
        let accuracies = try (0..<2).map { seed -> Double in
            let lines = try String(contentsOfFile: path("run/observables_seed\(seed).csv"), encoding: .utf8).split(separator: "\n")
            let names = lines[0].split(separator: ",").map(String.init)
            let last = lines.last!.split(separator: ",").map { Double($0)! }
            return last[try XCTUnwrap(names.firstIndex(of: "test_accuracy"))]
        }
        XCTAssertEqual(try column(cell, "accuracy_mean"), (accuracies[0] + accuracies[1]) / 2, accuracy: 1e-12)
        // The tiling columns are analyze's statistics of the same run, with the same null draws.
        let analysis = try runOK(["analyze", path("run"), "--json", "--seed", "0"] + Self.tiling).json()
        let nearest = try XCTUnwrap(analysis["nearest_neighbour"] as? [String: Any])
        XCTAssertEqual(try column(cell, "nn_distance"), try XCTUnwrap(double(nearest["observed"])), accuracy: 1e-9)
        XCTAssertEqual(try column(cell, "nn_null_mean"), try XCTUnwrap(double(nearest["null_mean"])), accuracy: 1e-9)
        XCTAssertEqual(try column(cell, "nn_p_even"), try XCTUnwrap(double(nearest["p_even"])), accuracy: 1e-9)
        XCTAssertEqual(try column(cell, "nn_p_clustered"), try XCTUnwrap(double(nearest["p_clustered"])), accuracy: 1e-9)
    }

    /// At gain 0 the NLGP is its Gaussian clone (derivations/nlgp-covariance.md, g -> 0: the
    /// identity marginal, C = Sigma): the two rows of the gaussian axis must agree to round-off.
    func testAtGainZeroTheNLGPRowIsTheClonesRow() throws {
        try runOK(["phase", "--engine", "sgd", "--x", "gain=0:0:1", "--y", "gaussian=0:1:2"] + Self.network + Self.tiling
                  + ["--quiet", "--out", path("g0")])
        let (_, rows) = try rows(path("g0"))
        XCTAssertEqual(rows.count, 2)
        for k in 3..<(rows[0].count - 1) {
            let nlgp = try XCTUnwrap(Double(rows[0][k])), clone = try XCTUnwrap(Double(rows[1][k]))
            XCTAssertEqual(nlgp, clone, accuracy: 1e-9 * max(1, abs(nlgp)), "column \(k)")
        }
    }

    func testShardsResumeAndMergeGiveTheSingleRunsTable() throws {
        try runOK(sweep(path("single"), "--threads", "1"))
        let reference = try XCTUnwrap(table(path("single")))
        // Shard 0 alone, then the whole sweep resumed in the same directory.
        try runOK(sweep(path("resumed"), "--shard", "0/2"))
        XCTAssertNil(table(path("resumed")))
        let refused = try CLI.run(sweep(path("resumed")))
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.hasPrefix("error: --resume:"), refused.stderr)
        try runOK(sweep(path("resumed"), "--resume"))
        XCTAssertEqual(table(path("resumed")), reference)
        // Two shards in their own directories, merged.
        try runOK(sweep(path("s0"), "--shard", "0/2"))
        try runOK(sweep(path("s1"), "--shard", "1/2"))
        try runOK(["phase", "merge", path("s0"), path("s1"), "--out", path("merged")])
        XCTAssertEqual(table(path("merged")), reference)
    }

    /// A sweep.json written before the engine existed has no "engine": it is an ODE sweep and resumes as one.
    func testSweepJSONWithoutEngineResumesAsAnODESweep() throws {
        let ode = ["phase"] + Self.axes + ["--L", "16", "--t-max", "5", "--quiet"]
        try runOK(ode + ["--out", path("whole")])
        try runOK(ode + ["--out", path("old"), "--shard", "0/2"])
        let file = path("old/sweep.json")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let old = text.split(separator: "\n").filter { !$0.contains("\"engine\"") }.joined(separator: "\n")
        XCTAssertNotEqual(old, text)
        try old.write(toFile: file, atomically: true, encoding: .utf8)
        try runOK(ode + ["--out", path("old"), "--resume"])
        XCTAssertEqual(table(path("old")), table(path("whole")))
        let refused = try CLI.run(sweep(path("old"), "--resume"))
        XCTAssertEqual(refused.status, 2, refused.stderr)
    }

    func testODEAndSGDSweepsNeverMix() throws {
        let ode = ["phase"] + Self.axes + ["--L", "16", "--t-max", "5", "--quiet"]
        try runOK(ode + ["--out", path("ode-0"), "--shard", "0/2"])
        try runOK(sweep(path("sgd-1"), "--shard", "1/2"))
        let resumed = try CLI.run(sweep(path("ode-0"), "--resume"))
        XCTAssertEqual(resumed.status, 2)
        XCTAssertEqual(resumed.stderrLines.count, 1, resumed.stderr)
        XCTAssertTrue(resumed.stderr.hasPrefix("error: --out:") && resumed.stderr.contains("--engine ode"), resumed.stderr)
        let merged = try CLI.run(["phase", "merge", path("ode-0"), path("sgd-1"), "--out", path("mixed")])
        XCTAssertEqual(merged.status, 2)
        XCTAssertEqual(merged.stderrLines.count, 1, merged.stderr)
        XCTAssertTrue(merged.stderr.contains("--engine sgd"), merged.stderr)
        XCTAssertFalse(fileExists("mixed"))
        let sweepJSON = try String(contentsOfFile: path("sgd-1/sweep.json"), encoding: .utf8)
        XCTAssertTrue(sweepJSON.contains("\"engine\" : \"sgd\""), sweepJSON)
    }
}
