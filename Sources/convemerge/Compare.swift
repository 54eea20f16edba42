import ArgumentParser
import ConvEmerge
import Foundation

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Theory against simulation: a solve run and a simulate run of the same problem (one neuron or K units).",
        discussion: """
        At the common saved times (within half an SGD step): relative L2 distance |w_sim - w_ode| / |w_ode| and \
        cosine similarity, raw and maximised over circular shifts, for the seed mean and per seed, and both IPR \
        curves. --json prints {distance, cosine, shifted_cosine (seed mean, final time), seed_distances, \
        seed_cosines, curve: [{t, distance, cosine, shifted_cosine, seed_distances, ..., ipr_theory, \
        ipr_of_seed_mean, mean_ipr_over_seeds}], warnings}.

        K units (theory weights (saves, K, D), e.g. solve --model committee --K K, against simulate --model \
        committee --K K): the units of the seed mean and of each seed are matched to the theory's at the last common \
        time by the assignment of least mean relative distance, jointly with one common lattice shift of all units \
        (both axes on the torus; --no-shift keeps shift 0), and that matching is applied at every time; best_distance \
        re-matches at each time. Per unit: distance and IPR of each matched pair. Units of different fixed biases are \
        never matched (unit_groups). --json prints {units, unit_groups, shift_searched, seed_mean: {permutation, shift, unit_distances, distance}, seeds, curve: [{t, distance, \
        unit_distances, best_distance, seed_distances, seed_best_distances, ipr_theory, ipr_of_seed_mean, \
        mean_ipr_over_seeds}], distance, seed_distances, warnings}. --csv FILE writes the curve as columns.

        Example:
          convemerge solve --L 32 --gain 1.2 --xi0 0.6 --xi1 1.9 --gaussian \\
            --closure gaussian --lr 0.0625 --t-max 480 --init-scale 0.5 \\
            --out runs/ode
          convemerge simulate --L 32 --gain 1.2 --xi0 0.6 --xi1 1.9 --gaussian \\
            --lr 0.0625 --batch 16 --t-max 480 --init-scale 0.5 --seeds 8 \\
            --out runs/sim
          convemerge compare --theory runs/ode --sim runs/sim --csv runs/compare.csv
        """)

    // Optional to the parser, required in run(): an unknown option is then reported first.
    @Option(help: "Run directory written by `convemerge solve` (required).") var theory: String?
    @Option(help: "Run directory written by `convemerge simulate` with the theory's model and K (required).") var sim: String?
    @Option(help: "Also write the curve as CSV to this file.") var csv: String?
    @Flag(inversion: .prefixedNo, help: "K units: match them jointly with a common lattice shift (else shift 0).") var shift = true
    @Flag(help: "Print the comparison as JSON.") var json = false

    func run() throws {
        let theoryRun = try required(theory, flag: "--theory", "a solve run directory")
        let simulationRun = try required(sim, flag: "--sim", "a simulate run directory")
        if let csv { try AtomicFile.requireTarget(csv, flag: "--csv") }
        let comparison = try RunComparison.load(theory: theoryRun, simulation: simulationRun, searchShifts: shift)
        let (encoded, table, warnings, summary): (Data, CSVTable, [String], String)
        switch comparison {
        case let .neuron(c):
            let last = c.curve.last!  // load throws when there is no common time
            (encoded, table, warnings) = (try RunDirectory.encoder.encode(c), c.csv, c.warnings)
            summary = c.table() + "\n" + String(format: "final: seed mean vs ODE: distance %.4f, cosine %.4f, shifted cosine %.4f; "
                                                 + "each seed vs ODE (mean over seeds): distance %.4f, shifted cosine %.4f",
                                                 c.distance, c.cosine, c.shiftedCosine, mean(c.seedDistances), mean(last.seedShiftedCosines))
        case let .units(c):
            (encoded, table, warnings) = (try RunDirectory.encoder.encode(c), c.csv, c.warnings)
            summary = c.table() + "\n" + String(format: "final (K = %d): seed mean vs theory: mean unit distance %.4f; "
                                                 + "each seed vs theory (mean over seeds): %.4f", c.units, c.distance, mean(c.seedDistances))
        }
        if let csv { try AtomicFile.write(table.text, to: csv, flag: "--csv") }
        if json {
            print(String(decoding: encoded, as: UTF8.self))
            return
        }
        for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        print(summary)
    }

    private func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The theory-vs-simulation study: Gaussian control vs eta, each closure on NLGP inputs, K = 8 committee tiling, CNN filters vs committee RFs.",
        discussion: "Writes a markdown report (default validation-report.md); a few minutes on one core.")

    @Option(help: "Report path (markdown).") var out: String = "validation-report.md"
    @Option(help: "Comma-separated learning rates of the eta sweep, each in (0, 1000].", transform: { text in
        try parseNumberList(text, flag: "--lrs", expected: "learning rates in (0, 1000] separated by commas") {
            $0 > 0 && $0 <= ParameterBound.learningRate
        }
    })
    var lrs: [Double] = [0.25, 0.0625, 0.015625, 0.004]
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func run() throws {
        let parent = URL(fileURLWithPath: out).deletingLastPathComponent().path
        try require(FileManager.default.isWritableFile(atPath: parent), flag: "--out",
                    "the directory '\(parent)' of the report does not exist or is not writable")
        var settings = ValidationStudy.Settings()
        settings.learningRates = lrs
        let report = try ValidationStudy.run(settings) { line in
            if !quiet { FileHandle.standardError.write(Data("validate: \(line)\n".utf8)) }
        }
        try AtomicFile.write(report, to: out)
        print(report)
        print("-> \(out)")
    }
}
