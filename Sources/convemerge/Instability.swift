import ArgumentParser
import ConvEmerge
import Foundation

struct Instability: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Linear stability of the extended (Fourier) state: dispersion, Jacobian spectrum, critical gain.",
        discussion: """
        omega(k) = lr sum_c p_c E_G[h_c'](q_c) Chat_c(k) is the growth rate of Fourier mode k under the Gaussian \
        closure at the overlaps q_c. The extended state is the Fourier pair k* at the amplitude where the Gaussian \
        flow's radial velocity vanishes, chosen stable against the other modes. The chosen closure's fixed point is \
        continued from it by Newton's method; the Jacobian there (analytic for gaussian and cumulant, central \
        differences otherwise) is diagonalised with gsl_eigen_nonsymmv. growth_rate is the largest real part once \
        the lattice-translation (Goldstone) modes are excluded; leading_mode_ipr is that eigenvector's IPR.
        JSON: omega (at the extended state; entries follow k), omega_initial (at w_i ~ N(0, init-scale^2)), k \
        (wavevectors: [k] on a ring, [k_row, k_col] on a torus), k_star, k_star_initial, growth_rate, leading_mode_ipr, ...
        With --scan-gain a:b[:n] the growth rate is sampled at n gains (default 9) and its first sign change is \
        bisected to --gain-tolerance: g_c (null when the sign does not change in [a, b]).

        Example (SPEC §3 setting):
          convemerge instability --L 40 --gain 3 --xi0 0.5 --xi1 2 --closure cumulant --json
          convemerge instability --L 40 --xi0 0.5 --xi1 2 --scan-gain 0:3:13
        With --model committee|twolayer --K K: the symmetric state of K identical units on the pair k* \
        (derivations/committee-stability.md), the Jacobian's permutation sectors (symmetric A+(K-1)B, difference \
        A-B), the leading modes by unit, and whether a tiled configuration lies in the leading eigenspace.
          convemerge instability --model committee --K 3 --L 16 --gain 3 --xi0 0.5 --xi1 2 --activation quadratic --targets 0,1 --json
        Relu units (K odd) sit on one pair at the phases 2 pi k / K (the spread state, derivations/committee-stability.md \
        §5; the neuron's k* or, when it has no sin, the best pair that has one); modes carry their cyclic sector |m| \
        and the verdict reads the leading mode unit by unit.
          convemerge instability --model committee --K 3 --L 16 --gain 3 --xi0 0.5 --xi1 2 --json
        """)

    @OptionGroup(title: "Inputs") var input: InputOptions
    @OptionGroup(title: "Task and neuron") var taskOptions: TaskOptions
    @OptionGroup(title: "Closure") var closureOptions: ClosureOptions
    @Option(help: "Learning rate eta, in (0, 1000].") var lr: Double = 1
    @Option(name: .customLong("init-scale"), help: "Scale of random initial weights, for omega_initial, in (0, 1000].") var initScale: Double = 0.1
    @Option(name: .customLong("scan-gain"), help: "Scan the gain over a:b (n samples with a:b:n, default 9) and bisect the sign change of growth_rate.")
    var scanGain: String?
    @Option(name: .customLong("gain-tolerance"), help: "Bisection tolerance on g_c.") var gainTolerance: Double = 1e-3
    @OptionGroup(title: "K units (--model committee|twolayer)") var committeeModel: CommitteeModelOptions
    @Flag(help: "Print JSON on stdout.") var json = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func analysis(gain: Double? = nil) throws -> InstabilityAnalysis {
        var inputs = input
        if let gain { inputs.gain = gain }
        try requirePositive(lr, flag: "--lr", atMost: ParameterBound.learningRate)
        return try InstabilityAnalysis(task: taskOptions.taskSpec(input: inputs), neuron: taskOptions.neuronSpec(),
                                       closure: closureOptions.spec(), learningRate: lr)
    }

    func run() throws {
        if let network = try committeeNetwork() { return try runCommittee(network) }
        try requirePositive(initScale, flag: "--init-scale", atMost: ParameterBound.initScale)
        try InstabilityAnalysis.requireGainTolerance(gainTolerance)
        let range = try scanGain.map { try Instability.parseRange($0, flag: "--scan-gain", defaultSamples: 9) }
        let family = try input.family()
        try require(range == nil || family.isNLGP, flag: "--scan-gain",
                    "applies to --inputs nlgp only, not to \(family) (copula:erf:g carries its own gain)")
        if let (lower, upper, samples) = range {
            try InstabilityAnalysis.validateScan(from: lower, to: upper, samples: samples, tolerance: gainTolerance)
        }
        let analysis = try analysis()
        let progress = quiet ? nil : ProgressLine(label: "instability")
        defer { progress?.finish() }
        let report = try analysis.analyse(initialScale: initScale, stage: progress?.stage, progress: progress?.update)
        var scan: GainScan?
        if let (lower, upper, samples) = range {
            progress?.stage("growth rate at each gain of --scan-gain, then bisection")
            scan = try InstabilityAnalysis.scanGain(from: lower, to: upper, samples: samples, tolerance: gainTolerance,
                                                    progress: progress?.update) { gain in
                try self.analysis(gain: gain).analyse(initialScale: initScale).growthRate
            }
        }
        if json {
            try Report.printJSON(jsonObject(report, lattice: analysis.task.lattice, scan: scan))
        } else {
            print(table(report, scan: scan))
        }
    }

    /// "a:b" or "a:b:n".
    static func parseRange(_ text: String, flag: String, defaultSamples: Int) throws -> (Double, Double, Int) {
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 2 || parts.count == 3, let a = Double(parts[0]), let b = Double(parts[1]),
              parts.count == 2 || Int(parts[2]) != nil else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "must be a:b or a:b:n (e.g. 0:3:13), got '\(text)'")
        }
        return (a, b, parts.count == 3 ? Int(parts[2])! : defaultSamples)
    }

    private func wavevectorJSON(_ k: [Int], lattice: Lattice) -> Any { lattice.dimension == 1 ? k[0] : k }

    func jsonObject(_ report: StabilityReport, lattice: Lattice, scan: GainScan?) -> [String: Any] {
        let state = report.extendedState
        var object: [String: Any] = [
            "omega": Report.json(report.dispersion.omega),
            "omega_initial": Report.json(report.initialDispersion.omega),
            "k": report.dispersion.wavevectors.map { wavevectorJSON($0, lattice: lattice) },
            "k_star": wavevectorJSON(state.wavevector, lattice: lattice),
            "k_star_initial": wavevectorJSON(report.initialDispersion.wavevectors[report.initialDispersion.mostUnstable], lattice: lattice),
            "extended_state": [
                "amplitude": Report.json(state.amplitude), "q": Report.json(state.overlaps),
                "radial_rate": Report.json(state.radialRate), "gaussian_growth_rate": Report.json(state.selectionMargin),
                "ipr": Report.json(Observables.inverseParticipationRatio(state.weights)),
            ] as [String: Any],
            "closure": closureOptions.closure.rawValue,
            "state_refined": report.refined,
            "state_residual": Report.json(report.stateResidual),
            "state_overlap_with_gaussian": Report.json(report.stateOverlapWithGaussian),
            "state_ipr": Report.json(Observables.inverseParticipationRatio(report.state)),
            "growth_rate": Report.json(report.growthRate),
            "growth_frequency": Report.json(report.leading.frequency),
            "leading_mode_ipr": Report.json(report.leading.ipr),
            "leading_mode_star_overlap": Report.json(report.leading.starOverlap),
            "leading_mode": Report.json(report.leading.vector),
            "translation_mode_rates": Report.json(report.translationModes.map(\.rate)),
            "eigenvalues": Report.json(report.modes.prefix(12).map(\.rate)),
        ]
        if let scan {
            object["scan_gain"] = Report.json(scan.gains)
            object["scan_growth_rate"] = Report.json(scan.growthRates)
            object["g_c"] = scan.criticalGain.map { Report.json($0) } ?? NSNull()
        }
        return object
    }

    func table(_ report: StabilityReport, scan: GainScan?) -> String {
        let state = report.extendedState
        let f = Report.format
        var rows: [[String]] = [
            ["k*", "\(state.wavevector)", "(most unstable at the initial q: \(report.initialDispersion.wavevectors[report.initialDispersion.mostUnstable]))"],
            ["extended state", "|w| = \(f(state.amplitude))", "q = \(state.overlaps.map(f)), radial rate \(f(state.radialRate))"],
            ["gaussian growth rate", f(state.selectionMargin), "max omega(k) outside the k* star"],
            ["\(closure) state", report.refined ? "fixed point" : "not converged",
             "residual \(f(report.stateResidual)), cosine with the Gaussian state \(f(report.stateOverlapWithGaussian)), IPR \(f(Observables.inverseParticipationRatio(report.state)))"],
            ["growth_rate", f(report.growthRate), "frequency \(f(report.leading.frequency)), k* star overlap \(f(report.leading.starOverlap))"],
            ["leading_mode_ipr", f(report.leading.ipr), "(1/D = \(f(1 / Double(report.state.count))))"],
            ["translation modes", report.translationModes.map { f($0.rate) }.joined(separator: ", "), "(excluded)"],
        ]
        var text = "instability (\(closure)):\n" + Report.table(rows)
        if let scan {
            rows = [["gain", "growth_rate"]] + zip(scan.gains, scan.growthRates).map { [f($0), f($1)] }
            text += "\n\n" + Report.table(rows) + "\n"
            text += scan.criticalGain.map { "g_c = \(f($0)) (bracket \(scan.bracket!.map(f)))" }
                ?? "no sign change of the growth rate in [\(f(scan.gains.first!)), \(f(scan.gains.last!))]: no g_c there"
        }
        return text
    }

    private var closure: String {
        closureOptions.closure == .cumulant ? "cumulant \(closureOptions.cumulant.rawValue)" : closureOptions.closure.rawValue
    }
}

