import ConvEmerge
import Foundation
import XCTest

/// The multilinear fourth-cumulant action T(u, v, w) (derivations/committee-closures.md §4).
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
}
