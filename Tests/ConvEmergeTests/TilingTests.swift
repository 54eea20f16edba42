import ConvEmerge
import Foundation
import XCTest

/// Tiling statistics and chance levels (derivations/tiling-statistics.md): each test checks a
/// closed form, a limit, or a Monte Carlo estimate within 4 standard errors.
final class TilingTests: XCTestCase {
    let ring = try! Lattice(dimension: 1, length: 40)
    let torus = try! Lattice(dimension: 2, length: 20)

    func bumps(at centres: [[Double]], width: Double, lattice: Lattice) -> [Tiling.UnitShape] {
        Tiling.shapes(of: centres.map { ChanceLevel.bump(width: width, centre: $0, lattice: lattice) }, lattice: lattice, threshold: 2)
    }

    /// side x side centres spaced `spacing` apart from `origin`, row-major.
    func grid(side: Int, spacing: Double, origin: Double) -> [[Double]] {
        var centres: [[Double]] = []
        for row in 0..<side {
            for column in 0..<side {
                let y: Double = origin + Double(row) * spacing
                let x: Double = origin + Double(column) * spacing
                centres.append([y, x])
            }
        }
        return centres
    }

    /// Circular distance between two positions on a ring of length L.
    func ringDistance(_ a: Double, _ b: Double, length: Double) -> Double {
        let d = abs(a - b).truncatingRemainder(dividingBy: length)
        return min(d, length - d)
    }

    // MARK: - Centre and width (§1)

    func testCentreOfABumpAcrossTheWrapAroundPointIsItsPosition() {
        // Symmetric about 39.5 on the ring, half of it on each side of site 0.
        let shape = bumps(at: [[39.5]], width: 1.5, lattice: ring)[0]
        XCTAssertEqual(ringDistance(shape.centre[0], 39.5, length: 40), 0, accuracy: 1e-9)
        // 2D: across both wrap-around lines of the torus.
        let planar = bumps(at: [[19.5, 0]], width: 1.5, lattice: torus)[0]
        XCTAssertEqual(ringDistance(planar.centre[0], 19.5, length: 20), 0, accuracy: 1e-9)
        XCTAssertEqual(ringDistance(planar.centre[1], 0, length: 20), 0, accuracy: 1e-9)
        XCTAssertTrue(shape.localised && planar.localised)
    }

    func testWidthOfAGaussianBumpIsItsStandardDeviation() {
        // w^2 is a Gaussian of standard deviation s, sampled on the sites: the circular standard
        // deviation is s up to exp(-2 pi^2 s^2) (sampling) and exp(-L^2 / (8 s^2)) (truncation).
        for (lattice, s) in [(ring, 2.0), (ring, 3.0), (torus, 1.5)] {
            let shape = bumps(at: [[7.0, 3.0].prefix(lattice.dimension).map { $0 }], width: s, lattice: lattice)[0]
            XCTAssertEqual(shape.width, s, accuracy: 1e-6 * s, "L = \(lattice.length), dim \(lattice.dimension)")
        }
    }

    func testRandomGaussianVectorsHaveTheClosedFormMeanIPR() {
        var rng = Xoshiro256(seed: 5)
        let d = 40, samples = 4000
        let iprs = (0..<samples).map { _ in Observables.inverseParticipationRatio((0..<d).map { _ in rng.nextGaussian() }) }
        let summary = ChanceLevel.Summary(iprs)
        let standardError = summary.sd / Double(samples).squareRoot()
        XCTAssertEqual(summary.mean, Tiling.randomVectorIPR(dimension: d), accuracy: 4 * standardError)
    }

    // MARK: - Spacing against the uniform null (§3, §4)

    func testEvenlySpacedBumpsAreMoreEvenThanRandom() throws {
        let shapes = bumps(at: (0..<8).map { [5 * Double($0) + 0.5] }, width: 1.5, lattice: ring)
        let report = Tiling.analyse(networks: [shapes], lattice: ring, samples: 4000, seed: 1)
        let spacing = try XCTUnwrap(report.nearestNeighbour)
        XCTAssertEqual(report.localisedCounts, [8])
        XCTAssertEqual(spacing.observed, 5, accuracy: 1e-6)
        XCTAssertEqual(report.evenSpacing!, 5, accuracy: 1e-12)
        XCTAssertLessThan(spacing.pLarger, 0.01, "even spacing must be flagged as more even than random")
        XCTAssertGreaterThan(spacing.pSmaller, 0.99, "even spacing is not clustered")
    }

