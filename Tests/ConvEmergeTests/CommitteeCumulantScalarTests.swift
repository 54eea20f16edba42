import ConvEmerge
import Foundation
import XCTest

/// The pair corrections of the K-unit cumulant closure to the scalar expectations: the bias drift E[f_k], the
/// trained readout's drift E[(y - yhat) g_k] and the loss (derivations/committee-closures.md §5, "Scalar
/// corrections (eq. S)").
final class CommitteeCumulantScalarTests: XCTestCase {
    private func task(gain: Double) throws -> TaskSpec { try CommitteeClosureFixture.task(gain: gain) }

    /// A two-layer network with trained readouts and biases (`twolayer --train-bias --bias-init`).
    private func network(_ units: Int, _ activation: ActivationKind) throws -> CommitteeNetwork {
        CommitteeNetwork(units: units, neuron: try NeuronSpec(activation: activation, bias: 0.2),
                         options: try NetworkOptions(readout: .trained, trainBias: true, biasInit: "0.3"))
    }

    /// Units three sites apart on the ring (their receptive fields overlap), then readouts and biases of both signs.
    private func state(units: Int, dimension d: Int) -> [Double] {
        let weights = CommitteeClosureFixture.overlappingWeights(units: units, dimension: d)
        return weights + [0.9, -0.6, 0.7].prefix(units) + [0.3, -0.4, 0.1].prefix(units)
    }

    private func norm(_ a: [Double]) -> Double { CommitteeClosureFixture.norm(a) }
    private func distance(_ a: [Double], _ b: [Double]) -> Double { CommitteeClosureFixture.distance(a, b) }

    /// Both cumulant paths (`--cumulant full`, the polarisation, and the fused leading diagram) for relu and erf, each
    /// with the gaussian closure of the same network.
    private func forEachCumulantFlow(task: TaskSpec, units: Int,
                                     _ body: (ActivationKind, CumulantMethod, CommitteeNetwork, CommitteeFlow, CommitteeFlow) throws -> Void) throws {
        for activation in [ActivationKind.relu, .erf] {
            let network = try self.network(units, activation)
            let gaussian = try CommitteeFlow(task: task, network: network, closure: ClosureSpec(kind: .gaussian), learningRate: 1)
            for method in [CumulantMethod.full, .leading] {
                let flow = try CommitteeFlow(task: task, network: network, closure: ClosureSpec(kind: .cumulant, cumulantMethod: method),
                                             learningRate: 1)
                try body(activation, method, network, flow, gaussian)
            }
        }
    }

    /// On NLGP at gain 1.5, with trained readouts and biases at K = 2 and 3 (overlapping units), the cumulant closure's
    /// bias drift, readout drift and loss (exact cumulant, `--cumulant full`) are closer to Monte Carlo (M = 800000 per
    /// class) than the gaussian closure's, by a margin of more than 4 Monte Carlo errors of the projection.
    func testScalarCorrectionsBeatGaussianAgainstMonteCarlo() throws {
        let task = try self.task(gain: 1.5)
        for units in 2...3 {
            for activation in [ActivationKind.relu, .erf] {
                let (reference, gaussian, cumulant) = try CommitteeClosureFixture.closures(task: task, network: network(units, activation),
                                                                                            seed: 11)
                let state = self.state(units: units, dimension: task.dimension)
                let truth = reference.velocity(state), errors = try XCTUnwrap(reference.monteCarloStandardErrors(state))
                let gaussianVelocity = gaussian.velocity(state), cumulantVelocity = cumulant.velocity(state)
                let label = "K = \(units) \(activation)"
                for (name, offset) in [("readout drift", reference.layout.readoutOffset), ("bias drift", reference.layout.biasOffset)] {
                    let range = offset..<(offset + units)
                    CommitteeClosureFixture.assertCumulantCloser(
                        truth: Array(truth[range]), errors: Array(errors.velocity[range]), gaussian: Array(gaussianVelocity[range]),
                        cumulant: Array(cumulantVelocity[range]), "\(label) \(name)")
                }
                CommitteeClosureFixture.assertCumulantCloser(truth: [reference.loss(state)], errors: [errors.loss],
                                                             gaussian: [gaussian.loss(state)], cumulant: [cumulant.loss(state)],
                                                             "\(label) loss")
            }
        }
    }

