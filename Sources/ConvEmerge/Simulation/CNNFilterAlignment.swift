import Foundation

/// CNN filters against fully-connected receptive fields (issue 4, study item 4):
/// a filter f (s values) is zero-padded to the ring and compared with an RF w (D values)
/// by the cosine maximised over circular shifts, so that where each RF sits does not matter
/// (derivations/cnn-baseline.md §4).
public enum FilterAlignment {
    /// f followed by D - s zeros.
    public static func embed(_ filter: [Double], dimension: Int) -> [Double] {
        precondition(filter.count <= dimension, "FilterAlignment: the filter is longer than the lattice")
        return filter + [Double](repeating: 0, count: dimension - filter.count)
    }

    public struct Match: Sendable, Hashable {
        public var filter: Int
        /// The receptive field that fits best.
        public var unit: Int
        /// max over shifts of cos(embedded filter, shifted RF).
        public var cosine: Double
        public var shift: Int
    }

    /// For each filter, the best-matching RF: max over RFs and circular shifts of the cosine
    /// (`Observables.maximalShiftedCosine`, signed: a filter matches an RF, not its negative).
    public static func bestMatches(filters: [[Double]], receptiveFields: [[Double]], lattice: Lattice) -> [Match] {
        precondition(lattice.dimension == 1, "FilterAlignment: ring only")
        precondition(!receptiveFields.isEmpty, "FilterAlignment: no receptive fields")
        return filters.enumerated().map { index, filter in
            let embedded = embed(filter, dimension: lattice.size)
            var best = Match(filter: index, unit: 0, cosine: -.infinity, shift: 0)
            for (unit, field) in receptiveFields.enumerated() {
                let (cosine, shift) = Observables.maximalShiftedCosine(embedded, field, lattice: lattice)
                if cosine > best.cosine { best = Match(filter: index, unit: unit, cosine: cosine, shift: shift) }
            }
            return best
        }
    }
}

/// Trains a committee (FC, K units) and a CNN (K channels, filter size s) on the same task
/// and compares each filter with the committee's RFs after alignment. A chance level comes
/// from K random Gaussian filters of the same size against the same RFs.
public enum FilterStudy {
    public struct Result: Sendable {
        /// Per filter (all seeds, seed-major), the best-match cosine with the RFs of the same seed.
        public var matches: [FilterAlignment.Match]
        public var meanSimilarity: Double
        /// The same for random N(0, 1) filters: what alignment alone gives.
        public var chanceSimilarity: Double
        public var committeeAccuracy: Double
        public var cnnAccuracy: Double
        public var committeeIpr: Double
        public var filterIpr: Double
        public var committee: SimulationResult
        public var cnn: SimulationResult
    }

    /// `committee` must be a committee run; the CNN uses the same task, neuron, K, eta, batch,
    /// time, seeds and initial scale (`initialization`, drawn for K x s weights).
    public static func run(committee: SimulationParameters, kernelSize: Int) throws -> Result {
        try require(committee.model == .committee || committee.model == .twolayer, flag: "--model",
                    "the filter study compares a CNN with a fully-connected committee, got \(committee.model.rawValue)")
        let cnnParameters = try SimulationParameters(
            task: committee.task, neuron: committee.neuron, model: .cnn, hiddenUnits: committee.hiddenUnits,
            learningRate: committee.learningRate, batchSize: committee.batchSize, seeds: committee.seeds,
            seed: committee.seed, tMax: committee.tMax, saves: committee.saves, logSpacedSaves: committee.logSpacedSaves,
            initialization: committee.initialization, testSamples: committee.testSamples, sampler: committee.sampler,
            kernelSize: kernelSize)
        let fc = try SimulationJob.run(committee)
        let cnn = try SimulationJob.run(cnnParameters)
        return compare(committee: fc, cnn: cnn)
    }

    /// The alignment of the final filters of `cnn` with the final RFs of `committee`, seed by seed.
    public static func compare(committee fc: SimulationResult, cnn: SimulationResult) -> Result {
        let lattice = fc.parameters.task.lattice
        let k = fc.parameters.hiddenUnits
        let seeds = min(fc.seedCount, cnn.seedCount)
        var matches: [FilterAlignment.Match] = [], chance: [Double] = []
        var rng = Xoshiro256(seed: cnn.parameters.seed, stream: 999)
        for seed in 0..<seeds {
            let fields = (0..<k).map { fc.weights(seed: seed, save: fc.saveCount - 1, unit: $0) }
            let filters = (0..<cnn.parameters.hiddenUnits).map { cnn.weights(seed: seed, save: cnn.saveCount - 1, unit: $0) }
            let alignment = ChanceLevel.filterAlignment(filters: filters, fields: fields, lattice: lattice, rng: &rng)
            matches += alignment.matches
            chance += alignment.chance
        }
        let mean = { (values: [Double]) in values.reduce(0, +) / Double(max(values.count, 1)) }
        func final(_ result: SimulationResult, _ column: String) -> Double {
            let table = result.meanObservables
            return table.rows.last![table.columns.firstIndex(of: column)!]
        }
        return Result(matches: matches, meanSimilarity: mean(matches.map(\.cosine)), chanceSimilarity: mean(chance),
                      committeeAccuracy: final(fc, "test_accuracy"), cnnAccuracy: final(cnn, "test_accuracy"),
                      committeeIpr: final(fc, "ipr"), filterIpr: final(cnn, "ipr"), committee: fc, cnn: cnn)
    }
}
