import ArgumentParser
import ConvEmerge
import Foundation

struct Criterion: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Which predictor says the inputs localise: the marginal's kurtosis, Lufkin et al.'s amplifier phi(a), and the fourth-cumulant instability, side by side.",
        discussion: """
        For each class: skewness and excess kurtosis of one input, and Lufkin, Saxe and Grant's amplifier \
        phi(a) = E[x erf(x a / sqrt(2 (1 - a^2)))] of its marginal (linear, sqrt(2/pi) a, for Gaussian inputs; \
        its cubic coefficient sqrt(2/pi) (3 - kappa) / 6 is positive for negative excess kurtosis). The task's \
        net amplifier term sum_c p_c y_c (cubic coefficient)_c is their criterion: positive, the reduced relu \
        dynamics amplify the largest correlations a_i and the receptive field localises. Then their reduced \
        dynamics themselves (`solve --closure lufkin`) and the gaussian closure from the same initial weights: \
        final IPRs. Last, `instability` under the gaussian and the cumulant closures: the growth rate of the \
        extended state's leading non-translation mode (positive: the extended state is unstable, the \
        fourth-cumulant theory predicts localisation). Relu neuron without bias (the reduced model's setting). \
        Derivation: derivations/lufkin-criterion.md.

        Examples:
          convemerge criterion --L 40 --inputs copula:uniform --task clone --json
          convemerge criterion --L 40 --inputs copula:laplace --task clone --targets 1,0
        """)

    @OptionGroup(title: "Inputs") var input: InputOptions
    @OptionGroup(title: "Task and neuron") var taskOptions: TaskOptions
    @Option(name: .customLong("t-max"), help: "Final time of the reduced and gaussian flows, in SGD steps / D, in (0, 1e9].") var tMax: Double = 150
    @Option(help: "Learning rate eta, in (0, 1000].") var lr: Double = 1
    @Option(name: .customLong("init-scale"), help: "Standard deviation of the random initial weights, in (0, 1000].") var initScale: Double = 0.1
    @Option(help: "Seed of the random initial weights (the same for both flows).") var seed: UInt64 = 0
    @Flag(help: "Print JSON on stdout.") var json = false
    @Flag(help: "No progress on stderr.") var quiet = false

    /// Where phi(a) is reported (the table and JSON); the criterion itself uses the cubic term.
    static let amplifierPoints: [Double] = [0.1, 0.3, 0.5, 0.7, 0.9, 0.99]

    func run() throws {
        let task = try taskOptions.taskSpec(input: input)
        let neuron = try taskOptions.neuronSpec()
        try LufkinClosure.requireApplicable(to: neuron)
        // The reduced model's premise (lambda | x_i Gaussian) fails for elliptical inputs: then
        // only the gaussian flow runs and the reduced one is reported as not defined.
        let lufkinRefusal = Result { try ClosureSpec(kind: .lufkin).requireApplicable(to: task) }
        let kinds: [ClosureKind] = (try? lufkinRefusal.get()) == nil ? [.gaussian] : [.gaussian, .lufkin]
        let flows = try kinds.map { kind in
            let parameters = SolveParameters(task: task, neuron: neuron, closure: try ClosureSpec(kind: kind),
                                             integrator: try IntegratorSpec.suited(to: kind, tMax: tMax, saves: 2),
                                             learningRate: lr, initialization: .random(scale: initScale, seed: seed))
            try parameters.validate()
            return parameters
        }
        let progress = quiet ? nil : ProgressLine(label: "criterion")
        defer { progress?.finish() }
        progress?.stage("marginal amplifiers")
        let distributions = try task.distributions()
        let classes = try zip(distributions, task.classes.indices).map { distribution, c in
            try ClassCriterion(distribution, target: task.targets[c], prior: task.priors[c])
        }
        let netCubic = classes.reduce(0) { $0 + $1.prior * $1.target * $1.cubicCoefficient }
        var finalIPR: [ClosureKind: Double] = [:]
        for parameters in flows {
            progress?.stage("\(parameters.closure.kind.rawValue) flow to t = \(Report.format(tMax))")
            finalIPR[parameters.closure.kind] = try SolveJob.run(parameters) { progress?.update($0) }.finalIPR ?? .nan
        }
        var growth: [String: Result<StabilityReport, Error>] = [:]
        for kind in [ClosureKind.gaussian, .cumulant] {
            progress?.stage("instability under the \(kind.rawValue) closure")
            growth[kind.rawValue] = Result {
                // The extended state is built from Fourier modes of a circulant model covariance.
                try require(!task.usesData, flag: "--inputs", "instability needs a model family: a data set's covariance is not a circulant model")
                return try InstabilityAnalysis(task: task, neuron: neuron, closure: ClosureSpec(kind: kind), learningRate: lr)
                    .analyse(initialScale: initScale)
            }
        }
        let summary = Summary(classes: classes, netCubic: netCubic, lufkinIPR: finalIPR[.lufkin], gaussianIPR: finalIPR[.gaussian]!,
                              growth: growth, extendedIPR: 1 / Double(task.dimension))
        if json { try Report.printJSON(summary.jsonObject(tMax: tMax)) } else { print(summary.table(tMax: tMax)) }
    }
}

/// One class's marginal numbers.
private struct ClassCriterion {
    let family: String
    let target: Double
    let prior: Double
    let skewness: Double
    let excessKurtosis: Double
    let cubicCoefficient: Double
    /// nil for elliptical inputs and data sets, outside the reduced model (MarginalAmplifier.init).
    let amplifier: MarginalAmplifier?

