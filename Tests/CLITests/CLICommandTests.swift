import ConvEmerge
import Foundation
import XCTest

final class CLIStatsTests: CLITestCase {
    /// Keys and lengths on the torus, and two exact facts of a circulant C:
    /// its mean eigenvalue is the variance (trace / D) and the k = 0 eigenvalue
    /// is the sum of the first row.
    func testStatsJSONOnTheTorus() throws {
        let stats = try runOK(["stats", "--dim", "2", "--L", "8", "--xi", "1.5", "--gain", "2", "--jitter", "0.1", "--json"]).json()
        XCTAssertEqual(stats["D"] as? Int, 64)
        let row = doubles(stats["covariance_row"]), spectrum = doubles(stats["spectrum"]), base = doubles(stats["base_spectrum"])
        XCTAssertEqual(row.count, 64)
        XCTAssertEqual(spectrum.count, 64)
        XCTAssertEqual(base.count, 64)
        XCTAssertEqual(spectrum.reduce(0, +) / 64, row[0], accuracy: 1e-12)
        XCTAssertEqual(spectrum[0], row.reduce(0, +), accuracy: 1e-10)
        XCTAssertEqual(base.reduce(0, +) / 64, 1.1, accuracy: 1e-12, "mean eigenvalue of Sigma is 1 + jitter")
        XCTAssertEqual(try XCTUnwrap(double(stats["variance"])), row[0])
        XCTAssertNotNil(double(stats["gamma"]))
        XCTAssertNotNil(double(stats["excess_kurtosis"]))
    }

    /// SPEC §1 values at g = 1, and Parseval: sum_n n! c_n^2 = Var x = 1, the
    /// orders n <= 9 carrying all but a small tail.
    func testStatsHermiteCoefficients() throws {
        let stats = try runOK(["stats", "--L", "32", "--gain", "1", "--json"]).json()
        let pairs = try XCTUnwrap(stats["hermite"] as? [[Any]])
        let orders = pairs.compactMap { ($0.first as? NSNumber)?.intValue }
        let c = Dictionary(uniqueKeysWithValues: pairs.compactMap { pair -> (Int, Double)? in
            guard pair.count == 2, let n = (pair[0] as? NSNumber)?.intValue, let value = double(pair[1]) else { return nil }
            return (n, value)
        })
        XCTAssertEqual(orders, Array(1...9))
        for n in stride(from: 2, through: 8, by: 2) { XCTAssertEqual(try XCTUnwrap(c[n]), 0, "psi_g is odd") }
        XCTAssertEqual(try XCTUnwrap(c[1]), 0.97721, accuracy: 1e-5)
        XCTAssertEqual(try XCTUnwrap(c[3]), -0.08143, accuracy: 1e-5)
        XCTAssertEqual(try XCTUnwrap(c[5]), 0.00611, accuracy: 1e-5)
        let captured = c.reduce(0) { $0 + exp(lgamma(Double($1.key + 1))) * $1.value * $1.value }
        XCTAssertLessThanOrEqual(captured, 1 + 1e-12)
        XCTAssertGreaterThan(captured, 0.99)
        XCTAssertLessThan(try XCTUnwrap(double(stats["excess_kurtosis"])), 0, "NLGP inputs are platykurtic for g > 0")
    }

    /// g = inf (sign inputs) must not break JSON: the gain is the string "inf";
    /// a +-1 variable has excess kurtosis exactly -2.
    func testInfiniteGain() throws {
        let stats = try runOK(["stats", "--L", "16", "--gain", "inf", "--json"]).json()
        XCTAssertEqual(stats["gain"] as? String, "inf")
        XCTAssertEqual(try XCTUnwrap(double(stats["excess_kurtosis"])), -2, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(double(stats["gamma"])), 1, accuracy: 1e-15)
        let table = try runOK(["stats", "--L", "16", "--gain", "inf"])
        XCTAssertTrue(table.stdout.contains("inf"))
    }
}

final class CLISampleTests: CLITestCase {
    private let model = ["--L", "16", "--xi", "2", "--gain", "1"]
    private let count = 3000

    /// Per input, the translation average of x_i x_{i+d} (d = 0..D-1) and of x_i^4.
    private func momentsPerInput(_ array: NpyArray) -> (products: [[Double]], fourth: [Double]) {
        let (n, d) = (array.shape[0], array.shape[1])
        var products = [[Double]](), fourth = [Double]()
        for row in 0..<n {
            let x = Array(array.values[(row * d)..<((row + 1) * d)])
            products.append((0..<d).map { shift in (0..<d).reduce(0) { $0 + x[$1] * x[($1 + shift) % d] } / Double(d) })
            fourth.append(x.reduce(0) { $0 + $1 * $1 * $1 * $1 } / Double(d))
        }
        return (products, fourth)
    }

    private func meanAndStandardError(_ values: [Double]) -> (mean: Double, error: Double) {
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return (mean, (variance / n).squareRoot())
    }

