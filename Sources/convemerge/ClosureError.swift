import ArgumentParser
import ConvEmerge
import Foundation

struct ClosureErrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "closure-error",
        abstract: "Relative error of each closure's right-hand side against Monte Carlo, as a function of the gain (nlgp) or for one copula.",
        discussion: """
        For each gain, the velocity dw/dt of the gaussian, cumulant (leading and full) and conditional closures is \
        compared with a Monte Carlo reference; errors are relative to the scale of the right-hand side, \
        sum_c p_c |g_c| (the class drifts of the reference), which unlike |dw/dt| does not vanish at a fixed point (--mc-samples inputs per class) at two probe directions: a random w and \
        a localised bump, both with |w|^2 = D, and with --w a vector of your own (e.g. the final RF of a run: \
        --w runs/mc/weights.npy). A copula (--inputs copula:...) is compared once, without --gains; closures not \
        defined on it are left out (cumulant-full on every copula but erf and sign). \
        monte_carlo_noise is the relative size of the reference's own \
        standard error: errors below about twice it are not resolved; "error beyond noise" removes it in quadrature.

        Example:
          convemerge closure-error --L 40 --gains 0.5,1,3 --mc-samples 20000
          convemerge closure-error --L 16 --inputs copula:laplace --mc-samples 20000
        """)

    @OptionGroup(title: "Inputs") var input: InputOptions
    @OptionGroup(title: "Task and neuron") var taskOptions: TaskOptions

    // Optional so that a copula, which has no gain, can refuse it (default 0.5,1,3 for nlgp).
    @Option(help: "Comma-separated gains g >= 0 (inf allowed) of --inputs nlgp (default 0.5,1,3); a copula is compared once.",
            transform: ClosureErrorCommand.parseGains)
    var gains: [Double]?

    @Option(name: .customLong("mc-samples"), help: "Inputs per class of the Monte Carlo reference (100 ... 5e7).")
    var monteCarloSamples: Int = 200_000

    @Option(name: .customLong("mc-seed"), help: "Seed of the reference sample and of the random probe.")
    var seed: UInt64 = 1

    @Option(name: .customLong("w"), help: "An extra probe: a .npy of D weights, or a run's weights.npy (its last row, the final RF), used as given.")
    var probeFile: String?

    @Flag(name: .customLong("skip-full"), help: "Leave out the exact cumulant closure (its table costs time on a torus).")
    var skipFull = false

    @Flag(help: "Print JSON (key rows: inputs, gain (null for a copula), probe, closure, relative_error, monte_carlo_noise, excess_error, error_relative_to_velocity).")
    var json = false

    /// One task per gain for nlgp; a copula marginal has no gain, so its one task is compared.
    func tasks() throws -> [TaskSpec] {
        guard try input.dataFiles() == nil && input.family().isNLGP else {
            if gains != nil { throw ConvEmergeError.invalidInput(flag: "--gains", message: "applies to --inputs nlgp only, not to \(input.inputs)") }
            return [try taskOptions.taskSpec(input: input)]
        }
        return try (gains ?? [0.5, 1, 3]).map { gain in
            var options = input
            options.gain = gain
            return try taskOptions.taskSpec(input: options)
        }
    }

    static func parseGains(_ text: String) throws -> [Double] {
        try parseNumberList(text, flag: "--gains", expected: "comma-separated gains >= 0 (inf allowed)") { $0 >= 0 }
    }

    func run() throws {
        try require(monteCarloSamples >= 100 && monteCarloSamples <= 50_000_000, flag: "--mc-samples",
                    "must be in 100 ... 50000000, got \(monteCarloSamples)")
        let neuron = try taskOptions.neuronSpec()
        // input.spec() checks every model flag, --gain too (which --gains then replaces).
        let dimension = try input.dataFiles() == nil ? input.spec().lattice.size : input.lattice.size
        let extraProbes = try probeFile.map { path in
            [ClosureErrorStudy.ProbeVector(name: "file", weights: try NpyArray.readWeights(from: path, dimension: dimension, flag: "--w"))]
        } ?? []
        // Every task is built (and so validated) before the long computation starts.
        let tasks = try self.tasks()
        let rows = try ClosureErrorStudy.table(
            tasks: tasks,
            neuron: neuron, samples: monteCarloSamples, seed: seed, includeFull: !skipFull, extraProbes: extraProbes,
            progress: { Report.progress(String(format: "closure-error: %.0f%% done", 100 * $0)) })
        if json {
            try Report.printJSON(["rows": rows.map { row -> [String: Any] in
                ["inputs": row.inputs, "gain": row.gain.map { Report.json($0) } ?? NSNull(), "probe": row.probe, "closure": row.closure,
                 "relative_error": Report.json(row.relativeError), "monte_carlo_noise": Report.json(row.monteCarloNoise),
                 "excess_error": Report.json(row.excessError),
                 "error_relative_to_velocity": Report.json(row.errorRelativeToVelocity)]
            }])
            return
        }
        var table = [["inputs", "gain", "probe", "closure", "relative error", "MC noise", "error beyond noise"]]
        for row in rows {
            table.append([row.inputs, row.gain.map { Report.format($0) } ?? "-", row.probe, row.closure,
                          Report.format(row.relativeError), Report.format(row.monteCarloNoise), Report.format(row.excessError)])
        }
        print(Report.table(table))
    }
}
