import ArgumentParser
import ConvEmerge
import Foundation

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Theory against simulation: a solve run and a simulate run (--model neuron) of the same problem.",
        discussion: """
        At the common saved times (within half an SGD step): relative L2 distance |w_sim - w_ode| / |w_ode| and \
        cosine similarity, raw and maximised over circular shifts, for the seed mean and per seed, and both IPR \
        curves. --json prints {distance, cosine, shifted_cosine (seed mean, final time), seed_distances, \
        seed_cosines, curve: [{t, distance, cosine, shifted_cosine, seed_distances, ..., ipr_theory, \
        ipr_of_seed_mean, mean_ipr_over_seeds}], warnings}.

        Example:
          convemerge solve --L 32 --gain 1.2 --xi0 0.6 --xi1 1.9 --gaussian \\
            --closure gaussian --lr 0.0625 --t-max 480 --init-scale 0.5 \\
            --out runs/ode
          convemerge simulate --L 32 --gain 1.2 --xi0 0.6 --xi1 1.9 --gaussian \\
            --lr 0.0625 --batch 16 --t-max 480 --init-scale 0.5 --seeds 8 \\
            --out runs/sim
          convemerge compare --theory runs/ode --sim runs/sim
        """)

    // Optional to the parser, required in run(): an unknown option is then reported first.
    @Option(help: "Run directory written by `convemerge solve` (required).") var theory: String?
    @Option(help: "Run directory written by `convemerge simulate --model neuron` (required).") var sim: String?
    @Flag(help: "Print the comparison as JSON.") var json = false

    func run() throws {
        let comparison = try TheoryVersusSimulation.load(theory: required(theory, flag: "--theory", "a solve run directory"),
                                                         simulation: required(sim, flag: "--sim", "a simulate run directory"))
        if json {
            print(String(decoding: try RunDirectory.encoder.encode(comparison), as: UTF8.self))
            return
        }
        for warning in comparison.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        print(comparison.table())
        let last = comparison.curve.last!  // load throws when there is no common time
        let mean = { (values: [Double]) in values.reduce(0, +) / Double(max(values.count, 1)) }
        print(String(format: "final: seed mean vs ODE: distance %.4f, cosine %.4f, shifted cosine %.4f; "
                     + "each seed vs ODE (mean over seeds): distance %.4f, shifted cosine %.4f",
                     comparison.distance, comparison.cosine, comparison.shiftedCosine,
                     mean(comparison.seedDistances), mean(last.seedShiftedCosines)))
    }
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
