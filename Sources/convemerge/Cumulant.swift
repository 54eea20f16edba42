import ArgumentParser
import ConvEmerge
import Foundation

struct Cumulant: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Action T(w) of the fourth-order input cumulant on a vector w.",
        discussion: """
        T(w)_i = sum_jkl K_ijkl w_j w_k w_l = E[x_i (w.x)^3] - 3 (C w)_i (w.C w), without \
        building the D^4 tensor. --cumulant leading keeps the leading Hermite diagram \
        (two FFT convolutions, O(D log D); for skewed copula marginals also the chain diagrams, \
        three more); --cumulant full is the exact action, available for nlgp, copula:erf and \
        copula:sign. For elliptical inputs both methods give the exact \
        T = 3 (kappa - 1) (Sigma w)(w.Sigma w). The Gaussian clone (--clone) has T = 0.

        --w is a float64 .npy file with D values (shape (D,) or (1, D), lattice order).
        JSON keys (--json): D, inputs, method, clone, T, w_dot_T (= w.T(w) = sum K w^4). --out also \
        writes T as a (D,) .npy file.

        Example:
          convemerge sample --L 32 --n 1 --seed 1 --out w.npy
          convemerge cumulant --L 32 --w w.npy --cumulant full --json
          convemerge cumulant --L 32 --w w.npy --inputs copula:exponential --json
        """
    )

    @OptionGroup var input: InputOptions

    @Option(help: "Vector w: a float64 .npy file with D entries (required).")
    var w: String?

    @Option(help: "Evaluation of T(w): leading (leading diagram, O(D log D)) or full (exact).")
    var cumulant: CumulantMethod = .leading

    @Option(help: "Error bound on each cumulant entry of the full evaluation (0 < tolerance < 1; default: the library's, 1e-10).")
    var tolerance: Double?

    @Flag(help: "Use the Gaussian clone of the inputs (its fourth cumulant vanishes).")
    var clone = false

    @Option(help: "Also write T(w) to this .npy file.")
    var out: String?

    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        if let tolerance {
            try require(tolerance.isFinite && tolerance > 0 && tolerance < 1, flag: "--tolerance", "must be in (0, 1), got \(tolerance)")
        }
        if let out { try AtomicFile.requireTarget(out, flag: "--out") }
        let distribution = try InputDistribution(input.spec(clone: clone))
        let vector = try readVector(from: required(w, flag: "--w", "a .npy file with D entries"), flag: "--w", size: distribution.size)
        let operatorT = try tolerance.map { try FourthCumulant(distribution, method: cumulant, tolerance: $0) }
            ?? FourthCumulant(distribution, method: cumulant)
        let t = operatorT.action(vector)
        let projection = dot(vector, t)
        if let out { try NpyArray(shape: [t.count], values: t).write(to: out, flag: "--out") }

        if json {
            try Report.printJSON([
                "D": distribution.size,
                "inputs": distribution.spec.family.description,
                "method": cumulant.rawValue,
                "clone": clone,
                "T": Report.json(t),
                "w_dot_T": Report.json(projection),
            ])
            return
        }
        let norm = euclideanNorm(t)
        print(Report.describe(distribution.spec))
        print(Report.table([
            ["method", cumulant.rawValue],
            ["|T(w)|", Report.format(norm)],
            ["w.T(w)", Report.format(projection)],
        ]))
        print("\nT(w) by site:")
        print(Report.table([["site", "w_i", "T_i"]] + t.indices.map { [String($0), Report.format(vector[$0]), Report.format(t[$0])] }))
    }
}

/// A length-D vector from a .npy file of shape (D,) or (1, D) with finite entries.
func readVector(from path: String, flag: String, size: Int) throws -> [Double] {
    let array = try NpyArray.read(from: path, flag: flag)
    try require(array.values.count == size && array.shape.filter { $0 != 1 }.count <= 1, flag: flag,
                "'\(path)' has shape \(array.shape), expected \(size) values (shape (\(size),)) to match D")
    try require(array.values.allSatisfy(\.isFinite), flag: flag, "'\(path)' contains non-finite values")
    return array.values
}

extension CumulantMethod: ExpressibleByArgument {}