    /// §5 eq. (S): relabelling the units (weights, trained readouts, biases) relabels the bias and readout drifts, pair
    /// corrections included, and leaves the loss unchanged, on the polarisation path (`--cumulant full`) and the fused one;
    /// the corrections are not trivially zero.
    func testScalarCorrectionsArePermutationSymmetric() throws {
        let task = try self.task(gain: 2)
        let d = task.dimension, units = 3, permutation = [2, 0, 1]
        let state = self.state(units: units, dimension: d)
        func permuted(_ s: [Double]) -> [Double] {
            permutation.flatMap { Array(s[($0 * d)..<(($0 + 1) * d)]) } + permutation.map { s[units * d + $0] }
                + permutation.map { s[units * d + units + $0] }
        }
        try forEachCumulantFlow(task: task, units: units) { activation, method, network, flow, gaussian in
            let velocity = flow.velocity(state), scalars = Array(velocity[(units * d)...])
            let permutedScalars = Array(flow.velocity(permuted(state))[(units * d)...])
            XCTAssertLessThan(distance(permutedScalars, Array(permuted(velocity)[(units * d)...])), 1e-13 * norm(scalars),
                              "\(activation) \(method)")
            XCTAssertEqual(flow.loss(permuted(state)), flow.loss(state), accuracy: 1e-13, "\(activation) \(method) loss")
            let gaussianScalars = Array(gaussian.velocity(state)[(units * d)...])
            XCTAssertGreaterThan(distance(scalars, gaussianScalars), 1e-3 * norm(gaussianScalars), "\(activation) \(method): corrected")
        }
    }

    /// §5 eq. (S): the corrections are first order in the fourth cumulant, O(gain^2) as the NLGP gain vanishes, so the
    /// cumulant - gaussian gap of the bias drift, of the readout drift and of the loss each fall 4x when the gain halves (K = 3).
    func testScalarCorrectionsVanishLikeTheCumulant() throws {
        let units = 3
        for activation in [ActivationKind.relu, .erf] {
            var gaps: [[Double]] = []
            for gain in [0.1, 0.05] {
                let task = try self.task(gain: gain), d = task.dimension
                let network = try self.network(units, activation)
                let state = self.state(units: units, dimension: d)
                let gaussian = try CommitteeFlow(task: task, network: network, closure: ClosureSpec(kind: .gaussian), learningRate: 1)
                let cumulant = try CommitteeFlow(task: task, network: network, closure: ClosureSpec(kind: .cumulant), learningRate: 1)
                let g = gaussian.velocity(state), c = cumulant.velocity(state)
                let readouts = (units * d)..<(units * d + units), biases = (units * d + units)..<(units * d + 2 * units)
                gaps.append([distance(Array(c[readouts]), Array(g[readouts])) / norm(Array(g[readouts])),
                             distance(Array(c[biases]), Array(g[biases])) / norm(Array(g[biases])),
                             abs(cumulant.loss(state) - gaussian.loss(state)) / gaussian.loss(state)])
            }
            for (index, name) in ["readout drift", "bias drift", "loss"].enumerated() {
                XCTAssertLessThan(gaps[1][index], 1e-2, "\(activation) \(name)")
                XCTAssertEqual(gaps[0][index] / gaps[1][index], 4, accuracy: 0.4, "\(activation) \(name): gap ratio for gain 0.1 / 0.05")
            }
        }
    }

