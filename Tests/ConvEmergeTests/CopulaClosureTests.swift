import ConvEmerge
import Foundation
import XCTest

/// The closures and samplers on Gaussian-copula inputs (derivations/copula-inputs.md,
/// "Closures on copula inputs").
final class CopulaClosureTests: XCTestCase {
    private func input(_ family: InputFamily, gain: Double = 3, length: Int = 16) throws -> InputSpec {
        try InputSpec(lattice: Lattice(dimension: 1, length: length), kernel: Kernel(shape: .gaussian, correlationLength: 2),
                      gain: gain, family: family)
    }

    private func task(_ family: InputFamily, gain: Double = 3, kind: TaskKind = .xi) throws -> TaskSpec {
        let base = try input(family, gain: gain)
        return kind == .xi
            ? try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
            : try TaskSpec.clone(base: base, prior1: 0.5, targets: [0, 1])
    }

    private let neuron = try! NeuronSpec(activation: .relu, bias: 0)

    /// copula:erf:g is the NLGP at gain g through every closure, bit for bit: the copula spelling
    /// reaches the same psi_g, Hermite coefficients, Plackett table and sampler (the copula
    /// spec's own `gain` field, 3 here, is not read).
    func testErfCopulaSolvesExactlyLikeTheNLGP() throws {
        let g = 1.5
        let closures: [ClosureSpec] = try [
            ClosureSpec(kind: .gaussian), ClosureSpec(kind: .cumulant, cumulantMethod: .leading),
            ClosureSpec(kind: .cumulant, cumulantMethod: .full), ClosureSpec(kind: .conditional),
            ClosureSpec(kind: .montecarlo, monteCarloSamples: 500, monteCarloSeed: 4),
        ]
        for kind in [TaskKind.xi, .clone] {
            let nlgp = try task(.nlgp, gain: g, kind: kind), copula = try task(.copula(.erf(gain: g)), kind: kind)
            for closure in closures {
                let integrator = try IntegratorSpec.suited(to: closure.kind, tMax: 3, saves: 4)
                func trajectory(_ task: TaskSpec) throws -> [[Double]] {
                    try SolveJob.run(SolveParameters(task: task, neuron: neuron, closure: closure, integrator: integrator,
                                                     learningRate: 1, initialization: .random(scale: 0.3, seed: 2)))
                        .trajectory.weights
                }
                let expected = try trajectory(nlgp)
                XCTAssertEqual(expected.count, 4)
                XCTAssertEqual(try trajectory(copula), expected, "\(kind) \(closure.kind) \(closure.cumulantMethod)")
            }
        }
    }

    /// The montecarlo closure's fixed sample is the family's: at a fixed w its class drift
    /// sqrt(D) E[x h(w.x/sqrt D)] agrees with an independent estimate from `sample`d inputs
    /// within 4 combined standard errors in every component, for laplace and exponential.
    func testMonteCarloClosureMatchesAnIndependentSample() throws {
        for family in [InputFamily.copula(.laplace), .copula(.exponential)] {
            let task = try task(family)
            let d = task.dimension, n = 20000
            let w = ClosureErrorStudy.probe(.random, dimension: d, lattice: task.lattice, seed: 3)
            let signal = neuron.errorSignal(target: task.targets[1])
            // Class 1's fixed sample exactly as the flow draws it (seed 1, stream 1).
            var closureRNG = Xoshiro256(seed: 1, stream: 1)
            let closure = try MonteCarloClosure(distribution: InputDistribution(task.classes[1]), signal: signal, samples: n, rng: &closureRNG)
            var drift = [Double](repeating: 0, count: d)
            w.withUnsafeBufferPointer { input in drift.withUnsafeMutableBufferPointer { closure.drift(input.baseAddress!, into: $0.baseAddress!) } }
            let closureError = w.withUnsafeBufferPointer { closure.driftStandardError($0.baseAddress!) }
            let flow = try GradientFlow(task: task, neuron: neuron,
                                        closure: ClosureSpec(kind: .montecarlo, monteCarloSamples: n, monteCarloSeed: 1), learningRate: 1)
            XCTAssertEqual(flow.classDrifts(w)[1], drift, "the flow's class-1 sample")
            var rng = Xoshiro256(seed: 99)
            let x = try InputDistribution(task.classes[1]).sample(count: n, rng: &rng)
            var sum = [Double](repeating: 0, count: d), squares = sum
            let root = Double(d).squareRoot()
            for m in 0..<n {
                let row = x[(m * d)..<((m + 1) * d)]
                let h = signal(zip(row, w).reduce(0) { $0 + $1.0 * $1.1 } / root)
                for (i, value) in row.enumerated() {
                    sum[i] += root * h * value
                    squares[i] += (root * h * value) * (root * h * value)
                }
            }
            for i in 0..<d {
                let mean = sum[i] / Double(n)
                let error = ((squares[i] / Double(n) - mean * mean) / Double(n)).squareRoot()
                XCTAssertEqual(drift[i], mean, accuracy: 4 * (error * error + closureError[i] * closureError[i]).squareRoot(),
                               "\(family), site \(i)")
            }
        }
    }

