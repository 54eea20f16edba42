import ConvEmerge
import Foundation
import XCTest

/// The spread state of K relu units on one Fourier pair at equally spaced phases, its Goldstone mode and
/// its cyclic symmetry (derivations/committee-stability.md §5).
final class CommitteeReluStabilityTests: XCTestCase {
    /// The SPEC §3 ring, small (xi0 = 0.5, xi1 = 2, gain 3, targets (0, 1)): the neuron's k* is the
    /// uniform mode, which has no sin, so the units sit on the pair k = 1.
    private func analysis(units: Int, closure: ClosureKind = .gaussian, length: Int = 16,
                          readout: ReadoutKind = .mf) throws -> CommitteeStabilityAnalysis {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
        let network = CommitteeNetwork(units: units, neuron: try NeuronSpec(activation: .relu, bias: 0),
                                       options: try NetworkOptions(readout: readout))
        return try CommitteeStabilityAnalysis(task: task, network: network, closure: ClosureSpec(kind: closure), learningRate: 0.7)
    }

    /// cos(k x) and sin(k x) on the ring, unit norm.
    private func pair(_ k: Int, length: Int) -> (cosine: [Double], sine: [Double]) {
        let phase = (0..<length).map { 2 * Double.pi * Double(k * $0) / Double(length) }
        return (normalised(phase.map(cos)), normalised(phase.map(sin)))
    }

    private func unit(_ v: [Double], _ k: Int, _ d: Int) -> [Double] { Array(v[(k * d)..<((k + 1) * d)]) }

    /// §5.1-5.2: unit k on r (cos phi_k u_c + sin phi_k u_s), phi_k = 2 pi k / K, is a fixed point of the
    /// Gaussian flow (every velocity in the pair plane, the tangential part killed by the reflection), and r
    /// is where the common radial velocity turns from outward to inward.
    func testSpreadStateIsAGaussianFixedPointAtTheRadialRoot() throws {
        for (units, length) in [(3, 16), (5, 20)] {
            let analysis = try analysis(units: units, length: length)
            let report = try analysis.analyse()
            let spread = try XCTUnwrap(report.spread)
            XCTAssertEqual(report.wavevector, [0])
            XCTAssertEqual(spread.wavevector, [1])
            XCTAssertTrue(spread.replacesSelfConjugatePair)
            XCTAssertLessThan(report.stateResidual, 1e-12, "K = \(units)")
            let (cosine, sine) = pair(1, length: length)
            let r = report.amplitude
            for k in 0..<units {
                let phi = 2 * Double.pi * Double(k) / Double(units)
                let expected = zip(cosine, sine).map { r * (cos(phi) * $0 + sin(phi) * $1) }
                XCTAssertLessThan(euclideanNorm(zip(unit(report.state, k, length), expected).map { $0 - $1 }), 1e-12 * r, "K = \(units), unit \(k)")
            }
            // rho_kl = cos(phi_k - phi_l) on the pair plane (the same Chat_c in Q_kk, Q_kl, Q_ll).
            let largest = (1..<units).map { abs(cos(2 * Double.pi * Double($0) / Double(units))) }.max()!
            XCTAssertEqual(spread.maximumCorrelation, largest, accuracy: 1e-12)
            // The radial velocity sum_k w_k.(dw_k/dt) changes sign from + to - at r.
            let radial = { (scale: Double) -> Double in
                let w = report.state.map { $0 * scale }
                let v = analysis.flow.velocity(w)
                return dot(Array(w[0..<(units * length)]), Array(v[0..<(units * length)]))
            }
            XCTAssertGreaterThan(radial(0.99), 0, "K = \(units)")
            XCTAssertLessThan(radial(1.01), 0, "K = \(units)")
        }
    }

