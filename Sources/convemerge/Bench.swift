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

        Theory (issue 3): seconds per right-hand side of the gaussian and cumulant-leading \
        closures on rings D = 256 ... 16384 and tori L = 16 ... 128, with the fitted exponent p \
        of time ~ D^p; the same closures with dense O(D^2) products at D = 4096 (speed-up); and \
        a default solve (D = 100) end to end.

        Simulation (issue 4): online-SGD steps per second on one core at D = 400, B = 1, NLGP \
        sampling included, for one relu neuron (fast sampler, exact FFT sampler) and a K = 8 \
        committee, each with the ratio to the same loop on the dense Cholesky sampler, and the \
        speed-up of two seeds on two threads over one.

        Data (issue 9): `stats` on 2e5 NLGP rows of D = 100 (read, covariance, moments, S and T at a probe)         against one pass over the same file, and the montecarlo right-hand side on N = 2e5 data rows         against the NLGP's on N samples (both O(N D)). --only inputs|theory|simulation|data runs one part.

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
    @Option(help: "Run only one part: inputs (sampler, cumulant), theory (right-hand sides, solve), simulation (SGD steps) or data (stats and montecarlo on data rows).") var only: BenchPart?

    enum BenchPart: String, ExpressibleByArgument { case inputs, theory, simulation, data }

    func run() throws {
        var plan: BenchmarkPlan = quick ? .quick : .standard
        plan.seed = seed
        func wanted(_ part: BenchPart) -> Bool { only == nil || only == part }
        let report = !wanted(.inputs) ? nil : try Benchmarks.run(plan) { Report.progress("bench: \($0)") }
        if wanted(.simulation) { Report.progress("bench: online SGD steps per second (one core, sampling included)") }
        let simulationSize = quick ? 64 : 400, simulationSeconds = quick ? 0.05 : 1.0
        let simulation = !wanted(.simulation) ? nil : try SimulationBenchmarks.run(dimension: simulationSize, seconds: simulationSeconds)
        let seedScaling = !wanted(.simulation) ? nil : try SimulationBenchmarks.seedScaling(
            SimulationBenchmarks.parameters(dimension: simulationSize), threads: 2, seconds: simulationSeconds)
        let theory = !wanted(.theory) ? nil : try TheoryBenchmarks.run(
            lengths1D: quick ? [64, 128, 256] : [256, 1024, 4096, 16384], lengths2D: quick ? [10, 12, 16] : [16, 32, 64, 128],
            denseSize: quick ? 256 : 4096, plan: plan) { Report.progress("bench: \($0)") }
        let data = !wanted(.data) ? nil : try DataBenchmarks.run(rows: quick ? 20000 : 200_000, dimension: quick ? 32 : 100,
                                                                 plan: plan) { Report.progress("bench: \($0)") }

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
            var object: [String: Any] = ["quick": quick]
            if let report {
                object["sampler"] = report.sampler.map(entry)
                object["leading_cumulant"] = entry(report.leadingCumulant)
                object["requirements"] = Dictionary(uniqueKeysWithValues: report.requirements.map { ($0.name, $0.met) })
            }
            if let theory {
                object["rhs_scaling"] = theory.scaling.map { fit -> [String: Any] in
                    ["closure": fit.closure, "dim": fit.latticeDimension, "D": fit.sizes,
                     "seconds": Report.json(fit.secondsPerCall), "exponent": Report.json(fit.exponent)]
                }
                object["rhs_dense"] = theory.denseComparison.map(entry)
                object["default_solve"] = ["D": theory.defaultSolve.dimension, "seconds": Report.json(theory.defaultSolve.seconds),
                                           "rhs_evaluations": theory.defaultSolve.rightHandSides,
                                           "final_ipr": Report.json(theory.defaultSolve.finalIpr)]
            }
            if let simulation, let seedScaling {
                object["sgd"] = simulation.map { m -> [String: Any] in
                    ["name": m.name, "steps_per_second": Report.json(m.stepsPerSecond),
                     "dense_steps_per_second": Report.json(m.denseStepsPerSecond ?? .nan), "ratio": Report.json(m.ratio ?? .nan)]
                }
                object["sgd_two_seed_speedup"] = Report.json(seedScaling)
            }
            if let data {
                object["data"] = ["N": data.rows, "D": data.dimension, "stats_seconds": Report.json(data.statisticsSeconds),
                                  "one_pass_seconds": Report.json(data.onePassSeconds),
                                  "stats_over_one_pass": Report.json(data.statisticsOverOnePass),
                                  "montecarlo_data_rhs_seconds": Report.json(data.dataRightHandSideSeconds),
                                  "montecarlo_nlgp_rhs_seconds": Report.json(data.nlgpRightHandSideSeconds),
                                  "data_over_nlgp_rhs": Report.json(data.dataOverNLGPRightHandSide),
                                  "family_statistics_D": data.familyDimension,
                                  "family_statistics": data.families.map { ["family": $0.family, "seconds": Report.json($0.seconds),
                                                                            "over_nlgp": Report.json($0.overNLGP)] }]
            }
            try Report.printJSON(object)
            return
        }
        if let report { printInputs(report) }
        if let theory { printTheory(theory) }
        if let simulation, let seedScaling { printSimulation(simulation, seedScaling: seedScaling, size: simulationSize) }
        if let data { printData(data) }
    }

    private func printData(_ data: DataBenchmarks.Report) {
        print("\nData sets, N = \(data.rows) rows of D = \(data.dimension):")
        print(Report.table([["task", "seconds", "baseline", "baseline seconds", "ratio"],
                            ["stats (statistics of the file)", Report.format(data.statisticsSeconds), "one pass over the file",
                             Report.format(data.onePassSeconds), Report.format(data.statisticsOverOnePass)],
                            ["montecarlo right-hand side, data rows", Report.format(data.dataRightHandSideSeconds),
                             "the same on N NLGP samples", Report.format(data.nlgpRightHandSideSeconds),
                             Report.format(data.dataOverNLGPRightHandSide)]]))
        print("\nModel statistics (covariance, PSD check, kurtosis) at D = \(data.familyDimension), against the NLGP's:")
        print(Report.table([["inputs", "seconds", "ratio to nlgp"]] + data.families.map {
            [$0.family, Report.format($0.seconds), Report.format($0.overNLGP)]
        }))
        if data.rows == 200_000 && data.dimension == 100 {
            print("Target: stats on 2e5 x 100 in < 2 s: \(data.statisticsSeconds < 2 ? "met" : "NOT MET").")
        }
    }

    private func printSimulation(_ measurements: [SimulationBenchmarks.Measurement], seedScaling: Double, size: Int) {
        print("\nOnline SGD, one core, D = \(size), B = 1, NLGP sampling included:")
        print(Report.table([["loop", "steps/s", "dense-sampler steps/s", "ratio"]] + measurements.map { m in
            [m.name, Report.format(m.stepsPerSecond), m.denseStepsPerSecond.map(Report.format) ?? "-", m.ratio.map(Report.format) ?? "-"]
        }))
        print("Two seeds on two threads: \(String(format: "%.2f", seedScaling))x the steps/s of one.")
        if size == 400, let neuron = measurements.first, let committee = measurements.last {
            print("Targets: neuron >= 1.5e5 steps/s: \(neuron.stepsPerSecond >= 1.5e5 ? "met" : "NOT MET"); "
                  + "K = 8 committee >= 5e4 steps/s: \(committee.stepsPerSecond >= 5e4 ? "met" : "NOT MET").")
        }
    }

    private func printTheory(_ theory: TheoryBenchmarks.Report) {
        print("\nRight-hand side of the gradient flow, seconds per evaluation (class 1, relu):")
        print(Report.table([["closure", "lattice", "D", "s/call", "exponent p (time ~ D^p)"]] + theory.scaling.map { fit in
            [fit.closure, fit.latticeDimension == 1 ? "ring" : "torus", fit.sizes.map(String.init).joined(separator: ","),
             fit.secondsPerCall.map(Report.format).joined(separator: ","), String(format: "%.3f", fit.exponent)]
        }))
        print("")
        print(Report.table([["right-hand side", "D", "FFT s/call", "dense s/call", "speed-up", "relative difference"]]
                           + theory.denseComparison.map { c in
            [c.task, String(c.size), Report.format(c.candidateSecondsPerCall), Report.format(c.baselineSecondsPerCall),
             Report.format(c.speedup), Report.format(c.maximumRelativeDifference ?? .nan)]
        }))
        let solve = theory.defaultSolve
        print("\nDefault solve (D = \(solve.dimension), \(solve.closure), t = 150): \(String(format: "%.3f", solve.seconds)) s, "
              + "\(solve.rightHandSides) right-hand sides, final IPR \(Report.format(solve.finalIpr)).")
    }

    private func printInputs(_ report: BenchmarkReport) {
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
