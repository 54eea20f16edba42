import ConvEmerge
import Foundation
import XCTest

/// The reduced Fig. 1 (derivations/fig1-2d.md, section 4): the 2D published network localises on
/// NLGP and not on its Gaussian control.
final class CLIFig1OrderingTests: CLITestCase {
    /// The settings of derivations/fig1-2d.md, section 2, on a 16 x 16 torus (the jitter keeps
    /// xi = 3 positive definite there) and to t = 1000 instead of 10^4.
    private let reduced = ["simulate", "--preset", "published", "--dim", "2", "--L", "16", "--xi0", "1", "--xi1", "3",
                           "--jitter", "0.01", "--gain", "10", "--lr", "0.2", "--t-max", "1000", "--seeds", "4", "--saves", "2",
                           "--test-samples", "100", "--quiet"]

    /// Mean over units of the final IPR (derivations/observables.md eq. (1)), one value per replica.
    private func finalMeanIPR(_ run: String) throws -> [Double] {
        let weights = try NpyArray.read(from: run + "/weights.npy", flag: "test")
        XCTAssertEqual(weights.shape.count, 4)
        let (replicas, saves, units, sites) = (weights.shape[0], weights.shape[1], weights.shape[2], weights.shape[3])
        return (0..<replicas).map { replica in
            (0..<units).map { unit -> Double in
                let start = ((replica * saves + saves - 1) * units + unit) * sites
                return Observables.inverseParticipationRatio(Array(weights.values[start..<start + sites]))
            }.reduce(0, +) / Double(units)
        }
    }

    private func meanAndStandardError(_ values: [Double]) -> (mean: Double, standardError: Double) {
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)
        return (mean, (variance / n).squareRoot())
    }

    /// The replica means of NLGP and control differ by more than 4 standard errors of the
    /// difference (each from its replicas' spread), and the control stays below 2 x 3/(D+2), the
    /// localisation threshold of `analyze`.
    func testNLGPLocalisesMoreThanItsGaussianControl() throws {
        let nlgpRun = path("nlgp"), controlRun = path("control")
        let nlgpProcess = try CLI.start(reduced + ["--out", nlgpRun])
        let control = try CLI.run(reduced + ["--gaussian", "--out", controlRun])
        let nlgp = nlgpProcess.wait(timeout: 600)
        XCTAssertEqual(nlgp.status, 0, nlgp.stderr)
        XCTAssertEqual(control.status, 0, control.stderr)
        let nlgpIPR = meanAndStandardError(try finalMeanIPR(nlgpRun))
        let controlIPR = meanAndStandardError(try finalMeanIPR(controlRun))
        let standardError = (nlgpIPR.standardError * nlgpIPR.standardError
            + controlIPR.standardError * controlIPR.standardError).squareRoot()
        XCTAssertGreaterThan(nlgpIPR.mean - controlIPR.mean, 4 * standardError,
                             "NLGP \(nlgpIPR), control \(controlIPR)")
        let sites = 16.0 * 16.0
        XCTAssertLessThan(controlIPR.mean, 2 * 3 / (sites + 2), "control \(controlIPR)")
    }
}
