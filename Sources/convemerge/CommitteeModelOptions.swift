import ArgumentParser
import ConvEmerge

/// The K-unit model flags that `solve` and `instability` read as `simulate` does for its
/// fully-connected models (derivations/network-options.md).
struct CommitteeModelOptions: ParsableArguments {
    @Option(help: "Network: neuron (default), committee (K units, fixed readout) or twolayer (trained readout): the fully-connected models of simulate, with the same options below (simulate's cnn has no reduced theory).")
    var model: FullyConnectedModel = .neuron
    @Option(name: .customLong("K"), help: "Hidden units of --model committee|twolayer, 1 ... 4096 (default 8; 2 for instability, where K D <= 2048).")
    var hiddenUnits: Int?
    @Option(help: "Readout of --model committee: mf (1/K, default), lazy (1/sqrt K), conv (1); trained is --model twolayer.")
    var readout: ReadoutKind?
    @Flag(name: .customLong("train-bias"), inversion: .prefixedNo, help: "--model committee|twolayer: train the biases, at the first-layer rate / D (default: fixed).")
    var trainBias = false
    @Option(name: .customLong("bias-init"), help: "--model committee|twolayer: biases (initial ones with --train-bias): halves or one number for all, |b| <= 1e6; replaces --bias (default +b, -b, +b, ...).")
    var biasInit: String?
    @Option(help: "--model committee|twolayer: output heads, 1 (the only one the K-unit theory integrates).") var heads: Int?
    @Option(help: "--model committee|twolayer: loss, mse (the only one the K-unit theory integrates).") var loss: LossKind?
    @Option(help: "--model committee|twolayer: L1 decay rate of the first layer, dw/dt -= l1 sign(w), in [0, 1000] (default 0); solve then defaults to --stepper rk2 --rtol 1e-3 --atol 1e-4 (sign(w) is not smooth).") var l1: Double = 0
    @Option(help: "--model committee|twolayer: L2 decay rate of the first layer, dw/dt -= l2 w, in [0, 1000] (default 0).") var l2: Double = 0

    /// The K-unit model, its K and network options; nil for the neuron, which then must have
    /// none of the K-unit flags.
    func network(defaultUnits: Int) throws -> (model: ModelKind, units: Int, options: NetworkOptions)? {
        guard model != .neuron else {
            for (flag, given) in [("--K", hiddenUnits.map { $0 != 1 } ?? false), ("--readout", readout != nil), ("--train-bias", trainBias),
                                  ("--bias-init", biasInit != nil), ("--heads", heads != nil), ("--loss", loss != nil),
                                  ("--l1", l1 != 0), ("--l2", l2 != 0)] {
                try require(!given, flag: flag, "applies to --model committee|twolayer, not --model neuron")
            }
            return nil
        }
        try require(model != .twolayer || readout == nil || readout == .trained, flag: "--readout",
                    "--model twolayer is the trained readout; give --readout trained or no --readout, got \(readout?.rawValue ?? "")")
        let units = hiddenUnits ?? defaultUnits
        try require(units >= 1 && units <= 4096, flag: "--K", "must be in 1 ... 4096, got \(units)")
        let kind = readout == .trained ? ModelKind.twolayer : model.kind
        let options = try NetworkOptions(readout: readout ?? (kind == .twolayer ? .trained : .mf), trainBias: trainBias, biasInit: biasInit,
                                         heads: heads ?? 1, loss: loss ?? .mse, l1: l1, l2: l2)
        return (kind, units, options)
    }
}

/// The models `solve` and `instability` take: simulate's `ModelKind` without cnn, so that their
/// help lists, and their parser accepts, only these.
enum FullyConnectedModel: String, CaseIterable, ExpressibleByArgument {
    case neuron, committee, twolayer

    var kind: ModelKind { ModelKind(rawValue: rawValue)! }
}
