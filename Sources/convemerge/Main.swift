import ArgumentParser
import ConvEmerge
import Foundation

@main
struct Convemerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convemerge",
        abstract: "Analytical theory of localised receptive fields learned from non-Gaussian inputs.",
        discussion: """
        Inputs are the nonlinear Gaussian process NLGP(xi, g) of Ingrosso & Goldt (PNAS 2022) \
        and its Gaussian clone on a ring or torus. Arrays are read and written as float64 .npy \
        files; --json prints machine-readable results. Bad input ends with one line on stderr \
        naming the flag, and exit status 2. Run directories (solve, simulate, demo) hold \
        manifest.json with every parameter, the .npy arrays and observables.csv.

        Inputs: stats, sample, cumulant. Theory: solve (the reduced gradient-flow ODE under a \
        closure), closure-error. Simulation: simulate (online SGD), compare (theory vs simulation). \
        Analysis: instability (critical gain), tensor (cumulant eigenvectors), phase (sweeps). \
        Studies: demo (what `make run` runs), validate, bench.

        Example:
          convemerge stats --L 64 --xi 3 --gain 2
          convemerge solve --L 40 --closure cumulant --out runs/ode
          convemerge help sample
        """,
        version: ConvEmergeVersion.string,
        // In the order of the data flow: inputs, theory, simulation, analysis, then the studies.
        subcommands: [Stats.self, Sample.self, Cumulant.self,
                      Solve.self, ClosureErrorCommand.self,
                      Simulate.self, Compare.self,
                      Instability.self, Tensor.self, Phase.self,
                      Demo.self, Validate.self, Bench.self]
    )

    /// Every failure a user can cause ends in one line on stderr and exit status 2
    /// (parse errors included); help and version exit 0.
    static func main() {
        // Before any command touches GSL: its default handler would abort the process.
        GSL.initialize()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as ConvEmergeError {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            Foundation.exit(2)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            if let exit = error as? ExitCode { Foundation.exit(exit.rawValue) }
            let message = Convemerge.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            Foundation.exit(2)
        }
    }
}
