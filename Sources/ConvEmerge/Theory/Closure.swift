import Foundation

/// How the input expectations in the gradient flow are closed (SPEC §3).
public enum ClosureKind: String, Codable, CaseIterable, Sendable {
    /// Stein's lemma on a Gaussian with the true covariance: exact for GP inputs.
    case gaussian
    /// Consistent Edgeworth expansion: first order in the fourth cumulant, and for skewed
    /// classes second order in the third (derivations/third-cumulant-closure.md).
    case cumulant
    /// lambda | x_i Gaussian, x_i with its exact marginal (Lufkin et al.).
    case conditional
    /// A fixed Monte Carlo sample of inputs per class: the reference.
    case montecarlo
    /// Lufkin et al.'s reduced relu model: the marginal's amplifier phi(a), Stein for the rest.
    case lufkin
}

/// The full choice of closure, one value for the manifest.
public struct ClosureSpec: Codable, Hashable, Sendable {
    public var kind: ClosureKind
    /// For `cumulant`: how T(w) is evaluated.
    public var cumulantMethod: CumulantMethod
    /// For `montecarlo`: inputs per class and the seed of the fixed sample.
    public var monteCarloSamples: Int
    public var monteCarloSeed: UInt64
    /// For `montecarlo`: how the sample is stored (derivations/monte-carlo-closure.md, "Float sample").
    public var monteCarloPrecision: MonteCarloPrecision

    public init(kind: ClosureKind, cumulantMethod: CumulantMethod = .leading,
                monteCarloSamples: Int = 20000, monteCarloSeed: UInt64 = 1,
                monteCarloPrecision: MonteCarloPrecision = .double) throws {
        try require(monteCarloSamples >= 1 && monteCarloSamples <= 50_000_000, flag: "--mc-samples",
                    "must be in 1 ... 50000000, got \(monteCarloSamples)")
        self.kind = kind
        self.cumulantMethod = cumulantMethod
        self.monteCarloSamples = monteCarloSamples
        self.monteCarloSeed = monteCarloSeed
        self.monteCarloPrecision = monteCarloPrecision
    }

    private enum CodingKeys: String, CodingKey {
        case kind, cumulantMethod, monteCarloSamples, monteCarloSeed, monteCarloPrecision
    }

    /// Manifests written before `monteCarloPrecision` existed read as double.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(kind: container.decode(ClosureKind.self, forKey: .kind),
                      cumulantMethod: container.decode(CumulantMethod.self, forKey: .cumulantMethod),
                      monteCarloSamples: container.decode(Int.self, forKey: .monteCarloSamples),
                      monteCarloSeed: container.decode(UInt64.self, forKey: .monteCarloSeed),
                      monteCarloPrecision: container.decodeIfPresent(MonteCarloPrecision.self, forKey: .monteCarloPrecision) ?? .double)
    }

    /// Refuses a closure that is not defined on some class of `task`, before anything is built
    /// (derivations/copula-inputs.md, "Closures on copula inputs"): `cumulant --cumulant full`
    /// needs the erf marginal's four-point function. Skewed marginals get the third-cumulant
    /// terms (derivations/third-cumulant-closure.md). Gaussian clones have no cumulant.
    /// `conditional` and `lufkin` assume lambda | x_i Gaussian, false for elliptical inputs, whose
    /// x_i and lambda share the radial factor (derivations/elliptical-inputs.md, "Closures").
    public func requireApplicable(to task: TaskSpec) throws {
        if task.usesData { return try requireApplicableToData(task) }
        if kind == .conditional || kind == .lufkin {
            for input in task.classes where !input.isGaussianClone && input.family.radialLaw != nil {
                throw ConvEmergeError.invalidInput(flag: "--closure", message: "\(kind.rawValue) assumes lambda | x_i Gaussian, which fails for \(input.family) inputs (x_i and lambda share the radial factor); use gaussian, cumulant or montecarlo")
            }
        }
        guard kind == .cumulant else { return }
        for input in task.classes where !input.isGaussianClone {
            if cumulantMethod == .full {
                try require(input.family.hasExactCumulant, flag: "--cumulant",
                            "full (exact) needs the Plackett four-point function of the erf marginal (nlgp, copula:erf, copula:sign); use --cumulant leading for \(input.family)")
            }
        }
    }
}

