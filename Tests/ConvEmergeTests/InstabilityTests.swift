import ConvEmerge
import Foundation
import XCTest

/// Linear stability of the extended state (derivations/linear-stability.md, derivations/closure-jacobians.md).
final class InstabilityTests: XCTestCase {
    /// The SPEC §3 task on a small ring: relu, targets (0, 1), xi0 = 0.5, xi1 = 2.
    private func analysis(gain: Double, length: Int = 24, closure: ClosureKind = .cumulant,
                          activation: ActivationKind = .relu, bias: Double = 0, targets: [Double] = [0, 1],
                          xi0: Double = 0.5, xi1: Double = 2) throws -> InstabilityAnalysis {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: gain)
        let task = try TaskSpec.xi(base: base, xi0: xi0, xi1: xi1, gaussianControl: false, prior1: 0.5, targets: targets)
        return try InstabilityAnalysis(task: task, neuron: NeuronSpec(activation: activation, bias: bias),
                                       closure: ClosureSpec(kind: closure), learningRate: 0.7)
    }

    /// The montecarlo closure has no Jacobian for relu (a sample average misses the jump's
    /// delta function): refused, naming the flag; a smooth neuron is accepted.
    func testMonteCarloJacobianIsRefusedForKinkedNeurons() throws {
        XCTAssertThrowsError(try analysis(gain: 1, closure: .montecarlo)) { error in
            guard case let ConvEmergeError.invalidInput(flag, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(flag, "--closure")
        }
    }

    private func fourierMode(_ k: Int, length: Int, sine: Bool = false) -> [Double] {
        let v = (0..<length).map { i -> Double in
            let phase = 2 * Double.pi * Double(k * i) / Double(length)
            return sine ? sin(phase) : cos(phase)
        }
        let norm = (v.reduce(0) { $0 + $1 * $1 }).squareRoot()
        return v.map { $0 / norm }
    }

    private func frobenius(_ m: [Double]) -> Double { (m.reduce(0) { $0 + $1 * $1 }).squareRoot() }

    /// derivations/linear-stability.md eq. (2): at small w the Gaussian flow of a smooth neuron is
    /// linear, dw/dt = eta sum_c p_c E_G[h_c'](q) C_c w, so a finite-difference Jacobian is diagonal in
    /// Fourier space with the dispersion omega(k) on its diagonal.
    func testDispersionMatchesFiniteDifferenceJacobianAtSmallW() throws {
        let length = 24
        let stability = try analysis(gain: 2, length: length, closure: .gaussian, activation: .erf, bias: 0.4, targets: [-0.5, 1])
        var rng = Xoshiro256(seed: 11)
        let w = (0..<length).map { _ in 1e-4 * rng.nextGaussian() }
        let jacobian = stability.flow.jacobian(at: w, relativeStep: 1e-3)
        let omega = stability.dispersion(overlaps: stability.flow.overlaps(w)).omega
        let scale = omega.map(abs).max()!
        for k in 0...(length / 2) {
            for sine in k == 0 || k == length / 2 ? [false] : [false, true] {
                let u = fourierMode(k, length: length, sine: sine)
                let ju = DenseLinearAlgebra.multiply(jacobian, n: length, u)
                for i in 0..<length { XCTAssertEqual(ju[i], omega[k] * u[i], accuracy: 1e-7 * scale, "k = \(k)") }
            }
        }
    }

    /// derivations/linear-stability.md eqs. (3)-(5): the extended state of the relu task is a fixed
    /// point of the Gaussian flow; its Jacobian (central differences of the flow) has eigenvalue
    /// radialRate along w and omega(k) on every Fourier mode outside the k* pair; all of those are
    /// below zero, so the selected state is stable against the other Fourier modes.
    func testExtendedStateIsAStableFixedPointOfTheGaussianFlow() throws {
        let length = 24
        let stability = try analysis(gain: 1.5, length: length, closure: .gaussian)
        let state = try stability.extendedState()
        let w = state.weights
        let velocity = stability.flow.velocity(w)
        let rateScale = stability.dispersion(overlaps: state.overlaps).omega.map(abs).max()!
        XCTAssertLessThan(frobenius(velocity), 1e-10 * rateScale * state.amplitude)
        let jacobian = stability.flow.jacobian(at: w)
        let jw = DenseLinearAlgebra.multiply(jacobian, n: length, w)
        for i in 0..<length { XCTAssertEqual(jw[i], state.radialRate * w[i], accuracy: 1e-6 * rateScale * state.amplitude) }
        XCTAssertLessThan(state.radialRate, 0)
        let omega = stability.dispersion(overlaps: state.overlaps).omega
        XCTAssertEqual(omega[state.mode], 0, accuracy: 1e-10 * rateScale)
        let k = state.wavevector[0]
        for other in 0...(length / 2) where other != k {
            let u = fourierMode(other, length: length)
            let ju = DenseLinearAlgebra.multiply(jacobian, n: length, u)
            for i in 0..<length { XCTAssertEqual(ju[i], omega[other] * u[i], accuracy: 1e-6 * rateScale) }
            XCTAssertLessThan(omega[other], 0)
        }
        // The analysis reports the Gaussian growth rate: the largest omega outside k*.
        let report = try stability.analyse()
        XCTAssertEqual(report.growthRate, max(state.selectionMargin, state.radialRate), accuracy: 1e-8 * rateScale)
    }

    /// derivations/closure-jacobians.md eq. (4): the analytic Jacobian of the cumulant closure
    /// agrees with central differences of its right-hand side at a generic w (leading and full).
    func testAnalyticCumulantJacobianMatchesFiniteDifferences() throws {
        for method in [CumulantMethod.leading, .full] {
            let length = method == .full ? 12 : 24
            let lattice = try Lattice(dimension: 1, length: length)
            let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 1.5), gain: 2)
            let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 1.5, gaussianControl: false, prior1: 0.4, targets: [0, 1])
            let stability = try InstabilityAnalysis(task: task, neuron: NeuronSpec(activation: .relu, bias: 0.1),
                                                    closure: ClosureSpec(kind: .cumulant, cumulantMethod: method), learningRate: 1)
            var rng = Xoshiro256(seed: 4)
            let w = (0..<length).map { _ in 0.5 + 0.3 * rng.nextGaussian() }
            let analytic = stability.jacobian(at: w)
            let numeric = stability.flow.jacobian(at: w, relativeStep: 1e-5)
            let difference = frobenius(zip(analytic, numeric).map { $0 - $1 })
            XCTAssertLessThan(difference, 1e-6 * frobenius(numeric), "\(method)")
        }
    }

    /// As g -> 0 the fourth cumulant vanishes like g^2 (c3 ~ g^2), so the cumulant closure's Jacobian
    /// at the extended state tends to the Gaussian closure's, the gap shrinking ~4x per halving of g.
    func testCumulantJacobianTendsToGaussianAsGainVanishes() throws {
        var gaps: [Double] = []
        for gain in [0.4, 0.2, 0.1] {
            let cumulant = try analysis(gain: gain, closure: .cumulant)
            let gaussian = try analysis(gain: gain, closure: .gaussian)
            let w = try gaussian.extendedState().weights
            let a = cumulant.jacobian(at: w), b = gaussian.jacobian(at: w)
            gaps.append(frobenius(zip(a, b).map { $0 - $1 }) / frobenius(b))
        }
        XCTAssertLessThan(gaps[2], 0.02)
        for k in 0..<2 {
            let ratio = gaps[k] / gaps[k + 1]
            XCTAssertGreaterThan(ratio, 3.3)
            XCTAssertLessThan(ratio, 4.7)
        }
        // And at g = 0 the cumulant closure is the Gaussian closure: same growth rate.
        let atZero = try analysis(gain: 0, closure: .cumulant).analyse()
        let gaussianAtZero = try analysis(gain: 0, closure: .gaussian).analyse()
        XCTAssertEqual(atZero.growthRate, gaussianAtZero.growthRate, accuracy: 1e-10)
    }

    /// The translation (Goldstone) mode of a Gaussian extended state at 0 < k* < L/2 (here xi0 = 2,
    /// xi1 = 0.7, targets (0.5, 1) select k* = 7 of 24) is sin(k* x), has eigenvalue 0, and is excluded;
    /// a uniform state (k* = 0, the SPEC §3 task) has no translation mode.
    func testTranslationModeIsExcluded() throws {
        let length = 24
        let report = try analysis(gain: 1, length: length, closure: .gaussian, targets: [0.5, 1], xi0: 2, xi1: 0.7).analyse()
        let k = report.extendedState.wavevector[0]
        XCTAssertTrue(k > 0 && k < length / 2, "k* = \(k)")
        XCTAssertEqual(report.translationModes.count, 1)
        let translation = try XCTUnwrap(report.translationModes.first)
        XCTAssertEqual(translation.rate, 0, accuracy: 1e-9)
        let sine = fourierMode(k, length: length, sine: true)
        XCTAssertEqual(abs(zip(sine, translation.vector).reduce(0) { $0 + $1.0 * $1.1 }), 1, accuracy: 1e-8)
        XCTAssertTrue(report.modes.allSatisfy { $0.rate <= report.growthRate + 1e-12 || $0.translationOverlap > 0.5 })
        let uniform = try analysis(gain: 1, length: length, closure: .gaussian).analyse()
        XCTAssertEqual(uniform.extendedState.wavevector, [0])
        XCTAssertTrue(uniform.translationModes.isEmpty)
    }

    /// Bracketing and bisection find the root of a known function, and report none without a sign change.
    func testGainScanBisectsTheSignChange() throws {
        let scan = try InstabilityAnalysis.scanGain(from: 0, to: 2, samples: 5, tolerance: 1e-6) { $0 * $0 - 0.3 }
        XCTAssertEqual(try XCTUnwrap(scan.criticalGain), 0.3.squareRoot(), accuracy: 1e-6)
        let none = try InstabilityAnalysis.scanGain(from: 0, to: 2, samples: 5, tolerance: 1e-6) { 1 + $0 }
        XCTAssertNil(none.criticalGain)
    }
}
