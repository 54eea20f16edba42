import ArgumentParser
import ConvEmerge
import Foundation

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a run: its receptive fields, and IPR and loss against time.",
        discussion: """
        One run (solve or simulate): the final receptive fields, one panel per unit (1D curves, or 2D images; each \
        rolled so that its centre sits in the middle), then IPR and loss against t (log axis), one curve per unit \
        and replica. Two runs (a solve run and a simulate run of the same problem, as for compare): the ODE's \
        receptive field over the SGD replicas', and both IPR curves. Drawn by notebooks-export/plot_run.py with the \
        project's .venv (numpy, matplotlib), created on first use as `make venv` does. The PNG is written \
        atomically to --out (default: RUN/plot.png, the last RUN for two).

        Example:
          convemerge solve --L 32 --gaussian --closure gaussian --t-max 50 \\
            --out runs/ode
          convemerge simulate --L 32 --gaussian --t-max 50 --seeds 3 \\
            --out runs/sim --quiet
          convemerge plot runs/sim
          convemerge plot runs/ode runs/sim --out runs/ode-vs-sim.png
        """)

    static let script = "notebooks-export/plot_run.py"

    @Argument(help: "One run directory, or a solve run and a simulate run to draw together.") var runs: [String] = []
    @Flag(help: "Draw two runs together (the same as giving two runs).") var compare = false
    @Option(help: "PNG file to write (default RUN/plot.png).") var out: String?

    func run() throws {
        try require(!runs.isEmpty && runs.count <= 2, flag: "RUN", "give one run directory, or a solve run and a simulate run; got \(runs.count)")
        try require(!compare || runs.count == 2, flag: "--compare", "needs two run directories (a solve run, then a simulate run)")
        let loaded = try runs.map { try RunWeights.load($0, flag: "RUN") }
        if loaded.count == 2 {
            try require(loaded[0].lattice == loaded[1].lattice, flag: "RUN", "'\(runs[0])' and '\(runs[1])' are on different lattices")
        }
        let target = out ?? (runs.last! as NSString).appendingPathComponent("plot.png")
        try require(target.lowercased().hasSuffix(".png"), flag: "--out", "must name a .png file, got '\(target)'")
        try AtomicFile.requireTarget(target, flag: "--out")
        let interpreter = try ProjectPython.ensure(for: Self.script, flag: "plot")
        // The script draws into a private file; only a finished PNG replaces the target.
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("convemerge-plot-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let status = ProjectPython.run(interpreter.python, [interpreter.script, "--out", scratch.path] + runs)
        guard status == 0, let image = FileManager.default.contents(atPath: scratch.path) else {
            throw ConvEmergeError.invalidInput(flag: "plot", message: "\(Self.script) failed (status \(status)); nothing was written")
        }
        try AtomicFile.write(image, to: target, flag: "--out")
        print("plot -> \(target)")
    }
}
