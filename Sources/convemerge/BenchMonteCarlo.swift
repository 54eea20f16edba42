import ConvEmerge
import Foundation

/// The montecarlo rows of `bench`'s theory section (issue 11).
extension Bench {
    func printMonteCarlo(_ report: MonteCarloBenchmarks.Report) {
        let rhs = report.rightHandSide
        let load = report.loadAverage.map { String(format: "%.2f", $0) }.joined(separator: " ")
        print("\nMonteCarlo right-hand side D = \(rhs.dimension) M = \(rhs.samplesPerClass) (both classes; fastest of alternating batches; load average \(load)):")
        let baseline = rhs.variants.first { $0.name == "previous implementation" }
        let plain = rhs.variants.first { $0.name == "plain C loop" }
        print(Report.table([["loop", "threads", "CPU s/call", "wall s/call", "previous / this (wall)", "plain C loop / this (wall)"]]
                           + rhs.variants.map { v in
            [v.name, String(v.threads), Report.format(v.cpuSeconds), Report.format(v.wallSeconds),
             baseline.map { String(format: "%.2f", $0.wallSeconds / v.wallSeconds) } ?? "-",
             plain.map { String(format: "%.2f", $0.wallSeconds / v.wallSeconds) } ?? "-"]
        }))
        print("C pass vs previous: \(Report.format(rhs.chunkedRelativeDifference)) max relative difference. Float sample: "
              + "\(Report.format(rhs.floatRelativeError)) max relative error, \(Report.format(rhs.floatErrorOverStandardError)) "
              + "of the Monte Carlo standard error (largest component ratio).")
        print("\nDemo montecarlo solve (D = 100, M = \(rhs.samplesPerClass), relu, t = \(Report.format(report.tMax))):")
        print(Report.table([["run", "stepper", "rtol", "right-hand sides", "wall s", "CPU s", "final IPR"]] + report.solves.map { s in
            [s.name, s.stepper, Report.format(s.relativeTolerance), String(s.evaluations), String(format: "%.2f", s.wallSeconds),
             String(format: "%.2f", s.cpuSeconds), Report.format(s.finalIpr)]
        }))
        print("Final weights, after vs before: relative distance \(Report.format(report.finalWeightsRelativeDistance)).")
    }

    static func jsonObject(_ report: MonteCarloBenchmarks.Report) -> [String: Any] {
        let rhs = report.rightHandSide
        return [
            "D": rhs.dimension, "M": rhs.samplesPerClass, "load_average": report.loadAverage.map(Report.json),
            "rhs": rhs.variants.map { ["loop": $0.name, "threads": $0.threads, "wall_seconds": Report.json($0.wallSeconds),
                                       "cpu_seconds": Report.json($0.cpuSeconds)] as [String: Any] },
            "one_pass_vs_previous_relative_difference": Report.json(rhs.chunkedRelativeDifference),
            "float_relative_error": Report.json(rhs.floatRelativeError),
            "float_error_over_standard_error": Report.json(rhs.floatErrorOverStandardError),
            "t_max": Report.json(report.tMax),
            "solve": report.solves.map { ["run": $0.name, "stepper": $0.stepper, "rtol": Report.json($0.relativeTolerance),
                                          "rhs_evaluations": $0.evaluations, "wall_seconds": Report.json($0.wallSeconds),
                                          "cpu_seconds": Report.json($0.cpuSeconds), "final_ipr": Report.json($0.finalIpr)] as [String: Any] },
            "final_weights_relative_distance": Report.json(report.finalWeightsRelativeDistance),
        ]
    }
}
