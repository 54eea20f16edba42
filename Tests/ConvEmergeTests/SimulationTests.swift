import ConvEmerge
import Foundation
import XCTest

final class SimulationTests: XCTestCase {
    /// The SPEC §3 comparison setting: xi 0.6 vs 1.9, g = 1.2, relu, targets (0, 1).
    private func task(length: Int = 32, gaussian: Bool = true) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 1), gain: 1.2)
        return try TaskSpec.xi(base: base, xi0: 0.6, xi1: 1.9, gaussianControl: gaussian, prior1: 0.5, targets: [0, 1])
    }

    private func relu() throws -> NeuronSpec { try NeuronSpec(activation: .relu, bias: 0) }

    private func parameters(_ task: TaskSpec, lr: Double, batch: Int = 1, seeds: Int = 1, tMax: Double = 1,
                            model: ModelKind = .neuron, units: Int = 1, initScale: Double = 0.5,
                            sampler: SamplerMode = .fast, seed: UInt64 = 0) throws -> SimulationParameters {
        try SimulationParameters(task: task, neuron: relu(), model: model, hiddenUnits: units, learningRate: lr,
                                 batchSize: batch, seeds: seeds, seed: seed, tMax: tMax, saves: 30,
                                 initialization: .random(scale: initScale, seed: 7), testSamples: 200, sampler: sampler)
    }

    /// Mean and variance (per component) of one SGD step's increment at fixed w.
    private func incrementStatistics(_ parameters: SimulationParameters, steps: Int) throws
        -> (w: [Double], mean: [Double], variance: [Double]) {
        let distributions = try parameters.task.classes.map(InputDistribution.init)
        let w = try parameters.initialization.weights(dimension: parameters.dimension)
        let replica = try SGDReplica(parameters, distributions: distributions, initial: w, replica: 0)
        let d = parameters.dimension
        var sum = [Double](repeating: 0, count: d), squares = sum
        for _ in 0..<steps {
            replica.weights = w
            replica.step()
            for i in 0..<d {
                let delta = replica.weights[i] - w[i]
                sum[i] += delta
                squares[i] += delta * delta
            }
        }
        let n = Double(steps)
        let mean = sum.map { $0 / n }
        return (w, mean, zip(squares, mean).map { $0 / n - $1 * $1 })
    }

    /// derivations/sgd-noise-scaling.md §1: E[w' - w] = (1 / D) dw/dt with dw/dt (which carries eta) the
    /// gradient flow, exact for Gaussian inputs under the gaussian closure (Stein).
    /// chi^2 over the D components of the standardised difference, for B = 1 and B = 4.
    func testMeanIncrementIsTheGradientFlow() throws {
        let task = try task(length: 16)
        for batch in [1, 4] {
            let p = try parameters(task, lr: 0.3, batch: batch)
            let steps = 60_000
            let (w, mean, variance) = try incrementStatistics(p, steps: steps)
            let flow = try GradientFlow(task: task, neuron: relu(), closure: ClosureSpec(kind: .gaussian), learningRate: 0.3)
            let velocity = flow.velocity(w)
            let d = Double(p.dimension)
            var chiSquare = 0.0
            for i in 0..<p.dimension {
                let z = (mean[i] - velocity[i] / d) / (variance[i] / Double(steps)).squareRoot()
                chiSquare += z * z
            }
            // chi^2 with D = 16 degrees of freedom: mean 16, sd 5.7.
            XCTAssertLessThan(chiSquare, 16 + 5 * (2 * 16.0).squareRoot(), "B = \(batch)")
            // And the drift is resolved: its size is many standard errors.
            let signal = velocity.map { $0 / d }
            let resolved = zip(signal, variance).map { $0.0 * $0.0 / ($0.1 / Double(steps)) }.reduce(0, +)
            XCTAssertGreaterThan(resolved, 200, "B = \(batch): the drift should be resolved")
        }
    }

    /// derivations/sgd-noise-scaling.md §2: the batch average divides the increment's
    /// variance by B and leaves its mean alone.
    func testBatchDividesNoiseVarianceByB() throws {
        let task = try task(length: 16)
        let steps = 40_000
        let single = try incrementStatistics(parameters(task, lr: 0.3, batch: 1), steps: steps)
        let batched = try incrementStatistics(parameters(task, lr: 0.3, batch: 8), steps: steps)
        let ratio = batched.variance.reduce(0, +) / single.variance.reduce(0, +)
        // Relative standard error of each total variance ~ sqrt(2 / n) x kurtosis factor: ~1-2%.
        XCTAssertEqual(ratio, 1.0 / 8, accuracy: 0.1 / 8)
    }

    /// Same seed -> identical replicas; replica k does not depend on how many replicas
    /// run beside it (independent streams); different replicas differ.
    func testReplicasAreReproducibleAndIndependent() throws {
        let task = try task(length: 16)
        let two = try SimulationJob.run(parameters(task, lr: 0.5, seeds: 2, tMax: 3))
        let again = try SimulationJob.run(parameters(task, lr: 0.5, seeds: 2, tMax: 3))
        let one = try SimulationJob.run(parameters(task, lr: 0.5, seeds: 1, tMax: 3))
        XCTAssertEqual(two.weights, again.weights)
        XCTAssertEqual(two.weights[0], one.weights[0])
        XCTAssertNotEqual(two.weights[0].last, two.weights[1].last)
        // All replicas start from solve's initial weights.
        let w0 = try Initialization.random(scale: 0.5, seed: 7).weights(dimension: 16)
        XCTAssertEqual(two.weights(seed: 1, save: 0), w0)
        XCTAssertEqual(two.times.first, 0)
        XCTAssertEqual(two.times.last, 3)
    }

    /// SPEC §3: on Gaussian inputs the seed mean approaches the gaussian-closure ODE
    /// as eta falls (noise/drift ~ sqrt(eta / (B tau)), derivations/sgd-noise-scaling.md §3).
    /// D = 32, B = 16, tau = eta t = 30, 8 seeds, w0 ~ N(0, 0.5^2).
    func testSeedMeanApproachesGaussianTheoryAsLearningRateFalls() throws {
        let task = try task()
        var distances: [Double] = []
        for eta in [0.25, 0.0625, 0.015625] {
            let p = try parameters(task, lr: eta, batch: 16, seeds: 8, tMax: 30 / eta)
            let simulation = try SimulationJob.run(p)
            let ode = try SolveJob.run(SolveParameters(
                task: task, neuron: relu(), closure: ClosureSpec(kind: .gaussian),
                integrator: IntegratorSpec(tMax: 30 / eta, saves: 30), learningRate: eta, initialization: p.initialization))
            let comparison = try TheoryVersusSimulation.compare(
                lattice: task.lattice, theoryTimes: ode.trajectory.times, theoryWeights: ode.trajectory.weights,
                simulationTimes: simulation.times,
                simulationWeights: (0..<p.seeds).map { seed in (0..<simulation.saveCount).map { simulation.weights(seed: seed, save: $0) } })
            XCTAssertEqual(comparison.curve.count, simulation.saveCount, "every simulation save has an ODE partner")
            distances.append(comparison.distance)
        }
        // Pure noise would give a factor 2 per factor 4 in eta; allow for the seed-to-seed scatter.
        XCTAssertLessThan(distances[1], 0.75 * distances[0], "\(distances)")
        XCTAssertLessThan(distances[2], 0.75 * distances[1], "\(distances)")
        XCTAssertLessThan(distances[2], 0.12, "\(distances)")
    }

    /// derivations/sgd-noise-scaling.md §5: the tabulated erf is libm's to round-off.
    func testFastErfMatchesLibm() {
        let error = FastErf.shared.measuredMaximumError(points: 400_000)
        XCTAssertLessThan(error, 1e-15)
        XCTAssertEqual(FastErf.shared(-0.3), -erf(0.3), accuracy: 4e-16)
        XCTAssertEqual(FastErf.shared(8), 1)
    }

    /// The ziggurat draws N(0, 1): moments and the CDF at a few points, within 5 standard errors,
    /// including the tail beyond R = 3.44 (rare path).
    func testZigguratIsStandardNormal() {
        var rng = Xoshiro256(seed: 11)
        let n = 2_000_000
        var values = [Double](repeating: 0, count: n)
        values.withUnsafeMutableBufferPointer { rng.fillZigguratGaussian($0.baseAddress!, count: n) }
        let count = Double(n)
        let mean = values.reduce(0, +) / count
        let second = values.reduce(0) { $0 + $1 * $1 } / count
        let fourth = values.reduce(0) { $0 + $1 * $1 * $1 * $1 } / count
        XCTAssertEqual(mean, 0, accuracy: 5 / count.squareRoot())
        XCTAssertEqual(second, 1, accuracy: 5 * 2.0.squareRoot() / count.squareRoot())
        XCTAssertEqual(fourth, 3, accuracy: 5 * 96.0.squareRoot() / count.squareRoot())
        for x in [-3.6, -2.0, -0.7, 0.1, 1.3, 3.0, 3.6] {
            let p = 0.5 * erfc(-x / 2.0.squareRoot())
            let fraction = Double(values.filter { $0 <= x }.count) / count
            XCTAssertEqual(fraction, p, accuracy: 5 * (p * (1 - p) / count).squareRoot(), "CDF at \(x)")
        }
    }

    /// The fast sampler draws the same NLGP as the exact one: its empirical covariance
    /// at lags 0 ... 3 matches the exact C, and its marginal fourth moment the exact
    /// sampler's, within 5 standard errors.
    func testFastSamplerHasTheExactCovariance() throws {
        for (length, dimension, xi) in [(24, 1, 2.0), (8, 2, 1.0)] {
            let lattice = try Lattice(dimension: dimension, length: length)
            let spec = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: xi), gain: 2)
            let distribution = try InputDistribution(spec)
            let n = 100_000
            for mode in [SamplerMode.fast, .exact] {
                let sampler = try SimulationSampler(distribution, mode: mode)
                var rng = Xoshiro256(seed: 5)
                let d = lattice.size
                var x = [Double](repeating: 0, count: d)
                var lagSums = [Double](repeating: 0, count: 4), lagSquares = lagSums
                var fourth = 0.0
                for _ in 0..<n {
                    x.withUnsafeMutableBufferPointer { sampler.sample(into: $0.baseAddress!, rng: &rng) }
                    for lag in 0..<4 {
                        let product = x[0] * x[lattice.translate(0, by: lag)]
                        lagSums[lag] += product
                        lagSquares[lag] += product * product
                    }
                    fourth += pow(x[0], 4)
                }
                for lag in 0..<4 {
                    let mean = lagSums[lag] / Double(n)
                    let error = ((lagSquares[lag] / Double(n) - mean * mean) / Double(n)).squareRoot()
                    let exact = distribution.covariance.element(0, lattice.translate(0, by: lag))
                    XCTAssertEqual(mean, exact, accuracy: 5 * error, "\(mode), D = \(d), lag \(lag)")
                }
                // psi_g(z) is bounded, so E x^4 < 3 (negative excess kurtosis, SPEC §1).
                XCTAssertLessThan(fourth / Double(n), 2.9, "\(mode)")
            }
        }
    }

    /// A K = 4 committee and a two-layer net run, stay finite and learn the Gaussian-control
    /// task above chance (test accuracy > 0.55 with 200 held-out inputs per class: chance
    /// would exceed it with probability < 1e-4).
    func testCommitteeAndTwoLayerLearn() throws {
        let task = try task(length: 16, gaussian: false)
        for model in [ModelKind.committee, .twolayer] {
            let p = try SimulationParameters(task: task, neuron: NeuronSpec(activation: .relu, bias: 0.5), model: model,
                                             hiddenUnits: 4, learningRate: 0.5, batchSize: 1, seeds: 2, seed: 1, tMax: 200,
                                             saves: 10, initialization: .random(scale: 0.3, seed: 2), testSamples: 400)
            let result = try SimulationJob.run(p)
            XCTAssertEqual(result.overallStatus, .completed)
            let table = result.meanObservables
            let accuracy = table.rows.last![table.columns.firstIndex(of: "test_accuracy")!]
            let initialLoss = table.rows.first![table.columns.firstIndex(of: "test_loss")!]
            let finalLoss = table.rows.last![table.columns.firstIndex(of: "test_loss")!]
            XCTAssertGreaterThan(accuracy, 0.55, "\(model)")
            XCTAssertLessThan(finalLoss, initialLoss, "\(model)")
        }
    }
}