    /// On laplace and uniform inputs (excess kurtosis 3 and -1.2) the leading-cumulant closure
    /// is nearer the Monte Carlo right-hand side than the gaussian one, at both probes: measured
    /// (D = 16, 4e5 inputs per class) laplace 0.021 vs 0.064 (random) and 0.017 vs 0.045
    /// (localised), uniform 0.016 vs 0.044 and 0.007 vs 0.036, relative to sum_c p_c |g_c|;
    /// the gaussian closure's error is resolved (more than 3 times the reference's noise).
    func testLeadingCumulantBeatsGaussianClosureOnCopulas() throws {
        for marginal in [CopulaMarginal.laplace, .uniform] {
            let rows = try ClosureErrorStudy.table(tasks: [task(.copula(marginal))], neuron: neuron, samples: 400_000, seed: 1)
            XCTAssertEqual(Set(rows.map(\.closure)), ["gaussian", "cumulant-leading", "conditional"], "no full cumulant on a copula")
            XCTAssertTrue(rows.allSatisfy { $0.gain == nil && $0.inputs == "copula:\(marginal)" })
            for probe in ["random", "localised"] {
                func error(_ closure: String) -> ClosureErrorStudy.Row { rows.first { $0.probe == probe && $0.closure == closure }! }
                let gaussian = error("gaussian"), leading = error("cumulant-leading")
                XCTAssertGreaterThan(gaussian.relativeError, 3 * gaussian.monteCarloNoise, "\(marginal) \(probe)")
                XCTAssertLessThan(leading.relativeError, 0.6 * gaussian.relativeError, "\(marginal) \(probe)")
            }
        }
    }

    /// On the skewed exponential the gaussian closure misses the third cumulant (measured 0.41 and
    /// 0.38 of sum_c p_c |g_c| at D = 16) while the conditional closure, which keeps the exact
    /// marginal, stays within 0.094 and 0.057; cumulant-full is left out (no exact cumulant), the
    /// leading cumulant closure has the third cumulant (ThirdCumulantTests).
    func testConditionalClosureKeepsTheSkewness() throws {
        let rows = try ClosureErrorStudy.table(tasks: [task(.copula(.exponential))], neuron: neuron, samples: 100_000, seed: 1)
        XCTAssertEqual(Set(rows.map(\.closure)), ["gaussian", "cumulant-leading", "conditional"])
        for probe in ["random", "localised"] {
            func error(_ closure: String) -> Double { rows.first { $0.probe == probe && $0.closure == closure }!.relativeError }
            XCTAssertGreaterThan(error("gaussian"), 0.25, probe)
            XCTAssertLessThan(error("conditional"), 0.5 * error("gaussian"), probe)
        }
    }

