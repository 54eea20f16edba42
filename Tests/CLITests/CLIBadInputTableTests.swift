import ConvEmerge
import Foundation
import XCTest

/// Every command and every numeric flag against nan, inf, -inf, a negative number, zero and a
/// value over its documented bound (issue 8): each bad value must end in exit status 2 with one
/// stderr line naming the flag the user typed, no crash, and nothing written into the working
/// directory (every output path of these runs points there).
final class CLIBadInputTableTests: CLITestCase {
    /// One flag of one command and the values it must refuse.
    struct Case {
        let command: [String]
        let flag: String
        let badValues: [String]
    }

    static let nonFinite = ["nan", "inf", "-inf"]
    /// For counts and scales that must be > 0.
    static func positive(over bound: String) -> [String] { nonFinite + ["-1", "0", bound] }

    /// Flags of the input model: every command that takes inputs.
    static let inputFlags: [(String, [String])] = [
        ("--dim", positive(over: "3")),
        ("--L", positive(over: "100000000")),
        ("--xi", positive(over: "1e6")),
        ("--gain", ["nan", "-inf", "-1"]),  // 0 is Gaussian, inf gives sign inputs
        ("--jitter", nonFinite + ["-1", "1e7"]),
        // Infinite kurtosis, an unknown marginal, and families not offered (yet).
        ("--inputs", ["copula:student:3", "copula:student:1e300", "copula:alg:1e300", "copula:alg:nan", "copula:erf:-1",
                      "copula:bogus", "elliptical:x", "data:missing.npy", "nan", "",
                      "elliptical:student:4", "elliptical:student:20000", "elliptical:student", "elliptical:shell:2",
                      "elliptical:laplace:1", "copula:tabulated:missing.npy", "copula:tabulated:"]),
        // Data-only flags without data, and values that are no choice.
        ("--stationarity", ["circulant", "bogus", ""]),
        ("--symmetrise", ["sign", "none"]),
        ("--augment", ["translate", "bogus"]),
    ]
    /// The flags that cannot apply to `--inputs data:DATA` (a valid (20, 16) file) in solve and simulate.
    static let dataFlags: [(String, [String])] = [
        ("--inputs", ["data:DATA,DATA,DATA", "data:", "data:DATA,"]),
        ("--gain", ["1"]), ("--xi", ["3"]), ("--kernel", ["exponential"]), ("--jitter", ["0.1"]),
        ("--task", ["data"]), ("--xi0", ["1"]), ("--xi1", ["1"]), ("--symmetrise", ["bogus"]),
    ]
    static let taskFlags: [(String, [String])] = [
        ("--xi0", positive(over: "1e6")),
        ("--xi1", positive(over: "1e6")),
        ("--p1", positive(over: "1.5")),
        ("--bias", nonFinite + ["1e7"]),
        ("--targets", ["nan,1", "0,inf", "-inf,1", "1e7,1", "1", "1,,2"]),
    ]
    static let closureFlags: [(String, [String])] = [
        ("--mc-samples", positive(over: "100000000")),
        ("--mc-seed", nonFinite + ["-1", "1e30"]),
        ("--mc-precision", ["bogus", "half", ""]),
    ]
    static let integrationFlags: [(String, [String])] = [
        ("--rtol", positive(over: "2") + ["1e-300"]),
        ("--atol", positive(over: "1e7")),
        ("--t-max", positive(over: "1e12")),
        ("--lr", positive(over: "1e7")),
        ("--init-scale", positive(over: "1e7")),
        ("--seed", nonFinite + ["-1", "1e30"]),
    ]

    static func cases(_ command: [String], _ groups: [[(String, [String])]]) -> [Case] {
        groups.flatMap { $0 }.map { Case(command: command, flag: $0.0, badValues: $0.1) }
    }

