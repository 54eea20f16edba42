import ArgumentParser
import ConvEmerge
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Speed of the FFT methods against dense baselines, measured in the same run.",
        discussion: """
        Times, on the default input model (ring, gaussian kernel, xi = 2, g = 1):
          - one NLGP draw, FFT colouring vs a dense Cholesky factor,
            at D = 256, 1024, 4096;
          - the leading cumulant action T_lead(w), FFT vs dense
            matrix-vector products (GSL dsymv), at D = 4096, and how far
            the two results differ.
        Reported are speed-ups (baseline time / FFT time) from alternating batches, each \
        method keeping its fastest batch; one-time setup (Cholesky factorisation, dense \
        matrix assembly) is shown separately. --quick uses small sizes to check the machinery.

        JSON keys (--json): quick, sampler (list of {D, fft_seconds, dense_seconds, \
        dense_setup_seconds, speedup}), leading_cumulant ({D, fft_seconds, dense_seconds, \
        dense_setup_seconds, speedup, max_relative_difference}), requirements ({target: met}, \
        for the sizes measured); times are seconds per call.

        Example:
          convemerge bench
          convemerge bench --quick --json
        """
    )

    @Flag(help: "Small sizes and a tiny timing budget (seconds, not minutes).") var quick = false
    @Option(help: "Seed for the random draws and the test vector w.") var seed: UInt64 = 1
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        var plan: BenchmarkPlan = quick ? .quick : .standard
        plan.seed = seed
        let report = try Benchmarks.run(plan) { Report.progress("bench: \($0)") }

        func entry(_ c: SpeedComparison) -> [String: Any] {
            var fields: [String: Any] = [
                "D": c.size,
                "fft_seconds": Report.json(c.candidateSecondsPerCall),
                "dense_seconds": Report.json(c.baselineSecondsPerCall),
                "dense_setup_seconds": Report.json(c.baselineSetupSeconds),
                "speedup": Report.json(c.speedup),
            ]
            if let difference = c.maximumRelativeDifference { fields["max_relative_difference"] = Report.json(difference) }
            return fields
        }
        if json {
            try Report.printJSON([
                "quick": quick,
                "sampler": report.sampler.map(entry),
                "leading_cumulant": entry(report.leadingCumulant),
                "requirements": Dictionary(uniqueKeysWithValues: report.requirements.map { ($0.name, $0.met) }),
            ])
            return
        }
        let all = report.sampler + [report.leadingCumulant]
        print(Report.table([["task", "D", "FFT s/call", "dense s/call", "speed-up", "dense setup s"]] + all.map { c in
            ["\(c.task) (\(c.candidate) vs \(c.baseline))", String(c.size), Report.format(c.candidateSecondsPerCall),
             Report.format(c.baselineSecondsPerCall), Report.format(c.speedup), Report.format(c.baselineSetupSeconds)]
        }))
        if let difference = report.leadingCumulant.maximumRelativeDifference {
            print("\nFFT and dense T_lead(w) differ by \(Report.format(difference)) (max relative).")
        }
        if !report.requirements.isEmpty {
            print("\nPerformance targets:")
            print(Report.table(report.requirements.map { [$0.name, $0.met ? "met" : "NOT MET"] }))
        }
    }
}
