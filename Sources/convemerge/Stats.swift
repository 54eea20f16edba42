import ArgumentParser
import ConvEmerge
import Foundation

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exact second- and fourth-order statistics of the input model.",
        discussion: """
        Prints, for the inputs of --inputs (NLGP(xi, g) by default, or a Gaussian copula) on \
        the chosen lattice: gamma(g) (NLGP only), the marginal variance, the first row of the \
        input covariance C (lattice order; row-major on the torus), the eigenvalues of C and of \
        the latent covariance Sigma (FFT order), the marginal excess kurtosis and skewness, and \
        the Hermite coefficients c_n of psi (probabilists', all n <= 9; the even ones vanish \
        for odd psi). For elliptical inputs (x = r z / sqrt(E r^2)): C = Sigma, the radial kurtosis \
        ratio kappa, the excess kurtosis 3 (kappa - 1), and the exact fourth cumulant \
        T(w) = 3 (kappa - 1) (Sigma w)(w.Sigma w), parallel to Sigma w (derivations/elliptical-inputs.md).

        JSON keys (--json): D, inputs, gain, gamma, variance, covariance_row, spectrum, \
        base_spectrum, excess_kurtosis, skewness, hermite ([[n, c_n], ...]), and for elliptical \
        inputs radial_kurtosis_ratio (kappa). A gain of inf is written as the string "inf"; gain \
        and gamma are null for copulas other than erf and sign.

        With --inputs data:FILE.npy (an (N, D) float64 array, D matching --L/--dim): the empirical \
        covariance (--stationarity raw, or circulant: averaged over translations) and its distance \
        from circulant, the pooled skewness and excess kurtosis, and the third- and fourth-cumulant \
        actions S(w), T(w) at a localised probe with their standard errors (derivations/data-inputs.md); \
        --symmetrise sign uses every row as x and -x. JSON keys: D, N, inputs, stationarity, symmetrise, \
        variance, covariance_row, distance_from_circulant, skewness, excess_kurtosis, spectrum \
        (circulant only), third_cumulant_probe[_se], fourth_cumulant_probe[_se].

        Example:
          convemerge stats --L 64 --xi 3 --gain 2 --json
          convemerge stats --dim 2 --L 16 --kernel exponential --xi 1.5
          convemerge stats --L 64 --inputs copula:laplace --json
          convemerge stats --L 40 --inputs elliptical:shell
          convemerge sample --L 32 --n 20000 --seed 1 --out rows.npy
          convemerge stats --L 32 --inputs data:rows.npy --stationarity circulant
        """
    )

    @OptionGroup var input: InputOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    /// Hermite orders reported (SPEC §1 quotes c1, c3, c5; the issue asks for n <= 9 at least).
    static let maximumHermiteOrder = 9

    func run() throws {
        try require(input.augment == nil, flag: "--augment", "stats reports the rows as given; their translation average is --stationarity circulant")
        if let path = try input.dataFiles(maximum: 1)?.first {
            return try DataStats.report(path: path, input: input, json: json)
        }
        let spec = try input.spec()
        let distribution = try InputDistribution(spec)
        let marginal = distribution.marginal
        let coefficients = marginal.hermiteCoefficients(maxOrder: Self.maximumHermiteOrder)
        let orders = Array(1...Self.maximumHermiteOrder)
        let kurtosis = try marginal.excessKurtosis()
        let covariance = distribution.covariance
        // gamma(g) belongs to the erf nonlinearity; the other copulas have no gain.
        let psi = distribution.gainFunction
        let elliptical = marginal as? EllipticalMarginal

        if json {
            var object: [String: Any] = [
                "D": distribution.size,
                "inputs": spec.family.description,
                "gain": psi.map { Report.json($0.gain) } ?? NSNull(),
                "gamma": psi.map { Report.json($0.gamma) } ?? NSNull(),
                "variance": Report.json(covariance.firstRow[0]),
                "covariance_row": Report.json(covariance.firstRow),
                "spectrum": Report.json(covariance.eigenvalues),
                "base_spectrum": Report.json(distribution.baseCovariance.eigenvalues),
                "excess_kurtosis": Report.json(kurtosis),
                "skewness": Report.json(marginal.skewness),
                "hermite": orders.map { [$0, Report.json(coefficients[$0])] },
            ]
            if let elliptical { object["radial_kurtosis_ratio"] = Report.json(elliptical.kurtosisRatio) }
            try Report.printJSON(object)
            return
        }

        let shown = min(distribution.size, 8)
        print(Report.describe(spec))
        print(Report.table((psi.map { [["gamma(g)", Report.format($0.gamma)]] } ?? []) + [
            ["variance C_00", Report.format(covariance.firstRow[0])],
            ["excess kurtosis", Report.format(kurtosis)],
            ["skewness", Report.format(marginal.skewness)],
            ["spectrum of C", "min \(Report.format(covariance.minimumEigenvalue)), max \(Report.format(covariance.maximumEigenvalue))"],
            ["spectrum of Sigma", "min \(Report.format(distribution.baseCovariance.minimumEigenvalue)), max \(Report.format(distribution.baseCovariance.maximumEigenvalue))"],
        ]))
        print("\nFirst row of C (sites 0..\(shown - 1), lattice order):")
        print(Report.table([
            ["site"] + (0..<shown).map(String.init),
            ["C_0j"] + covariance.firstRow[0..<shown].map(Report.format),
        ]))
        if let elliptical {
            // The pointwise psi is the identity here: its Hermite coefficients say nothing.
            print("\nRadial kurtosis ratio kappa = E r^4 / (E r^2)^2 = \(Report.format(elliptical.kurtosisRatio)); " +
                  "fourth cumulant T(w) = 3 (kappa - 1) (Sigma w)(w.Sigma w) = \(Report.format(3 * (elliptical.kurtosisRatio - 1))) (Sigma w)(w.Sigma w): " +
                  "parallel to Sigma w, exact (derivations/elliptical-inputs.md)")
            return
        }
        print("\nHermite coefficients of psi (probabilists'):")
        print(Report.table([["n", "c_n"]] + orders.map { [String($0), Report.format(coefficients[$0])] }))
    }
}