    /// The sample covariance of the NLGP and of its clone matches `stats`'s exact
    /// C within 5 standard errors; the fourth moment matches 3 + excess kurtosis
    /// for the NLGP and 3 for the clone.
    func testSampleMatchesExactStatistics() throws {
        let stats = try runOK(["stats"] + model + ["--json"]).json()
        let exactRow = doubles(stats["covariance_row"])
        let kurtosis = try XCTUnwrap(double(stats["excess_kurtosis"]))
        for (clone, expectedFourth) in [(false, 3 + kurtosis), (true, 3.0)] {
            let file = clone ? "clone.npy" : "nlgp.npy"
            try runOK(["sample"] + model + ["--n", String(count), "--seed", "11", "--out", path(file)] + (clone ? ["--clone"] : []))
            let array = try NpyArray.read(from: path(file), flag: "--out")
            XCTAssertEqual(array.shape, [count, 16])
            let (products, fourth) = momentsPerInput(array)
            for shift in 0..<16 {
                let (mean, error) = meanAndStandardError(products.map { $0[shift] })
                XCTAssertEqual(mean, exactRow[shift], accuracy: 5 * error, "C(0, \(shift)), clone = \(clone)")
            }
            let (mean, error) = meanAndStandardError(fourth)
            XCTAssertEqual(mean, expectedFourth, accuracy: 5 * error, "E[x^4], clone = \(clone)")
        }
    }

    /// Same seed, same bytes; another seed, other draws.
    func testSeedsAreReproducible() throws {
        for (name, seed) in [("a.npy", "5"), ("b.npy", "5"), ("c.npy", "6")] {
            try runOK(["sample", "--dim", "2", "--L", "6", "--xi", "1", "--n", "4", "--seed", seed, "--out", path(name)])
        }
        let a = try Data(contentsOf: URL(fileURLWithPath: path("a.npy")))
        XCTAssertEqual(a, try Data(contentsOf: URL(fileURLWithPath: path("b.npy"))))
        XCTAssertNotEqual(a, try Data(contentsOf: URL(fileURLWithPath: path("c.npy"))))
        XCTAssertEqual(try NpyArray.read(from: path("a.npy"), flag: "--out").shape, [4, 36])
    }
}

final class CLICumulantTests: CLITestCase {
    private let model = ["--L", "16", "--xi", "2", "--gain", "1"]

    private func cumulant(_ w: [Double], method: String, extra: [String] = []) throws -> [Double] {
        let file = try writeVector(w, named: "w-\(UUID().uuidString).npy")
        let result = try runOK(["cumulant"] + model + ["--w", file, "--cumulant", method, "--json"] + extra).json()
        XCTAssertEqual(result["method"] as? String, method)
        return doubles(result["T"])
    }

    private func assertClose(_ a: [Double], _ b: [Double], relative: Double, _ message: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        let scale = b.map(abs).max() ?? 0
        let difference = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(difference, relative * scale, message, file: file, line: line)
    }

    /// T is a cubic form (T(2w) = 8 T(w)) and commutes with lattice translations,
    /// for both evaluations; the CLI returns the library's T.
    func testCumulantSymmetries() throws {
        var rng = Xoshiro256(seed: 3)
        let w = (0..<16).map { _ in rng.nextGaussian() / 4 }
        let shifted = (0..<16).map { w[($0 + 15) % 16] }
        for method in ["leading", "full"] {
            let t = try cumulant(w, method: method)
            XCTAssertEqual(t.count, 16)
            XCTAssertGreaterThan(t.map(abs).max() ?? 0, 0, "NLGP at g = 1 has a nonzero fourth cumulant")
            assertClose(try cumulant(w.map { 2 * $0 }, method: method), t.map { 8 * $0 }, relative: 1e-6, "\(method): cubic scaling")
            let tShifted = try cumulant(shifted, method: method)
            assertClose(tShifted, (0..<16).map { t[($0 + 15) % 16] }, relative: 1e-6, "\(method): translation")
        }
        let spec = try InputSpec(lattice: Lattice(dimension: 1, length: 16), kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 1)
        let library = try FourthCumulant(InputDistribution(spec), method: .leading).action(w)
        assertClose(try cumulant(w, method: "leading"), library, relative: 1e-12, "CLI vs library")
    }

    /// The Gaussian clone has no fourth cumulant.
    func testCloneHasZeroCumulant() throws {
        let w = (0..<16).map { exp(-Double(($0 - 8) * ($0 - 8)) / 8) }
        for method in ["leading", "full"] {
            let t = try cumulant(w, method: method, extra: ["--clone"])
            XCTAssertEqual(t.count, 16)
            XCTAssertLessThanOrEqual(t.map(abs).max() ?? 1, 1e-12, "\(method) T of the clone")
        }
    }

