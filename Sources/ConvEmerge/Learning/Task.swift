import Foundation

/// The two standard discrimination tasks of SPEC §2.
public enum TaskKind: String, Codable, CaseIterable, Sendable {
    /// NLGP(xi0, g) vs NLGP(xi1, g); with the Gaussian control both classes are clones.
    case xi
    /// NLGP(xi, g) (class 1) vs its Gaussian clone GP(xi, g) (class 0): same
    /// covariance, only the higher cumulants differ.
    case clone
    /// Two data files (`--inputs data:A.npy,B.npy`): class 0 the rows of A, class 1 those of B.
    /// One data file is the `clone` task (class 1 its rows, class 0 their Gaussian clone).
    case data
}

/// Two classes of inputs with their priors and regression targets. Theory and
/// simulation both take this value, so they cannot drift apart.
public struct TaskSpec: Codable, Hashable, Sendable {
    public let kind: TaskKind
    /// Class c's input model, c = 0, 1.
    public let classes: [InputSpec]
    /// Prior p_1 of class 1 (p_0 = 1 - p_1).
    public let prior1: Double
    /// Targets y_0, y_1.
    public let targets: [Double]
    /// Only for the `xi` task: both classes replaced by their Gaussian clones.
    public let gaussianControl: Bool

    public var priors: [Double] { [1 - prior1, prior1] }
    public var lattice: Lattice { classes[0].lattice }
    public var dimension: Int { lattice.size }

    /// The `xi` task: class c has correlation length xi_c; `base` supplies the
    /// lattice, kernel shape, jitter and gain.
    public static func xi(base: InputSpec, xi0: Double, xi1: Double, gaussianControl: Bool,
                          prior1: Double, targets: [Double]) throws -> TaskSpec {
        let zero = try attributing("--xi", to: "--xi0") { try base.with(correlationLength: xi0).asGaussianClone(gaussianControl) }
        let one = try attributing("--xi", to: "--xi1") { try base.with(correlationLength: xi1).asGaussianClone(gaussianControl) }
        return try TaskSpec(kind: .xi, classes: [zero, one], prior1: prior1, targets: targets, gaussianControl: gaussianControl)
    }

    /// Each class's input distribution. A covariance that is not positive semidefinite is
    /// blamed on --xi0 / --xi1 for the `xi` task, whose classes take those lengths.
    public func distributions() throws -> [InputDistribution] {
        if classes.contains(where: { $0.dataSet != nil }) {
            // One load per file: the clone task's two classes share theirs.
            var loaded: [String: LoadedDataSet] = [:]
            return try classes.map { spec in
                let reference = spec.dataSet!
                let data = try loaded[reference.path] ?? LoadedDataSet.load(path: reference.path, lattice: spec.lattice,
                                                                             stationarity: reference.stationarity,
                                                                             signSymmetrised: reference.signSymmetrised,
                                                                             augmentation: reference.augmentation)
                try require(data.reference.checksum == reference.checksum, flag: "--inputs",
                            "'\(reference.path)' has changed since the run was set up (checksum \(data.reference.checksum), recorded \(reference.checksum))")
                loaded[reference.path] = data
                return try InputDistribution(spec, data: data)
            }
        }
        return try classes.indices.map { c in
            try attributing("--xi", to: kind == .xi ? "--xi\(c)" : "--xi") { try InputDistribution(classes[c]) }
        }
    }

    /// The `clone` task on `base`'s correlation length: class 0 Gaussian clone, class 1 NLGP.
    public static func clone(base: InputSpec, prior1: Double, targets: [Double]) throws -> TaskSpec {
        try TaskSpec(kind: .clone, classes: [base.asGaussianClone(true), base.asGaussianClone(false)],
                     prior1: prior1, targets: targets, gaussianControl: false)
    }