extension ClosureSpec {
    /// derivations/data-inputs.md, "Closures on data": gaussian and montecarlo apply to any data
    /// set; cumulant with the empirical S(w) and T(w) (derivations/third-cumulant-closure.md);
    /// conditional assumes lambda | x_i Gaussian with a model marginal, which a data set has not.
    func requireApplicableToData(_ task: TaskSpec) throws {
        switch kind {
        case .gaussian, .montecarlo:
            return
        case .conditional, .lufkin:
            throw ConvEmergeError.invalidInput(flag: "--closure", message: "\(kind.rawValue) needs a model marginal with lambda | x_i Gaussian, which data:FILE.npy inputs do not have; use gaussian, cumulant or montecarlo")
        case .cumulant:
            try require(cumulantMethod == .leading, flag: "--cumulant",
                        "full needs the erf four-point function; data:FILE.npy inputs use their empirical T(w) (--cumulant leading)")
            for input in task.classes where !input.isGaussianClone {
                try require(input.dataSet?.augmentation == nil, flag: "--augment",
                            "the fourth cumulant of translated rows (T averaged over translations, O(N D^2)) is not implemented; use --closure gaussian or montecarlo")
            }
        }
    }
}

/// One class's contribution to the gradient flow: g_c(w) = sqrt(D) E_c[x h_c(w.x/sqrt D)],
/// so that dw/dt = eta sum_c p_c g_c(w) (derivations/gradient-flow.md).
/// Instances own their scratch space and are used from one thread at a time.
public protocol ClassExpectation: AnyObject {
    /// g_c(w), written into `out` (D doubles).
    func drift(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>)
    /// E_c[(y_c - sigma(lambda + b))^2] / 2 under the same closure.
    func loss(_ w: UnsafePointer<Double>) -> Double
}

/// Builds the closure's per-class expectations for a task and neuron.
public enum ClosureFactory {
    public static func make(_ closure: ClosureSpec, task: TaskSpec, neuron: NeuronSpec,
                            distributions: [InputDistribution]) throws -> [ClassExpectation] {
        try closure.requireApplicable(to: task)
        if closure.kind == .lufkin { try LufkinClosure.requireApplicable(to: neuron) }
        return try (0..<2).map { c -> ClassExpectation in
            let signal = neuron.errorSignal(target: task.targets[c])
            let distribution = distributions[c]
            switch closure.kind {
            case .gaussian:
                return GaussianClosure(distribution: distribution, signal: signal, cumulant: nil)
            case .cumulant:
                if distribution.isDataRows {
                    let data = distribution.dataSet!
                    // Sign-symmetrised rows have S = 0 exactly: no third-order terms, as for odd families.
                    return GaussianClosure(distribution: distribution, signal: signal, cumulant: nil, empiricalCumulant: data.statistics,
                                           empiricalSkew: !data.statistics.signSymmetrised)
                }
                let cumulant = distribution.isGaussian ? nil : try FourthCumulant(distribution, method: closure.cumulantMethod)
                // Odd families never build S(w): their closure stays exactly first order in T.
                let skewed = !distribution.isGaussian && !distribution.spec.family.isOdd
                let third = skewed ? try ThirdCumulant(distribution) : nil
                return GaussianClosure(distribution: distribution, signal: signal, cumulant: cumulant, thirdCumulant: third)
            case .conditional:
                return ConditionalClosure(distribution: distribution, signal: signal)
            case .montecarlo:
                // Each class gets its own stream of the seed: common random numbers across runs.
                var rng = Xoshiro256(seed: closure.monteCarloSeed, stream: c)
                return MonteCarloClosure(distribution: distribution, signal: signal, samples: closure.monteCarloSamples,
                                         precision: closure.monteCarloPrecision, rng: &rng)
            case .lufkin:
                return LufkinClosure(distribution: distribution, signal: signal)
            }
        }
    }
}
