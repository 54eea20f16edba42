import ArgumentParser
import ConvEmerge

extension PhaseEngine: ExpressibleByArgument {}

/// The flags of `simulate` that `phase --engine sgd` holds fixed over the grid. Optional to the
/// parser, so that one given to an ODE sweep is refused rather than silently ignored.
struct PhaseNetworkOptions: ParsableArguments {
    @Option(help: "--engine sgd: the network: neuron, committee, twolayer or cnn (as in simulate; default committee).") var model: ModelKind?
    @Option(name: .customLong("K"), help: "--engine sgd: hidden units or CNN channels, 1 ... 4096 (default 8; 1 for neuron).") var hiddenUnits: Int?
    @Option(name: .customLong("kernel-size"), help: "--engine sgd, --model cnn: filter size s (1 ... L).") var kernelSize: Int?
    @Option(help: "--engine sgd: batch size, 1 ... 1000000 (default 1).") var batch: Int?
    @Option(help: "--engine sgd: SGD replicas per cell, 1 ... 10000 (default 2); mean and standard deviation are over them.") var seeds: Int?
    @Option(help: "--engine sgd: input sampler fast, exact or dense (default fast).") var sampler: SamplerMode?
    @Option(name: .customLong("test-samples"), help: "--engine sgd: held-out inputs per class for the accuracy, 1 ... 1e7 (default 1000).") var testSamples: Int?
    @Option(name: .customLong("null-samples"), help: "--engine sgd: random-centre draws for the tiling p-values, 100 ... 1000000 (default 1000).") var nullSamples: Int?
    @Option(help: "--engine sgd: a unit is localised when IPR > threshold x 3/(D+2), in [0, 1000] (default 2, as analyze).") var threshold: Double?

    /// The network of an sgd sweep, nil for the ODE (which refuses every flag above).
    func settings(engine: PhaseEngine) throws -> PhaseSimulationSettings? {
        guard engine == .sgd else {
            let given: [(String, Bool)] = [("--model", model != nil), ("--K", hiddenUnits != nil), ("--kernel-size", kernelSize != nil),
                                           ("--batch", batch != nil), ("--seeds", seeds != nil), ("--sampler", sampler != nil),
                                           ("--test-samples", testSamples != nil), ("--null-samples", nullSamples != nil),
                                           ("--threshold", threshold != nil)]
            if let flag = given.first(where: \.1)?.0 {
                throw ConvEmergeError.invalidInput(flag: flag, message: "applies to --engine sgd only (the ODE sweep has no network flags)")
            }
            return nil
        }
        let model = self.model ?? .committee
        return try PhaseSimulationSettings(
            model: model, hiddenUnits: hiddenUnits ?? (model == .neuron ? 1 : 8), kernelSize: kernelSize, batchSize: batch ?? 1,
            seeds: seeds ?? 2, sampler: sampler ?? .fast, testSamples: testSamples ?? 1000, nullSamples: nullSamples ?? 1000,
            threshold: threshold ?? 2)
    }
}
