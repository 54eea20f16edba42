import ConvEmerge
import Foundation
import XCTest

/// Geometry of the periodic lattices and the FFT diagonalisation of circulant
/// operators, checked against dense GSL linear algebra.
/// Derivation: derivations/circulant-diagonalisation.md.
final class LatticeTests: XCTestCase {
    private let lattices: [Lattice] = [try! Lattice(dimension: 1, length: 7), try! Lattice(dimension: 1, length: 8),
                                       try! Lattice(dimension: 2, length: 5), try! Lattice(dimension: 2, length: 6)]

    /// Kernels on the ring and the torus (with and without jitter), one whose
    /// periodic image is indefinite (the FFT must reproduce the spectrum whatever
    /// its sign), and random rows even under i -> -i but not under the reflection
    /// of one axis: distance kernels cannot tell (k_row, k_col) from
    /// (-k_row, k_col), so only these test the eigenvalue ordering fully.
    private func operators() throws -> [(name: String, op: CirculantOperator)] {
        let cases: [(dimension: Int, length: Int, shape: KernelShape, xi: Double, jitter: Double)] = [
            (1, 16, .gaussian, 2, 0), (1, 16, .exponential, 3, 0.1), (1, 15, .gaussian, 1.5, 0.2),
            (2, 6, .gaussian, 1, 0.1), (2, 6, .exponential, 1.5, 0), (2, 8, .gaussian, 1.5, 0.05),
            (2, 8, .exponential, 2, 0.3), (2, 6, .exponential, 3, 0),
        ]
        var result = try cases.map { c in
            let lattice = try Lattice(dimension: c.dimension, length: c.length)
            let kernel = try Kernel(shape: c.shape, correlationLength: c.xi, jitter: c.jitter)
            return ("\(c.dimension)D L=\(c.length) \(c.shape) xi=\(c.xi) eps=\(c.jitter)",
                    CirculantOperator(lattice: lattice, firstRow: kernel.firstRow(on: lattice)))
        }
        for lattice in [try Lattice(dimension: 1, length: 9), try Lattice(dimension: 2, length: 6), try Lattice(dimension: 2, length: 5)] {
            let f = randomVector(lattice.size, seed: UInt64(lattice.size))
            let row = (0..<lattice.size).map { f[$0] + f[lattice.negate($0)] }
            result.append(("random even row \(lattice.dimension)D L=\(lattice.length)", CirculantOperator(lattice: lattice, firstRow: row)))
        }
        return result
    }

    /// Largest |eigenvalue|: the scale of round-off in any product with the operator.
    private func scale(_ op: CirculantOperator) -> Double { max(abs(op.minimumEigenvalue), abs(op.maximumEigenvalue)) }

    private func randomVector(_ n: Int, seed: UInt64) -> [Double] {
        var rng = Xoshiro256(seed: seed)
        return (0..<n).map { _ in rng.nextGaussian() }
    }