    func testClusteredBumpsAreFlaggedClustered() throws {
        // Eight bumps half a site apart, as close as distinct RFs get.
        let shapes = bumps(at: (0..<8).map { [10 + 0.5 * Double($0)] }, width: 1.5, lattice: ring)
        let report = Tiling.analyse(networks: [shapes], lattice: ring, samples: 4000, seed: 2)
        let spacing = try XCTUnwrap(report.nearestNeighbour)
        XCTAssertEqual(spacing.observed, 0.5, accuracy: 1e-6)
        XCTAssertLessThan(spacing.pSmaller, 0.01)
        XCTAssertGreaterThan(spacing.pLarger, 0.99)
        // Overlapping bumps cover less of the ring than scattered ones.
        XCTAssertLessThan(try XCTUnwrap(report.coverage).pSmaller, 0.01)
    }

    func testEvenlySpacedBumpsOnTheTorusAreMoreEvenThanRandom() throws {
        let even = grid(side: 3, spacing: 20.0 / 3, origin: 1)
        let report = Tiling.analyse(networks: [bumps(at: even, width: 1, lattice: torus)], lattice: torus, samples: 4000, seed: 3)
        let spacing = try XCTUnwrap(report.nearestNeighbour)
        XCTAssertEqual(spacing.observed, 20.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(report.evenSpacing!, 20.0 / 3, accuracy: 1e-12)
        XCTAssertLessThan(spacing.pLarger, 0.01)
        let clustered = grid(side: 3, spacing: 1, origin: 5)
        let tight = Tiling.analyse(networks: [bumps(at: clustered, width: 1, lattice: torus)], lattice: torus, samples: 4000, seed: 4)
        XCTAssertLessThan(try XCTUnwrap(tight.nearestNeighbour).pSmaller, 0.01)
    }

    /// Closed form: P(NN > x) = (1 - 2x/L)^(n-1) on the ring, so E NN = L / (2n) (§4).
    func testRingNullMeanNearestNeighbourMatchesTheClosedForm() throws {
        let n = 8, samples = 20_000
        let shapes = bumps(at: (0..<n).map { [5 * Double($0)] }, width: 1, lattice: ring)
        let spacing = try XCTUnwrap(Tiling.analyse(networks: [shapes], lattice: ring, samples: samples, seed: 5).nearestNeighbour)
        let standardError = spacing.nullSd / Double(samples).squareRoot()
        XCTAssertEqual(spacing.nullMean, Tiling.uniformRingNearestNeighbourMean(count: n, length: 40), accuracy: 4 * standardError)
    }

    /// On the torus P(NN > r) = (1 - pi r^2 / L^2)^(n-1) for r <= L/2; beyond, the discs wrap, but
    /// P(NN > L/2) = (1 - pi/4)^(n-1) bounds that part by (L/sqrt 2 - L/2) (1 - pi/4)^(n-1) (§4).
    func testTorusNullMeanNearestNeighbourMatchesTheClosedFormUpToTheWrappedTail() throws {
        let n = 9, samples = 20_000, length = 20.0
        let centres = grid(side: 3, spacing: 6, origin: 1)
        let spacing = try XCTUnwrap(Tiling.analyse(networks: [bumps(at: centres, width: 1, lattice: torus)], lattice: torus,
                                                    samples: samples, seed: 6).nearestNeighbour)
        // Simpson's rule on [0, L/2], 2000 intervals: error far below the Monte Carlo's.
        let intervals = 2000, h = length / 2 / Double(intervals)
        var integral = 0.0
        for k in 0...intervals {
            let r = Double(k) * h
            let weight = (k == 0 || k == intervals) ? 1.0 : (k % 2 == 1 ? 4.0 : 2.0)
            integral += weight * pow(1 - Double.pi * r * r / (length * length), Double(n - 1))
        }
        integral *= h / 3
        let tail = (length / 2.0.squareRoot() - length / 2) * pow(1 - Double.pi / 4, Double(n - 1))
        let standardError = spacing.nullSd / Double(samples).squareRoot()
        XCTAssertGreaterThan(spacing.nullMean, integral - 4 * standardError)
        XCTAssertLessThan(spacing.nullMean, integral + tail + 4 * standardError)
    }

    func testCoverageOfEvenBumpsCountsTheSitesWithinOneWidth() {
        // Width 1.5 at whole-site centres: the centre and one site either side, 3 of every 5 sites.
        let shapes = bumps(at: (0..<8).map { [5 * Double($0)] }, width: 1.5, lattice: ring)
        XCTAssertEqual(Tiling.coverage(centres: shapes.map(\.centre), widths: shapes.map(\.width), lattice: ring), 24.0 / 40, accuracy: 1e-12)
    }

    // MARK: - Chance levels of overlaps (§6)

    func testRandomVectorCosineMatchesItsAnalyticExpectation() {
        let d = 400, samples = 4000
        var rng = Xoshiro256(seed: 8)
        let reference = (0..<d).map { _ in rng.nextGaussian() }
        let chance = ChanceLevel.randomVectorCosine(reference: reference, samples: samples, seed: 9)
        let standardError = chance.sd / Double(samples).squareRoot()
        XCTAssertEqual(chance.mean, ChanceLevel.expectedAbsoluteCosine(dimension: d), accuracy: 4 * standardError)
        // The large-D limit sqrt(2 / (pi D)), with its 1/(4D) relative correction.
        let large = 100_000
        XCTAssertEqual(ChanceLevel.expectedAbsoluteCosine(dimension: large) / (2 / (Double.pi * Double(large))).squareRoot(), 1,
                       accuracy: 1 / Double(large))
    }

    func testABumpOverlapsABumpOfItsOwnWidthFullyAndARandomVectorLess() {
        let reference = ChanceLevel.bump(width: 2.5, centre: [12], lattice: ring)
        let bump = ChanceLevel.randomBumpOverlap(reference: reference, width: 2.5, lattice: ring, samples: 50, seed: 10)
        // Only the offset of a random centre from the nearest site differs: at most half a site.
        XCTAssertGreaterThan(bump.mean, 0.97)
        XCTAssertLessThanOrEqual(bump.mean, 1 + 1e-12)
        let vector = ChanceLevel.randomVectorOverlap(reference: reference, lattice: ring, samples: 400, seed: 11)
        XCTAssertLessThan(vector.mean + 4 * vector.sd, bump.mean)
    }

    func testAFilterCutFromAnRFAlignsPerfectlyAndRandomFiltersMatchTheirChanceLevel() {
        // An RF supported on 6 sites and a filter equal to that window, shifted: cosine 1.
        var field = [Double](repeating: 0, count: 40)
        let window = [0.2, 0.9, 1.4, 0.8, -0.3, -0.5]
        for (k, value) in window.enumerated() { field[17 + k] = value }
        var rng = Xoshiro256(seed: 12)
        XCTAssertEqual(ChanceLevel.filterAlignment(filters: [window], fields: [field], lattice: ring, rng: &rng).matches[0].cosine,
                       1, accuracy: 1e-12)
        // Random filters of size 1 against a one-site RF: the best signed cosine over shifts is
        // max(0, sign f), 1 with probability 1/2 (mean 1/2, sd 1/2).
        var spike = [Double](repeating: 0, count: 40)
        spike[3] = 1
        let samples = 2000
        let chance = ChanceLevel.Summary(ChanceLevel.filterAlignment(filters: Array(repeating: [1.0], count: samples), fields: [spike],
                                                                     lattice: ring, rng: &rng).chance)
        XCTAssertEqual(chance.mean, 0.5, accuracy: 4 * 0.5 / Double(samples).squareRoot())
    }
}