    /// The commands with the arguments that make them valid apart from the flag under test;
    /// `W` stands for a valid weight file of D = 16 entries, `DATA` for a valid (20, 16) data file.
    static var table: [Case] {
        let small = ["--L", "16"]
        var all: [Case] = []
        all += cases(["stats"] + small, [inputFlags])
        all += cases(["sample", "--n", "3", "--out", "x.npy"] + small, [inputFlags, [
            ("--n", positive(over: "1e12")), ("--seed", nonFinite + ["-1", "1e30"])]])
        all += cases(["cumulant", "--w", "W", "--out", "t.npy"] + small, [inputFlags, [("--tolerance", positive(over: "2")),
            ("--order", ["nan", "inf", "-1", "0", "2", "5"]), ("--mc-samples", positive(over: "100000000")),
            ("--seed", nonFinite + ["-1", "1e30"])]])
        all += cases(["solve", "--out", "run"] + small, [inputFlags, taskFlags, closureFlags, integrationFlags,
                                                         [("--saves", positive(over: "1e7")), ("--threads", positive(over: "1025"))]])
        all += cases(["closure-error", "--mc-samples", "1000"] + small, [inputFlags, taskFlags, [
            ("--gains", ["nan", "-1", "-inf", "1,,2", ""]), ("--mc-seed", nonFinite + ["-1", "1e30"])]])
        all += cases(["closure-error"] + small, [[("--mc-samples", positive(over: "100000000"))]])
        all += cases(["simulate", "--out", "run", "--t-max", "1"] + small, [inputFlags, taskFlags, [
            ("--K", positive(over: "1e6")), ("--lr", positive(over: "1e7")), ("--batch", positive(over: "1e7")),
            ("--seeds", positive(over: "1e5")), ("--saves", positive(over: "1e7")), ("--init-scale", positive(over: "1e7")),
            ("--seed", nonFinite + ["-1", "1e30"]), ("--test-samples", positive(over: "1e9"))]])
        all += cases(["simulate", "--out", "run", "--model", "cnn", "--t-max", "1"] + small, [[("--kernel-size", positive(over: "17"))]])
        all += cases(["simulate", "--out", "run"] + small, [[("--t-max", positive(over: "1e12"))]])
        all += cases(["simulate", "--out", "run", "--model", "committee", "--K", "2", "--t-max", "1"] + small, [[
            ("--heads", ["nan", "-1", "0", "3"]), ("--l1", nonFinite + ["-1", "1e4"]), ("--l2", nonFinite + ["-1", "1e4"]),
            ("--bias-init", ["nan", "inf", "wide", "1e7"]), ("--readout", ["bogus"]), ("--loss", ["bogus"]), ("--preset", ["paper"])]])
        all += cases(["simulate", "--out", "run", "--model", "cnn", "--kernel-size", "3", "--t-max", "1"] + small, [[
            ("--heads", ["2"]), ("--loss", ["ce"]), ("--bias-init", ["halves"]), ("--readout", ["lazy"]), ("--preset", ["published"])]])
        all += cases(["simulate", "--out", "run", "--model", "twolayer", "--K", "2", "--t-max", "1"] + small, [[("--readout", ["mf"]), ("--cnn-style", ["published", "bogus"])]])
        all += cases(["simulate", "--out", "run", "--model", "cnn", "--cnn-style", "published", "--t-max", "1"] + small, [[
            ("--kernel-size", positive(over: "16"))]])
        all += cases(["simulate", "--out", "run", "--model", "cnn", "--cnn-style", "published", "--kernel-size", "3", "--t-max", "1"] + small, [[
            ("--heads", ["1"])]])
        all += cases(["simulate", "--out", "run", "--model", "committee", "--bias", "0.5", "--t-max", "1"] + small, [[("--bias-init", ["halves"])]])
        all += cases(["solve", "--out", "run", "--model", "committee", "--t-max", "1"] + small, [[
            ("--K", positive(over: "5000")), ("--heads", ["nan", "0", "2"]), ("--l1", nonFinite + ["-1", "1e4"]), ("--l2", nonFinite + ["-1", "1e4"]),
            ("--bias-init", ["nan", "inf", "wide", "1e7"]), ("--readout", ["bogus"]), ("--loss", ["bogus", "ce"]),
            ("--closure", ["conditional", "lufkin"]), ("--model", ["cnn", "bogus"])]])
        all += cases(["solve", "--out", "run", "--model", "committee", "--inputs", "copula:exponential", "--t-max", "1"] + small, [[("--closure", ["cumulant"])]])
        // K x D = 4096 x 1e6 weights: some 1 TB of stepper state, refused before anything is allocated.
        all += cases(["solve", "--out", "run", "--model", "committee", "--t-max", "1", "--L", "1000000"], [[("--K", ["4096"])]])
        let data = ["--inputs", "data:DATA"]
        all += cases(["solve", "--out", "run"] + data + small, [dataFlags, [("--closure", ["conditional", "lufkin"]), ("--cumulant", ["full"])]])
        all += cases(["solve", "--out", "run", "--stationarity", "raw"] + data + small, [[("--augment", ["translate"])]])
        all += cases(["solve", "--out", "run", "--closure", "cumulant", "--symmetrise", "sign"] + data + small, [[("--augment", ["translate"])]])
        all += cases(["stats"] + data + small, [[("--augment", ["translate"])]])
        all += cases(["simulate", "--out", "run"] + data + small, [dataFlags, [
            ("--epochs", positive(over: "1e7")), ("--sampler", ["dense"])]])
        all += cases(["simulate", "--out", "run", "--epochs", "1"] + data + small, [[("--t-max", ["1"])]])
        all += cases(["simulate", "--out", "run"] + small, [[("--epochs", ["1"])]])
        all += cases(["solve", "--out", "run", "--inputs", "data:DATA,DATA"] + small, [[("--task", ["clone"])]])
        all += cases(["demo", "--out", "demo", "--t-max", "1", "--task", "clone"] + small, [[("--inputs", ["data:DATA"])]])
        all += cases(["instability"] + small, [inputFlags, taskFlags, closureFlags, [
            ("--lr", positive(over: "1e7")), ("--init-scale", positive(over: "1e7")),
            ("--gain-tolerance", positive(over: "2")),
            ("--scan-gain", ["nan:1", "0:inf", "-inf:1", "0:1:0", "0:1:-1", "0:1:1e6", "1:0"])]])
        all += cases(["criterion", "--t-max", "1"] + small, [inputFlags, taskFlags, [
            ("--lr", positive(over: "1e7")), ("--init-scale", positive(over: "1e7")), ("--seed", nonFinite + ["-1", "1e30"]),
            ("--bias", ["0.5"]), ("--activation", ["tanh", "linear"])]])
        all += cases(["criterion"] + small, [[("--t-max", positive(over: "1e12"))]])
        all += cases(["tensor"] + small, [inputFlags, [
            ("--restarts", positive(over: "1e6")), ("--seed", nonFinite + ["-1", "1e30"]),
            ("--tolerance", positive(over: "2")), ("--max-iterations", positive(over: "1e10"))]])
        all += cases(["phase", "--x", "gain=1:2:2", "--y", "xi1=1.5:2:2", "--out", "sweep"] + small,
                     [inputFlags.filter { $0.0 != "--gain" }, taskFlags.filter { $0.0 != "--xi1" }, closureFlags,
                      integrationFlags, [("--threads", positive(over: "2000"))]])
        all += cases(["phase", "--y", "xi1=1.5:2:2", "--out", "sweep"] + small, [[
            ("--x", ["gain=nan:1:2", "gain=0:inf:2", "gain=-1:1:2", "gain=0:1:0", "gain=0:1:-1", "L=2:8:3", "L=16.5:20:2",
                     "gain=1:2:1", "gain=0:1:100000", "bogus=1:2:2", "gain"])]])
        all += cases(["phase", "--engine", "sgd", "--x", "gain=1:2:2", "--y", "xi1=1.5:2:2", "--out", "sweep"] + small, [[
            ("--seeds", positive(over: "1e5")), ("--K", positive(over: "5000")), ("--batch", positive(over: "1e7")),
            ("--test-samples", positive(over: "1e8")), ("--null-samples", positive(over: "1e7")), ("--threshold", nonFinite + ["-1", "1e4"]),
            ("--kernel-size", ["3"]), ("--model", ["bogus"]), ("--sampler", ["bogus"]), ("--measure", ["growth"]), ("--rtol", ["1e-6"]),
            ("--engine", ["bogus"])]])
        all += cases(["phase", "--engine", "sgd", "--y", "xi1=1.5:2:2", "--out", "sweep"] + small, [[
            ("--x", ["gaussian=0:2:2", "gaussian=0:1:3", "gaussian=-1:0:2", "gaussian=0.5:0.5:1"])]])
        all += cases(["phase", "--x", "gain=1:2:2", "--y", "xi1=1.5:2:2", "--out", "sweep"] + small, [[
            ("--seeds", ["2"]), ("--K", ["8"]), ("--null-samples", ["1000"])]])
        all += cases(["demo", "--out", "demo", "--t-max", "1", "--seeds", "0"] + small, [inputFlags, taskFlags, [
            ("--mc-samples", positive(over: "100000000")), ("--t-max", positive(over: "1e12")), ("--lr", positive(over: "1e7")),
            ("--init-scale", positive(over: "1e7")), ("--seed", nonFinite + ["-1", "1e30"]), ("--batch", positive(over: "1e7")),
            ("--threads", positive(over: "2000")), ("--mc-precision", ["bogus"])]])
        all += cases(["demo", "--out", "demo", "--t-max", "1"] + small, [[("--seeds", nonFinite + ["-1", "1e5"])]])
        all += cases(["validate", "--out", "report.md"], [[("--lrs", ["nan", "-1", "0", "inf", "1,,2", ""])]])
        all += cases(["bench", "--quick"], [[("--seed", nonFinite + ["-1", "1e30"])]])
        all += cases(["analyze", "no-run"], [[("--null-samples", positive(over: "10000000")), ("--threshold", nonFinite + ["-1", "1e4"]),
                                               ("--seed", nonFinite + ["-1", "1e30"])]])
        return all
    }

