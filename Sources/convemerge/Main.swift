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
        naming the flag, and exit status 2.

        Example:
          convemerge stats --L 64 --xi 3 --gain 2
          convemerge help sample
        """,
        version: ConvEmergeVersion.string,
        subcommands: [Stats.self, Sample.self, Cumulant.self, Solve.self, ClosureErrorCommand.self, Demo.self, Bench.self, Simulate.self, Compare.self, Validate.self, Instability.self, Tensor.self, Phase.self]
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
