import ArgumentParser
import ConvEmerge
import Foundation

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receptive fields of a run: per unit IPR, centre and width; tiling and CNN alignment against chance.",
        discussion: """
        For the final weights of a solve run (one unit, or K units of --model committee|twolayer) or a simulate run \
        (every replica and unit): IPR, centre \
        (circular mean of w^2 per axis, in sites) and width (circular standard deviation of w^2, in sites). A unit is \
        localised when its IPR exceeds --threshold x 3/(D+2), the mean IPR of a random Gaussian vector. The centres of \
        each replica's localised units are compared with as many uniformly random centres (--null-samples Monte Carlo \
        draws): the mean nearest-neighbour distance (p_even small: more evenly spaced than random; p_clustered small: \
        more clustered), against the even spacing L/n (L/sqrt n on the torus), and the coverage (fraction of sites \
        within one width of a centre). Replicas are averaged before the comparison. For a --model cnn run, --match \
        names a fully-connected simulate run of the same task: each filter's best cosine with its RFs (as in validate) \
        and the chance level of random filters of the same size. Definitions: derivations/tiling-statistics.md.

        Example:
          convemerge simulate --L 40 --model committee --K 4 --gain 3 --t-max 20 \\
            --seeds 2 --out runs/committee --quiet
          convemerge analyze runs/committee
          convemerge simulate --L 40 --model cnn --K 4 --kernel-size 8 --gain 3 \\
            --t-max 20 --seeds 2 --out runs/cnn --quiet
          convemerge analyze runs/cnn --match runs/committee --json
        """)

    static let maximumNullSamples = 1_000_000

    @Argument(help: "A solve or simulate run directory.") var runDirectory: String?
    @Option(name: .customLong("null-samples"), help: "Monte Carlo draws of uniformly random centres (100 ... \(maximumNullSamples)).")
    var nullSamples: Int = 10_000
    @Option(help: "Seed of the null draws and of the random filters.") var seed: UInt64 = 0
    @Option(help: "A unit is localised when IPR > threshold x 3/(D+2); threshold in [0, 1000] (0: every unit).") var threshold: Double = 2
    @Option(help: "For a --model cnn run: a fully-connected simulate run of the same task (filter alignment).") var match: String?
    @Flag(help: "Print JSON on stdout.") var json = false

    func run() throws {
        let directory = try required(runDirectory, flag: "RUN", "a solve or simulate run directory")
        try require(nullSamples >= 100 && nullSamples <= Self.maximumNullSamples, flag: "--null-samples",
                    "must be in 100 ... \(Self.maximumNullSamples), got \(nullSamples)")
        try require(threshold.isFinite && threshold >= 0 && threshold <= 1000, flag: "--threshold", "must be in [0, 1000], got \(threshold)")
        // Two null statistics per draw are kept for the p-values.
        try MemoryBudget.require(MemoryBudget.product(nullSamples, 2, MemoryLayout<Double>.size), flag: "--null-samples", for: "the null sample")
        let weights = try RunWeights.load(directory, flag: "RUN")
        // A run that stopped early holds the weights of its last save, not of its --t-max.
        if let run = try? RunDirectory.readManifest(Outcome.self, in: directory, flag: "RUN"), run.status != .completed {
            let reason = run.message.flatMap { $0.isEmpty ? nil : ": " + $0 } ?? ""
            let warning = "warning: RUN: '\(directory)' did not complete (status \(run.status.rawValue)\(reason)); its last saved weights are analysed\n"
            FileHandle.standardError.write(Data(warning.utf8))
        }
        let reference = try match.map { try RunWeights.load($0, flag: "--match") }
        if let reference {
            try require(weights.isFilterRun, flag: "--match", "compares the filters of a --model cnn run with RFs; '\(directory)' is a \(weights.model) run")
            try require(!reference.isFilterRun && reference.command == "simulate", flag: "--match",
                        "must be a fully-connected simulate run, '\(reference.directory)' is a \(reference.command) \(reference.model) run")
            try require(reference.lattice == weights.lattice, flag: "--match", "'\(reference.directory)' is on another lattice than '\(directory)'")
            try require(weights.lattice.dimension == 1, flag: "--match", "filter alignment is defined on the ring (--dim 1) only")
        }
        var object: [String: Any] = ["run": directory, "command": weights.command, "model": weights.model,
                                     "dimension": weights.lattice.dimension, "length": weights.lattice.length]
        var lines: [String] = []
        if weights.isFilterRun {
            object["filter_ipr"] = weights.finalWeights.map { Report.json($0.map(Observables.inverseParticipationRatio)) }
            lines.append("CNN filters have no position on the lattice: no tiling (give --match RUN for their alignment with RFs)")
        } else {
            let tiling = describeTiling(weights, into: &object)
            lines += tiling
        }
        if let reference { lines += describeAlignment(filters: weights, fields: reference, into: &object) }
        if json { try Report.printJSON(object) } else { print(lines.joined(separator: "\n")) }
    }

    /// The status of a solve or simulate run.
    private struct Outcome: Decodable {
        var status: RunStatus
        var message: String?
    }

    /// Per unit shapes and the tiling report, as JSON fields and as table lines.
    func describeTiling(_ weights: RunWeights, into object: inout [String: Any]) -> [String] {
        let lattice = weights.lattice
        let networks = weights.finalWeights.map { Tiling.shapes(of: $0, lattice: lattice, threshold: threshold) }
        let report = Tiling.analyse(networks: networks, lattice: lattice, samples: nullSamples, seed: seed)
        let extended = Tiling.randomVectorIPR(dimension: lattice.size)
        object["random_vector_ipr"] = extended
        object["localised_ipr_above"] = threshold * extended
        object["units"] = networks.enumerated().flatMap { replica, shapes in
            shapes.enumerated().map { unit, shape -> [String: Any] in
                ["replica": replica, "unit": unit, "ipr": Report.json(shape.ipr), "centre": Report.json(shape.centre),
                 "width": Report.json(shape.width), "localised": shape.localised]
            }
        }
        object["localised_counts"] = report.localisedCounts
        object["null_samples"] = nullSamples
        func comparison(_ c: Tiling.NullComparison?, larger: String, smaller: String) -> Any {
            guard let c else { return NSNull() }
            return ["observed": Report.json(c.observed), "null_mean": Report.json(c.nullMean), "null_sd": Report.json(c.nullSd),
                    larger: c.pLarger, smaller: c.pSmaller]
        }
        object["nearest_neighbour"] = comparison(report.nearestNeighbour, larger: "p_even", smaller: "p_clustered")
        object["even_spacing"] = report.evenSpacing.map(Report.json) ?? NSNull()
        object["coverage"] = comparison(report.coverage, larger: "p_more", smaller: "p_less")

        let f = Report.format
        var rows = [["replica", "unit", "IPR", "centre", "width", "localised"]]
        for (replica, shapes) in networks.enumerated() {
            for (unit, shape) in shapes.enumerated() {
                rows.append(["\(replica)", "\(unit)", f(shape.ipr), shape.centre.map(f).joined(separator: ","), f(shape.width),
                             shape.localised ? "yes" : "no"])
            }
        }
        var lines = [Report.table(rows), "localised: IPR > \(f(threshold)) x 3/(D+2) = \(f(threshold * extended)); "
                     + "per replica \(report.localisedCounts.map(String.init).joined(separator: ", "))"]
        if let nn = report.nearestNeighbour, let even = report.evenSpacing {
            lines.append("nearest-neighbour distance \(f(nn.observed)) sites; uniform random centres \(f(nn.nullMean)) +- \(f(nn.nullSd)); "
                         + "even spacing \(f(even)); p_even \(f(nn.pLarger)), p_clustered \(f(nn.pSmaller)) (\(nullSamples) draws)")
        } else {
            lines.append("nearest-neighbour distance: fewer than 2 localised units in every replica")
        }
        if let coverage = report.coverage {
            lines.append("coverage \(f(coverage.observed)); uniform random centres \(f(coverage.nullMean)) +- \(f(coverage.nullSd)); "
                         + "p_more \(f(coverage.pLarger)), p_less \(f(coverage.pSmaller))")
        }
        return lines
    }

    /// Filters against the matching run's RFs, replica by replica, with the random-filter chance level.
    func describeAlignment(filters: RunWeights, fields: RunWeights, into object: inout [String: Any]) -> [String] {
        var rng = Xoshiro256(seed: seed, stream: 999)
        var cosines: [Double] = [], chance: [Double] = []
        for replica in 0..<min(filters.finalWeights.count, fields.finalWeights.count) {
            let alignment = ChanceLevel.filterAlignment(filters: filters.finalWeights[replica], fields: fields.finalWeights[replica],
                                                        lattice: filters.lattice, rng: &rng)
            cosines += alignment.matches.map(\.cosine)
            chance += alignment.chance
        }
        let observed = ChanceLevel.Summary(cosines), random = ChanceLevel.Summary(chance)
        object["alignment"] = ["match": fields.directory, "cosines": Report.json(cosines), "mean": Report.json(observed.mean),
                               "chance_mean": Report.json(random.mean), "chance_sd": Report.json(random.sd)]
        let f = Report.format
        return ["filter-RF alignment (best cosine over RFs and shifts): mean \(f(observed.mean)) over \(cosines.count) filters; "
                + "random filters of the same size \(f(random.mean)) +- \(f(random.sd))"]
    }
}
