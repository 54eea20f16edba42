import ArgumentParser
import ConvEmerge
import Foundation

struct Tensor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Z-eigenpairs T(w) = mu w, |w| = 1, of the inputs' fourth-cumulant tensor by SS-HOPM.",
        discussion: """
        Shifted symmetric power iteration (Kolda & Mayo 2011) w <- normalise(s T(w) + alpha w) on the fast action T(w), \
        from --restarts random starts; s = -1 (--extremum min, default) finds the local minima of w.T(w): the NLGP's \
        cumulant is negative, so these are its strongest directions (for a heavy-tailed copula such as \
        copula:laplace the cumulant is positive: use --extremum max). Eigenpairs equal up to a lattice translation and \
        sign are merged. Per eigenpair: eigenvalue mu, residual |T(w) - mu w|, IPR, restarts that found it, and with \
        --compare-with DIR the overlap (|cosine| maximised over translations and sign) with the final weights of a solve or \
        simulate run (DIR/weights.npy, last row), with two chance levels (mean +- sd over \(chanceSamples) draws): a Gaussian \
        bump of the eigenvector's width (circular standard deviation of w^2) at a random position, and a random Gaussian vector.

        Example:
          convemerge solve --L 40 --closure montecarlo --mc-samples 4000 --out runs/mc
          convemerge tensor --L 40 --xi 2 --gain 3 --cumulant leading --restarts 16 \\
            --compare-with runs/mc --json
        """)

    @OptionGroup(title: "Inputs") var input: InputOptions
    @Option(help: "Fourth-cumulant action: leading or full.") var cumulant: CumulantMethod = .leading
    @Option(help: "Random starts (1 ... 100000).") var restarts: Int = 16
    @Option(help: "Seed of the random starts.") var seed: UInt64 = 0
    @Option(help: "min (local minima of w.T(w), default) or max.") var extremum: TensorExtremum = .min
    @Option(help: "Stop when |T(w) - mu w| <= tolerance |mu|.") var tolerance: Double = 1e-10
    @Option(name: .customLong("max-iterations"), help: "Iterations per start.") var maxIterations: Int = 200_000
    @Option(name: .customLong("compare-with"), help: "A solve or simulate run directory: overlap of each eigenvector with its final weights.")
    var compareWith: String?
    @Option(help: "Write the eigenvectors as an (n, D) .npy file.") var save: String?
    @Flag(help: "Print JSON on stdout.") var json = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func run() throws {
        // Every flag and file is checked before the (possibly long) search.
        try require(restarts >= 1 && restarts <= 100_000, flag: "--restarts", "must be in 1 ... 100000, got \(restarts)")
        if let save { try AtomicFile.requireTarget(save, flag: "--save") }
        let distribution = try InputDistribution(input.spec())
        let reference = try compareWith.map { directory in
            try NpyArray.readWeights(from: (directory as NSString).appendingPathComponent("weights.npy"),
                                     dimension: distribution.size, flag: "--compare-with")
        }
        let solver = try TensorEigenSolver(cumulant: FourthCumulant(distribution, method: cumulant), extremum: extremum,
                                           tolerance: tolerance, maxIterations: maxIterations)
        let start = Date()
        let progress = quiet ? nil : ProgressLine(label: "tensor: \(restarts) restarts")
        let pairs = try solver.eigenpairs(restarts: restarts, seed: seed, progress: progress?.update)
        progress?.finish()
        let seconds = Date().timeIntervalSince(start)
        let unconverged = restarts - pairs.reduce(0) { $0 + $1.hits }
        let overlaps = pairs.map { pair in reference.map { TensorEigenSolver.overlap(pair.vector, $0, lattice: distribution.lattice) } }
        let chance = reference.map { Self.chanceLevels(reference: $0, eigenvectors: pairs.map(\.vector), lattice: distribution.lattice, seed: seed) }
        if let save { try NpyArray(rows: pairs.map(\.vector)).write(to: save, flag: "--save") }
        let fourierIPR = 1.5 / Double(distribution.size)
        if json {
            var object: [String: Any] = [
                "eigenvalue": Report.json(pairs.map(\.eigenvalue)), "residual": Report.json(pairs.map(\.residual)),
                "ipr": Report.json(pairs.map(\.ipr)), "hits": pairs.map(\.hits), "iterations": pairs.map(\.iterations),
                "converged": pairs.map(\.converged), "extremum": extremum.rawValue, "cumulant": cumulant.rawValue,
                "restarts": restarts, "unconverged_starts": unconverged, "seconds": seconds, "fourier_mode_ipr": fourierIPR,
                "eigenvector": pairs.map { Report.json($0.vector) },
            ]
            if reference != nil {
                object["overlap"] = Report.json(overlaps.map { $0! })
                object["reference_ipr"] = Observables.inverseParticipationRatio(reference!)
                object["chance_random_vector"] = ["mean": Report.json(chance!.vector.mean), "sd": Report.json(chance!.vector.sd),
                                                  "samples": chance!.vector.samples]
                object["chance_random_bump"] = chance!.bumps.map { ["mean": Report.json($0.mean), "sd": Report.json($0.sd), "samples": $0.samples] }
            }
            try Report.printJSON(object)
            try Self.reportConvergence(found: pairs.count, unconverged: unconverged, maxIterations: maxIterations)
            return
        }
        let f = Report.format
        var rows = [["#", "mu", "residual", "IPR", "hits", "iterations"] + (reference == nil ? [] : ["overlap", "random bump of its width"])]
        for (k, pair) in pairs.enumerated() {
            rows.append(["\(k)", f(pair.eigenvalue), f(pair.residual), f(pair.ipr), "\(pair.hits)", "\(pair.iterations)"]
                        + (overlaps[k].map { [f($0), "\(f(chance!.bumps[k].mean)) +- \(f(chance!.bumps[k].sd))"] } ?? []))
        }
        print("\(Report.describe(distribution.spec)); \(cumulant.rawValue) cumulant, \(extremum.rawValue) eigenpairs from \(restarts) starts in \(String(format: "%.2f", seconds)) s")
        print(Report.table(rows))
        print("(a Fourier mode has IPR 3/(2D) = \(f(fourierIPR)))")
        if let reference, let chance {
            print("reference RF IPR \(f(Observables.inverseParticipationRatio(reference))); a random Gaussian vector overlaps it by "
                  + "\(f(chance.vector.mean)) +- \(f(chance.vector.sd)) (\(chance.vector.samples) draws)")
        }
        try Self.reportConvergence(found: pairs.count, unconverged: unconverged, maxIterations: maxIterations)
    }

    static let chanceSamples = 200

    /// What the overlap would be by chance: a Gaussian random vector, and per eigenvector a
    /// Gaussian bump of the eigenvector's width at a random position (derivations/tiling-statistics.md §6).
    static func chanceLevels(reference: [Double], eigenvectors: [[Double]], lattice: Lattice, seed: UInt64)
        -> (vector: ChanceLevel.Summary, bumps: [ChanceLevel.Summary]) {
        let vector = ChanceLevel.randomVectorOverlap(reference: reference, lattice: lattice, samples: chanceSamples, seed: seed)
        let bumps = eigenvectors.map { w in
            ChanceLevel.randomBumpOverlap(reference: reference, width: Observables.width(w, lattice: lattice), lattice: lattice,
                                          samples: chanceSamples, seed: seed)
        }
        return (vector, bumps)
    }

    /// Starts that ran out of iterations are not eigenpairs: say how many, and fail (exit 3)
    /// when none converged, so that a script cannot mistake an empty list for a result.
    static func reportConvergence(found: Int, unconverged: Int, maxIterations: Int) throws {
        guard unconverged > 0 else { return }
        let advice = "not converged within --max-iterations \(maxIterations) (raise it or loosen --tolerance)"
        FileHandle.standardError.write(Data("warning: \(unconverged) start(s) \(advice); they are not listed\n".utf8))
        if found == 0 { throw ExitCode(3) }
    }
}

extension TensorExtremum: ExpressibleByArgument {}