    func testCumulantWritesTAsNpy() throws {
        let w = try writeVector((0..<16).map { sin(Double($0)) }, named: "w.npy")
        let json = try runOK(["cumulant"] + model + ["--w", w, "--out", path("t.npy"), "--json"]).json()
        // Foundation's JSON parser on Linux rounds the last bit; the writer does not.
        assertClose(try NpyArray.read(from: path("t.npy"), flag: "--out").values, doubles(json["T"]), relative: 1e-14, "T in .npy vs JSON")
    }
}

final class CLIBenchTests: CLITestCase {
    /// Only that the machinery runs and reports finite positive ratios, and that
    /// the FFT and dense T_lead agree: no timing assertions in tests.
    func testQuickBenchReportsFiniteRatios() throws {
        let report = try runOK(["bench", "--quick", "--json"]).json()
        let sampler = try XCTUnwrap(report["sampler"] as? [[String: Any]])
        XCTAssertEqual(sampler.compactMap { $0["D"] as? Int }, BenchmarkPlan.quick.samplerSizes)
        let cumulant = try XCTUnwrap(report["leading_cumulant"] as? [String: Any])
        for entry in sampler + [cumulant] {
            let speedup = try XCTUnwrap(double(entry["speedup"]))
            XCTAssertTrue(speedup.isFinite && speedup > 0, "speed-up \(speedup)")
        }
        XCTAssertLessThan(try XCTUnwrap(double(cumulant["max_relative_difference"])), 1e-10)
        let data = try XCTUnwrap(report["data"] as? [String: Any])
        for key in ["stats_over_one_pass", "data_over_nlgp_rhs"] {
            let ratio = try XCTUnwrap(double(data[key]))
            XCTAssertTrue(ratio.isFinite && ratio > 0, "\(key) \(ratio)")
        }
    }

    /// `--only NAME` runs that section alone: its JSON keys and no other section's, with a
    /// positive peak RSS. The memory section meets issue 11's goal, peak <= 1.3 x (arrays written
    /// + the command's own footprint), and solve, which writes its saves as they come, grows by
    /// less than the arrays it writes.
    func testQuickBenchEverySectionAloneHasItsKeysAndPositivePeakRSS() throws {
        let keys = ["inputs": ["sampler", "leading_cumulant"], "theory": ["rhs_scaling", "rhs_dense", "rhs_threads", "default_solve", "committee"],
                    "simulation": ["sgd", "sgd_two_seed_speedup", "sgd_step"], "data": ["data"], "memory": ["memory"]]
        var memory: [[String: Any]] = []
        for (section, expected) in keys {
            let report = try runOK(["bench", "--quick", "--only", section, "--json"]).json()
            for key in expected { XCTAssertNotNil(report[key], "\(section): \(key)") }
            for (other, absent) in keys where other != section {
                for key in absent { XCTAssertNil(report[key], "--only \(section) printed \(other)'s \(key)") }
            }
            let sections = try XCTUnwrap(report["sections"] as? [String: [String: Any]])
            XCTAssertEqual(Array(sections.keys), [section])
            XCTAssertGreaterThan(try XCTUnwrap(double(sections[section]?["peak_rss_bytes"])), 0, section)
            if section == "memory" { memory = try XCTUnwrap(report["memory"] as? [[String: Any]]) }
            if section == "simulation" {
                let steps = try XCTUnwrap(report["sgd_step"] as? [[String: Any]])
                XCTAssertEqual(steps.compactMap { $0["K"] as? Int }, [1, 8])
                for step in steps {
                    for key in ["step_seconds", "baseline_seconds", "speedup"] {
                        let value = try XCTUnwrap(double(step[key]), key)
                        XCTAssertTrue(value.isFinite && value > 0, "\(key) \(value)")
                    }
                }
            }
        }
        for command in ["simulate", "solve"] {
            let rows = memory.filter { $0["command"] as? String == command }.sorted { double($0["D"])! < double($1["D"])! }
            XCTAssertEqual(rows.compactMap { double($0["D"]) }, [1000, 10000], command)
            let peaks = try rows.map { try XCTUnwrap(double($0["peak_rss_bytes"])) }
            let arrays = try rows.map { try XCTUnwrap(double($0["array_bytes"])) }
            XCTAssertTrue(peaks.allSatisfy { $0 > 0 } && arrays.allSatisfy { $0 > 0 }, "\(command): \(peaks), \(arrays)")
            for row in rows {
                XCTAssertLessThanOrEqual(try XCTUnwrap(double(row["peak_rss_over_arrays_and_base"])), 1.3, "\(command): \(row)")
            }
            if command == "solve" {
                XCTAssertLessThan(peaks[1] - peaks[0], arrays[1] - arrays[0], "solve: peaks \(peaks), arrays \(arrays)")
            }
        }
    }

    func testUnknownSectionIsOneLineNamingOnlyAndTheSections() throws {
        let result = try CLI.run(["bench", "--only", "bogus"])
        XCTAssertEqual(result.status, 2)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, result.stderr)
        for name in ["--only", "inputs", "theory", "simulation", "data", "memory"] { XCTAssertTrue(result.stderr.contains(name), name) }
    }
}
