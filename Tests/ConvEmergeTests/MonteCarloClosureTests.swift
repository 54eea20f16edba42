import ConvEmerge
import Foundation
import XCTest

/// The montecarlo closure's loops (derivations/monte-carlo-closure.md): fixed chunks give the
/// same bits on any number of threads, the one-pass loop is the previous one to rounding, the
/// float sample stays within its rounding bound, and the default tolerance's integration error
/// stays far below the sample's Monte Carlo noise.
final class MonteCarloClosureTests: XCTestCase {
    /// The default task (NLGP xi 0.5 vs 2, gain 3) on a ring of `length` sites.
    private func task(length: Int) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3)
        return try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
    }

    private func flow(length: Int, samples: Int, seed: UInt64 = 3, precision: MonteCarloPrecision = .double) throws -> GradientFlow {
        try GradientFlow(task: task(length: length), neuron: NeuronSpec(activation: .relu, bias: 0),
                         closure: ClosureSpec(kind: .montecarlo, monteCarloSamples: samples, monteCarloSeed: seed,
                                              monteCarloPrecision: precision),
                         learningRate: 1)
    }

    private func gaussianVector(_ d: Int, scale: Double, seed: UInt64) -> [Double] {
        var rng = Xoshiro256(seed: seed)
        return (0..<d).map { _ in scale * rng.nextGaussian() }
    }

    private func maximumRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).map { abs($0 - $1) }.max()! / b.map(abs).max()!
    }

    /// derivations/monte-carlo-closure.md, "One pass in fixed chunks": the chunks and their order
    /// depend on M only, so 1, 2, 3 or 7 threads and repeated calls give the same bits, for the
    /// C pass (the default) and the Swift one.
    func testChunkedRightHandSideIsBitIdenticalAcrossThreadCountsAndRuns() throws {
        for precision in MonteCarloPrecision.allCases {
            // 3001 rows: chunks of unequal size (46 or 47 rows), the dimension not a multiple of 4.
            let flow = try flow(length: 30, samples: 3001, precision: precision)
            for seed in 1...3 as ClosedRange<UInt64> {
                flow.monteCarloKernel = seed == 2 ? .chunked : .native
                let w = gaussianVector(30, scale: 1, seed: seed)
                flow.threads = 1
                let reference = flow.velocity(w)
                for threads in [1, 2, 3, 7] {
                    flow.threads = threads
                    for _ in 0..<3 {
                        let v = flow.velocity(w)
                        XCTAssertEqual(v.map(\.bitPattern), reference.map(\.bitPattern), "\(precision), \(threads) threads, w seed \(seed)")
                    }
                }
            }
        }
    }

    /// The one-pass loop sums the same terms in another order than the previous loop and the plain
    /// loop: the three agree to rounding (relative 1e-12 allows ~4000 ulps of accumulated reordering).
    func testOnePassMatchesThePreviousAndThePlainLoops() throws {
        for precision in MonteCarloPrecision.allCases {
            let flow = try flow(length: 37, samples: 4000, precision: precision)
            for seed in 1...3 as ClosedRange<UInt64> {
                let w = gaussianVector(37, scale: 1, seed: seed)
                flow.monteCarloKernel = .chunked
                let onePass = flow.velocity(w)
                for kernel in [MonteCarloKernel.previous, .plain, .plainC, .native] {
                    flow.monteCarloKernel = kernel
                    XCTAssertLessThan(maximumRelativeDifference(onePass, flow.velocity(w)), 1e-12, "\(kernel), \(precision), seed \(seed)")
                }
            }
        }
    }

    /// derivations/monte-carlo-closure.md, "C kernel": the C pass (the default) sums the same terms
    /// as the Swift one pass in another order within a row's dot product (8 lanes, not 2 x 4) and,
    /// on the fused variants, with one rounding per multiply-add: the same drift to rounding
    /// (relative 1e-13 of the largest component, ~500 ulps), for double and float samples.
    func testNativePassMatchesTheSwiftOnePass() throws {
        for precision in MonteCarloPrecision.allCases {
            let flow = try flow(length: 37, samples: 4000, precision: precision)
            for seed in 1...3 as ClosedRange<UInt64> {
                let w = gaussianVector(37, scale: 1, seed: seed)
                flow.monteCarloKernel = .native
                let native = flow.velocity(w)
                flow.monteCarloKernel = .chunked
                let swift = flow.velocity(w)
                XCTAssertLessThan(maximumRelativeDifference(native, swift), 1e-13, "\(precision), seed \(seed)")
                XCTAssertNotEqual(swift.map(abs).max()!, 0)
            }
        }
    }

    /// derivations/monte-carlo-closure.md, "C kernel": every instruction-set variant this CPU runs,
    /// called explicitly, gives the sum over rows of x h(w.x / sqrt D) of the plain-C `default`
    /// variant to 1e-13 relative, and both match the sum written out here; a bias and a dimension
    /// that is not a multiple of the 8 lanes exercise the shifted kink and the scalar tail.
    func testEveryInstructionSetVariantAgreesWithTheDefault() {
        let d = 45, count = 700, bias = 0.3, target = 1.0, scale = 1 / Double(d).squareRoot()
        let rows = gaussianVector(d * count, scale: 1, seed: 21), floats = rows.map(Float.init)
        let w = gaussianVector(d, scale: 1, seed: 22)
        func expected(_ x: [Double]) -> [Double] {
            var sum = [Double](repeating: 0, count: d)
            for m in 0..<count {
                let row = x[(m * d)..<((m + 1) * d)]
                let value = zip(row, w).reduce(0) { $0 + $1.0 * $1.1 } * scale + bias
                if value > 0 { for (i, x) in row.enumerated() { sum[i] += (target - value) * x } }
            }
            return sum
        }
        func pass(_ variant: KernelVariant, float: Bool) -> [Double] {
            var out = [Double](repeating: .nan, count: d)
            out.withUnsafeMutableBufferPointer { out in
                if float {
                    MonteCarloNativePass.reluPass(floats, count: count, dimension: d, w: w, preactivationScale: scale, bias: bias,
                                                  target: target, into: out.baseAddress!, variant: variant)
                } else {
                    MonteCarloNativePass.reluPass(rows, count: count, dimension: d, w: w, preactivationScale: scale, bias: bias,
                                                  target: target, into: out.baseAddress!, variant: variant)
                }
            }
            return out
        }
        XCTAssertTrue(KernelVariant.supported.contains(.portable))
        for float in [false, true] {
            let reference = pass(.portable, float: float)
            XCTAssertLessThan(maximumRelativeDifference(reference, expected(float ? floats.map(Double.init) : rows)), 1e-13, "float \(float)")
            for variant in KernelVariant.supported {
                let result = pass(variant, float: float)
                XCTAssertLessThan(maximumRelativeDifference(result, reference), 1e-13, "\(variant.name), float \(float)")
                XCTAssertEqual(pass(variant, float: float).map(\.bitPattern), result.map(\.bitPattern), "\(variant.name) repeatable")
            }
        }
    }

    /// derivations/monte-carlo-closure.md, "Float sample": for relu with target y, each component of
    /// g_float - g_double is bounded row by row by the rounding of x (2^-24 relative) and of lambda,
    /// with the whole |x| (|y| + |lambda| + delta) where a row may cross the kink; and the float
    /// error is far below the Monte Carlo standard error of the drift itself (< 1e-3 of it).
    func testFloatSampleStaysWithinItsRoundingBound() throws {
        let d = 40, samples = 5000, u = 1.0 / 16_777_216  // 2^-24
        let distribution = try InputDistribution(task(length: d).classes[1])
        for target in [1.0, 0.0] {
            let signal = ErrorSignal(activation: Activation(.relu), bias: 0, target: target)
            var rng = Xoshiro256(seed: 11, stream: 1)
            let double = MonteCarloClosure(distribution: distribution, signal: signal, samples: samples, rng: &rng)
            rng = Xoshiro256(seed: 11, stream: 1)
            let float = MonteCarloClosure(distribution: distribution, signal: signal, samples: samples, precision: .float, rng: &rng)
            rng = Xoshiro256(seed: 11, stream: 1)
            let x = distribution.sample(count: samples, rng: &rng)
            for seed in 1...3 as ClosedRange<UInt64> {
                let w = gaussianVector(d, scale: 1, seed: seed)
                let exact = drift(double, w), rounded = drift(float, w)
                var bound = [Double](repeating: 0, count: d), magnitude = bound
                for m in 0..<samples {
                    let row = x[(m * d)..<((m + 1) * d)]
                    let lambda = zip(row, w).reduce(0) { $0 + $1.0 * $1.1 } / Double(d).squareRoot()
                    let absoluteDot = zip(row, w).reduce(0) { $0 + abs($1.0 * $1.1) } / Double(d).squareRoot()
                    // Rounding of x to float, then the double rounding of three D-term sums in different
                    // orders (the float closure's, the double closure's, this one).
                    let delta = absoluteDot * (u * (1 + u) + 4 * Double(d) * 1.12e-16)
                    let h = lambda > 0 ? target - lambda : 0
                    let rowBound: Double
                    if abs(lambda) <= delta {
                        rowBound = (1 + u) * (abs(target) + abs(lambda) + delta) + abs(target) + abs(lambda)
                    } else {
                        rowBound = lambda > 0 ? u * (abs(h) + delta) + delta : 0
                    }
                    for (i, value) in row.enumerated() {
                        bound[i] += abs(value) * rowBound
                        magnitude[i] += abs(value * h)
                    }
                }
                let scale = Double(d).squareRoot() / Double(samples)
                let standardError = w.withUnsafeBufferPointer { double.driftStandardError($0.baseAddress!) }
                for i in 0..<d {
                    // Plus the double rounding of the M-term sums of both drifts.
                    let allowed = scale * (bound[i] + 1e-12 * magnitude[i])
                    XCTAssertLessThanOrEqual(abs(rounded[i] - exact[i]), allowed, "component \(i), target \(target), seed \(seed)")
                    XCTAssertLessThan(abs(rounded[i] - exact[i]), 1e-3 * standardError[i], "component \(i), target \(target), seed \(seed)")
                }
            }
        }
    }

    private func drift(_ closure: MonteCarloClosure, _ w: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { closure.drift(input.baseAddress!, into: $0.baseAddress!) }
        }
        return out
    }

    /// derivations/monte-carlo-closure.md, "Tolerance": the default rk2 at rtol 1e-3 / atol 1e-4
    /// moves the weights and IPR at every save by less than a quarter of the Monte Carlo noise of
    /// the run (the spread over independent samples) away from the previous default 1e-5 / 1e-6, with fewer
    /// right-hand sides (rkf45 at 1e-5 / 1e-6); the float sample's trajectory also stays far inside that noise.
    func testDefaultStepperErrorStaysWithinAQuarterOfTheMonteCarloNoise() throws {
        let samples = 1500, tMax = 60.0, d = 24
        func solve(seed: UInt64, stepper: Stepper? = nil, rtol: Double? = nil, atol: Double? = nil,
                   precision: MonteCarloPrecision = .double) throws -> Trajectory {
            let flow = try flow(length: d, samples: samples, seed: seed, precision: precision)
            let settings = try IntegratorSpec.suited(to: .montecarlo, stepper: stepper, relativeTolerance: rtol, absoluteTolerance: atol,
                                                     tMax: tMax, saves: 6)
            let trajectory = ODEIntegrator.integrate(flow, from: gaussianVector(d, scale: 0.1, seed: 5), settings: settings)
            XCTAssertEqual(trajectory.status, .completed)
            return trajectory
        }
        let current = try solve(seed: 1), float = try solve(seed: 1, precision: .float)
        let previous = try solve(seed: 1, stepper: .rkf45, rtol: 1e-5, atol: 1e-6)
        XCTAssertLessThan(current.evaluations, previous.evaluations)
        let runs = try (2...6).map { try solve(seed: UInt64($0)) } + [current]
        func distance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() }
        // Monte Carlo noise at each save: the spread of w(t) and of its IPR over six independent samples.
        // The criterion: a quarter of it at every save (measured: 12% at t = 11 here, 1.5% on the default demo).
        for k in 1..<current.times.count {
            let states = runs.map { $0.weights[k] }
            let mean = (0..<d).map { i in states.reduce(0) { $0 + $1[i] } / Double(states.count) }
            let weightNoise = (states.reduce(0) { $0 + distance($1, mean) * distance($1, mean) } / Double(states.count - 1)).squareRoot()
            let iprs = states.map(Observables.inverseParticipationRatio)
            let meanIpr = iprs.reduce(0, +) / Double(iprs.count)
            let iprNoise = (iprs.reduce(0) { $0 + ($1 - meanIpr) * ($1 - meanIpr) } / Double(iprs.count - 1)).squareRoot()
            for (name, run) in [("previous stepper and tolerance", previous), ("float sample", float)] {
                let w = run.weights[k], reference = current.weights[k]
                XCTAssertLessThan(distance(w, reference), 0.25 * weightNoise, "\(name), t = \(current.times[k])")
                XCTAssertLessThan(abs(Observables.inverseParticipationRatio(w) - Observables.inverseParticipationRatio(reference)),
                                  0.25 * iprNoise, "\(name), t = \(current.times[k])")
            }
        }
    }
}
