import ArgumentParser
import ConvEmerge
import Foundation

/// `solve --model committee|twolayer --K K` (derivations/committee-closures.md): the flags as
/// simulate reads them, and the run through CommitteeSolveJob.
extension Solve {
    /// The K-unit model as simulate reads it (nil for the neuron, whose run is unchanged).
    func committee() throws -> (ModelKind, Int, NetworkOptions)? {
        try committeeModel.network(defaultUnits: 8).map { ($0.model, $0.units, $0.options) }
    }

    /// --l1 adds -l1 sign(w), discontinuous where a weight reaches 0: there the adaptive high-order
    /// steppers shrink their steps without end (rk8pd at 1e-8 crawls from t ~ 0.2 on at K = 1, D = 16,
    /// bias 0.3), so unless the user chose the stepper, the montecarlo closure's rk2 at 1e-3 / 1e-4 is used.
    func defaultsToLowOrderStepper(_ network: NetworkOptions) -> Bool {
        network.l1 > 0 && stepper == nil && rtol == nil && atol == nil
    }

    /// K units: CommitteeSolveJob, the same run directory with a unit axis.
    func runCommittee(_ parameters: SolveParameters, out: String) throws {
        try CommitteeSolveJob.validate(parameters, holdingSaves: false)
        if let network = parameters.network, defaultsToLowOrderStepper(network) {
            FileHandle.standardError.write(Data("note: --l1: sign(w) is discontinuous where a weight reaches 0, so the flow is integrated by rk2 at --rtol 1e-3 --atol 1e-4; give --stepper, --rtol or --atol to choose\n".utf8))
        }
        if let threads, threads > 1 {
            FileHandle.standardError.write(Data("note: --threads: the K-unit closures run on one thread; --threads \(threads) changes nothing\n".utf8))
        }
        let directory = try RunDirectory(path: out, expecting: parameters.outputSize)
        let progress = quiet ? nil : ProgressLine(label: "solve \(parameters.model!.rawValue) K=\(parameters.hiddenUnits!) \(parameters.closure.kind.rawValue)")
        // Each save is written as it comes: the trajectory is never held in memory.
        let result = try CommitteeSolveJob.runAndSave(parameters, to: directory) { progress?.update($0) }
        progress?.finish()
        try finish(result.trajectory, ipr: result.finalMeanIPR, seconds: result.wallSeconds, out: out)
    }

    private func finish(_ trajectory: Trajectory, ipr: Double?, seconds: Double, out: String) throws {
        let ipr = ipr.map { String(format: "%.4f", $0) } ?? "n/a"
        print("\(trajectory.status.rawValue): t = \(trajectory.times.last ?? 0), final IPR \(ipr), "
              + "\(trajectory.evaluations) right-hand sides in \(String(format: "%.2f", seconds)) s -> \(out)")
        if trajectory.status != .completed {
            FileHandle.standardError.write(Data("warning: \(trajectory.message)\n".utf8))
            throw ExitCode(3)
        }
    }
}