    private func maximumDifference(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).map { abs($0 - $1) }.max()!
    }

    // MARK: geometry

    func testMinimumImageDistanceIsATranslationInvariantMetric() {
        for lattice in lattices {
            let n = lattice.size, L = Double(lattice.length)
            // Farthest point: L/2 along each axis (rounded down for odd L).
            let half = Double(lattice.length / 2)
            let farthest = lattice.dimension == 1 ? half : half * 2.0.squareRoot()
            for i in 0..<n {
                XCTAssertEqual(lattice.distance(i, i), 0)
                for j in 0..<n {
                    let d = lattice.distance(i, j)
                    XCTAssertEqual(d, lattice.distance(j, i), "symmetry \(i) \(j)")
                    XCTAssertLessThanOrEqual(d, farthest + 1e-12)
                    XCTAssertTrue(i == j || d >= 1, "distinct sites are at least one lattice spacing apart")
                    // A translation-invariant operator needs d(i, j) = d(i - j, 0).
                    XCTAssertEqual(d, lattice.distanceFromOrigin(lattice.translate(i, by: lattice.negate(j))), accuracy: 1e-12)
                    for a in [1, n / 2, n - 1] {
                        XCTAssertEqual(lattice.distance(lattice.translate(i, by: a), lattice.translate(j, by: a)), d, accuracy: 1e-12)
                    }
                    for k in stride(from: 0, to: n, by: 3) {
                        XCTAssertLessThanOrEqual(d, lattice.distance(i, k) + lattice.distance(k, j) + 1e-12, "triangle inequality")
                    }
                }
            }
            XCTAssertEqual((0..<n).map { lattice.distanceFromOrigin($0) }.max()!, farthest, accuracy: 1e-12, "L = \(L)")
        }
    }

    func testTranslationsFormTheLatticeGroup() {
        for lattice in lattices {
            let n = lattice.size
            for a in 0..<n {
                XCTAssertEqual(lattice.translate(a, by: 0), a, "identity")
                XCTAssertEqual(lattice.translate(0, by: a), a, "identity")
                XCTAssertEqual(lattice.translate(a, by: lattice.negate(a)), 0, "inverse")
                XCTAssertEqual(lattice.negate(lattice.negate(a)), a, "negation is an involution")
                XCTAssertEqual(lattice.distanceFromOrigin(lattice.negate(a)), lattice.distanceFromOrigin(a), accuracy: 1e-12)
                for b in 0..<n {
                    let ab = lattice.translate(a, by: b)
                    XCTAssertTrue((0..<n).contains(ab))
                    XCTAssertEqual(ab, lattice.translate(b, by: a), "abelian")
                    XCTAssertEqual(lattice.negate(ab), lattice.translate(lattice.negate(a), by: lattice.negate(b)))
                    for c in stride(from: 0, to: n, by: 4) {
                        XCTAssertEqual(lattice.translate(ab, by: c), lattice.translate(a, by: lattice.translate(b, by: c)), "associative")
                    }
                }
                // Translation by a fixed offset permutes the sites.
                XCTAssertEqual(Set((0..<n).map { lattice.translate($0, by: a) }).count, n)
            }
        }
    }

    func testInvalidLatticeIsRejectedWithItsFlag() throws {
        assertInvalid(flag: "--dim") { _ = try Lattice(dimension: 3, length: 8) }
        assertInvalid(flag: "--dim") { _ = try Lattice(dimension: 0, length: 8) }
        assertInvalid(flag: "--L") { _ = try Lattice(dimension: 1, length: 3) }
        assertInvalid(flag: "--L") { _ = try Lattice(dimension: 2, length: -4) }
        // A manifest read back must be validated like the command line.
        let good = try JSONEncoder().encode(Lattice(dimension: 2, length: 6))
        XCTAssertEqual(try JSONDecoder().decode(Lattice.self, from: good), try Lattice(dimension: 2, length: 6))
        assertInvalid(flag: "--L") {
            _ = try JSONDecoder().decode(Lattice.self, from: Data(#"{"dimension": 1, "length": 2}"#.utf8))
        }
    }

    // MARK: circulant operators

    /// Each plane wave cos(k.r) is an eigenvector with the eigenvalue listed at
    /// k's FFT-order index: checks the values and their ordering at once.
    func testPlaneWavesAreEigenvectorsInFFTOrder() throws {
        for (name, op) in try operators() {
            let lattice = op.lattice, L = lattice.length
            let eigenvalues = op.eigenvalues
            XCTAssertEqual(eigenvalues.count, op.size)
            for index in 0..<op.size {
                let (kr, kc) = lattice.dimension == 1 ? (0, index) : (index / L, index % L)
                let wave = (0..<op.size).map { site -> Double in
                    let r = lattice.coordinates(of: site)
                    return cos(2 * Double.pi * Double(kr * r.row + kc * r.column) / Double(L) + 0.3)
                }
                let image = op.apply(wave)
                XCTAssertLessThan(maximumDifference(image, wave.map { eigenvalues[index] * $0 }), 1e-12 * scale(op),
                                  "\(name) k = (\(kr), \(kc))")
            }
        }
    }

    func testSpectrumMatchesDenseSymmetricEigensolver() throws {
        for (name, op) in try operators() {
            let dense = try DenseLinearAlgebra.symmetricEigenvalues(op.denseMatrix(), n: op.size)
            let fft = op.eigenvalues.sorted()
            XCTAssertLessThan(maximumDifference(dense, fft), 1e-12 * scale(op), name)
            XCTAssertEqual(op.minimumEigenvalue, dense.first!, accuracy: 1e-12 * scale(op), name)
            XCTAssertEqual(op.maximumEigenvalue, dense.last!, accuracy: 1e-12 * scale(op), name)
            // Trace: sum of eigenvalues = D * Sigma_00.
            XCTAssertEqual(fft.reduce(0, +), Double(op.size) * op.firstRow[0], accuracy: 1e-10 * Double(op.size), name)
        }
    }

    func testCirculantActionMatchesDenseMatrixVectorProduct() throws {
        for (name, op) in try operators() {
            let w = randomVector(op.size, seed: 7)
            let dense = DenseLinearAlgebra.multiply(op.denseMatrix(), n: op.size, w)
            let fast = op.apply(w)
            XCTAssertLessThan(maximumDifference(dense, fast), 1e-12 * scale(op) * Double(op.size).squareRoot(), name)
            // The matrix is the operator's: symmetric, with C_ij = C_(i-j)0.
            for i in 0..<op.size { for j in 0..<op.size { XCTAssertEqual(op.element(i, j), op.element(j, i)) } }
        }
    }

    func testSquareRootComposesToTheOperator() throws {
        for (name, op) in try operators() where op.minimumEigenvalue > 0 {
            let w = randomVector(op.size, seed: 11)
            let twice = op.applySquareRoot(op.applySquareRoot(w))
            XCTAssertLessThan(maximumDifference(twice, op.apply(w)), 1e-12 * scale(op) * Double(op.size).squareRoot(), name)
        }
    }

    func testCholeskyFactorReproducesTheMatrix() throws {
        for (name, op) in try operators() where op.minimumEigenvalue > 1e-3 {
            let n = op.size, matrix = op.denseMatrix()
            let factor = try DenseLinearAlgebra.cholesky(matrix, n: n)
            for i in 0..<n {
                for j in 0..<n {
                    if j > i { XCTAssertEqual(factor[i * n + j], 0, "lower triangular") }
                    let product = (0...min(i, j)).reduce(0.0) { $0 + factor[i * n + $1] * factor[j * n + $1] }
                    XCTAssertEqual(product, matrix[i * n + j], accuracy: 1e-12 * scale(op), name)
                }
            }
            // v <- L v in place agrees with the general product.
            var v = randomVector(n, seed: 3)
            let expected = DenseLinearAlgebra.multiply(factor, n: n, v)
            factor.withUnsafeBufferPointer { l in
                v.withUnsafeMutableBufferPointer { DenseLinearAlgebra.multiplyLowerTriangular(l.baseAddress!, n: n, $0.baseAddress!) }
            }
            XCTAssertLessThan(maximumDifference(v, expected), 1e-12 * Double(n))
        }
        // An indefinite matrix has no Cholesky factor: an error value, not an abort.
        XCTAssertThrowsError(try DenseLinearAlgebra.cholesky([1, 2, 2, 1], n: 2)) { error in
            guard case ConvEmergeError.gsl = error else { return XCTFail("\(error)") }
        }
    }
}

/// Asserts that `body` throws `ConvEmergeError.invalidInput` naming `flag`;
/// returns the message for further checks.
@discardableResult
func assertInvalid(flag: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) -> String {
    do {
        try body()
        XCTFail("expected invalidInput for \(flag)", file: file, line: line)
    } catch let ConvEmergeError.invalidInput(thrownFlag, message) {
        XCTAssertEqual(thrownFlag, flag, message, file: file, line: line)
        return message
    } catch {
        XCTFail("expected invalidInput for \(flag), got \(error)", file: file, line: line)
    }
    return ""
}
