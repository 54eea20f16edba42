import ConvEmerge
import XCTest

/// The K-unit gradient flow of `solve --model committee|twolayer` (derivations/committee-closures.md).
final class CommitteeFlowTests: XCTestCase {
    private func task(gain: Double = 3, gaussian: Bool = false, length: Int = 24) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: gain)
        return try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: gaussian, prior1: 0.4, targets: [0, 1])
    }

    private func integrator(_ closure: ClosureKind, tMax: Double, rtol: Double? = nil) throws -> IntegratorSpec {
        try IntegratorSpec.suited(to: closure, relativeTolerance: rtol, tMax: tMax, saves: 12, logSpacedSaves: true)
    }

    private func committee(_ base: SolveParameters, model: ModelKind = .committee, units: Int, network: NetworkOptions = .standard) -> SolveParameters {
        var parameters = base
        parameters.model = model
        parameters.hiddenUnits = units
        parameters.network = network
        return parameters
    }

    private func maxAbs(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { abs($0 - $1) }.max()! }

    /// §5: one unit of the committee (readout 1/K = 1, rate factor K = 1) is the neuron, so its
    /// trajectory is the single-neuron solve's, operation for operation, for every closure it has.
    func testOneUnitReproducesSingleNeuronSolve() throws {
        let task = try self.task()
        for (kind, activation, bias) in [(ClosureKind.montecarlo, ActivationKind.relu, 0.0), (.gaussian, .relu, 0.3), (.gaussian, .erf, -0.2)] {
            let closure = try ClosureSpec(kind: kind, monteCarloSamples: 400, monteCarloSeed: 5)
            let neuron = SolveParameters(task: task, neuron: try NeuronSpec(activation: activation, bias: bias), closure: closure,
                                         integrator: try integrator(kind, tMax: 4), learningRate: 0.7,
                                         initialization: .random(scale: 0.5, seed: 9))
            let single = try SolveJob.run(neuron)
            let one = try CommitteeSolveJob.run(committee(neuron, units: 1))
            XCTAssertEqual(one.trajectory.times, single.trajectory.times)
            let scale = single.trajectory.weights.flatMap { $0 }.map(abs).max()!
            for (a, b) in zip(one.trajectory.weights, single.trajectory.weights) {
                XCTAssertLessThanOrEqual(maxAbs(a, b), 1e-13 * scale, "\(kind) \(activation)")
            }
            XCTAssertEqual(one.observables.rows.last![1], single.observables.rows.last![5], accuracy: 1e-13, "loss, \(kind) \(activation)")
        }
    }

    /// §5: with g(x) = x and both classes N(0, C) (clone task), dw_k/dt = -eta r v_k C u with
    /// u = sum_m v_m w_m, so u(t) = exp(-eta r |v|^2 t C) u(0) and w_k(t) = w_k(0) + v_k (u(t) - u(0)) / |v|^2:
    /// checked mode by mode in Fourier space (lazy readout: v_k = 1/sqrt K, r = sqrt K).
    func testLinearCommitteeMatchesClosedFormFlow() throws {
        let lattice = try Lattice(dimension: 1, length: 32)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 3), gain: 2)
        let task = try TaskSpec.clone(base: base, prior1: 0.3, targets: [0.2, 1])
        let units = 3, eta = 0.8, tMax = 0.9
        let network = try NetworkOptions(readout: .lazy, biasInit: "0.1")
        let parameters = committee(SolveParameters(task: task, neuron: try NeuronSpec(activation: .linear, bias: 0), closure: try ClosureSpec(kind: .gaussian),
                                                   integrator: try integrator(.gaussian, tMax: tMax, rtol: 1e-12), learningRate: eta,
                                                   initialization: .random(scale: 1, seed: 3)),
                                   units: units, network: network)
        let result = try CommitteeSolveJob.run(parameters)
        XCTAssertEqual(result.trajectory.status, .completed)
        let v = 1 / Double(units).squareRoot(), rate = eta * Double(units).squareRoot()
        let d = lattice.size, w0 = result.trajectory.weights[0]
        let u0 = (0..<d).map { i in (0..<units).reduce(0.0) { $0 + v * w0[$1 * d + i] } }
        let covariance = try InputDistribution(task.classes[0]).covariance
        let operator_ = CirculantOperator(lattice: lattice, firstRow: covariance.firstRow)
        let spectrum = operator_.halfSpectrum.map { exp(-rate * Double(units) * v * v * tMax * $0) }
        var u = [Double](repeating: 0, count: d)
        var workspace = operator_.makeWorkspace()
        spectrum.withUnsafeBufferPointer { m in
            u0.withUnsafeBufferPointer { input in
                u.withUnsafeMutableBufferPointer { out in
                    workspace.withUnsafeMutableBufferPointer {
                        operator_.applySpectral(m.baseAddress!, input.baseAddress!, out.baseAddress!, workspace: $0.baseAddress!)
                    }
                }
            }
        }
        for k in 0..<units {
            let exact = (0..<d).map { i in w0[k * d + i] + v * (u[i] - u0[i]) / (Double(units) * v * v) }
            XCTAssertLessThan(Observables.relativeDistance(result.weights(save: result.trajectory.times.count - 1, unit: k), exact), 1e-8, "unit \(k)")
        }
    }

    /// §5: on Gaussian inputs Stein's lemma is exact, so the gaussian closure's right-hand side
    /// (weights, trained readouts and biases) and loss are the Monte Carlo ones up to the sample's own
    /// error: every component within 4.5 standard errors (K x D + 2K = 78 per case), for relu and erf
    /// with distinct biases and readouts.
    func testGaussianClosureMatchesMonteCarloOnGaussianInputs() throws {
        let task = try self.task(gaussian: true)
        let d = task.dimension, units = 3
        for activation in [ActivationKind.relu, .erf] {
            let network = CommitteeNetwork(units: units, neuron: try NeuronSpec(activation: activation, bias: 0),
                                           options: try NetworkOptions(readout: .trained, trainBias: true))
            let gaussian = try CommitteeFlow(task: task, network: network, closure: ClosureSpec(kind: .gaussian), learningRate: 1)
            let monteCarlo = try CommitteeFlow(task: task, network: network, closure: ClosureSpec(kind: .montecarlo, monteCarloSamples: 40_000, monteCarloSeed: 2),
                                               learningRate: 1)
            let state = try Initialization.random(scale: 1.2, seed: 4).weights(dimension: units * d) + [0.8, -0.5, 0.3] + [0.4, -0.3, 0.1]
            let exact = gaussian.velocity(state), sampled = monteCarlo.velocity(state)
            let errors = try XCTUnwrap(monteCarlo.monteCarloStandardErrors(state))
            XCTAssertEqual(errors.velocity.count, units * d + 2 * units)
            var worst = 0.0
            for i in state.indices { worst = max(worst, abs(exact[i] - sampled[i]) / errors.velocity[i]) }
            XCTAssertLessThan(worst, 4.5, "\(activation): largest deviation in standard errors")
            XCTAssertLessThan(abs(gaussian.loss(state) - monteCarlo.loss(state)), 4.5 * errors.loss, "\(activation) loss")
            // The check has power: the drift is many standard errors from zero, readouts and biases included.
            XCTAssertGreaterThan(zip(exact, errors.velocity).map { abs($0) / $1 }.max()!, 20, "\(activation)")
            for offset in [units * d, units * d + units] {
                XCTAssertGreaterThan((offset..<(offset + units)).map { abs(exact[$0]) / errors.velocity[$0] }.max()!, 5, "\(activation) at \(offset)")
            }
        }
    }

    /// §5: relabelling the units (weights, trained readouts and biases) relabels the velocity and the
    /// trajectory, to round-off, under both closures.
    func testPermutedUnitsGivePermutedTrajectories() throws {
        let task = try self.task(length: 16)
        let d = task.dimension, units = 3, permutation = [2, 0, 1]
        for kind in [ClosureKind.gaussian, .montecarlo] {
            let network = CommitteeNetwork(units: units, neuron: try NeuronSpec(activation: .erf, bias: 0),
                                           options: try NetworkOptions(readout: .trained, trainBias: true))
            let flow = try CommitteeFlow(task: task, network: network, closure: ClosureSpec(kind: kind, monteCarloSamples: 300), learningRate: 1)
            let weights = try Initialization.random(scale: 1, seed: 8).weights(dimension: units * d)
            let state = weights + [0.5, -0.2, 0.9] + [0.3, -0.6, 0.1]
            func permuted(_ s: [Double]) -> [Double] {
                permutation.flatMap { Array(s[($0 * d)..<(($0 + 1) * d)]) } + permutation.map { s[units * d + $0] }
                    + permutation.map { s[units * d + units + $0] }
            }
            let scale = flow.velocity(state).map(abs).max()!
            XCTAssertLessThan(maxAbs(flow.velocity(permuted(state)), permuted(flow.velocity(state))), 1e-12 * scale, "\(kind) velocity")
            let settings = try integrator(kind, tMax: 2)
            let trajectory = ODEIntegrator.integrate(flow, from: state, settings: settings)
            let relabelled = ODEIntegrator.integrate(flow, from: permuted(state), settings: settings)
            XCTAssertEqual(trajectory.status, .completed)
            XCTAssertLessThan(maxAbs(relabelled.weights.last!, permuted(trajectory.weights.last!)), 1e-10, "\(kind) trajectory")
            XCTAssertGreaterThan(maxAbs(trajectory.weights.last!, state), 1e-2, "\(kind): the units moved")
        }
    }

    /// §1: the flow is the small-learning-rate limit of simulate's SGD, with its readout scaling, rate
    /// factor and trained readout and biases: at eta = 0.05 (t = 40, 64 replicas from the same w0) every
    /// weight of the seed-mean is within 4.5 standard errors of the gaussian closure's (Gaussian inputs,
    /// where Stein is exact; the O(eta) bias of SGD measured below the noise), while the weights moved by
    /// many standard errors.
    func testGaussianFlowIsTheSmallLearningRateLimitOfSGD() throws {
        let task = try self.task(gaussian: true, length: 40)
        let neuron = try NeuronSpec(activation: .erf, bias: 0.3)
        for (model, network) in [(ModelKind.committee, try NetworkOptions(readout: .lazy)),
                                 (.twolayer, try NetworkOptions(readout: .trained, trainBias: true))] {
            let initialization = Initialization.random(scale: 0.5, seed: 3)
            let sgd = try SimulationJob.run(SimulationParameters(task: task, neuron: neuron, model: model, hiddenUnits: 4, learningRate: 0.05,
                                                                 seeds: 64, seed: 1, tMax: 40, saves: 3, logSpacedSaves: false,
                                                                 initialization: initialization, testSamples: 10, network: network))
            let theory = try CommitteeSolveJob.run(committee(SolveParameters(task: task, neuron: neuron, closure: try ClosureSpec(kind: .gaussian),
                                                                             integrator: try integrator(.gaussian, tMax: 40), learningRate: 0.05,
                                                                             initialization: initialization),
                                                             model: model, units: 4, network: network))
            let last = sgd.saveCount - 1, count = 4 * task.dimension, seeds = Double(sgd.seedCount)
            XCTAssertEqual(sgd.times.last!, theory.trajectory.times.last!, accuracy: 1e-12)
            let predicted = Array(theory.trajectory.weights.last![0..<count]), start = theory.trajectory.weights[0]
            var worst = 0.0, moved = 0.0
            for i in 0..<count {
                let values = sgd.weights.map { $0[last * count + i] }
                let mean = values.reduce(0, +) / seeds
                let error = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (seeds - 1) / seeds).squareRoot()
                worst = max(worst, abs(predicted[i] - mean) / error)
                moved = max(moved, abs(predicted[i] - start[i]) / error)
            }
            XCTAssertLessThan(worst, 4.5, "\(model): largest deviation in standard errors")
            XCTAssertGreaterThan(moved, 20, "\(model): the weights moved")
        }
    }

    /// The random w0 of --seed is simulate's (K D values of Initialization, unit-major), so theory
    /// and SGD start together; and W, then v and b, is the state.
    func testInitialWeightsAreSimulateOnes() throws {
        let task = try self.task()
        let neuron = try NeuronSpec(activation: .relu, bias: 0.2)
        let initialization = Initialization.random(scale: 0.3, seed: 17)
        let network = try NetworkOptions(readout: .trained, trainBias: true)
        let parameters = committee(SolveParameters(task: task, neuron: neuron, closure: try ClosureSpec(kind: .gaussian),
                                                   integrator: try integrator(.gaussian, tMax: 1), learningRate: 1, initialization: initialization),
                                   model: .twolayer, units: 4, network: network)
        let simulation = try SimulationParameters(task: task, neuron: neuron, model: .twolayer, hiddenUnits: 4, learningRate: 1, tMax: 1,
                                                  initialization: initialization, network: network)
        XCTAssertEqual(try CommitteeSolveJob.initialWeights(parameters), try simulation.initialWeights())
        let flow = try CommitteeFlow(task: task, network: parameters.committeeNetwork, closure: parameters.closure, learningRate: 1)
        let state = flow.layout.state(weights: try simulation.initialWeights(), network: flow.network)
        XCTAssertEqual(Array(state.suffix(8)), simulation.initialReadouts + (0..<4).map(simulation.bias(ofUnit:)))
    }

    /// `solve` streams a K-unit run's saves (weights, trained readouts and biases) as they come:
    /// its files are byte for byte those of the in-memory run and `save`.
    func testStreamedCommitteeRunEqualsTheInMemoryOne() throws {
        let network = try NetworkOptions(readout: .trained, trainBias: true)
        let parameters = committee(SolveParameters(task: try task(), neuron: try NeuronSpec(activation: .erf, bias: 0.2),
                                                   closure: try ClosureSpec(kind: .gaussian), integrator: try integrator(.gaussian, tMax: 5),
                                                   learningRate: 1, initialization: .random(scale: 0.5, seed: 3)),
                                   model: .twolayer, units: 3, network: network)
        let memory = try CommitteeSolveJob.run(parameters)
        XCTAssertEqual(memory.trajectory.status, .completed)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("committee-stream-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inMemory = scratch.appendingPathComponent("memory").path, streamed = scratch.appendingPathComponent("streamed").path
        try CommitteeSolveJob.save(memory, to: RunDirectory(path: inMemory))
        let summary = try CommitteeSolveJob.runAndSave(parameters, to: RunDirectory(path: streamed))
        XCTAssertEqual(summary.trajectory.times, memory.trajectory.times)
        XCTAssertEqual(summary.finalMeanIPR, memory.finalMeanIPR)
        let n = memory.trajectory.weights.count, d = memory.layout.dimension
        let weights = NpyArray(shape: [n, 3, d], values: memory.trajectory.weights.flatMap { $0[0..<(3 * d)] }).encoded()
        func contents(_ run: String, _ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: run + "/" + name)) }
        XCTAssertEqual(try contents(streamed, "weights.npy"), weights)
        for name in ["weights.npy", "readouts.npy", "biases.npy", "times.npy", "observables.csv"] {
            XCTAssertEqual(try contents(streamed, name), try contents(inMemory, name), name)
        }
    }
}
