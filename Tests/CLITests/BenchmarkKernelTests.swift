import ConvEmerge
import Foundation
import XCTest

/// The library side of `convemerge bench`: the dense baseline computes the same
/// T_lead as the FFT path (derivations/fourth-cumulant.md, leading diagram).
final class BenchmarkKernelTests: XCTestCase {
    private func distribution(dimension: Int, length: Int, xi: Double, gain: Double, jitter: Double = 0,
                              shape: KernelShape = .gaussian, clone: Bool = false) throws -> InputDistribution {
        try InputDistribution(InputSpec(lattice: Lattice(dimension: dimension, length: length),
                                        kernel: Kernel(shape: shape, correlationLength: xi, jitter: jitter),
                                        gain: gain, isGaussianClone: clone))
    }

    private func randomVector(_ size: Int, seed: UInt64) -> [Double] {
        var rng = Xoshiro256(seed: seed)
        return (0..<size).map { _ in rng.nextGaussian() }
    }

    private func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        let scale = b.map(abs).max() ?? 0
        return (zip(a, b).map { abs($0 - $1) }.max() ?? 0) / max(scale, .leastNormalMagnitude)
    }

    /// Dense products and FFT convolutions agree to 1e-10 on the ring and the
    /// torus, with jitter (rho = Sigma/s) and for sign inputs.
    func testDenseLeadingCumulantMatchesFFT() throws {
        let cases = [
            try distribution(dimension: 1, length: 16, xi: 2, gain: 1),
            try distribution(dimension: 1, length: 24, xi: 3, gain: 3, jitter: 0.2, shape: .exponential),
            try distribution(dimension: 2, length: 6, xi: 1.2, gain: 2, jitter: 0.05),
            try distribution(dimension: 1, length: 12, xi: 1.5, gain: .infinity),
        ]
        for (k, inputs) in cases.enumerated() {
            let w = randomVector(inputs.size, seed: UInt64(k))
            let dense = DenseLeadingCumulant(inputs).action(w)
            let fft = try FourthCumulant(inputs, method: .leading).action(w)
            XCTAssertLessThan(relativeDifference(fft, dense), 1e-10, "case \(k): \(inputs.spec)")
            XCTAssertGreaterThan(dense.map(abs).max() ?? 0, 0, "case \(k)")
        }
    }

    /// The dense baseline against the explicit tensor contraction
    /// sum_jkl K_ijkl w_j w_k w_l with the leading-diagram tensor
    /// K_ijkl = 6 c1^3 c3 (rho_ij rho_ik rho_il + rho_ji rho_jk rho_jl + rho_ki rho_kj rho_kl + rho_li rho_lj rho_lk):
    /// one He3 vertex on each of the four legs, Wick-contracted with three He1.
    func testDenseLeadingCumulantIsTheTensorContraction() throws {
        let inputs = try distribution(dimension: 1, length: 7, xi: 1.3, gain: 1.5, jitter: 0.3)
        let d = inputs.size, s = 1.3
        let rho = inputs.baseCovariance.denseMatrix().map { $0 / s }
        let c = HermiteExpansion(psi: inputs.psi, latentVariance: s).coefficients(maxOrder: 3)
        func r(_ a: Int, _ b: Int) -> Double { rho[a * d + b] }
        let w = randomVector(d, seed: 9)
        var expected = [Double](repeating: 0, count: d)
        for i in 0..<d { for j in 0..<d { for k in 0..<d { for l in 0..<d {
            let tensor = r(i, j) * r(i, k) * r(i, l) + r(j, i) * r(j, k) * r(j, l)
                + r(k, i) * r(k, j) * r(k, l) + r(l, i) * r(l, j) * r(l, k)
            expected[i] += 6 * c[1] * c[1] * c[1] * c[3] * tensor * w[j] * w[k] * w[l]
        } } } }
        XCTAssertLessThan(relativeDifference(DenseLeadingCumulant(inputs).action(w), expected), 1e-12)
    }

    /// Gaussian inputs (the clone, or g = 0) have no fourth cumulant.
    func testDenseLeadingCumulantVanishesForGaussianInputs() throws {
        for inputs in [try distribution(dimension: 1, length: 16, xi: 2, gain: 2, clone: true),
                       try distribution(dimension: 1, length: 16, xi: 2, gain: 0)] {
            XCTAssertEqual(DenseLeadingCumulant(inputs).action(randomVector(16, seed: 1)), Array(repeating: 0, count: 16))
        }
    }
}
