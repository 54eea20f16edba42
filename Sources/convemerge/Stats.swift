import ArgumentParser
import ConvEmerge
import Foundation

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exact second- and fourth-order statistics of the input model.",
        discussion: """
        Prints, for NLGP(xi, g) on the chosen lattice: gamma(g), the marginal variance, the \
        first row of the input covariance C (lattice order; row-major on the torus), the \
        eigenvalues of C and of the latent covariance Sigma (FFT order), the marginal excess \
        kurtosis and the Hermite coefficients c_n of psi_g (odd n <= 9).

        JSON keys (--json): D, gain, gamma, variance, covariance_row, spectrum, base_spectrum, \
        excess_kurtosis, hermite ([[n, c_n], ...]). A gain of inf is written as the string "inf".

        Example:
          convemerge stats --L 64 --xi 3 --gain 2 --json
          convemerge stats --dim 2 --L 16 --kernel exponential --xi 1.5
        """
    )

    @OptionGroup var input: InputOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    /// Hermite orders reported (SPEC §1 quotes c1, c3, c5; the issue asks for n <= 9 at least).
    static let maximumHermiteOrder = 9

    func run() throws {
        let spec = try input.spec()
        let distribution = try InputDistribution(spec)
        let expansion = HermiteExpansion(psi: distribution.psi, latentVariance: spec.kernel.variance)
        let coefficients = expansion.coefficients(maxOrder: Self.maximumHermiteOrder)
        let oddOrders = Array(stride(from: 1, through: Self.maximumHermiteOrder, by: 2))
        let kurtosis = try expansion.marginalExcessKurtosis()
        let covariance = distribution.covariance

        if json {
            try Report.printJSON([
                "D": distribution.size,
                "gain": Report.json(spec.gain),
                "gamma": Report.json(distribution.psi.gamma),
                "variance": Report.json(covariance.firstRow[0]),
                "covariance_row": Report.json(covariance.firstRow),
                "spectrum": Report.json(covariance.eigenvalues),
                "base_spectrum": Report.json(distribution.baseCovariance.eigenvalues),
                "excess_kurtosis": Report.json(kurtosis),
                "hermite": oddOrders.map { [$0, Report.json(coefficients[$0])] },
            ])
            return
        }

        let shown = min(distribution.size, 8)
        print(Report.describe(spec))
        print(Report.table([
            ["gamma(g)", Report.format(distribution.psi.gamma)],
            ["variance C_00", Report.format(covariance.firstRow[0])],
            ["excess kurtosis", Report.format(kurtosis)],
            ["spectrum of C", "min \(Report.format(covariance.minimumEigenvalue)), max \(Report.format(covariance.maximumEigenvalue))"],
            ["spectrum of Sigma", "min \(Report.format(distribution.baseCovariance.minimumEigenvalue)), max \(Report.format(distribution.baseCovariance.maximumEigenvalue))"],
        ]))
        print("\nFirst row of C (sites 0..\(shown - 1), lattice order):")
        print(Report.table([
            ["site"] + (0..<shown).map(String.init),
            ["C_0j"] + covariance.firstRow[0..<shown].map(Report.format),
        ]))
        print("\nHermite coefficients of psi_g (probabilists', odd n):")
        print(Report.table([["n", "c_n"]] + oddOrders.map { [String($0), Report.format(coefficients[$0])] }))
    }
}
