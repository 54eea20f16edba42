import ConvEmerge
import Foundation
import XCTest

/// Z-eigenpairs of the fourth-cumulant tensor (derivations/tensor-eigenpairs.md).
final class TensorTests: XCTestCase {
    private func cumulant(length: Int = 24, xi: Double = 2, gain: Double = 3, method: CumulantMethod = .leading) throws -> FourthCumulant {
        let lattice = try Lattice(dimension: 1, length: length)
        let spec = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: xi), gain: gain)
        return try FourthCumulant(InputDistribution(spec), method: method)
    }

    /// The largest IPR of any real Fourier mode cos(2 pi k i / L + phi) on the ring (phases on a fine grid).
    private func largestFourierIPR(length: Int) -> Double {
        var best = 0.0
        for k in 0...(length / 2) {
            for p in 0..<64 {
                let phi = Double.pi * Double(p) / 64
                let mode = (0..<length).map { cos(2 * Double.pi * Double(k * $0) / Double(length) + phi) }
                best = max(best, Observables.inverseParticipationRatio(mode))
            }
        }
        return best
    }

    /// derivations/closure-jacobians.md eq. (5): the gradient of the cubic form T is symmetric,
    /// obeys Euler's relation grad T(w) w = 3 T(w), and matches a plain finite difference.
    func testCumulantGradientIsExact() throws {
        let t = try cumulant()
        var rng = Xoshiro256(seed: 5)
        let w = (0..<t.size).map { _ in rng.nextGaussian() }
        let g = t.gradient(at: w)
        let d = t.size
        let euler = DenseLinearAlgebra.multiply(g, n: d, w)
        let tw = t.action(w)
        let scale = tw.map(abs).max()!
        for i in 0..<d {
            XCTAssertEqual(euler[i], 3 * tw[i], accuracy: 1e-10 * scale)
            for j in 0..<d { XCTAssertEqual(g[i * d + j], g[j * d + i], accuracy: 1e-10 * scale) }
        }
        // A directional difference with a tiny step agrees to its O(h^2) truncation.
        let v = (0..<d).map { _ in rng.nextGaussian() }
        let h = 1e-4
        let plus = t.action(zip(w, v).map { $0 + h * $1 }), minus = t.action(zip(w, v).map { $0 - h * $1 })
        let directional = DenseLinearAlgebra.multiply(g, n: d, v)
        for i in 0..<d { XCTAssertEqual(directional[i], (plus[i] - minus[i]) / (2 * h), accuracy: 1e-6 * scale) }
    }

    /// SS-HOPM eigenpairs satisfy T(w) = mu w to 1e-8 (relative), have mu < 0 (the NLGP's cumulant
    /// is negative), and are localised: their IPR exceeds that of every Fourier mode.
    func testEigenpairsAreLocalisedZEigenvectors() throws {
        let t = try cumulant()
        let solver = try TensorEigenSolver(cumulant: t, extremum: .min, tolerance: 1e-11)
        let pairs = try solver.eigenpairs(restarts: 4, seed: 1)
        let fourier = largestFourierIPR(length: t.size)
        XCTAssertFalse(pairs.isEmpty)
        for pair in pairs {
            let tw = t.action(pair.vector)
            let mu = zip(tw, pair.vector).reduce(0) { $0 + $1.0 * $1.1 }
            let residual = (zip(tw, pair.vector).reduce(0) { $0 + ($1.0 - mu * $1.1) * ($1.0 - mu * $1.1) }).squareRoot()
            XCTAssertTrue(pair.converged)
            XCTAssertLessThan(residual, 1e-8 * abs(mu))
            XCTAssertEqual(pair.eigenvalue, mu, accuracy: 1e-12 * abs(mu))
            XCTAssertLessThan(mu, 0)
            XCTAssertGreaterThan(pair.ipr, fourier, "eigenvector IPR \(pair.ipr) vs the largest Fourier IPR \(fourier)")
        }
        // The global minimum over the sphere is at most mu of any Fourier mode's Rayleigh quotient.
        let mode = (0..<t.size).map { cos(2 * Double.pi * 2 * Double($0) / Double(t.size)) }
        let norm = (mode.reduce(0) { $0 + $1 * $1 }).squareRoot()
        let unit = mode.map { $0 / norm }
        let fourierValue = zip(t.action(unit), unit).reduce(0) { $0 + $1.0 * $1.1 }
        XCTAssertLessThan(pairs[0].eigenvalue, fourierValue)
    }

    /// Translation and sign symmetry: shifting and negating an eigenvector gives an eigenpair
    /// with the same mu, and restarts that land on such copies are merged.
    func testEigenpairsAreDedupedUpToTranslationAndSign() throws {
        let t = try cumulant()
        let solver = try TensorEigenSolver(cumulant: t, extremum: .min)
        let pair = try XCTUnwrap(solver.eigenpairs(restarts: 1, seed: 2).first)
        let lattice = t.lattice
        let moved = (0..<t.size).map { -pair.vector[lattice.translate($0, by: t.size - 5)] }
        let tw = t.action(moved)
        for i in 0..<t.size { XCTAssertEqual(tw[i], pair.eigenvalue * moved[i], accuracy: 1e-8 * abs(pair.eigenvalue)) }
        XCTAssertEqual(TensorEigenSolver.overlap(moved, pair.vector, lattice: lattice), 1, accuracy: 1e-12)
        let all = try solver.eigenpairs(restarts: 6, seed: 3)
        XCTAssertEqual(all.reduce(0) { $0 + $1.hits }, 6)
        for a in 0..<all.count {
            for b in (a + 1)..<all.count {
                XCTAssertLessThan(TensorEigenSolver.overlap(all[a].vector, all[b].vector, lattice: lattice), 1 - 1e-6)
            }
        }
    }
}
