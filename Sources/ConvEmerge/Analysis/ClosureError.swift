import Foundation

/// How far each closure's right-hand side is from the Monte Carlo reference
/// (derivations/cumulant-closure.md, "Measuring a closure's error"):
/// the table a theorist needs before trusting a closure (issue 3, SPEC §3).
public enum ClosureErrorStudy {
    /// The built-in probe directions: a random w and a localised bump, both with |w|^2 = D.
    public enum Probe: String, Codable, CaseIterable, Sendable { case random, localised }

    /// A named weight vector at which the right-hand sides are compared.
    public struct ProbeVector: Sendable {
        public var name: String
        public var weights: [Double]
        public init(name: String, weights: [Double]) {
            self.name = name
            self.weights = weights
        }
    }

    public struct Row: Codable, Sendable {
        /// The `--inputs` family of the non-Gaussian classes.
        public var inputs: String
        /// The NLGP gain; nil for a copula, whose marginal carries its own parameters.
        public var gain: Double?
        public var probe: String
        public var closure: String
        /// |v_closure - v_mc| / sum_c p_c |g_c^mc|: the error relative to the scale of the
        /// right-hand side (not to |v_mc|, which vanishes at a fixed point of the flow).
        public var relativeError: Double
        /// Relative size of the Monte Carlo noise, sqrt(sum SE_i^2) / sum_c p_c |g_c^mc|: errors
        /// below about twice this are not resolved at this sample size.
        public var monteCarloNoise: Double
        /// |v_closure - v_mc| / |v_mc|: large near a fixed point, where v_mc is small.
        public var errorRelativeToVelocity: Double
        /// The error left after the reference's own noise is removed in quadrature,
        /// sqrt(max(0, error^2 - noise^2)): for independent noise E|v - v_mc|^2 =
        /// |v - v_true|^2 + E|v_mc - v_true|^2.
        public var excessError: Double {
            (max(0, relativeError * relativeError - monteCarloNoise * monteCarloNoise)).squareRoot()
        }
    }

    public static func probe(_ probe: Probe, dimension d: Int, lattice: Lattice, seed: UInt64) -> [Double] {
        var w: [Double]
        switch probe {
        case .random:
            var rng = Xoshiro256(seed: seed)
            w = (0..<d).map { _ in rng.nextGaussian() }
        case .localised:
            w = (0..<d).map { i in exp(-lattice.distanceFromOrigin(i) * lattice.distanceFromOrigin(i) / 2) }
        }
        let norm = euclideanNorm(w)
        return w.map { $0 * Double(d).squareRoot() / norm }
    }

    /// The closures compared: gaussian, cumulant (leading and full), conditional.
    public static let candidates: [(name: String, kind: ClosureKind, method: CumulantMethod)] = [
        ("gaussian", .gaussian, .leading), ("cumulant-leading", .cumulant, .leading),
        ("cumulant-full", .cumulant, .full), ("conditional", .conditional, .leading),
    ]

    /// One block of rows per task (e.g. one per gain); `samples` inputs per class for the
    /// reference. Candidates not defined on a task's inputs (`ClosureSpec.requireApplicable`:
    /// full on a non-erf copula) are left out of its rows.
    /// The probes are the built-in ones followed by `extraProbes` (e.g. a learned RF, used as
    /// given: its norm sets q, which the closures' accuracy depends on).
    public static func table(tasks: [TaskSpec], neuron: NeuronSpec,
                             samples: Int, seed: UInt64, includeFull: Bool = true, extraProbes: [ProbeVector] = [],
                             progress: ((Double) -> Void)? = nil) throws -> [Row] {
        var rows: [Row] = []
        for (index, task) in tasks.enumerated() {
            let inputs = task.classes[1].family
            let gain = inputs.isNLGP ? task.classes[1].gain : nil
            let distributions = try task.distributions()
            let reference = try ClosureSpec(kind: .montecarlo, monteCarloSamples: samples, monteCarloSeed: seed)
            let referenceFlow = try GradientFlow(task: task, neuron: neuron, closure: reference, learningRate: 1,
                                                 distributions: distributions)
            let applicable = try candidates.filter { includeFull || $0.method != .full || $0.kind != .cumulant }.compactMap { candidate in
                let spec = try ClosureSpec(kind: candidate.kind, cumulantMethod: candidate.method)
                return (try? spec.requireApplicable(to: task)) == nil ? nil : (candidate.name, spec)
            }
            let flows = try applicable.map { name, spec in
                (name, try GradientFlow(task: task, neuron: neuron, closure: spec, learningRate: 1, distributions: distributions))
            }
            let builtIn = Probe.allCases.map { probe in
                ProbeVector(name: probe.rawValue, weights: Self.probe(probe, dimension: task.dimension, lattice: task.lattice, seed: seed &+ 17))
            }
            for probe in builtIn + extraProbes {
                let w = probe.weights
                try require(w.count == task.dimension, flag: "--w", "the probe '\(probe.name)' has \(w.count) weights, the lattice has D = \(task.dimension)")
                let truth = referenceFlow.velocity(w)
                let noise = referenceFlow.monteCarloStandardError(w)
                // Near a fixed point the two classes' drifts cancel and |v_mc| -> 0, so errors
                // are measured against the scale of the right-hand side, sum_c p_c |g_c|.
                let scale = zip(task.priors, referenceFlow.classDrifts(w)).reduce(0) { $0 + $1.0 * euclideanNorm($1.1) }
                let noiseNorm = euclideanNorm(noise)
                for (name, flow) in flows {
                    let velocity = flow.velocity(w)
                    rows.append(Row(inputs: task.classes[1].dataSet.map { "data:\($0.path)" } ?? inputs.description, gain: gain, probe: probe.name, closure: name,
                                    relativeError: euclideanNorm(zip(velocity, truth).map { $0 - $1 }) / scale,
                                    monteCarloNoise: noiseNorm / scale,
                                    errorRelativeToVelocity: Observables.relativeDistance(velocity, truth)))
                }
            }
            progress?(Double(index + 1) / Double(tasks.count))
        }
        return rows
    }
}
