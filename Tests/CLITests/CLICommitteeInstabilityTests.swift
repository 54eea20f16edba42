import ConvEmerge
import Foundation
import XCTest

/// `instability --model committee|twolayer --K K`: the JSON keys and one-line refusals.
final class CLICommitteeInstabilityTests: CLITestCase {
    private let small = ["instability", "--L", "16", "--gain", "3", "--xi0", "0.5", "--xi1", "2",
                         "--activation", "quadratic", "--targets", "0,1", "--quiet"]

    func testJSONReportsSectorsAndTiling() throws {
        let json = try runOK(small + ["--model", "committee", "--K", "3", "--json"]).json()
        for key in ["K", "amplitude", "single_neuron_amplitude", "state_residual", "symmetry_deviation", "growth_rate", "leading_sector",
                    "symmetric_sector", "difference_sector", "tiled_overlap", "tiles_linearly", "verdict", "leading_modes"] {
            XCTAssertNotNil(json[key], "missing \(key)")
        }
        let difference = try XCTUnwrap(json["difference_sector"] as? [String: Any])
        XCTAssertEqual(double(difference["full_multiplicity"]), 2 * double(difference["multiplicity"])!)
        let mode = try XCTUnwrap((json["leading_modes"] as? [[String: Any]])?.first)
        XCTAssertEqual(doubles(mode["unit_iprs"]).count, 3)
        XCTAssertLessThan(double(json["state_residual"])!, 1e-12)
    }

    /// Relu units (the default activation): the spread state (derivations/committee-stability.md §5), with the
    /// keys of the identical-unit report (sectors null) and its own.
    func testReluUnitsReportTheSpreadState() throws {
        let relu = ["instability", "--L", "16", "--gain", "3", "--xi0", "0.5", "--xi1", "2", "--activation", "relu", "--quiet"]
        let json = try runOK(relu + ["--model", "committee", "--K", "3", "--json"]).json()
        for key in ["K", "amplitude", "single_neuron_amplitude", "state_residual", "symmetry_deviation", "growth_rate", "leading_sector",
                    "symmetric_sector", "difference_sector", "tiled_overlap", "tiles_linearly", "verdict", "leading_modes",
                    "state_kind", "pair", "spread", "leading_unit_separation"] {
            XCTAssertNotNil(json[key], "missing \(key)")
        }
        XCTAssertEqual(json["state_kind"] as? String, "spread")
        XCTAssertTrue(json["symmetric_sector"] is NSNull)
        let spread = try XCTUnwrap(json["spread"] as? [String: Any])
        XCTAssertEqual(doubles(spread["phases"]).count, 3)
        XCTAssertLessThan(double(json["state_residual"])!, 1e-12)
        let mode = try XCTUnwrap((json["leading_modes"] as? [[String: Any]])?.first)
        XCTAssertNotNil(double(mode["cyclic_sector"]))
        let table = try runOK(relu + ["--model", "committee", "--K", "3"]).stdout
        XCTAssertTrue(table.contains("spread pair"), table)
        for (units, flag) in [("2", "--K"), ("0", "--K")] {
            let outcome = try CLI.run(relu + ["--model", "committee", "--K", units])
            XCTAssertEqual(outcome.status, 2, units)
            XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
            XCTAssertTrue(outcome.stderr.hasPrefix("error: \(flag):"), outcome.stderr)
        }
    }

    func testBadRequestsAreRefusedInOneLine() throws {
        for (arguments, flag) in [(["--model", "committee", "--K", "0"], "--K"),
                                  (["--model", "committee", "--K", "2", "--scan-gain", "0:3"], "--scan-gain"),
                                  (["--K", "2"], "--K"),
                                  (["--model", "committee", "--K", "2", "--bias", "0.3"], "--bias"),
                                  (["--model", "committee", "--K", "400"], "--K, --L")] {
            let outcome = try CLI.run(small + arguments)
            XCTAssertEqual(outcome.status, 2, "\(arguments)")
            XCTAssertEqual(outcome.stderrLines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.hasPrefix("error: \(flag):"), "\(arguments): \(outcome.stderr)")
        }
    }
}
