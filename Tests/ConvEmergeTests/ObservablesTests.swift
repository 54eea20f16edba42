import ConvEmerge
import Foundation
import XCTest

/// Localisation, spectrum and comparison observables (derivations/observables.md).
final class ObservablesTests: XCTestCase {
    let ring = try! Lattice(dimension: 1, length: 64)
    let torus = try! Lattice(dimension: 2, length: 16)

    // MARK: - IPR

    func testInverseParticipationRatioLimits() {
        for lattice in [ring, torus] {
            let d = lattice.size
            var oneSite = [Double](repeating: 0, count: d)
            oneSite[d / 3] = -2.5
            XCTAssertEqual(Observables.inverseParticipationRatio(oneSite), 1, accuracy: 1e-15)
            XCTAssertEqual(Observables.participationRatio(oneSite), 1, accuracy: 1e-15)
            let uniform = [Double](repeating: 0.3, count: d)
            XCTAssertEqual(Observables.inverseParticipationRatio(uniform), 1 / Double(d), accuracy: 1e-15)
            XCTAssertEqual(Observables.participationRatio(uniform), Double(d), accuracy: 1e-10)
        }
        // Scale-free, even where w^4 would overflow.
        let w = (0..<64).map { sin(Double($0)) }
        XCTAssertEqual(Observables.inverseParticipationRatio(w.map { $0 * 1e90 }), Observables.inverseParticipationRatio(w),
                       accuracy: 1e-14)
    }

    /// A Fourier mode has IPR 3 / (2D) whenever 2k and 4k are not multiples of L
    /// (sum cos^2 = D/2, sum cos^4 = 3D/8; derivations/observables.md eq. (2)).
    func testFourierModeHasInverseParticipationRatioThreeOverTwoD() {
        for k in [1, 3, 7, 10] {
            let w = (0..<ring.length).map { cos(2 * Double.pi * Double(k * $0) / Double(ring.length) + 0.4) }
            XCTAssertEqual(Observables.inverseParticipationRatio(w), 1.5 / Double(ring.size), accuracy: 1e-14, "k=\(k)")
        }
        let w = (0..<torus.size).map { i -> Double in
            let (row, column) = torus.coordinates(of: i)
            return cos(2 * Double.pi * Double(1 * row + 3 * column) / Double(torus.length))
        }
        XCTAssertEqual(Observables.inverseParticipationRatio(w), 1.5 / Double(torus.size), accuracy: 1e-14)
        XCTAssertEqual(Observables.participationRatio(w), Double(torus.size) / 1.5, accuracy: 1e-9)
    }

    // MARK: - Centre and width

    /// A Gaussian bump w^2 ~ exp(-d^2 / 2 s^2) around c, also across the boundary, has its
    /// circular mean at c (exact by symmetry for an integer c; otherwise up to the aliasing
    /// exp(-2 pi^2 s^2) and the cut of the bump at distance L/2, exp(-L^2 / 8 s^2): hence
    /// s = 1.2 on the 16 x 16 torus).
    func testCentreOfABumpIsWhereItWasPlaced() {
        for centre in [0.0, 1.0, 17.0, 63.0, 0.3, 40.7, 63.6] {
            let w = bump(on: ring, centre: [centre], sigma: 2)
            let found = Observables.center(w, lattice: ring)
            XCTAssertEqual(found.count, 1)
            XCTAssertEqual(circularGap(found[0], centre, length: 64), 0, accuracy: 1e-9, "centre \(centre)")
        }
        for centre in [[3.0, 9.0], [0.0, 15.0], [15.4, 0.6], [7.5, 12.2]] {
            let found = Observables.center(bump(on: torus, centre: centre, sigma: 1.2), lattice: torus)
            XCTAssertEqual(found.count, 2)
            for axis in 0..<2 {
                XCTAssertEqual(circularGap(found[axis], centre[axis], length: 16), 0, accuracy: 1e-9, "centre \(centre)")
            }
        }
    }

    /// The width is exactly the standard deviation of a wrapped Gaussian, so a sampled
    /// Gaussian bump returns its s (to aliasing exp(-2 pi^2 s^2)), grows with s, and a
    /// one-site vector has width 0 (derivations/observables.md eq. (4)).
    func testWidthIsTheGaussianStandardDeviation() {
        var previous = 0.0
        for sigma in [1.0, 1.5, 2.5, 4, 5] {
            let width = Observables.width(bump(on: ring, centre: [20.3], sigma: sigma), lattice: ring)
            XCTAssertEqual(width, sigma, accuracy: 1e-5 * sigma, "sigma \(sigma)")
            XCTAssertGreaterThan(width, previous)
            previous = width
        }
        let width2D = Observables.width(bump(on: torus, centre: [4, 11], sigma: 1.2), lattice: torus)
        XCTAssertEqual(width2D, 1.2, accuracy: 1e-6)
        var oneSite = [Double](repeating: 0, count: ring.size)
        oneSite[5] = 1
        XCTAssertEqual(Observables.width(oneSite, lattice: ring), 0, accuracy: 1e-7)
        // An extended vector has no preferred position: its width exceeds a quarter of the ring.
        let extended = (0..<ring.size).map { cos(2 * Double.pi * Double(3 * $0) / 64) }
        XCTAssertGreaterThan(Observables.width(extended, lattice: ring), 16)
    }

    // MARK: - Spectrum