    func testEveryNumericFlagRefusesBadValuesWithOneLineAndWritesNothing() throws {
        let weights = try writeVector((0..<16).map { sin(Double($0)) + 0.1 }, named: "w.npy")
        let data = path("data.npy")
        try NpyArray(shape: [20, 16], values: (0..<320).map { sin(Double($0 * $0)) }).write(to: data)
        let invocations = Self.table.flatMap { row in
            row.badValues.map { value in
                (flag: row.flag, arguments: (row.command + ["\(row.flag)=\(value)"]).map {
                    $0 == "W" ? weights : $0.replacingOccurrences(of: "DATA", with: data)
                })
            }
        }
        XCTAssertGreaterThan(invocations.count, 400)
        let failures = Failures()
        let root: URL = directory
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for k in stride(from: worker, to: invocations.count, by: 4) {
                let (flag, arguments) = invocations[k]
                do {
                    let workspace = root.appendingPathComponent("case-\(k)")
                    try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: false)
                    let outcome = try CLI.run(arguments, in: workspace, timeout: 20)
                    let left = try FileManager.default.contentsOfDirectory(atPath: workspace.path)
                    let lines = outcome.stderrLines
                    let problem: String? =
                        outcome.status == -1 ? "still running after 20 s (killed)"
                        : outcome.status != 2 ? "exit status \(outcome.status)"
                        : lines.count != 1 ? "\(lines.count) stderr lines"
                        : !lines[0].contains(flag) ? "the error does not name \(flag)"
                        : !left.isEmpty ? "left \(left) behind"
                        : nil
                    if let problem {
                        failures.add("convemerge \(arguments.joined(separator: " ")): \(problem): \(outcome.stderr.prefix(300))")
                    }
                } catch {
                    failures.add("convemerge \(arguments.joined(separator: " ")): \(error)")
                }
            }
        }
        XCTAssert(failures.all.isEmpty, "\(failures.all.count) of \(invocations.count) bad inputs misbehaved:\n" + failures.all.sorted().joined(separator: "\n"))
    }
}