    /// §5.3: under the Gaussian closure a common rotation of the phases is a symmetry, and on the pair it is the
    /// lattice translation: J annihilates the rotation generator (unit k: w_k rotated by 90 degrees in the plane)
    /// to the finite-difference error, and the excluded translation mode is that generator with rate ~ 0.
    func testCommonRotationIsTheTranslationGoldstoneMode() throws {
        let units = 3, length = 16
        let report = try analysis(units: units, length: length).analyse()
        let (cosine, sine) = pair(1, length: length)
        var generator = [Double](repeating: 0, count: report.state.count)
        for k in 0..<units {
            let w = unit(report.state, k, length)
            let (a, b) = (dot(w, cosine), dot(w, sine))
            for i in 0..<length { generator[k * length + i] = -b * cosine[i] + a * sine[i] }
        }
        generator = normalised(generator)
        let n = report.state.count
        let scale = euclideanNorm(report.jacobian) / Double(n).squareRoot()
        // Central differences with relative step 1e-6: truncation ~1e-12 and round-off ~1e-10 of the scale.
        XCTAssertLessThan(euclideanNorm(DenseLinearAlgebra.multiply(report.jacobian, n: n, generator)), 1e-6 * scale)
        XCTAssertEqual(report.translationModes.count, 1)
        let translation = try XCTUnwrap(report.translationModes.first)
        XCTAssertLessThan(abs(translation.rate), 1e-6 * scale)
        XCTAssertGreaterThan(abs(dot(translation.vector, generator)), 1 - 1e-6)
        // No other mode is a zero mode by symmetry: the leading rate is well away from 0.
        XCTAssertGreaterThan(abs(report.leading.mode.rate), 1e-3 * scale)
    }

