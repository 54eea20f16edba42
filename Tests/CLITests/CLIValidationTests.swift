import ConvEmerge
import Foundation
import XCTest

/// Bad input: exit status 2, exactly one line on stderr that names the flag,
/// nothing on stdout, and no output file.
final class CLIValidationTests: CLITestCase {
    private func assertRejected(_ arguments: [String], flag: String, mentioning detail: String? = nil,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let outcome = try CLI.run(arguments, file: file, line: line)
        let command = "convemerge " + arguments.joined(separator: " ")
        XCTAssertEqual(outcome.status, 2, "\(command): \(outcome.stderr)", file: file, line: line)
        XCTAssertEqual(outcome.stderrLines.count, 1, "\(command): stderr should be one line, got: \(outcome.stderr)", file: file, line: line)
        XCTAssertTrue(outcome.stderr.contains(flag), "\(command): '\(outcome.stderr)' does not name \(flag)", file: file, line: line)
        if let detail {
            XCTAssertTrue(outcome.stderr.contains(detail), "\(command): '\(outcome.stderr)' does not mention '\(detail)'", file: file, line: line)
        }
        XCTAssertEqual(outcome.stdout, "", "\(command) wrote to stdout", file: file, line: line)
    }

    /// Each bad input model, through `sample`, so that we can also check that no file appears.
    func testBadInputModelIsRejectedAndWritesNothing() throws {
        let cases: [([String], String, String?)] = [
            (["--L", "6", "--xi", "4"], "--L", nil),                 // L < 2 xi: kernel does not fit
            (["--L", "2"], "--L", nil),
            (["--xi=-1"], "--xi", nil),
            (["--xi", "0"], "--xi", nil),
            (["--xi", "nan"], "--xi", nil),
            (["--xi", "inf"], "--xi", nil),
            (["--gain=-0.5"], "--gain", nil),
            (["--gain", "nan"], "--gain", nil),
            (["--jitter=-0.1"], "--jitter", nil),
            (["--dim", "3"], "--dim", nil),
            (["--kernel", "cauchy"], "--kernel", nil),
            // Minimum-image distances make this kernel indefinite on the torus.
            (["--dim", "2", "--L", "8", "--xi", "4", "--kernel", "exponential"], "--xi", "most negative eigenvalue"),
        ]
        for (model, flag, detail) in cases {
            try assertRejected(["sample"] + model + ["--n", "3", "--out", path("x.npy")], flag: flag, mentioning: detail)
            XCTAssertFalse(fileExists("x.npy"), "sample \(model) left an output file")
        }
        try assertRejected(["sample", "--n", "0", "--out", path("x.npy")], flag: "--n")
        try assertRejected(["sample", "--n", "3", "--out", path("missing-dir/x.npy")], flag: "--out")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [], "a rejected run left files behind")
    }

    func testStatsRejectsTheSameInputs() throws {
        try assertRejected(["stats", "--xi=-1"], flag: "--xi")
        try assertRejected(["stats", "--L", "7", "--xi", "4", "--json"], flag: "--L")
        try assertRejected(["stats", "--gain=-1", "--json"], flag: "--gain")
    }

    func testCumulantRejectsMissingOrWrongLengthW() throws {
        try assertRejected(["cumulant", "--L", "16", "--w", path("absent.npy"), "--out", path("t.npy")], flag: "--w")
        let short = try writeVector([1, 2, 3], named: "short.npy")
        try assertRejected(["cumulant", "--L", "16", "--w", short, "--out", path("t.npy")], flag: "--w", mentioning: "16")
        try AtomicFile.write("not an array", to: path("text.npy"))
        try assertRejected(["cumulant", "--L", "16", "--w", path("text.npy"), "--json"], flag: "--w")
        let good = try writeVector(Array(repeating: 0.25, count: 16), named: "w.npy")
        try assertRejected(["cumulant", "--L", "16", "--xi=-2", "--w", good, "--out", path("t.npy")], flag: "--xi")
        try assertRejected(["cumulant", "--L", "16", "--w", good, "--cumulant", "exact"], flag: "--cumulant")
        XCTAssertFalse(fileExists("t.npy"), "a rejected cumulant run wrote its output")
    }

    func testHelpShowsAnExampleForEveryCommand() throws {
        for command in ["stats", "sample", "cumulant", "bench"] {
            let outcome = try runOK([command, "--help"])
            XCTAssertTrue(outcome.stdout.contains("convemerge \(command)"), "\(command) --help has no example")
        }
    }
}
