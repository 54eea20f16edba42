import ConvEmerge
import Foundation
import XCTest

/// The symmetric extended state of K identical units and its permutation sectors
/// (derivations/committee-stability.md).
final class CommitteeStabilityTests: XCTestCase {
    /// The SPEC §3 ring, small: xi0 = 0.5, xi1 = 2, gain 3; quadratic units (smooth, with closed-form
    /// pair expectations) and targets (0, 1), which have an extended state.
    private func task(length: Int = 16) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3)
        return try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
    }

    private func committee(units: Int, activation: ActivationKind = .quadratic, readout: ReadoutKind = .mf,
                           closure: ClosureKind = .gaussian, length: Int = 16) throws -> CommitteeStabilityAnalysis {
        let network = CommitteeNetwork(units: units, neuron: try NeuronSpec(activation: activation, bias: 0),
                                       options: try NetworkOptions(readout: readout))
        return try CommitteeStabilityAnalysis(task: task(length: length), network: network,
                                              closure: ClosureSpec(kind: closure, monteCarloSamples: 4000), learningRate: 0.7)
    }

    /// K = 1 is the single neuron: the same extended state (amplitude and weights) and the same
    /// growth rate (analytic Jacobian there, central differences here) to 1e-6; and so is the
    /// symmetric sector of K mf units.
    func testOneUnitReproducesTheSingleNeuronInstability() throws {
        for activation in [ActivationKind.quadratic, .relu] {
            let neuron = try InstabilityAnalysis(task: task(), neuron: NeuronSpec(activation: activation, bias: 0),
                                                 closure: ClosureSpec(kind: .gaussian), learningRate: 0.7).analyse()
            let unit = try committee(units: 1, activation: activation).analyse()
            XCTAssertEqual(unit.amplitude, neuron.extendedState.amplitude, accuracy: 1e-9 * neuron.extendedState.amplitude, "\(activation)")
            let distance = euclideanNorm(zip(unit.state, neuron.state).map { $0 - $1 })
            XCTAssertLessThan(distance, 1e-9 * euclideanNorm(neuron.state), "\(activation)")
            XCTAssertEqual(unit.leading.mode.rate, neuron.growthRate, accuracy: 1e-6 * abs(neuron.growthRate), "\(activation)")
        }
        // §2: with the mf readout the symmetric motion of K units is the neuron's flow, so A + (K-1) B is its Jacobian.
        let neuron = try InstabilityAnalysis(task: task(), neuron: NeuronSpec(activation: .quadratic, bias: 0),
                                             closure: ClosureSpec(kind: .gaussian), learningRate: 0.7).analyse()
        let symmetric = try XCTUnwrap(committee(units: 3).analyse().symmetric)
        XCTAssertEqual(symmetric.leading.rate, neuron.growthRate, accuracy: 1e-6 * abs(neuron.growthRate))
    }

    /// §2: the symmetric state is a fixed point, and for quadratic units yhat = K v (w.x)^2 / D is the
    /// single neuron at amplitude r sqrt(K v): r_K = r_1 / sqrt(K v) (mf: v = 1/K, lazy: v = 1/sqrt K).
    func testSymmetricStateIsAFixedPointAtTheQuadraticAmplitude() throws {
        for units in 2...4 {
            for (readout, v) in [(ReadoutKind.mf, 1 / Double(units)), (.lazy, 1 / Double(units).squareRoot())] {
                let report = try committee(units: units, readout: readout).analyse()
                XCTAssertLessThan(report.stateResidual, 1e-12, "K = \(units) \(readout)")
                XCTAssertTrue(report.refined)
                let expected = report.singleNeuronAmplitude / (Double(units) * v).squareRoot()
                XCTAssertEqual(report.amplitude, expected, accuracy: 1e-9 * expected, "K = \(units) \(readout)")
            }
        }
    }

    /// §3: J = I (x) A + (11^T - I) (x) B, so its spectrum is that of A + (K-1) B once and that of
    /// A - B K-1 times, checked on the computed Jacobian (also with the trained readout in each block,
    /// and under the montecarlo closure, whose fixed sample is common to all units).
    func testFullSpectrumIsTheUnionOfTheSectorSpectra() throws {
        let cases: [(Int, ReadoutKind, ClosureKind)] = [(3, .mf, .gaussian), (4, .lazy, .gaussian), (2, .trained, .gaussian), (3, .mf, .montecarlo)]
        for (units, readout, closure) in cases {
            let report = try committee(units: units, readout: readout, closure: closure).analyse()
            XCTAssertLessThan(report.symmetryDeviation, 1e-7, "K = \(units) \(readout) \(closure)")
            let full = (report.modes.map(\.mode) + report.translationModes).map { ($0.rate, $0.frequency) }
            var union = report.symmetric!.modes.map { ($0.rate, $0.frequency) }
            for _ in 1..<units { union += report.difference!.modes.map { ($0.rate, $0.frequency) } }
            XCTAssertEqual(full.count, union.count)
            let scale = full.map { hypot($0.0, $0.1) }.max()!
            for eigenvalue in full {
                let nearest = union.indices.min { hypot(union[$0].0 - eigenvalue.0, union[$0].1 - eigenvalue.1)
                    < hypot(union[$1].0 - eigenvalue.0, union[$1].1 - eigenvalue.1) }!
                XCTAssertLessThan(hypot(union[nearest].0 - eigenvalue.0, union[nearest].1 - eigenvalue.1), 1e-6 * scale,
                                  "K = \(units) \(readout) \(closure): eigenvalue \(eigenvalue)")
                union.remove(at: nearest)
            }
        }
    }

    /// Relabelling the units maps an eigenvector to an eigenvector of the same eigenvalue, and a
    /// difference-sector mode has no unit average.
    func testModesArePermutationCovariant() throws {
        let units = 3, d = 16
        let report = try committee(units: units).analyse()
        let n = report.state.count
        let scale = euclideanNorm(report.jacobian) / Double(n).squareRoot()
        for mode in report.modes.prefix(6) where mode.mode.frequency == 0 {
            let v = mode.mode.vector
            // Units (0, 1, 2) -> (1, 2, 0).
            let permuted = (0..<n).map { i in v[((i / d + 2) % units) * d + i % d] }
            let image = DenseLinearAlgebra.multiply(report.jacobian, n: n, permuted)
            let residual = euclideanNorm(zip(image, permuted).map { $0 - mode.mode.rate * $1 })
            XCTAssertLessThan(residual, 1e-6 * scale, "rate \(mode.mode.rate)")
        }
        XCTAssertEqual(report.leadingSector, "difference")
        XCTAssertLessThan(report.leading.symmetricFraction, 1e-10)
    }

    /// The sectors need identical units and a differentiable flow: alternating biases and an even number
    /// of relu units (spread, opposite units would be antiparallel: a cusp) are refused, naming the flag.
    func testNonIdenticalOrKinkedUnitsAreRefused() throws {
        XCTAssertThrowsError(try committee(units: 2, activation: .relu)) { error in
            XCTAssertEqual((error as? ConvEmergeError).flatMap { if case let .invalidInput(flag, _) = $0 { flag } else { nil } }, "--K")
        }
        let alternating = CommitteeNetwork(units: 2, neuron: try NeuronSpec(activation: .quadratic, bias: 0.3), options: .standard)
        XCTAssertThrowsError(try CommitteeStabilityAnalysis(task: task(), network: alternating, closure: ClosureSpec(kind: .gaussian),
                                                            learningRate: 0.7)) { error in
            XCTAssertEqual((error as? ConvEmergeError).flatMap { if case let .invalidInput(flag, _) = $0 { flag } else { nil } }, "--bias")
        }
    }
}