    /// §5.3, torus: the units sit on the stripe pair k = (0, 1); the rotations mixing it with (1, 0), the rest of
    /// its star (same Chat_c), move unit k by e (p.w_k) and are exact zero modes of the Gaussian flow besides the
    /// translation: 1 + 2 x 2 excluded modes, all with rate ~ 0, and J annihilates each generator.
    func testStarRotationsAreGoldstoneModesOnTheTorus() throws {
        let units = 3, length = 10, d = length * length
        let lattice = try Lattice(dimension: 2, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
        let network = CommitteeNetwork(units: units, neuron: try NeuronSpec(activation: .relu, bias: 0), options: try NetworkOptions(readout: .mf))
        let report = try CommitteeStabilityAnalysis(task: task, network: network, closure: ClosureSpec(kind: .gaussian),
                                                    learningRate: 0.7).analyse()
        XCTAssertEqual(try XCTUnwrap(report.spread).wavevector, [0, 1])
        let n = report.state.count
        let scale = euclideanNorm(report.jacobian) / Double(n).squareRoot()
        XCTAssertEqual(report.translationModes.count, 5)
        for mode in report.translationModes { XCTAssertLessThan(abs(mode.rate), 1e-6 * scale) }
        XCTAssertGreaterThan(abs(report.leading.mode.rate), 1e-3 * scale)
        let wave = { (f: (Double) -> Double, alongRows: Bool) -> [Double] in
            normalised((0..<d).map { f(2 * Double.pi * Double(alongRows ? $0 / length : $0 % length) / Double(length)) })
        }
        for e in [wave(cos, true), wave(sin, true)] {
            for p in [wave(cos, false), wave(sin, false)] {
                let generator = (0..<units).flatMap { k in e.map { $0 * dot(p, self.unit(report.state, k, d)) } }
                let image = DenseLinearAlgebra.multiply(report.jacobian, n: n, generator)
                XCTAssertLessThan(euclideanNorm(image), 1e-6 * scale * euclideanNorm(generator))
            }
        }
    }

    /// §5.4: G = (relabel k -> k+1) o (rotation by -2 pi / K in the pair plane) fixes the state, so under the
    /// Gaussian closure G J G^T = J; G maps each eigenvector to one of the same eigenvalue, and real
    /// eigenvalues of the sectors m != 0 are double (m and -m, related by the reflection).
    func testJacobianCommutesWithRelabellingAndRotation() throws {
        let units = 3, length = 16
        let report = try analysis(units: units, length: length).analyse()
        let (cosine, sine) = pair(1, length: length)
        let n = report.state.count
        let angle = -2 * Double.pi / Double(units)
        let g = { (x: [Double]) -> [Double] in
            (0..<units).flatMap { k -> [Double] in
                let w = self.unit(x, (k + 1) % units, length)
                let (a, b) = (dot(w, cosine), dot(w, sine))
                let (ra, rb) = (a * cos(angle) - b * sin(angle), a * sin(angle) + b * cos(angle))
                return (0..<length).map { w[$0] + (ra - a) * cosine[$0] + (rb - b) * sine[$0] }
            }
        }
        XCTAssertLessThan(euclideanNorm(zip(g(report.state), report.state).map { $0 - $1 }), 1e-12 * euclideanNorm(report.state))
        let scale = euclideanNorm(report.jacobian) / Double(n).squareRoot()
        var basis = [Double](repeating: 0, count: n)
        var largest = 0.0
        for j in 0..<n {
            basis[j] = 1
            let column = g(basis)
            basis[j] = 0
            // (J G) e_j against (G J) e_j.
            let jg = DenseLinearAlgebra.multiply(report.jacobian, n: n, column)
            let gj = g((0..<n).map { report.jacobian[$0 * n + j] })
            largest = max(largest, euclideanNorm(zip(jg, gj).map { $0 - $1 }))
        }
        XCTAssertLessThan(largest, 1e-6 * scale)
        XCTAssertLessThan(report.symmetryDeviation, 1e-6)
        for mode in report.modes.prefix(6) where mode.mode.frequency == 0 {
            let image = g(mode.mode.vector)
            let residual = DenseLinearAlgebra.multiply(report.jacobian, n: n, image)
            XCTAssertLessThan(euclideanNorm(zip(residual, image).map { $0 - mode.mode.rate * $1 }), 1e-6 * scale)
            let sector = try XCTUnwrap(mode.cyclicSector)
            XCTAssertGreaterThan(try XCTUnwrap(mode.cyclicWeight), 1 - 1e-6)
            if sector != 0 {
                let twins = report.modes.filter { abs($0.mode.rate - mode.mode.rate) <= 1e-6 * scale && $0.mode.frequency == 0 }
                XCTAssertGreaterThanOrEqual(twins.count, 2, "rate \(mode.mode.rate) of sector \(sector)")
            }
        }
    }

    /// §5.3: the cumulant closure keeps only lattice translations; Newton still finds its fixed point next to
    /// the Gaussian spread state, which it does not hold (residual there > 0).
    func testCumulantRefinesTheSpreadState() throws {
        let report = try analysis(units: 3, closure: .cumulant).analyse()
        let spread = try XCTUnwrap(report.spread)
        XCTAssertTrue(report.refined)
        XCTAssertLessThan(report.stateResidual, 1e-10)
        XCTAssertGreaterThan(spread.closureResidualAtGaussianState, 1e3 * report.stateResidual)
        XCTAssertLessThan(spread.maximumCorrelation, 0.9)
    }

    /// §5.2: an even number of relu units would have antiparallel units (rho = -1, a cusp) and is refused,
    /// naming --K; smooth (quadratic) units keep the identical-unit analysis.
    func testEvenKAndSmoothUnitsTakeTheirOwnPaths() throws {
        for units in [2, 4] {
            XCTAssertThrowsError(try analysis(units: units)) { error in
                XCTAssertEqual((error as? ConvEmergeError).flatMap { if case let .invalidInput(flag, _) = $0 { flag } else { nil } }, "--K")
            }
        }
        let lattice = try Lattice(dimension: 1, length: 16)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 3)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
        let smooth = try CommitteeStabilityAnalysis(task: task, network: CommitteeNetwork(units: 2, neuron: NeuronSpec(activation: .quadratic, bias: 0),
                                                                                          options: NetworkOptions(readout: .mf)),
                                                    closure: ClosureSpec(kind: .gaussian), learningRate: 0.7)
        XCTAssertFalse(smooth.usesSpreadState)
        let report = try smooth.analyse()
        XCTAssertNil(report.spread)
        XCTAssertNotNil(report.symmetric)
        XCTAssertLessThan(report.symmetryDeviation, 1e-7)
    }
}