    init(_ distribution: InputDistribution, target: Double, prior: Double) throws {
        let gaussian = distribution.isGaussian
        family = distribution.spec.isGaussianClone ? "Gaussian clone of \(distribution.spec.family)" : "\(distribution.spec.family)"
        self.target = target
        self.prior = prior
        if let data = distribution.dataSet, !distribution.spec.isGaussianClone {
            // A data set's marginal is its pooled empirical one (derivations/data-inputs.md).
            (skewness, excessKurtosis) = data.statistics.marginalMoments()
        } else {
            skewness = gaussian ? 0 : distribution.marginal.skewness
            excessKurtosis = gaussian ? 0 : try distribution.marginal.excessKurtosis()
        }
        cubicCoefficient = MarginalAmplifier.cubicCoefficient(excessKurtosis: excessKurtosis)
        amplifier = MarginalAmplifier(distribution)
    }

    var values: [Double]? { amplifier.map { phi in Criterion.amplifierPoints.map { phi($0) } } }

    var departures: [Double]? {
        values.map { zip($0, Criterion.amplifierPoints).map { $0 - (2 / Double.pi).squareRoot() * $1 } }
    }
}

private struct Summary {
    let classes: [ClassCriterion]
    let netCubic: Double
    /// nil where the reduced model is not defined (elliptical inputs).
    let lufkinIPR: Double?
    let gaussianIPR: Double
    let growth: [String: Result<StabilityReport, Error>]
    let extendedIPR: Double

    /// The reduced flow counts as localised when its final IPR is twice the gaussian closure's
    /// from the same start (which stays extended: the covariance alone selects a Fourier mode).
    var lufkinFlowLocalises: Bool? { lufkinIPR.map { $0 > 2 * gaussianIPR } }

    func growthRate(_ kind: String) -> Double? { try? growth[kind]?.get().growthRate }

    /// A growth rate within 1e-3 of the Jacobian's largest |rate| is round-off and quadrature
    /// level, not an instability: the extended state is marginal there.
    func instabilityVerdict(_ kind: String) -> String? {
        guard let report = try? growth[kind]?.get() else { return nil }
        let scale = report.modes.map { abs($0.rate) }.max() ?? 0
        if abs(report.growthRate) <= 1e-3 * scale { return "marginal" }
        return report.growthRate > 0 ? "localises" : "stays extended"
    }

    func failure(_ kind: String) -> String? {
        guard case let .failure(error)? = growth[kind] else { return nil }
        return (error as? ConvEmergeError)?.description ?? "\(error)"
    }

    func jsonObject(tMax: Double) -> [String: Any] {
        func optional(_ x: Double?) -> Any { x.map { Report.json($0) } ?? NSNull() }
        let instability: [String: Any] = [
            "gaussian_growth_rate": optional(growthRate("gaussian")),
            "cumulant_growth_rate": optional(growthRate("cumulant")),
            "cumulant_leading_mode_ipr": optional(try? growth["cumulant"]?.get().leading.ipr),
            "cumulant_prediction": instabilityVerdict("cumulant") ?? NSNull(),
            "cumulant_unavailable": failure("cumulant") ?? NSNull(),
        ]
        return [
            "classes": classes.enumerated().map { c, entry in [
                "class": c, "inputs": entry.family, "target": Report.json(entry.target), "prior": Report.json(entry.prior),
                "skewness": Report.json(entry.skewness), "excess_kurtosis": Report.json(entry.excessKurtosis),
                "amplifier_cubic": Report.json(entry.cubicCoefficient),
                "amplifier_a": Report.json(Criterion.amplifierPoints),
                "amplifier_phi": entry.values.map { Report.json($0) } ?? NSNull(),
                "amplifier_minus_linear": entry.departures.map { Report.json($0) } ?? NSNull(),
            ] as [String: Any] },
            "lufkin": [
                "net_cubic": Report.json(netCubic), "predicts_localisation": netCubic > 0,
                "flow_final_ipr": optional(lufkinIPR), "gaussian_final_ipr": Report.json(gaussianIPR),
                "flow_localises": lufkinFlowLocalises ?? NSNull(), "t_max": Report.json(tMax),
            ] as [String: Any],
            "instability": instability,
            "extended_ipr": Report.json(extendedIPR),
        ]
    }

    func table(tMax: Double) -> String {
        let f = Report.format
        var rows = [["class", "inputs", "target", "skewness", "excess kurtosis", "phi cubic", "phi(a) - sqrt(2/pi) a at a = 0.5, 0.9"]]
        for (c, entry) in classes.enumerated() {
            rows.append(["\(c)", entry.family, f(entry.target), f(entry.skewness), f(entry.excessKurtosis),
                         f(entry.cubicCoefficient), entry.departures.map { "\(f($0[2])), \(f($0[4]))" } ?? "- (no model marginal)"])
        }
        func verdict(_ localises: Bool) -> String { localises ? "localises" : "stays extended" }
        let predictors = [
            ["predictor", "value", "prediction"],
            ["Lufkin: sum_c p_c y_c (phi cubic)_c", f(netCubic), verdict(netCubic > 0)],
            ["Lufkin reduced flow: final IPR (gaussian closure: \(f(gaussianIPR)))", lufkinIPR.map(f) ?? "-",
             lufkinFlowLocalises.map(verdict) ?? "not defined (elliptical: lambda | x_i is not Gaussian; data: no model marginal)"],
            ["instability, gaussian closure: growth rate", growthRate("gaussian").map(f) ?? "-", "(reference)"],
            ["instability, cumulant closure: growth rate", growthRate("cumulant").map(f) ?? "-",
             instabilityVerdict("cumulant") ?? (failure("cumulant") ?? "-")],
        ]
        return Report.table(rows) + "\n\n" + Report.table(predictors)
            + "\nIPR 1/D = \(f(extendedIPR)) for an extended RF; flows to t = \(f(tMax)) from the same initial weights."
    }
}
