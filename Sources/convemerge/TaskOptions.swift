import ArgumentParser
import ConvEmerge

/// Flags that define the discrimination task and the neuron (SPEC §2), shared by
/// `solve`, `simulate`, `closure-error`, `instability` and `phase`.
struct TaskOptions: ParsableArguments {
    @Option(help: "Task: xi (the --inputs family at xi0 vs at xi1) or clone (the family at --xi, class 1, vs its Gaussian clone N(0, C), class 0). --inputs data:FILE.npy sets it: clone for one file, data (class c = file c) for two.")
    var task: TaskKind = .xi

    @Option(help: "Correlation length of class 0 for --task xi, in (0, L/2].")
    var xi0: Double = 0.5

    @Option(help: "Correlation length of class 1 for --task xi, in (0, L/2].")
    var xi1: Double = 2

    @Flag(help: "Gaussian control for --task xi: both classes become Gaussian clones (same covariances).")
    var gaussian = false

    @Option(help: "Prior probability p1 of class 1, in (0, 1).")
    var p1: Double = 0.5

    @Option(help: "Targets y0,y1 of the two classes (finite, |y| <= 1e6).", transform: TaskOptions.parseTargets)
    var targets: [Double] = [0, 1]

    @Option(help: "Activation sigma of the neuron: relu, erf, tanh, sigmoid, linear, quadratic.")
    var activation: ActivationKind = .relu

    @Option(help: "Fixed bias b of the neuron: yhat = sigma(w.x/sqrt D + b), |b| <= 1e6.")
    var bias: Double = 0

    static func parseTargets(_ text: String) throws -> [Double] {
        try parseNumberList(text, flag: "--targets", expected: "two finite numbers y0,y1 with |y| <= 1e6 (e.g. 0,1)", count: 2) {
            $0.isFinite && abs($0) <= ParameterBound.magnitude
        }
    }

    func taskSpec(input: InputOptions) throws -> TaskSpec {
        if let files = try input.dataReferences() {
            try require(task == .xi || task == (files.count == 1 ? .clone : .data), flag: "--task",
                        "--inputs data: with \(files.count) file\(files.count == 1 ? "" : "s") is the \(files.count == 1 ? "clone" : "data") task, got \(task.rawValue)")
            for (flag, given) in [("--xi0", xi0 != 0.5), ("--xi1", xi1 != 2), ("--gaussian", gaussian)] {
                try require(!given, flag: flag, "applies to --task xi, not to --inputs data:FILE.npy")
            }
            return try TaskSpec.data(base: input.dataBaseSpec(), files: files, prior1: p1, targets: targets)
        }
        let base = try input.spec()
        switch task {
        case .data:
            throw ConvEmergeError.invalidInput(flag: "--task", message: "data is set by --inputs data:A.npy,B.npy; with \(input.inputs) use xi or clone")
        case .xi:
            return try TaskSpec.xi(base: base, xi0: xi0, xi1: xi1, gaussianControl: gaussian, prior1: p1, targets: targets)
        case .clone:
            try require(!gaussian, flag: "--gaussian", "applies to --task xi only")
            return try TaskSpec.clone(base: base, prior1: p1, targets: targets)
        }
    }

    func neuronSpec() throws -> NeuronSpec { try NeuronSpec(activation: activation, bias: bias) }
}

/// Flags of the closure, shared by the theory commands.
struct ClosureOptions: ParsableArguments {
    @Option(help: "Closure of the input expectations: gaussian, cumulant (fourth cumulant; plus the third for skewed marginals), conditional, montecarlo, or lufkin (Lufkin et al.'s reduced relu model, bias 0). K units (--model committee|twolayer) take gaussian (their default), cumulant or montecarlo.")
    var closure: ClosureKind = .cumulant

    @Option(help: "Fourth-cumulant action for --closure cumulant: leading (O(D log D)) or full (exact to 1e-10: a tabulated 4-point kernel, O(D x table) per call).")
    var cumulant: CumulantMethod = .leading

    @Option(name: .customLong("mc-samples"), help: "Inputs per class in the fixed sample of --closure montecarlo (1 ... 5e7, memory permitting).")
    var monteCarloSamples: Int = 20000

    @Option(name: .customLong("mc-seed"), help: "Seed of the fixed Monte Carlo sample (0 ... 2^64-1).")
    var monteCarloSeed: UInt64 = 1

    @Option(name: .customLong("mc-precision"), help: "Storage of the montecarlo sample: double, or float (half the memory and bytes read; right-hand side within ~1e-7 relative, far below its Monte Carlo error).")
    var monteCarloPrecision: MonteCarloPrecision = .double

    func spec() throws -> ClosureSpec {
        try ClosureSpec(kind: closure, cumulantMethod: cumulant, monteCarloSamples: monteCarloSamples, monteCarloSeed: monteCarloSeed,
                        monteCarloPrecision: monteCarloPrecision)
    }

    /// K units default to gaussian, the one closure defined for every input family: their cumulant
    /// closure takes nlgp and odd copulas only (derivations/committee-closures.md §5).
    func committeeSpec() throws -> ClosureSpec {
        var options = self
        if !Simulate.typed("--closure") { options.closure = .gaussian }
        return try options.spec()
    }
}

extension TaskKind: ExpressibleByArgument {}
extension ActivationKind: ExpressibleByArgument {}
extension ClosureKind: ExpressibleByArgument {}
extension Stepper: ExpressibleByArgument {}
extension MonteCarloPrecision: ExpressibleByArgument {}
