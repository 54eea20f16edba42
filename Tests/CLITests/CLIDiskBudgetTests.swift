import ConvEmerge
import Foundation
import XCTest

/// A run whose output cannot fit on the disk of --out is refused before it starts: exit 2, one
/// line naming --saves, nothing written, an earlier run at that path untouched. The runs ask for
/// 10^6 saves of K x D = 2^22 weights, some 30 TiB, while the memory they would hold (the ODE state,
/// about 1 GiB) fits, so the disk check is the one that fires, and no real disk is filled.
final class CLIDiskBudgetTests: CLITestCase {
    private func files(_ path: String) -> [String: Data] {
        let names = FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []
        return Dictionary(uniqueKeysWithValues: names.map { ($0, FileManager.default.contents(atPath: "\(path)/\($0)") ?? Data()) })
    }

    private func assertRefused(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let run = path("run")
        try runOK(["solve", "--L", "16", "--t-max", "1", "--saves", "3", "--quiet", "--out", run], file: file, line: line)
        let before = files(run)
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let free = try XCTUnwrap(DiskBudget.freeBytes(forOutputAt: run), file: file, line: line)
        XCTAssertLessThan(free, 30 << 40, "this test needs a disk with less than 30 TiB free", file: file, line: line)

        let outcome = try CLI.run(arguments + ["--saves", "1000000", "--t-max", "1", "--out", run], timeout: 120, file: file, line: line)
        XCTAssertEqual(outcome.status, 2, outcome.stderr, file: file, line: line)
        XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr, file: file, line: line)
        let message = String(outcome.stderrLines.first ?? "")
        XCTAssertTrue(message.hasPrefix("error: --saves: the run would write "), message, file: file, line: line)
        XCTAssertTrue(message.contains("TiB to '\(run)', which has") && message.contains("free; allowed: saves <= "), message, file: file, line: line)
        XCTAssertEqual(outcome.stdout, "", file: file, line: line)
        XCTAssertEqual(files(run), before, "the earlier run must stay byte for byte", file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), entries.sorted(),
                       "nothing staged next to the run", file: file, line: line)

        // A fresh nested path: not even its parents are created.
        let fresh = try CLI.run(arguments + ["--saves", "1000000", "--t-max", "1", "--out", path("new/deeper/run")], timeout: 120, file: file, line: line)
        XCTAssertEqual(fresh.status, 2, fresh.stderr, file: file, line: line)
        XCTAssertFalse(fileExists("new"), file: file, line: line)
    }

    func testNeuronSolveWithTooManySavesForTheDiskIsRefused() throws {
        try assertRefused(["solve", "--dim", "2", "--L", "2048"])
    }

    func testCommitteeSolveWithTooManySavesForTheDiskIsRefused() throws {
        try assertRefused(["solve", "--model", "committee", "--K", "256", "--L", "16384"])
    }
}
