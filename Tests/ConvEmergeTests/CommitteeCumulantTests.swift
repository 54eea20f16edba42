import ConvEmerge
import Foundation
import XCTest

/// The multilinear fourth-cumulant action T(u, v, w) (derivations/committee-closures.md §4) and the
/// K-unit cumulant closure built on it (§5).
final class CommitteeCumulantTests: XCTestCase {
    private func ring(_ length: Int, xi: Double, gain: Double, jitter: Double = 0) throws -> InputDistribution {
        try InputDistribution(InputSpec(lattice: Lattice(dimension: 1, length: length),
                                        kernel: Kernel(shape: .gaussian, correlationLength: xi, jitter: jitter), gain: gain))
    }

    private func randomVector(_ size: Int, seed: UInt64) -> [Double] {
        var rng = Xoshiro256(seed: seed)
        return (0..<size).map { _ in rng.nextGaussian() }
    }

    private func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        (zip(a, b).map { abs($0 - $1) }.max() ?? 0) / max(b.map(abs).max() ?? 0, .leastNormalMagnitude)
    }

    /// Against the explicit contraction sum_jkl K_ijkl u_j v_k w_l with the leading-diagram tensor
    /// K_ijkl = 6 c1^3 c3 (rho_ij rho_ik rho_il + rho_ji rho_jk rho_jl + rho_ki rho_kj rho_kl + rho_li rho_lj rho_lk)
    /// (derivations/fourth-cumulant.md; NLGP's odd marginal has no chain diagram), at D = 7.
    func testMultilinearActionIsTheTensorContraction() throws {
        let inputs = try ring(7, xi: 1.3, gain: 1.5, jitter: 0.3)
        let d = inputs.size, s = inputs.spec.kernel.variance
        let rho = inputs.baseCovariance.denseMatrix().map { $0 / s }
        let c = HermiteExpansion(psi: inputs.psi, latentVariance: s).coefficients(maxOrder: 3)
        func r(_ a: Int, _ b: Int) -> Double { rho[a * d + b] }
        let u = randomVector(d, seed: 1), v = randomVector(d, seed: 2), w = randomVector(d, seed: 3)
        var expected = [Double](repeating: 0, count: d)
        for i in 0..<d { for j in 0..<d { for k in 0..<d { for l in 0..<d {
            let tensor = r(i, j) * r(i, k) * r(i, l) + r(j, i) * r(j, k) * r(j, l)
                + r(k, i) * r(k, j) * r(k, l) + r(l, i) * r(l, j) * r(l, k)
            expected[i] += 6 * c[1] * c[1] * c[1] * c[3] * tensor * u[j] * v[k] * w[l]
        } } } }
        let cumulant = try FourthCumulant(inputs, method: .leading)
        XCTAssertLessThan(relativeDifference(cumulant.multilinearAction(u, v, w, workspace: cumulant.makeWorkspace()), expected), 1e-12)
    }

    /// K_ijkl is symmetric in j, k, l: T(u, v, w) is the same for every order of its arguments, is
    /// linear in each, and on the diagonal is the cubic action T(w), for the leading and the exact method.
    func testMultilinearActionIsSymmetricLinearAndCubicOnTheDiagonal() throws {
        let inputs = try ring(12, xi: 2, gain: 1)
        let u = randomVector(12, seed: 4), v = randomVector(12, seed: 5), w = randomVector(12, seed: 6), z = randomVector(12, seed: 7)
        for method in CumulantMethod.allCases {
            let cumulant = try FourthCumulant(inputs, method: method), workspace = cumulant.makeWorkspace()
            func t(_ a: [Double], _ b: [Double], _ c: [Double]) -> [Double] { cumulant.multilinearAction(a, b, c, workspace: workspace) }
            let reference = t(u, v, w)
            for permuted in [t(u, w, v), t(v, u, w), t(v, w, u), t(w, u, v), t(w, v, u)] {
                XCTAssertLessThan(relativeDifference(permuted, reference), 1e-13, "\(method)")
            }
            let combination = zip(u, z).map { 0.7 * $0 - 1.9 * $1 }
            let linear = zip(reference, t(z, v, w)).map { 0.7 * $0 - 1.9 * $1 }
            XCTAssertLessThan(relativeDifference(t(combination, v, w), linear), 1e-12, "\(method)")
            XCTAssertLessThan(relativeDifference(t(w, w, w), cumulant.action(w)), 1e-12, "\(method)")
        }
    }

    // MARK: the K-unit cumulant closure (§5)

    private func task(gain: Double, length: Int = 16) throws -> TaskSpec { try CommitteeClosureFixture.task(gain: gain, length: length) }

    private func network(_ units: Int, _ activation: ActivationKind, trained: Bool = false) throws -> CommitteeNetwork {
        CommitteeNetwork(units: units, neuron: try NeuronSpec(activation: activation, bias: 0.2),
                         options: trained ? try NetworkOptions(readout: .trained, trainBias: true) : .standard)
    }

    private func norm(_ a: [Double]) -> Double { CommitteeClosureFixture.norm(a) }
    private func distance(_ a: [Double], _ b: [Double]) -> Double { CommitteeClosureFixture.distance(a, b) }

    /// §5: one unit is the neuron, whose cumulant closure is GaussianClosure's: the whole trajectory
    /// and the loss agree to round-off, for relu and erf with biases.
    func testOneUnitReproducesSingleNeuronCumulantSolve() throws {
        let task = try self.task(gain: 3, length: 24)
        for (activation, bias) in [(ActivationKind.relu, 0.3), (.erf, -0.2)] {
            let closure = try ClosureSpec(kind: .cumulant, cumulantMethod: .leading)
            let neuron = SolveParameters(task: task, neuron: try NeuronSpec(activation: activation, bias: bias), closure: closure,
                                         integrator: try IntegratorSpec.suited(to: .cumulant, tMax: 4, saves: 12, logSpacedSaves: true),
                                         learningRate: 0.7, initialization: .random(scale: 0.5, seed: 9))
            let single = try SolveJob.run(neuron)
            var parameters = neuron
            parameters.model = .committee
            parameters.hiddenUnits = 1
            let one = try CommitteeSolveJob.run(parameters)
            XCTAssertEqual(one.trajectory.times, single.trajectory.times)
            let scale = single.trajectory.weights.flatMap { $0 }.map(abs).max()!
            for (a, b) in zip(one.trajectory.weights, single.trajectory.weights) {
                XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max()!, 1e-12 * scale, "\(activation)")
            }
            XCTAssertGreaterThan(distance(single.trajectory.weights.last!, single.trajectory.weights[0]), 0.1 * scale, "\(activation): w moved")
            XCTAssertEqual(one.observables.rows.last![1], single.observables.rows.last![5], accuracy: 1e-12, "loss, \(activation)")
        }
    }

    /// §5: relabelling the units (weights, trained readouts, biases) relabels the cumulant velocity.
    func testPermutedUnitsGivePermutedCumulantVelocity() throws {
        let task = try self.task(gain: 3)
        let d = task.dimension, units = 3, permutation = [2, 0, 1]
        for activation in [ActivationKind.relu, .erf] {
            let flow = try CommitteeFlow(task: task, network: network(units, activation, trained: true),
                                         closure: ClosureSpec(kind: .cumulant), learningRate: 1)
            let state = try Initialization.random(scale: 1, seed: 8).weights(dimension: units * d) + [0.5, -0.2, 0.9] + [0.3, -0.6, 0.1]
            func permuted(_ s: [Double]) -> [Double] {
                permutation.flatMap { Array(s[($0 * d)..<(($0 + 1) * d)]) } + permutation.map { s[units * d + $0] }
                    + permutation.map { s[units * d + units + $0] }
            }
            let velocity = flow.velocity(state)
            XCTAssertLessThan(distance(flow.velocity(permuted(state)), permuted(velocity)), 1e-12 * norm(velocity), "\(activation)")
            XCTAssertEqual(flow.loss(permuted(state)), flow.loss(state), accuracy: 1e-13, "\(activation) loss")
        }
    }

    /// §5: the fourth-cumulant terms are O(c3/c1) = O(gain^2) as the NLGP gain vanishes (the inputs become
    /// Gaussian), so |cumulant - gaussian| falls 4x when the gain halves, at K = 3 with pairs overlapping.
    func testCumulantTendsToGaussianAsGainVanishes() throws {
        let units = 3
        for activation in [ActivationKind.relu, .erf] {
            var gaps: [Double] = []
            for gain in [0.1, 0.05] {
                let task = try self.task(gain: gain)
                let network = try self.network(units, activation, trained: true)
                let state = try Initialization.random(scale: 1, seed: 3).weights(dimension: units * task.dimension) + [0.7, -0.4, 0.2] + [0.1, 0.2, -0.3]
                let gaussian = try CommitteeFlow(task: task, network: network, closure: ClosureSpec(kind: .gaussian), learningRate: 1).velocity(state)
                let cumulant = try CommitteeFlow(task: task, network: network, closure: ClosureSpec(kind: .cumulant), learningRate: 1).velocity(state)
                gaps.append(distance(cumulant, gaussian) / norm(gaussian))
            }
            XCTAssertLessThan(gaps[1], 1e-2, "\(activation)")
            XCTAssertEqual(gaps[0] / gaps[1], 4, accuracy: 0.4, "\(activation): gap ratio for gain 0.1 / 0.05")
        }
    }

    /// §5: on NLGP at moderate gain the K-unit cumulant right-hand side (exact cumulant, `--cumulant full`, as
    /// TheoryTests does for one neuron) is closer to Monte Carlo (M = 800000 per class, gain 1.5) than the gaussian one,
    /// for K = 2, 3, 4, relu and erf, with overlapping units (the pair terms matter). |c - mc|^2 < |g - mc|^2 iff
    /// the projection s of mc - c on e = (g - c)/|g - c| is below |g - c| / 2, and the Monte Carlo error of s is
    /// at most sum_i |e_i| SE_i whatever the correlations of the components: the margin must exceed 4 of those.
    func testCumulantBeatsGaussianAgainstMonteCarlo() throws {
        let task = try self.task(gain: 1.5)
        for units in 2...4 {
            for activation in [ActivationKind.relu, .erf] {
                let flows = try CommitteeClosureFixture.closures(task: task, network: network(units, activation), seed: 7)
                let state = CommitteeClosureFixture.overlappingWeights(units: units, dimension: task.dimension)
                CommitteeClosureFixture.assertCumulantCloser(
                    truth: flows.reference.velocity(state), errors: try XCTUnwrap(flows.reference.monteCarloStandardErrors(state)).velocity,
                    gaussian: flows.gaussian.velocity(state), cumulant: flows.cumulant.velocity(state), "K = \(units) \(activation)")
            }
        }
    }

    /// §5 eq. (F): the fused leading diagram (2K convolutions) gives the polarisation path's drift (K^2 cubic
    /// actions) to round-off, weights, trained readouts and biases, for relu and erf at K = 4.
    func testFusedLeadingDiagramMatchesPolarisation() throws {
        let task = try self.task(gain: 2)
        let distribution = try InputDistribution(task.classes[1]), d = task.dimension, units = 4
        let cumulant = try FourthCumulant(distribution, method: .leading)
        let weights = try Initialization.random(scale: 1, seed: 12).weights(dimension: units * d)
        let readouts = [0.5, -0.3, 0.8, 0.2], biases = [0.1, -0.4, 0.3, 0.0]
        for activation in [ActivationKind.relu, .erf] {
            let network = try self.network(units, activation, trained: true)
            func drift(fused: Bool) -> [Double] {
                let closure = CommitteeCumulantClosure(distribution: distribution, target: 1, network: network, cumulant: cumulant,
                                                       fusedLeadingDiagram: fused)
                XCTAssertEqual(closure.fused, fused)
                var out = [Double](repeating: 0, count: units * d + 2 * units)
                out.withUnsafeMutableBufferPointer { o in
                    let base = o.baseAddress!
                    closure.drift(weights: weights, readouts: readouts, biases: biases, weightDrift: base,
                                  readoutDrift: base + units * d, biasDrift: base + units * d + units)
                }
                return out
            }
            let fused = drift(fused: true), polarised = drift(fused: false)
            XCTAssertLessThan(distance(fused, polarised), 1e-12 * norm(polarised), "\(activation)")
        }
    }

    /// §5 eq. (G6): the pair expectations E[g^(j)(a) g^(n)(b)] of the cumulant closure (outer derivatives by
    /// parts) against a two-dimensional trapezoidal sum over the bivariate Gaussian (spectrally accurate for
    /// smooth integrands) for erf, and relu's E[delta(a) delta(b)] against the bivariate density at the kinks.
    func testDerivativePairMomentsMatchQuadrature() throws {
        let (meanA, meanB, varianceA, varianceB, covariance) = (0.3, -0.2, 1.3, 0.7, 0.6)
        let orders: [(inner: Int, outer: Int)] = [(4, 0), (3, 1), (2, 2), (6, 0), (5, 1), (4, 2), (3, 3), (1, 5)]
        let l11 = varianceA.squareRoot(), l21 = covariance / l11, l22 = (varianceB - l21 * l21).squareRoot()
        // erf(x / sqrt 2): g^(n) = (-1)^(n-1) He_(n-1)(x) g'(x), g' = sqrt(2/pi) e^(-x^2/2).
        func derivative(_ n: Int, _ x: Double) -> Double {
            if n == 0 { return erf(x / 2.squareRoot()) }
            var previous = 0.0, current = 1.0
            for m in 0..<(n - 1) { (previous, current) = (current, x * current - Double(m) * previous) }
            return (n % 2 == 1 ? 1 : -1) * current * 0.79788456080286535588 * exp(-0.5 * x * x)
        }
        var expected = [Double](repeating: 0, count: orders.count)
        let n = 400, h = 16.0 / Double(n)
        for i in 0...n {
            for j in 0...n {
                let z1 = -8 + Double(i) * h, z2 = -8 + Double(j) * h
                let weight = h * h * exp(-0.5 * (z1 * z1 + z2 * z2)) / (2 * Double.pi)
                let a = meanA + l11 * z1, b = meanB + l21 * z1 + l22 * z2
                for (index, order) in orders.enumerated() { expected[index] += weight * derivative(order.inner, a) * derivative(order.outer, b) }
            }
        }
        let erfMoments = CommitteePairExpectations(activation: Activation(.erf))
            .derivativePairMoments(orders: orders, meanA: meanA, meanB: meanB, varianceA: varianceA, varianceB: varianceB, covariance: covariance)
        for (index, order) in orders.enumerated() {
            XCTAssertEqual(erfMoments[index], expected[index], accuracy: 1e-9, "E[g^(\(order.inner))(a) g^(\(order.outer))(b)]")
            XCTAssertGreaterThan(abs(expected[index]), 1e-3, "\(order): not trivially zero")
        }
        let relu = CommitteePairExpectations(activation: Activation(.relu))
            .derivativePairMoments(orders: [(2, 2)], meanA: meanA, meanB: meanB, varianceA: varianceA, varianceB: varianceB, covariance: covariance)
        let determinant = varianceA * varianceB - covariance * covariance
        let exponent = (varianceB * meanA * meanA - 2 * covariance * meanA * meanB + varianceA * meanB * meanB) / determinant
        XCTAssertEqual(relu[0], exp(-0.5 * exponent) / (2 * Double.pi * determinant.squareRoot()), accuracy: 1e-9)
    }
}
