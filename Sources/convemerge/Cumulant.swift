import ArgumentParser
import ConvEmerge
import Foundation

struct Cumulant: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Action T(w) of the fourth-order input cumulant (or S(w) of the third) on a vector w.",
        discussion: """
        T(w)_i = sum_jkl K_ijkl w_j w_k w_l = E[x_i (w.x)^3] - 3 (C w)_i (w.C w), without \
        building the D^4 tensor. --cumulant leading keeps the leading Hermite diagram \
        (two FFT convolutions, O(D log D); for skewed copula marginals also the chain diagrams, \
        three more); --cumulant full is the exact action, available for nlgp, copula:erf and \
        copula:sign. For elliptical inputs both methods give the exact \
        T = 3 (kappa - 1) (Sigma w)(w.Sigma w). The Gaussian clone (--clone) has T = 0.

        --order 3 gives instead the third-cumulant action S(w)_i = sum_jk K_ijk w_j w_k = E[x_i (w.x)^2] \
        of a skewed marginal (copula:exponential): the leading Hermite trees by FFT, exact where sites \
        coincide (derivations/third-cumulant-closure.md); 0 for odd marginals and the clone. \
        --mc-samples N adds a Monte Carlo estimate of the same action from N inputs with its \
        standard errors, and the largest |z| = |action - estimate| / SE over sites.

        --w is a float64 .npy file with D values (shape (D,) or (1, D), lattice order).
        JSON keys (--json): D, inputs, method, order, clone, T, w_dot_T (= w.T(w) = sum K w^4) or, with \
        --order 3, S, w_dot_S; with --mc-samples also monte_carlo, standard_error, max_abs_z. --out \
        also writes the action as a (D,) .npy file.

        Example:
          convemerge sample --L 32 --n 1 --seed 1 --out w.npy
          convemerge cumulant --L 32 --w w.npy --cumulant full --json
          convemerge cumulant --L 32 --w w.npy --inputs copula:exponential --json
          convemerge cumulant --L 32 --w w.npy --inputs copula:exponential --order 3 --mc-samples 20000
        """
    )

    @OptionGroup var input: InputOptions

    @Option(help: "Vector w: a float64 .npy file with D entries (required).")
    var w: String?

    @Option(help: "Evaluation of T(w): leading (leading diagram, O(D log D)) or full (exact).")
    var cumulant: CumulantMethod = .leading

    @Option(help: "Error bound on each cumulant entry of the full evaluation (0 < tolerance < 1; default: the library's, 1e-10).")
    var tolerance: Double?

    @Option(help: "Cumulant order: 4 (T(w)) or 3 (S(w), the third cumulant of skewed marginals).")
    var order = 4

    @Option(name: .customLong("mc-samples"), help: "Also estimate the action by Monte Carlo from this many inputs (2 ... 50000000).")
    var monteCarloSamples: Int?

    @Option(help: "Seed of the Monte Carlo estimate.")
    var seed: UInt64 = 1

    @Flag(help: "Use the Gaussian clone of the inputs (its cumulants vanish).")
    var clone = false

    @Option(help: "Also write T(w) to this .npy file.")
    var out: String?

    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        if let tolerance {
            try require(tolerance.isFinite && tolerance > 0 && tolerance < 1, flag: "--tolerance", "must be in (0, 1), got \(tolerance)")
        }
        try require(order == 3 || order == 4, flag: "--order", "must be 3 or 4, got \(order)")
        try require(order == 4 || cumulant == .leading, flag: "--cumulant",
                    "full is the exact fourth cumulant; --order 3 has one evaluation (leading trees, exact coinciding sites): drop --cumulant full")
        if let monteCarloSamples {
            try require(monteCarloSamples >= 2 && monteCarloSamples <= 50_000_000, flag: "--mc-samples",
                        "must be in 2 ... 50000000, got \(monteCarloSamples)")
        }
        if let out { try AtomicFile.requireTarget(out, flag: "--out") }
        let distribution = try InputDistribution(input.spec(clone: clone))
        let vector = try readVector(from: required(w, flag: "--w", "a .npy file with D entries"), flag: "--w", size: distribution.size)
        let t: [Double]
        if order == 3 {
            t = distribution.isGaussian ? [Double](repeating: 0, count: distribution.size) : try ThirdCumulant(distribution).action(vector)
        } else {
            let operatorT = try tolerance.map { try FourthCumulant(distribution, method: cumulant, tolerance: $0) }
                ?? FourthCumulant(distribution, method: cumulant)
            t = operatorT.action(vector)
        }
        let reference = monteCarloSamples.map { n in
            order == 3 ? ThirdCumulant.monteCarloAction(distribution, w: vector, samples: n, seed: seed)
                : FourthCumulant.monteCarloAction(distribution, w: vector, samples: n, seed: seed)
        }
        let largestZ = reference.map { r in t.indices.map { abs(t[$0] - r.mean[$0]) / r.standardError[$0] }.max() ?? 0 }
        let projection = dot(vector, t)
        if let out { try NpyArray(shape: [t.count], values: t).write(to: out, flag: "--out") }
        let symbol = order == 3 ? "S" : "T"

        if json {
            var report: [String: Any] = [
                "D": distribution.size,
                "inputs": distribution.spec.family.description,
                "method": cumulant.rawValue,
                "order": order,
                "clone": clone,
                symbol: Report.json(t),
                "w_dot_\(symbol)": Report.json(projection),
            ]
            if let reference, let largestZ {
                report["monte_carlo"] = Report.json(reference.mean)
                report["standard_error"] = Report.json(reference.standardError)
                report["max_abs_z"] = Report.json(largestZ)
            }
            try Report.printJSON(report)
            return
        }
        print(Report.describe(distribution.spec))
        var summary = [["method", order == 3 ? "leading trees, exact coinciding sites" : cumulant.rawValue],
                       ["|\(symbol)(w)|", Report.format(euclideanNorm(t))],
                       ["w.\(symbol)(w)", Report.format(projection)]]
        if let reference, let largestZ {
            summary.append(["|\(symbol) - Monte Carlo| / |Monte Carlo|",
                            Report.format(euclideanNorm(zip(t, reference.mean).map { $0 - $1 }) / euclideanNorm(reference.mean))])
            summary.append(["max |z| over sites", Report.format(largestZ)])
        }
        print(Report.table(summary))
        print("\n\(symbol)(w) by site:")
        let header = ["site", "w_i", "\(symbol)_i"] + (reference == nil ? [] : ["Monte Carlo", "SE"])
        print(Report.table([header] + t.indices.map { i in
            [String(i), Report.format(vector[i]), Report.format(t[i])]
                + (reference.map { [Report.format($0.mean[i]), Report.format($0.standardError[i])] } ?? [])
        }))
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