    /// Where a closure is not defined the refusal is one line naming the flag: full on a non-erf
    /// marginal, the skewed one included; the Gaussian clone of a copula has no cumulants, so
    /// every closure takes it.
    func testClosuresRefusedWhereUndefined() throws {
        let skewed = try task(.copula(.exponential))
        XCTAssertThrowsError(try ClosureSpec(kind: .cumulant, cumulantMethod: .full).requireApplicable(to: skewed)) { error in
            guard case let ConvEmergeError.invalidInput(flag, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(flag, "--cumulant")
        }
        XCTAssertThrowsError(try ClosureSpec(kind: .cumulant, cumulantMethod: .full).requireApplicable(to: task(.copula(.laplace)))) { error in
            guard case let ConvEmergeError.invalidInput(flag, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(flag, "--cumulant")
        }
        let control = try TaskSpec.xi(base: input(.copula(.exponential)), xi0: 0.5, xi1: 2, gaussianControl: true,
                                      prior1: 0.5, targets: [0, 1])
        for kind in ClosureKind.allCases { XCTAssertNoThrow(try ClosureSpec(kind: kind, cumulantMethod: .full).requireApplicable(to: control)) }
        for kind in [ClosureKind.gaussian, .cumulant, .conditional, .montecarlo] {
            XCTAssertNoThrow(try GradientFlow(task: skewed, neuron: neuron, closure: ClosureSpec(kind: kind, monteCarloSamples: 100),
                                              learningRate: 1))
        }
    }

    /// The simulation's samplers draw the copula: empirical covariance at lags 0 ... 3 within
    /// 4 standard errors of C for the fast and exact samplers (laplace and exponential), and the
    /// fast sampler's psi is the exact psi (bound 0 for a copula; the NLGP's table erf within
    /// 1.1e-16 / sqrt(gamma) plus round-off).
    func testSimulationSamplersDrawTheCopula() throws {
        for family in [InputFamily.copula(.laplace), .copula(.exponential)] {
            let spec = try input(family, length: 24)
            let distribution = try InputDistribution(spec)
            let lattice = spec.lattice, d = lattice.size, n = 40000
            for mode in [SamplerMode.fast, .exact] {
                let sampler = try SimulationSampler(distribution, mode: mode)
                var rng = Xoshiro256(seed: 5)
                var x = [Double](repeating: 0, count: d)
                var sums = [Double](repeating: 0, count: 4), squares = sums
                for _ in 0..<n {
                    x.withUnsafeMutableBufferPointer { sampler.sample(into: $0.baseAddress!, rng: &rng) }
                    for lag in 0..<4 {
                        // The translation average of one draw: one number per draw, so the draws stay independent.
                        let product = (0..<d).reduce(0) { $0 + x[$1] * x[lattice.translate($1, by: lag)] } / Double(d)
                        sums[lag] += product
                        squares[lag] += product * product
                    }
                }
                for lag in 0..<4 {
                    let mean = sums[lag] / Double(n)
                    let error = ((squares[lag] / Double(n) - mean * mean) / Double(n)).squareRoot()
                    XCTAssertEqual(mean, distribution.covariance.element(0, lattice.translate(0, by: lag)), accuracy: 4 * error,
                                   "\(family) \(mode) lag \(lag)")
                }
            }
        }
        let latent = stride(from: -8.0, through: 8.0, by: 0.01).map { $0 }
        for (family, bound) in [(InputFamily.copula(.laplace), 0.0), (.copula(.student(nu: 6)), 0), (.nlgp, 4e-16)] {
            let distribution = try InputDistribution(input(family, gain: 2, length: latent.count))
            var x = latent
            try x.withUnsafeMutableBufferPointer { try SimulationSampler(distribution, mode: .fast).applyFastNonlinearity($0.baseAddress!) }
            for (z, value) in zip(latent, x) { XCTAssertEqual(value, distribution.marginal(z), accuracy: bound, "\(family) at z = \(z)") }
        }
    }
}
