import ConvEmerge
import Foundation
import XCTest

/// The statistics of a data set (derivations/data-inputs.md) on samples of inputs whose exact
/// statistics are known: they must agree within their standard errors.
final class EmpiricalInputsTests: XCTestCase {
    let ring = try! Lattice(dimension: 1, length: 16)

    func distribution(gain: Double, clone: Bool = false) throws -> InputDistribution {
        try InputDistribution(InputSpec(lattice: ring, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: gain,
                                        isGaussianClone: clone))
    }

    func data(_ distribution: InputDistribution, rows: Int, seed: UInt64, stationarity: EmpiricalInputs.Stationarity = .raw,
              symmetrise: Bool = false) throws -> EmpiricalInputs {
        var rng = Xoshiro256(seed: seed)
        return try EmpiricalInputs(values: distribution.sample(count: rows, rng: &rng), rowCount: rows, lattice: ring,
                                   stationarity: stationarity, symmetriseSign: symmetrise)
    }

    /// A localised probe with |w|^2 = D.
    var probe: [Double] {
        let bump = (0..<16).map { i in exp(-Double((i - 5) * (i - 5)) / 4) }
        return bump.map { $0 * (16 / dot(bump, bump)).squareRoot() }
    }

    func testFourthCumulantOfNLGPSamplesMatchesTheExactActionWithinItsStandardError() throws {
        let nlgp = try distribution(gain: 3)
        let exact = try FourthCumulant(nlgp, method: .full).action(probe)
        let estimate = try data(nlgp, rows: 200_000, seed: 11).fourthCumulantAction(probe)
        let z = (0..<16).map { (estimate.value[$0] - exact[$0]) / estimate.standardError[$0] }
        XCTAssertLessThan(z.map(abs).max()!, 4.5, "worst component \(z.map(abs).max()!) SE: \(z)")
        // The estimate resolves the cumulant: it is many standard errors from zero.
        XCTAssertGreaterThan(euclideanNorm(exact) / euclideanNorm(estimate.standardError), 10)
    }

    func testGaussianSamplesHaveNoThirdOrFourthCumulantAndTheirCovariance() throws {
        let clone = try distribution(gain: 3, clone: true)
        let sample = try data(clone, rows: 100_000, seed: 12, stationarity: .circulant)
        for action in [sample.thirdCumulantAction(probe), sample.fourthCumulantAction(probe)] {
            let z = zip(action.value, action.standardError).map { abs($0 / $1) }
            XCTAssertLessThan(z.max()!, 4.5, "\(z)")
        }
        // The circulant projection of the empirical covariance against the exact C. The lag-k
        // average of N D Gaussian products has variance (sum_m C_m^2 + sum_m C_(m+k) C_(m-k)) / (N D)
        // (Isserlis), at most 2 sum_m C_m^2 / (N D).
        let (_, row, distance) = sample.covariance()
        let exactRow = clone.covariance.firstRow
        let standardError = (2 * exactRow.map { $0 * $0 }.reduce(0, +) / 1_600_000).squareRoot()
        for k in 0..<16 { XCTAssertEqual(row![k], exactRow[k], accuracy: 4 * standardError, "lag \(k)") }
        // Periodic data are circulant up to sampling noise.
        XCTAssertLessThan(distance, 0.02)
        let moments = sample.marginalMoments()
        XCTAssertEqual(moments.excessKurtosis, 0, accuracy: 4 * (24.0 / 1_600_000).squareRoot() * 4)
    }

    func testMarginalMomentsOfNLGPSamples() throws {
        let nlgp = try distribution(gain: 1)
        let exact = try nlgp.marginal.excessKurtosis()
        let moments = try data(nlgp, rows: 100_000, seed: 13).marginalMoments()
        // Pooled over 16 correlated sites: the effective sample is between N and 16 N.
        XCTAssertEqual(moments.excessKurtosis, exact, accuracy: 4 * (24.0 / 100_000).squareRoot())
        XCTAssertEqual(moments.skewness, 0, accuracy: 4 * (6.0 / 100_000).squareRoot())
    }

    func testSignSymmetrisationRemovesTheThirdCumulantExactly() throws {
        // A skewed data set: squares of Gaussian inputs, centred.
        let clone = try distribution(gain: 1, clone: true)
        var rng = Xoshiro256(seed: 14)
        let skewed = clone.sample(count: 20_000, rng: &rng).map { $0 * $0 }
        let raw = try EmpiricalInputs(values: skewed, rowCount: 20_000, lattice: ring)
        let symmetric = try EmpiricalInputs(values: skewed, rowCount: 20_000, lattice: ring, symmetriseSign: true)
        let s = raw.thirdCumulantAction(probe)
        XCTAssertGreaterThan(euclideanNorm(s.value) / euclideanNorm(s.standardError), 10, "the raw data are skewed")
        XCTAssertLessThan(euclideanNorm(symmetric.thirdCumulantAction(probe).value), 1e-10 * euclideanNorm(s.value))
        XCTAssertEqual(symmetric.marginalMoments().skewness, 0, accuracy: 1e-12)
        XCTAssertEqual(symmetric.rowCount, 40_000)
    }

    func testBadDataAreRefusedNamingTheFlag() {
        func assertInvalid(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try body(), file: file, line: line) { error in
                guard case let ConvEmergeError.invalidInput(flag, _) = error else { return XCTFail("\(error)", file: file, line: line) }
                XCTAssertEqual(flag, "--inputs", file: file, line: line)
            }
        }
        assertInvalid { _ = try EmpiricalInputs(values: [Double](repeating: 1, count: 15 * 20), rowCount: 20, lattice: self.ring) }
        assertInvalid { _ = try EmpiricalInputs(values: [Double](repeating: 1, count: 16 * 5), rowCount: 5, lattice: self.ring) }
        var withNaN = [Double](repeating: 1, count: 16 * 20)
        withNaN[7] = .nan
        assertInvalid { _ = try EmpiricalInputs(values: withNaN, rowCount: 20, lattice: self.ring) }
    }
}
