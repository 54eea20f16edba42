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
        of time ~ D^p; the same closures with dense O(D^2) products at D = 4096 (speed-up); the \
        whole right-hand side (both classes) on 2 threads against 1 at D = 1e4 and 1e5 (quick: 4096; \
        wall-clock and process CPU time, alternating batches, with the 1-minute load average); a default solve \
        (D = 100) end to end. The montecarlo closure (issue 11) at D = 100, M = 20000 per class \
        (quick: 1000): CPU and wall seconds per right-hand side of the one-pass loop in C (the default) and in \
        Swift on one thread and on all cores, the previous implementation, plain scalar loops in C and Swift \
        and the float sample (its error against the \
        Monte Carlo standard error), with the load average; and the demo's montecarlo solve (t = 150, quick: 10) \
        before (previous loop and tolerances, one thread) and after (the defaults).

        Simulation (issue 4): online-SGD steps per second on one core at D = 400, B = 1, NLGP \
        sampling included, for one relu neuron (fast sampler, exact FFT sampler) and a K = 8 \
        committee, each with the ratio to the same loop on the dense Cholesky sampler, and the \
        speed-up of two seeds on two threads over one. Then (issue 11) the CPU time of one step, neuron and \
        K = 8 committee, against the fast sampler before issue 11 and against the limit: the sum of one c2r \
        FFT, D ziggurat normals, D table erfs and one dot and axpy of D, each timed alone, with the load average.

        Data (issue 9): `stats` on 2e5 NLGP rows of D = 100 (read, covariance, moments, S and T at a probe) \
        against one pass over the same file, and the montecarlo right-hand side on N = 2e5 data rows \
        against the NLGP's on N samples (both O(N D)).

        Memory (issue 11): peak RSS of `simulate` and `solve` with default flags (a short --t-max) at \
        D = 1e3, 1e4, 1e5 (quick: 1e3, 1e4), each a child process whose own peak wait4 reports, against \
        the bytes of the .npy arrays it writes, and against those plus the working set (the peak of the \
        same command at D = 64: the program's own footprint; goal <= 1.3). Every section's heading also gives its wall time and peak \
        RSS: the process's high-water mark VmHWM, reset before the section through /proc/self/clear_refs \
        (getrusage's ru_maxrss is a lifetime maximum); "-" where the kernel cannot reset it.

        Sections (--only NAME runs one; NAME as printed in its heading): inputs, theory, simulation, data, \
        memory. --quick runs all of them at small sizes (about 5 s).

        JSON keys (--json): quick, sampler (list of {D, fft_seconds, dense_seconds, \
        dense_setup_seconds, speedup}), leading_cumulant ({D, fft_seconds, dense_seconds, \
        dense_setup_seconds, speedup, max_relative_difference}), requirements ({target: met}, \
        for the sizes measured), rhs_scaling, rhs_dense, rhs_threads ({closure, D, one_thread_seconds, \
        two_thread_seconds, speedup, one_thread_cpu_seconds, two_thread_cpu_seconds, cpu_ratio, \
        max_relative_difference, load_average}), default_solve, montecarlo ({D, M, load_average, rhs, \
        solve, ...}), committee, sgd, sgd_step ({name, D, K, step_seconds, \
        baseline_seconds, speedup, limit_seconds, fraction_of_limit, primitive_seconds, load_average}), data, sections \
        ({NAME: {seconds, peak_rss_bytes}}), memory (list of {command, D, peak_rss_bytes, array_bytes, \
        peak_rss_bytes_per_site, peak_rss_over_arrays, base_peak_rss_bytes, peak_rss_over_arrays_and_base}); times are seconds per call.

        Example:
          convemerge bench
          convemerge bench --quick --json
          convemerge bench --quick --only memory
        """
    )

    @Flag(help: "Small sizes and a tiny timing budget (seconds, not minutes).") var quick = false
    @Option(help: "Seed for the random draws and the test vector w.") var seed: UInt64 = 1
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "Run only one section, named as in its printed heading: inputs (sampler, cumulant), theory (right-hand sides, solve), simulation (SGD steps), data (stats and montecarlo on data rows) or memory (peak RSS of simulate and solve against D).") var only: BenchPart?

    enum BenchPart: String, CaseIterable, ExpressibleByArgument { case inputs, theory, simulation, data, memory }

    func run() throws {
        var plan: BenchmarkPlan = quick ? .quick : .standard
        plan.seed = seed
        func wanted(_ part: BenchPart) -> Bool { only == nil || only == part }
        var sections: [(part: BenchPart, seconds: Double, peakBytes: Int?)] = []
        // Each section's peak RSS is the process's high-water mark, reset before it (PeakMemory).
        func section<T>(_ part: BenchPart, _ body: () throws -> T) rethrows -> T? {
            guard wanted(part) else { return nil }
            Report.progress("bench: section \(part.rawValue)")
            var measured: (value: T, peakBytes: Int?)?
            let seconds = try Stopwatch.seconds { measured = try PeakMemory.measure(body) }
            sections.append((part, seconds, measured?.peakBytes))
            return measured?.value
        }
        let report = try section(.inputs) { try Benchmarks.run(plan) { Report.progress("bench: \($0)") } }
        let theory = try section(.theory) {
            try TheoryBenchmarks.run(
                lengths1D: quick ? [64, 128, 256] : [256, 1024, 4096, 16384], lengths2D: quick ? [10, 12, 16] : [16, 32, 64, 128],
                denseSize: quick ? 256 : 4096, threadSizes: quick ? [4096] : [10000, 100_000],
                monteCarloSamples: quick ? 1000 : 20000, monteCarloTMax: quick ? 10 : 150, committeeSolveTime: quick ? 30 : 150,
                plan: plan) { Report.progress("bench: \($0)") }
        }
        let simulationSize = quick ? 64 : 400, simulationSeconds = quick ? 0.05 : 1.0
        let simulationResults = try section(.simulation) { () throws -> ([SimulationBenchmarks.Measurement], Double, [StepCostBenchmarks.Measurement]) in
            Report.progress("bench: online SGD steps per second (one core, sampling included)")
            return (try SimulationBenchmarks.run(dimension: simulationSize, seconds: simulationSeconds),
                    try SimulationBenchmarks.seedScaling(SimulationBenchmarks.parameters(dimension: simulationSize),
                                                         threads: 2, seconds: simulationSeconds),
                    try StepCostBenchmarks.run(dimension: simulationSize, stepsPerRound: quick ? 500 : 2500, rounds: quick ? 5 : 31))
        }
        let simulation = simulationResults?.0, seedScaling = simulationResults?.1, stepCosts = simulationResults?.2
        let data = try section(.data) {
            try DataBenchmarks.run(rows: quick ? 20000 : 200_000, dimension: quick ? 32 : 100, plan: plan) { Report.progress("bench: \($0)") }
        }
        let memory = try section(.memory) {
            try MemoryBenchmarks.run(executable: Self.executablePath(), dimensions: quick ? [1000, 10000] : [1000, 10000, 100_000]) {
                Report.progress("bench: \($0)")
            }
        }

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
                object["rhs_threads"] = theory.threadComparison.map { t -> [String: Any] in
                    ["closure": t.closure, "D": t.dimension, "one_thread_seconds": Report.json(t.oneThreadSeconds),
                     "two_thread_seconds": Report.json(t.twoThreadSeconds), "speedup": Report.json(t.speedup),
                     "one_thread_cpu_seconds": Report.json(t.oneThreadCPUSeconds),
                     "two_thread_cpu_seconds": Report.json(t.twoThreadCPUSeconds), "cpu_ratio": Report.json(t.cpuRatio),
                     "max_relative_difference": Report.json(t.relativeDifference), "load_average": Report.json(t.loadAverage)]
                }
                object["default_solve"] = ["D": theory.defaultSolve.dimension, "seconds": Report.json(theory.defaultSolve.seconds),
                                           "rhs_evaluations": theory.defaultSolve.rightHandSides,
                                           "final_ipr": Report.json(theory.defaultSolve.finalIpr)]
                object["montecarlo"] = Self.jsonObject(theory.monteCarlo)
                if let committee = theory.committee {
                    object["committee"] = ["K": committee.units, "D": committee.scaling.sizes, "seconds": Report.json(committee.scaling.secondsPerCall),
                                           "exponent": Report.json(committee.scaling.exponent), "montecarlo": entry(committee.monteCarloComparison),
                                           "solve_t": Report.json(committee.solveTime), "solve_seconds": Report.json(committee.solve.seconds), "solve_rhs_evaluations": committee.solve.rightHandSides,
                                           "cumulant_seconds": Report.json(committee.cumulantScaling.secondsPerCall),
                                           "cumulant_exponent": Report.json(committee.cumulantScaling.exponent),
                                           "cumulant_solve_seconds": Report.json(committee.cumulantSolve.seconds),
                                           "cumulant_solve_rhs_evaluations": committee.cumulantSolve.rightHandSides,
                                           "cumulant_fused": entry(committee.fusedComparison)]
                }
            }
            if let simulation, let seedScaling {
                object["sgd"] = simulation.map { m -> [String: Any] in
                    ["name": m.name, "steps_per_second": Report.json(m.stepsPerSecond),
                     "dense_steps_per_second": Report.json(m.denseStepsPerSecond ?? .nan), "ratio": Report.json(m.ratio ?? .nan)]
                }
                object["sgd_two_seed_speedup"] = Report.json(seedScaling)
                object["sgd_step"] = (stepCosts ?? []).map { m -> [String: Any] in
                    ["name": m.name, "D": m.dimension, "K": m.units, "step_seconds": Report.json(m.stepSeconds),
                     "baseline_seconds": Report.json(m.baselineSeconds), "speedup": Report.json(m.speedup),
                     "limit_seconds": Report.json(m.limitSeconds ?? .nan), "fraction_of_limit": Report.json(m.fractionOfLimit ?? .nan),
                     "primitive_seconds": m.primitives.mapValues(Report.json), "load_average": Report.json(m.loadAverage)]
                }
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
            object["sections"] = Dictionary(uniqueKeysWithValues: sections.map {
                ($0.part.rawValue, ["seconds": Report.json($0.seconds), "peak_rss_bytes": $0.peakBytes as Any? ?? NSNull()] as [String: Any])
            })
            if let memory {
                object["memory"] = memory.map { m -> [String: Any] in
                    ["command": m.command, "D": m.dimension, "peak_rss_bytes": m.peakBytes as Any? ?? NSNull(),
                     "array_bytes": m.arrayBytes, "peak_rss_bytes_per_site": m.peakBytesPerSite.map(Report.json) ?? NSNull(),
                     "peak_rss_over_arrays": m.peakOverArrays.map(Report.json) ?? NSNull(),
                     "base_peak_rss_bytes": m.basePeakBytes as Any? ?? NSNull(),
                     "peak_rss_over_arrays_and_base": m.peakOverArraysAndBase.map(Report.json) ?? NSNull()]
                }
            }
            try Report.printJSON(object)
            return
        }
        for (part, seconds, peakBytes) in sections {
            print("\n== \(part.rawValue): \(part.heading) (\(String(format: "%.2f", seconds)) s, peak RSS \(Self.megabytes(peakBytes))) ==")
            switch part {
            case .inputs: report.map(printInputs)
            case .theory: theory.map(printTheory)
            case .simulation:
                if let simulation, let seedScaling { printSimulation(simulation, seedScaling: seedScaling, size: simulationSize) }
                stepCosts.map(printStepCosts)
            case .data: data.map(printData)
            case .memory: memory.map(printMemory)
            }
        }
        if sections.contains(where: { $0.peakBytes == nil }) {
            print("\nPeak RSS \"-\": this kernel does not let /proc/self/clear_refs reset the high-water mark (Linux >= 4.0 needed).")
        }
    }

    /// This very executable, re-run for the memory section.
    static func executablePath() throws -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func megabytes(_ bytes: Int?) -> String { bytes.map { String(format: "%.1f MB", Double($0) / 1e6) } ?? "-" }

    private func printMemory(_ memory: [MemoryBenchmarks.Measurement]) {
        print("Peak RSS of one child process per run, default flags but a short --t-max; arrays = the .npy files written:")
        let rows = memory.map { m -> [String] in
            let perSite: String = m.peakBytesPerSite.map { String(format: "%.0f", $0) } ?? "-"
            let ratio: String = m.peakOverArrays.map { String(format: "%.2f", $0) } ?? "-"
            let withBase: String = m.peakOverArraysAndBase.map { String(format: "%.2f", $0) } ?? "-"
            return [m.command, String(m.dimension), Self.megabytes(m.peakBytes), perSite, Self.megabytes(m.arrayBytes), ratio,
                    Self.megabytes(m.basePeakBytes), withBase]
        }
        print(Report.table([["command", "D", "peak RSS", "bytes per site", "arrays written", "peak / arrays",
                             "base (D = 64)", "peak / (arrays + base)"]] + rows))
        print("Goal: peak <= 1.3 x (arrays + working set); base = the same command's peak at D = 64 (the D-sized buffers are not counted in it).")
        print("Before streaming (issue 11): simulate 43 / 192 / 1703 MB, solve 36 / 61 / 330 MB at D = 1e3 / 1e4 / 1e5.")
    }
}

extension Bench.BenchPart {
    /// What the section measures, printed as its heading.
    var heading: String {
        switch self {
        case .inputs: return "NLGP sampler and leading cumulant, FFT vs dense"
        case .theory: return "right-hand sides of the gradient flow and a default solve"
        case .simulation: return "online SGD steps per second"
        case .data: return "data sets: stats and the montecarlo right-hand side"
        case .memory: return "peak RSS of simulate and solve against D"
        }
    }
}

extension Bench {
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

    private func printStepCosts(_ costs: [StepCostBenchmarks.Measurement]) {
        func microseconds(_ seconds: Double?) -> String { seconds.map { String(format: "%.2f", $0 * 1e6) } ?? "-" }
        print("\nCPU time per SGD step (thread CPU time, best of alternating rounds), against the implementation "
              + "before issue 11 and the limit (sum of the primitives, each in a tight loop):")
        print(Report.table([["step", "us", "baseline us", "speed-up", "limit us", "limit / step", "load avg"]] + costs.map { m in
            [m.name, microseconds(m.stepSeconds), microseconds(m.baselineSeconds), String(format: "%.2f", m.speedup),
             microseconds(m.limitSeconds), m.fractionOfLimit.map { String(format: "%.2f", $0) } ?? "-", String(format: "%.2f", m.loadAverage)]
        }))
        if let primitives = costs.first?.primitives {
            print("Primitives, us per call: " + primitives.sorted { $0.key < $1.key }.map { "\($0.key) \(microseconds($0.value))" }
                .joined(separator: ", ") + ".")
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
        print("\nWhole right-hand side (both classes), 2 threads vs 1 on \(ProcessInfo.processInfo.activeProcessorCount) cores: "
              + "wall-clock speed-up, and the CPU time the split costs (2-thread / 1-thread CPU seconds per call):")
        print(Report.table([["closure", "D", "1 thread s/call", "2 threads s/call", "speed-up", "CPU ratio", "relative difference", "load average"]]
                           + theory.threadComparison.map { t in
            [t.closure, String(t.dimension), Report.format(t.oneThreadSeconds), Report.format(t.twoThreadSeconds),
             Report.format(t.speedup), Report.format(t.cpuRatio), Report.format(t.relativeDifference), String(format: "%.2f", t.loadAverage)]
        }))
        printMonteCarlo(theory.monteCarlo)
        let solve = theory.defaultSolve
        print("\nDefault solve (D = \(solve.dimension), \(solve.closure), t = 150): \(String(format: "%.3f", solve.seconds)) s, "
              + "\(solve.rightHandSides) right-hand sides, final IPR \(Report.format(solve.finalIpr)).")
        if let committee = theory.committee { printCommittee(committee) }
    }

    private func printCommittee(_ committee: CommitteeBenchmarks.Report) {
        let fit = committee.scaling, c = committee.monteCarloComparison, solve = committee.solve
        print("\nK = \(committee.units) units (solve --model committee), gaussian right-hand side: D = \(fit.sizes.map(String.init).joined(separator: ",")), "
              + "s/call \(fit.secondsPerCall.map(Report.format).joined(separator: ",")), exponent p = \(String(format: "%.3f", fit.exponent)) (target <= 1.2).")
        print("At D = \(c.size): \(c.candidate) \(Report.format(c.candidateSecondsPerCall)) s/call, \(c.baseline) \(Report.format(c.baselineSecondsPerCall)) s/call "
              + "(\(Report.format(c.speedup))x).")
        let cumulant = committee.cumulantScaling
        print("Cumulant right-hand side (fused leading diagram): s/call \(cumulant.secondsPerCall.map(Report.format).joined(separator: ",")), "
              + "exponent p = \(String(format: "%.3f", cumulant.exponent)).")
        let f = committee.fusedComparison
        print("At D = \(f.size), \(f.task): \(f.candidate) \(Report.format(f.candidateSecondsPerCall)) s/call, \(f.baseline) "
              + "\(Report.format(f.baselineSecondsPerCall)) s/call (\(Report.format(f.speedup))x, max relative difference \(Report.format(f.maximumRelativeDifference ?? .nan))).")
        for solve in [solve, committee.cumulantSolve] {
            print("K = \(committee.units), D = \(solve.dimension), t = \(Report.format(committee.solveTime)) \(solve.closure) solve: \(String(format: "%.3f", solve.seconds)) s, "
                  + "\(solve.rightHandSides) right-hand sides, final mean IPR \(Report.format(solve.finalIpr)).")
        }
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
