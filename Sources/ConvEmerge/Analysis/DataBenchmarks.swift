import Foundation

/// Cost of `--inputs data:` (issue 9): the statistics of `stats` against one pass over the same
/// file, and the montecarlo right-hand side on N data rows against the NLGP's on N samples
/// (both O(N D): the same cost is expected); and the exact statistics of each model family
/// (covariance by its Hermite series, kurtosis) against the NLGP's closed forms.
public enum DataBenchmarks {
    /// One family's model statistics: what `stats --inputs FAMILY` computes before printing.
    public struct FamilyCost: Codable, Sendable {
        public let family: String
        public let seconds: Double
        public let overNLGP: Double
    }

    public struct Report: Codable, Sendable {
        public let rows: Int
        public let dimension: Int
        /// Read + centre + covariance + pooled moments + S(w), T(w) at one probe: what `stats` computes.
        public let statisticsSeconds: Double
        /// Read + one sum over every value: the floor any statistic of the file pays.
        public let onePassSeconds: Double
        public let dataRightHandSideSeconds: Double
        public let nlgpRightHandSideSeconds: Double
        /// At D = `familyDimension`, nlgp first (ratio 1).
        public let familyDimension: Int
        public let families: [FamilyCost]
        public var statisticsOverOnePass: Double { statisticsSeconds / onePassSeconds }
        public var dataOverNLGPRightHandSide: Double { dataRightHandSideSeconds / nlgpRightHandSideSeconds }
    }

    /// `rows` NLGP samples (g = 1, xi = 2) on a ring of `dimension` sites, written to a scratch file.
    public static func run(rows: Int, dimension: Int, plan: BenchmarkPlan, progress: (String) -> Void = { _ in }) throws -> Report {
        let lattice = try Lattice(dimension: 1, length: dimension)
        let spec = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 1)
        var rng = Xoshiro256(seed: plan.seed)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("convemerge-bench-\(UUID().uuidString).npy").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let samples = try InputDistribution(spec).sample(count: rows, rng: &rng)
        try NpyArray(shape: [rows, dimension], values: samples).write(to: path)

        progress("stats on \(rows) x \(dimension) data rows vs one pass over the file")
        let probe = (0..<dimension).map { exp(-Double($0 * $0) / 4) }
        func best(_ body: () throws -> Void) rethrows -> Double {
            try (0..<max(1, plan.rounds)).map { _ in try Stopwatch.seconds(body) }.min()!
        }
        let statistics = try best {
            let data = try EmpiricalInputs.read(from: path, lattice: lattice)
            _ = data.covariance()
            _ = data.marginalMoments()
            _ = data.thirdCumulantAction(probe)
            _ = data.fourthCumulantAction(probe)
        }
        var sink = 0.0
        let onePass = try best { sink += try NpyArray.read(from: path, flag: "--inputs").values.reduce(0, +) }

        progress("montecarlo right-hand side on \(rows) data rows vs \(rows) NLGP samples")
        let reference = try DataSetReference.inspect(path: path, lattice: lattice, stationarity: .raw, signSymmetrised: false)
        let task = try TaskSpec.data(base: spec, files: [reference], prior1: 0.5, targets: [0, 1])
        let dataClass = try task.distributions()[1]
        let signal = ErrorSignal(activation: Activation(.relu), bias: 0, target: 1)
        var sampleRNG = Xoshiro256(seed: plan.seed, stream: 1)
        let onData = MonteCarloClosure(distribution: dataClass, signal: signal, samples: rows, rng: &sampleRNG)
        let onModel = MonteCarloClosure(distribution: try InputDistribution(spec), signal: signal, samples: rows, rng: &sampleRNG)
        var out = [Double](repeating: 0, count: dimension)
        let times = probe.withUnsafeBufferPointer { w in
            out.withUnsafeMutableBufferPointer { output in
                Stopwatch.compare(batchSeconds: plan.batchSeconds, rounds: plan.rounds,
                                  candidate: { onData.drift(w.baseAddress!, into: output.baseAddress!) },
                                  baseline: { onModel.drift(w.baseAddress!, into: output.baseAddress!) })
            }
        }
        precondition(sink.isFinite || sink.isNaN, "keeps the one-pass sum alive")
        let familyDimension = 16 * dimension
        progress("model statistics of each input family at D = \(familyDimension)")
        let families = try familyCosts(dimension: familyDimension, best: best)
        return Report(rows: rows, dimension: dimension, statisticsSeconds: statistics, onePassSeconds: onePass,
                      dataRightHandSideSeconds: times.candidate, nlgpRightHandSideSeconds: times.baseline,
                      familyDimension: familyDimension, families: families)
    }

    /// The input model (covariance, PSD check) and its marginal kurtosis, per family, on a ring.
    static func familyCosts(dimension: Int, best: (() throws -> Void) throws -> Double) throws -> [FamilyCost] {
        let lattice = try Lattice(dimension: 1, length: dimension)
        let names = ["nlgp", "copula:laplace", "copula:exponential", "copula:student:5", "elliptical:student:5"]
        let seconds = try names.map { name in
            let spec = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3,
                                     family: InputFamily(parsing: name))
            return try best { _ = try InputDistribution(spec).marginal.excessKurtosis() }
        }
        return zip(names, seconds).map { FamilyCost(family: $0, seconds: $1, overNLGP: $1 / seconds[0]) }
    }
}
