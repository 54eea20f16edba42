import ConvEmerge
import Foundation
import XCTest

/// Issue 8: long runs report progress on stderr with an estimate of the time left; settings
/// that could never finish are refused up front.
final class CLILongRunTests: CLITestCase {
    func testUnreachableSolveSettingsAreRefusedInOneLine() throws {
        let small = ["--L", "16", "--t-max", "20", "--saves", "5"]
        for (arguments, flag) in [(["--rtol", "1e-300"], "--rtol"), (["--atol", "1e-320"], "--atol"),
                                  (["--t-max", "1e12"], "--t-max")] {
            let outcome = try CLI.run(["solve"] + small + arguments + ["--out", path("run")])
            XCTAssertEqual(outcome.status, 2, "\(arguments): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderrLines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.hasPrefix("error: \(flag): "), "\(arguments): \(outcome.stderr)")
            XCTAssertFalse(fileExists("run"))
        }
        let simulate = try CLI.run(["simulate", "--L", "16", "--t-max", "1e12", "--out", path("sim")])
        XCTAssertEqual(simulate.status, 2)
        XCTAssertTrue(simulate.stderr.hasPrefix("error: --t-max: "), simulate.stderr)
    }

    /// --quiet leaves stderr empty; stdout (the JSON) is the same with and without progress.
    func testProgressStaysOffStdout() throws {
        let arguments = ["instability", "--L", "16", "--gain", "2", "--scan-gain", "0:2:3", "--json"]
        let quiet = try runOK(arguments + ["--quiet"])
        XCTAssertEqual(quiet.stderr, "")
        XCTAssertEqual(try runOK(arguments).stdout, quiet.stdout)
        let tensor = try runOK(["tensor", "--L", "16", "--gain", "2", "--restarts", "2", "--json", "--quiet"])
        XCTAssertEqual(tensor.stderr, "")
    }
}