    /// §5 eq. (S) against closed forms and the exact expectation: for g(a) = a^2 the readout drift (y - yhat) a_k^2 is a
    /// polynomial of degree 4 in lambda, so with no third cumulant (odd marginals) its expectation is the Gaussian one plus
    /// the fourth cumulants exactly, E[a_k^2 a_m^2] = E_G + kappa_kkmm: the closure's cumulant - gaussian is
    /// -sum_m v_m kappa_kkmm (m = k included) per class, the loss's (1/2) sum_(k,m) v_k v_m kappa_kkmm, the bias's (a cubic) 0,
    /// with kappa_kkmm = w_k.T(w_k, w_m, w_m) / D^2 from the exact cumulant. And the readout drift agrees with Monte Carlo
    /// within 4 standard errors, where the own-unit terms alone (kappa_kkkk only) would not.
    func testQuadraticUnitsGetTheExactFourthMomentCorrections() throws {
        let task = try self.task(gain: 1.5), units = 3
        let d = task.dimension
        let distributions = try task.classes.map(InputDistribution.init)
        let network = try self.network(units, .quadratic)
        func flow(_ closure: ClosureSpec) throws -> CommitteeFlow {
            try CommitteeFlow(task: task, network: network, closure: closure, learningRate: 1, distributions: distributions)
        }
        let state = self.state(units: units, dimension: d).enumerated().map { $0.offset < units * d ? 0.5 * $0.element : $0.element }
        let w = (0..<units).map { Array(state[($0 * d)..<(($0 + 1) * d)]) }, v = Array(state[(units * d)..<(units * d + units)])
        // kappa[c][k][m] = kappa_kkmm of class c.
        let kappa = try distributions.map { distribution -> [[Double]] in
            let cumulant = try FourthCumulant(distribution, method: .full), workspace = cumulant.makeWorkspace()
            return w.map { wk in w.map { wm in
                zip(wk, cumulant.multilinearAction(wk, wm, wm, workspace: workspace)).reduce(0) { $0 + $1.0 * $1.1 } / Double(d * d)
            } }
        }
        let gaussianFlow = try flow(ClosureSpec(kind: .gaussian)), cumulantFlow = try flow(ClosureSpec(kind: .cumulant, cumulantMethod: .full))
        let gaussian = gaussianFlow.velocity(state), cumulant = cumulantFlow.velocity(state)
        let readouts = (units * d)..<(units * d + units), biases = (units * d + units)..<(units * d + 2 * units)
        let expectedReadoutGap = (0..<units).map { k in
            zip(task.priors, kappa).reduce(0.0) { total, c in total - c.0 * (0..<units).reduce(0.0) { $0 + v[$1] * c.1[k][$1] } }
        }
        let readoutGap = zip(cumulant[readouts], gaussian[readouts]).map { $0 - $1 }
        XCTAssertLessThan(distance(readoutGap, expectedReadoutGap), 1e-8 * norm(expectedReadoutGap), "readout: -sum_m v_m kappa_kkmm")
        XCTAssertLessThan(distance(Array(cumulant[biases]), Array(gaussian[biases])), 1e-8 * norm(Array(gaussian[biases])), "bias: no correction")
        let expectedLossGap = zip(task.priors, kappa).reduce(0.0) { total, c in
            total + c.0 * 0.5 * (0..<units).reduce(0.0) { sum, k in sum + (0..<units).reduce(0.0) { $0 + v[k] * v[$1] * c.1[k][$1] } }
        }
        XCTAssertEqual(cumulantFlow.loss(state) - gaussianFlow.loss(state), expectedLossGap, accuracy: 1e-8 * abs(expectedLossGap), "loss")

        let reference = try flow(ClosureSpec(kind: .montecarlo, monteCarloSamples: 800_000, monteCarloSeed: 13))
        let truth = reference.velocity(state), errors = try XCTUnwrap(reference.monteCarloStandardErrors(state)).velocity
        // The own-unit terms alone: the pair kappa_kkmm (m != k) removed.
        let ownOnly = (0..<units).map { k in
            cumulant[units * d + k] + zip(task.priors, kappa).reduce(0.0) { total, c in
                total + c.0 * (0..<units).reduce(0.0) { $0 + ($1 == k ? 0 : v[$1] * c.1[k][$1]) }
            }
        }
        var ownOnlyMisses = false
        for k in 0..<units {
            let i = units * d + k
            print("quadratic unit \(k): mc \(truth[i]) +- \(errors[i]), cumulant \(cumulant[i]), own only \(ownOnly[k]), gaussian \(gaussian[i])")
            XCTAssertEqual(cumulant[i], truth[i], accuracy: 4 * errors[i], "readout drift of unit \(k)")
            ownOnlyMisses = ownOnlyMisses || abs(ownOnly[k] - truth[i]) > 4 * errors[i]
        }
        XCTAssertTrue(ownOnlyMisses, "the pair cumulants are resolved by the Monte Carlo reference")
    }

    /// §5 eq. (S): the three corrections are those of one loss. The law of lambda does not depend on v or b and the
    /// expansion is linear in F, so term by term dL/dv_k = -E[(y - yhat) g_k] and dL/db_k = -E[f_k]: by central
    /// differences of the closure's loss, dL/dv_k = -(dv_k/dt) / eta and dL/db_k = -(db_k/dt) / (eta r), at K = 3, where the
    /// corrections (over 100 times the tolerance) would break it if any ordering or moment were wrong.
    func testScalarDriftsAreMinusTheGradientOfTheLoss() throws {
        let task = try self.task(gain: 2), units = 3
        let state = self.state(units: units, dimension: task.dimension), step = 1e-4
        try forEachCumulantFlow(task: task, units: units) { activation, method, network, flow, gaussian in
            let velocity = flow.velocity(state), gaussianVelocity = gaussian.velocity(state)
            let layout = flow.layout
            for (name, offset, rate) in [("v", layout.readoutOffset, 1.0), ("b", layout.biasOffset, network.weightRateFactor)] {
                let range = offset..<(offset + units)
                XCTAssertGreaterThan(distance(Array(velocity[range]), Array(gaussianVelocity[range])) / rate, 1e-5, "\(activation) \(method) \(name): corrected")
                for k in 0..<units {
                    var plus = state, minus = state
                    plus[offset + k] += step
                    minus[offset + k] -= step
                    let gradient = (flow.loss(plus) - flow.loss(minus)) / (2 * step)
                    XCTAssertEqual(gradient, -velocity[offset + k] / rate, accuracy: 1e-7, "\(activation) \(method) dL/d\(name)_\(k)")
                }
            }
        }
    }
}