    /// The task on data files (derivations/data-inputs.md): one file, the `clone` task (class 1
    /// its rows, class 0 N(0, C) of its empirical covariance); two, the `data` task (class c the
    /// rows of file c). `base` supplies the lattice (the kernel and gain are not read).
    public static func data(base: InputSpec, files: [DataSetReference], prior1: Double, targets: [Double]) throws -> TaskSpec {
        try require(files.count == 1 || files.count == 2, flag: "--inputs", "takes one or two files, data:FILE.npy[,FILE.npy], got \(files.count)")
        var spec = base
        spec.family = .data
        func dataClass(_ file: DataSetReference, clone: Bool) -> InputSpec {
            var copy = spec
            copy.dataSet = file
            copy.isGaussianClone = clone
            return copy
        }
        let classes = files.count == 1 ? [dataClass(files[0], clone: true), dataClass(files[0], clone: false)]
                                       : [dataClass(files[0], clone: false), dataClass(files[1], clone: false)]
        return try TaskSpec(kind: files.count == 1 ? .clone : .data, classes: classes, prior1: prior1, targets: targets, gaussianControl: false)
    }

    /// Whether the classes are rows of data files (or their clone).
    public var usesData: Bool { classes.contains { $0.dataSet != nil } }

    private init(kind: TaskKind, classes: [InputSpec], prior1: Double, targets: [Double], gaussianControl: Bool) throws {
        try require(prior1.isFinite && prior1 > 0 && prior1 < 1, flag: "--p1", "must be in (0, 1), got \(prior1)")
        try require(targets.count == 2 && targets.allSatisfy { $0.isFinite && abs($0) <= ParameterBound.magnitude }, flag: "--targets",
                    "must be two finite numbers y0,y1, got \(targets)")
        self.kind = kind
        self.classes = classes
        self.prior1 = prior1
        self.targets = targets
        self.gaussianControl = gaussianControl
    }
}

/// A single neuron yhat = sigma(w.x / sqrt D + b) with a fixed bias (SPEC §2).
public struct NeuronSpec: Codable, Hashable, Sendable {
    public let activation: ActivationKind
    public let bias: Double

    public init(activation: ActivationKind, bias: Double) throws {
        try requireMagnitude(bias, flag: "--bias")
        self.activation = activation
        self.bias = bias
    }

    /// h_c(lambda) = (y_c - sigma(lambda + b)) sigma'(lambda + b), minus the
    /// derivative of the squared loss for class c.
    public func errorSignal(target: Double) -> ErrorSignal {
        ErrorSignal(activation: Activation(activation), bias: bias, target: target)
    }
}

extension ErrorSignal {
    /// The per-input loss (y - sigma(lambda + b))^2 / 2 whose minus derivative this signal is.
    @inlinable
    public func loss(_ lambda: Double) -> Double {
        let error = target - activation.value(lambda + bias)
        return 0.5 * error * error
    }

    /// (1/2) E[(y - sigma(lambda + b))^2] for lambda ~ N(0, q): the loss of the closures that keep
    /// lambda's marginal Gaussian (conditional, lufkin).
    public func gaussianLoss(variance q: Double, expectation: GaussianExpectation = GaussianExpectation()) -> Double {
        let signal = self
        return expectation.smoothedMean(of: { signal.loss($0) }, breakpoints: discontinuities,
                                        transitions: transitions, mean: 0, variance: q)
    }
}

extension ErrorSignal {
    /// E[h(lambda)] for lambda ~ N(mean, variance) in closed form where one exists
    /// (relu, linear), nil otherwise. With a = lambda + b ~ N(m, s^2), m = mean + b:
    /// relu: E[(y - a) Theta(a)] = (y - m) Phi(m/s) - s phi(m/s); linear: y - m.
    /// Derivation: derivations/conditional-closure.md (the inner integral).
    @inlinable
    public func closedFormMean(mean: Double, variance: Double) -> Double? {
        let m = mean + bias
        switch activation.kind {
        case .linear:
            return target - m
        case .relu:
            let s = variance.squareRoot()
            guard s > 0 else { return m > 0 ? target - m : 0 }
            let z = m / s
            let cdf = 0.5 * erfc(-z / 2.0.squareRoot())
            let pdf = exp(-0.5 * z * z) / (2 * Double.pi).squareRoot()
            return (target - m) * cdf - s * pdf
        default:
            return nil
        }
    }
}