    func testPowerSpectrumObeysParsevalOnEvenAndOddLattices() throws {
        var rng = Xoshiro256(seed: 7)
        for lattice in [ring, torus, try Lattice(dimension: 1, length: 15), try Lattice(dimension: 2, length: 9)] {
            let w = (0..<lattice.size).map { _ in rng.nextGaussian() }
            let power = Observables.powerSpectrum(w, lattice: lattice)
            XCTAssertEqual(power.count, lattice.size / lattice.length * (lattice.length / 2 + 1))
            let norm = w.reduce(0) { $0 + $1 * $1 }
            XCTAssertEqual(power.reduce(0, +), norm, accuracy: 1e-12 * norm, "L=\(lattice.length) dim=\(lattice.dimension)")
        }
    }

    /// A single Fourier mode puts all of sum w^2 into its own bin.
    func testFourierModeHasAllItsPowerInOneBin() {
        let k = 5
        let w = (0..<ring.size).map { cos(2 * Double.pi * Double(k * $0) / 64 + 1.1) }
        let power = Observables.powerSpectrum(w, lattice: ring)
        XCTAssertEqual(power[k], 32, accuracy: 1e-12)
        XCTAssertEqual(power.reduce(0, +) - power[k], 0, accuracy: 1e-12)
        // Torus mode (k_row, k_col) = (3, 2): bin 3 * (L/2 + 1) + 2.
        let w2 = (0..<torus.size).map { i -> Double in
            let (row, column) = torus.coordinates(of: i)
            return sin(2 * Double.pi * Double(3 * row + 2 * column) / 16)
        }
        let power2 = Observables.powerSpectrum(w2, lattice: torus)
        XCTAssertEqual(power2[3 * 9 + 2], 128, accuracy: 1e-11)
        XCTAssertEqual(power2.reduce(0, +) - power2[3 * 9 + 2], 0, accuracy: 1e-11)
    }

    // MARK: - Comparison

    /// A translated copy is found exactly: cosine 1 at the translation (1D and 2D).
    func testShiftedCosineFindsTheTranslation() {
        var rng = Xoshiro256(seed: 11)
        for (lattice, shift) in [(ring, 13), (ring, 63), (torus, 5 * 16 + 7), (torus, 15 * 16)] {
            let a = (0..<lattice.size).map { _ in rng.nextGaussian() }
            var b = [Double](repeating: 0, count: lattice.size)
            for i in 0..<lattice.size { b[lattice.translate(i, by: shift)] = 0.7 * a[i] }
            let best = Observables.maximalShiftedCosine(a, b, lattice: lattice)
            XCTAssertEqual(best.shift, shift)
            XCTAssertEqual(best.cosine, 1, accuracy: 1e-12)
            XCTAssertLessThan(Observables.cosineSimilarity(a, b), 0.5)   // unshifted random vectors are nearly orthogonal
        }
    }

    /// Signed cosines: -a is anti-aligned with a; the maximum over shifts includes shift 0,
    /// so it is never below the raw cosine.
    func testCosineAndDistanceConventions() {
        var rng = Xoshiro256(seed: 3)
        let a = (0..<ring.size).map { _ in rng.nextGaussian() }
        let b = (0..<ring.size).map { _ in rng.nextGaussian() }
        XCTAssertEqual(Observables.cosineSimilarity(a, a.map { -3 * $0 }), -1, accuracy: 1e-14)
        let best = Observables.maximalShiftedCosine(a, b, lattice: ring)
        XCTAssertGreaterThanOrEqual(best.cosine, Observables.cosineSimilarity(a, b) - 1e-14)
        XCTAssertLessThanOrEqual(best.cosine, 1 + 1e-14)
        XCTAssertEqual(Observables.relativeDistance(b.map { 3 * $0 }, b), 2, accuracy: 1e-14)
        XCTAssertEqual(Observables.relativeDistance(b, b), 0)
    }
}

/// w_i = exp(-d_i^2 / (4 s^2)), so that w^2 is a Gaussian of standard deviation s around
/// `centre` (one coordinate per axis), d the minimum-image distance on the lattice.
private func bump(on lattice: Lattice, centre: [Double], sigma: Double) -> [Double] {
    (0..<lattice.size).map { i in
        let (row, column) = lattice.coordinates(of: i)
        let coordinates = lattice.dimension == 1 ? [column] : [row, column]
        var squared = 0.0
        for (axis, x) in coordinates.enumerated() {
            let d = circularGap(Double(x), centre[axis], length: Double(lattice.length))
            squared += d * d
        }
        return exp(-squared / (4 * sigma * sigma))
    }
}

/// Signed minimum-image difference x - y on a circle of the given length.
private func circularGap(_ x: Double, _ y: Double, length: Double) -> Double {
    var d = (x - y).truncatingRemainder(dividingBy: length)
    if d >= length / 2 { d -= length }
    if d < -length / 2 { d += length }
    return d
}

extension ObservablesTests {
    /// A receptive field and its negative, shifted, are the same RF up to the w -> -w symmetry.
    func testShiftedCosineUpToSignFindsANegatedShiftedCopy() throws {
        let lattice = try Lattice(dimension: 1, length: 24)
        var rng = Xoshiro256(seed: 3)
        let a = (0..<24).map { _ in rng.nextGaussian() }
        let negatedShift = (0..<24).map { -a[(($0 - 5) % 24 + 24) % 24] }
        XCTAssertEqual(Observables.maximalShiftedCosineUpToSign(negatedShift, a, lattice: lattice), 1, accuracy: 1e-12)
        XCTAssertLessThan(Observables.maximalShiftedCosine(negatedShift, a, lattice: lattice).cosine, 0.9)
        let unrelated = (0..<24).map { _ in rng.nextGaussian() }
        XCTAssertLessThan(Observables.maximalShiftedCosineUpToSign(unrelated, a, lattice: lattice), 0.9)
    }
}