/// Failures collected from worker threads.
extension CLIBadInputTableTests {
    /// Unusable sample files for copula:tabulated (too few values, NaN, float32, all equal):
    /// one line naming --inputs, exit 2, nothing written, from a command that reads inputs.
    func testBadTabulatedFilesAreOneLineAndWriteNothing() throws {
        let ramp = (0..<200).map { Double($0) }
        var withNaN = ramp
        withNaN[7] = .nan
        var files = [
            try writeVector(Array(ramp.prefix(99)), named: "few.npy"),
            try writeVector(withNaN, named: "nan.npy"),
            try writeVector([Double](repeating: 2, count: 200), named: "constant.npy"),
        ]
        let float32 = NpyArray(shape: [200], values: ramp).encoded()
        let header = float32.range(of: Data("'<f8'".utf8))!
        var relabelled = float32
        relabelled.replaceSubrange(header, with: Data("'<f4'".utf8))
        try relabelled.write(to: directory.appendingPathComponent("float32.npy"))
        files.append(path("float32.npy"))
        for (k, file) in files.enumerated() {
            for command in [["stats"], ["solve", "--out", "run", "--t-max", "1"]] {
                let workspace = directory.appendingPathComponent("tabulated-\(k)-\(command[0])")
                try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: false)
                let outcome = try CLI.run(command + ["--L", "16", "--inputs", "copula:tabulated:\(file)"], in: workspace, timeout: 20)
                XCTAssertEqual(outcome.status, 2, "\(command[0]) \(file)")
                XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
                XCTAssertTrue(outcome.stderr.contains("--inputs"), outcome.stderr)
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: workspace.path), [])
            }
        }
    }

    /// A value of the wrong type (an integer flag given nan or 1.5, a choice given a name it does not
    /// know) is refused by the argument parser before any check of ours: its one line still names the
    /// flag and says what the flag takes, from the flag's own help.
    func testWrongTypesNameTheFlagAndWhatItTakes() throws {
        let cases: [([String], String, String)] = [
            (["solve", "--model", "committee", "--K", "nan"], "--K", "1 ... 4096"),
            (["solve", "--saves", "1.5"], "--saves", "2 ... 1000000"),
            (["simulate", "--seeds", "x"], "--seeds", "1 ... 10000"),
            (["solve", "--closure", "bogus"], "--closure", "gaussian, cumulant"),
        ]
        for (arguments, flag, allowed) in cases {
            let outcome = try CLI.run(arguments + ["--out", "run"], in: directory, timeout: 20)
            XCTAssertEqual(outcome.status, 2, outcome.stderr)
            XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
            XCTAssertTrue(outcome.stderr.hasPrefix("error: \(flag): "), outcome.stderr)
            XCTAssertTrue(outcome.stderr.contains(allowed), outcome.stderr)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
        }
    }
}

private final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var all: [String] = []
    func add(_ message: String) { lock.lock(); all.append(message); lock.unlock() }
}
