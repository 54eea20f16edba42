import ConvEmerge
import Foundation
import XCTest

/// `stats --inputs data:FILE.npy` through the binary: the statistics of NLGP samples written by
/// `sample` against the exact ones, and bad data files refused in one line naming --inputs.
final class CLIDataStatsTests: CLITestCase {
    func testStatsOfSampledRowsMatchTheModel() throws {
        try runOK(["sample", "--L", "16", "--gain", "3", "--n", "40000", "--seed", "5", "--out", path("rows.npy")])
        let data = try runOK(["stats", "--L", "16", "--inputs", "data:\(path("rows.npy"))", "--stationarity", "circulant", "--json"]).json()
        let model = try runOK(["stats", "--L", "16", "--gain", "3", "--json"]).json()
        XCTAssertEqual(data["N"] as? Int, 40000)
        let measured = doubles(data["covariance_row"]), exact = doubles(model["covariance_row"])
        // Lag averages of 40000 x 16 products: standard error below sqrt(2 sum_m C_m^2 / (N D)) < 0.005.
        for k in 0..<16 { XCTAssertEqual(measured[k], exact[k], accuracy: 0.02, "lag \(k)") }
        XCTAssertEqual(try XCTUnwrap(double(data["excess_kurtosis"])), try XCTUnwrap(double(model["excess_kurtosis"])), accuracy: 0.05)
        XCTAssertLessThan(try XCTUnwrap(double(data["distance_from_circulant"])), 0.05)
        let third = doubles(data["third_cumulant_probe"]), thirdError = doubles(data["third_cumulant_probe_se"])
        XCTAssertLessThan(zip(third, thirdError).map { abs($0 / $1) }.max()!, 4.5, "the NLGP has no third cumulant")
    }

    func testBadDataFilesAreRefusedInOneLine() throws {
        try writeVector([1, 2, 3], named: "vector.npy")
        try NpyArray(shape: [20, 15], values: [Double](repeating: 1, count: 300)).write(to: path("wrong-d.npy"))
        try NpyArray(shape: [3, 16], values: [Double](repeating: 1, count: 48)).write(to: path("few.npy"))
        try NpyArray(shape: [20, 16], values: (0..<320).map { $0 == 7 ? .nan : Double($0) }).write(to: path("nan.npy"))
        var float32 = NpyArray(shape: [20, 16], values: [Double](repeating: 1, count: 320)).encoded()
        float32.replaceSubrange(float32.range(of: Data("<f8".utf8))!, with: Data("<f4".utf8))
        try float32.write(to: directory.appendingPathComponent("float32.npy"))
        for name in ["vector.npy", "wrong-d.npy", "few.npy", "nan.npy", "float32.npy", "missing.npy"] {
            let outcome = try CLI.run(["stats", "--L", "16", "--inputs", "data:\(path(name))"])
            XCTAssertEqual(outcome.status, 2, "\(name): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
            XCTAssertTrue(outcome.stderr.hasPrefix("error: --inputs:"), "\(name): \(outcome.stderr)")
        }
    }
}
