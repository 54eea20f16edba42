import ArgumentParser
import ConvEmerge
import Foundation

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw inputs from NLGP(xi, g), a Gaussian copula, or their Gaussian clone into a .npy file.",
        discussion: """
        Writes an (N, D) float64 array in NumPy's .npy format, one input per row (lattice \
        order; row-major on the torus). Draws cost O(D log D) each (FFT colouring of white \
        noise, then psi pointwise); the same --seed gives the same file, and copula:erf:g the \
        same file as --gain g. The file is written to a temporary \
        sibling and renamed, so a failed run leaves nothing behind.

        Example:
          convemerge sample --L 100 --gain 3 --n 1000 --seed 7 --out nlgp.npy
          convemerge sample --L 100 --gain 3 --n 1000 --seed 7 --clone --out gp.npy
          convemerge sample --L 100 --inputs copula:student:6 --n 1000 --out student.npy
        """
    )

    @OptionGroup var input: InputOptions

    // Required options are optional to the parser and checked in run(), so that an unknown
    // option is reported before a missing one.
    @Option(name: .customLong("n"), help: "Number of inputs N (required; >= 1, N*D <= \(Self.maximumValues)).")
    var countOption: Int?

    @Option(help: "Seed of the random number generator (0 ... 2^64-1).")
    var seed: UInt64 = 0

    @Flag(help: "Sample the Gaussian clone (same covariance as the inputs) instead of the inputs.")
    var clone = false

    @Option(name: .customLong("out"), help: "Output .npy file (required).")
    var outOption: String?

    /// 2^27 doubles = 1 GiB: the array is built in memory before it is written.
    static let maximumValues = 1 << 27

    func run() throws {
        let count = try required(countOption, flag: "--n", "the number of inputs N")
        let out = try required(outOption, flag: "--out", "the .npy file to write")
        try require(count >= 1, flag: "--n", "must be >= 1, got \(count)")
        try AtomicFile.requireTarget(out, flag: "--out")
        let distribution = try InputDistribution(input.spec(clone: clone))
        let d = distribution.size
        let (total, overflow) = count.multipliedReportingOverflow(by: d)
        try require(!overflow && total <= Self.maximumValues, flag: "--n",
                    "N*D must be <= \(Self.maximumValues) (1 GiB), got N = \(count) with D = \(d)")

        try MemoryBudget.require(MemoryBudget.product(2, total, 8), flag: "--n", for: "\(count) inputs of D = \(d) (held, then encoded)")
        var values = [Double](repeating: 0, count: total)
        var rng = Xoshiro256(seed: seed)
        let scratch = distribution.makeScratch()
        let reportEvery = total >= 10_000_000 ? max(1, count / 10) : Int.max
        values.withUnsafeMutableBufferPointer { buffer in
            for row in 0..<count {
                distribution.sample(into: buffer.baseAddress! + row * d, rng: &rng, scratch: scratch)
                if (row + 1) % reportEvery == 0 { Report.progress("sample: \(row + 1) / \(count) inputs") }
            }
        }
        try NpyArray(shape: [count, d], values: values).write(to: out, flag: "--out")
    }
}
