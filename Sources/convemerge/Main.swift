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
        (or, with --inputs copula:MARGINAL, a Gaussian copula) and its Gaussian clone on a ring or torus. Arrays are read and written as float64 .npy \
        files; --json prints machine-readable results. Bad input ends with one line on stderr \
        naming the flag, and exit status 2. Run directories (solve, simulate, demo) hold \
        manifest.json with every parameter, the .npy arrays and observables.csv.

        Inputs: stats, sample, cumulant. Theory: solve (the reduced gradient-flow ODE under a \
        closure), closure-error. Simulation: simulate (online SGD), compare (theory vs simulation). \
        Analysis: instability (critical gain), tensor (cumulant eigenvectors), phase (sweeps), \
        analyze (RF centres, tiling and alignment against chance), plot (figures of a run). \
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
                      Instability.self, Criterion.self, Tensor.self, Phase.self, Analyze.self, Plot.self,
                      Demo.self, Validate.self, Bench.self]
    )

    /// Every failure a user can cause ends in one line on stderr and exit status 2
    /// (parse errors included); help and version exit 0.
    static func main() {
        // Before any command touches GSL: its default handler would abort the process.
        GSL.initialize()
        Interruption.installCleanupHandlers()
        let arguments = CommandLineArguments.joiningNegativeValues(Array(CommandLine.arguments.dropFirst()))
        do {
            try CommandLineArguments.requireKnownHelpTopic(arguments)
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let error as ConvEmergeError {
            fail(error.description)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            if let exit = error as? ExitCode { Foundation.exit(exit.rawValue) }
            fail(oneLine(for: error))
        }
    }

    /// ArgumentParser's type errors ("The value 'nan' is invalid for '--K <K>'") name the flag but
    /// not what it takes; its help line for that flag does, so the one line becomes
    /// "--K: 'nan' is not a valid value; <the flag's help>".
    static func oneLine(for error: Error) -> String {
        let first = Convemerge.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
        let prefix = "The value '"
        guard first.hasPrefix(prefix), let quoteEnd = first.range(of: "' is invalid for '") else { return first }
        let value = first[first.index(first.startIndex, offsetBy: prefix.count)..<quoteEnd.lowerBound]
        let synopsis = first[quoteEnd.upperBound...].prefix { $0 != "'" }
        let flag = synopsis.split(separator: " ").first.map(String.init) ?? String(synopsis)
        let helpLine = Convemerge.fullMessage(for: error).split(separator: "\n").first { $0.hasPrefix("Help:") }
        // "Help:  --K <K>   text (default: 8)": the text after the synopsis's column gap.
        let help = helpLine.flatMap { line -> String? in
            guard let gap = line.dropFirst("Help:".count).trimmingCharacters(in: .whitespaces).range(of: "  ") else { return nil }
            let text = line.dropFirst("Help:".count).trimmingCharacters(in: .whitespaces)[gap.upperBound...]
            return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        return "\(flag): '\(value)' is not a valid value" + (help.map { "; allowed: \($0)" } ?? "")
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        Foundation.exit(2)
    }
}

/// Repairs of the raw argument list before ArgumentParser sees it.
enum CommandLineArguments {
    /// `--gain -1` reads as a flag followed by another flag to ArgumentParser; a negative number
    /// (or -inf, -nan) right after an option is its value, so it becomes `--gain=-1`.
    static func joiningNegativeValues(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var k = 0
        while k < arguments.count {
            let token = arguments[k]
            if token.hasPrefix("--"), token.count > 2, !token.contains("="), k + 1 < arguments.count,
               isNegativeNumber(arguments[k + 1]) {
                result.append("\(token)=\(arguments[k + 1])")
                k += 2
            } else {
                result.append(token)
                k += 1
            }
        }
        return result
    }

    static func isNegativeNumber(_ text: String) -> Bool {
        guard text.hasPrefix("-"), text.count > 1 else { return false }
        let body = text.dropFirst()
        // "-1,2" (a list) and "-1:3:4" (a range) are values too.
        let first = body.split(whereSeparator: { ",:".contains($0) }).first.map(String.init) ?? ""
        return Double(first) != nil || ["inf", "infinity", "nan"].contains(first.lowercased())
    }

    /// `convemerge help frobnicate` must not print the general help and succeed.
    static func requireKnownHelpTopic(_ arguments: [String]) throws {
        guard arguments.first == "help", arguments.count > 1 else { return }
        var children: [ParsableCommand.Type] = Convemerge.configuration.subcommands
        for name in arguments.dropFirst() where !name.hasPrefix("-") {
            var names: [String] = []
            var match: ParsableCommand.Type?
            for child in children {
                let childName: String = child._commandName
                names.append(childName)
                if childName == name { match = child }
            }
            guard let match else {
                throw ConvEmergeError.invalidInput(flag: "help", message: "unknown command '\(name)'; commands: \(names.joined(separator: ", "))")
            }
            children = match.configuration.subcommands
        }
    }
}
