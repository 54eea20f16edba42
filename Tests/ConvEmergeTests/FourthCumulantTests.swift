import ConvEmerge
import Foundation
import XCTest

/// The fourth-cumulant action T(w) (SPEC §1, derivations/fourth-cumulant.md): the exact
/// Plackett four-point function, the tabulated `full` action, the leading diagram, against
/// Monte Carlo, Gauss-Hermite quadrature, closed forms, limits and symmetries.
final class FourthCumulantTests: XCTestCase {
    // MARK: - Helpers

    private func ring(_ length: Int, xi: Double, gain: Double, jitter: Double = 0, clone: Bool = false) throws -> InputDistribution {
        try InputDistribution(InputSpec(lattice: Lattice(dimension: 1, length: length),
                                        kernel: Kernel(shape: .gaussian, correlationLength: xi, jitter: jitter),
                                        gain: gain, isGaussianClone: clone))
    }

    private func torus(_ length: Int, xi: Double, gain: Double) throws -> InputDistribution {
        try InputDistribution(InputSpec(lattice: Lattice(dimension: 2, length: length),
                                        kernel: Kernel(shape: .gaussian, correlationLength: xi), gain: gain))
    }

    private func randomVector(_ count: Int, seed: UInt64) -> [Double] {
        var rng = Xoshiro256(seed: seed)
        return (0..<count).map { _ in rng.nextGaussian() }
    }

    private func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    private func relativeDistance(_ a: [Double], _ b: [Double]) -> Double {
        norm(zip(a, b).map { $0 - $1 }) / norm(b)
    }

    /// Largest |T_i - mean_i| / standardError_i.
    private func largestDeviation(_ T: [Double], _ estimate: (mean: [Double], standardError: [Double])) -> Double {
        zip(T, zip(estimate.mean, estimate.standardError)).map { abs($0 - $1.0) / $1.1 }.max()!
    }

    /// Gauss-Hermite rule for E over u ~ N(0, 1) (Newton on the orthonormal recurrence).
    private func gaussHermite(_ n: Int) -> (nodes: [Double], weights: [Double]) {
        var x = [Double](repeating: 0, count: n), w = x
        var z = 0.0, derivative = 0.0
        for i in 1...((n + 1) / 2) {
            switch i {
            case 1: z = Double(2 * n + 1).squareRoot() - 1.85575 * pow(Double(2 * n + 1), -0.16667)
            case 2: z -= 1.14 * pow(Double(n), 0.426) / z
            case 3: z = 1.86 * z - 0.86 * x[0]
            case 4: z = 1.91 * z - 0.91 * x[1]
            default: z = 2 * z - x[i - 3]
            }
            for _ in 0..<100 {
                var p1 = pow(Double.pi, -0.25), p2 = 0.0
                for j in 1...n {
                    let p3 = p2
                    p2 = p1
                    p1 = z * (2 / Double(j)).squareRoot() * p2 - (Double(j - 1) / Double(j)).squareRoot() * p3
                }
                derivative = (2 * Double(n)).squareRoot() * p2
                let previous = z
                z -= p1 / derivative
                if abs(z - previous) < 1e-15 { break }
            }
            x[i - 1] = z
            x[n - i] = -z
            w[i - 1] = 2 / (derivative * derivative)
            w[n - i] = w[i - 1]
        }
        return (x.map { $0 * 2.0.squareRoot() }, w.map { $0 / Double.pi.squareRoot() })
    }

    /// E[psi(z_1) ... psi(z_4)], z ~ N(0, S), independently of the Plackett route: z = L xi
    /// (Cholesky), the last factor averaged in closed form given the first three,
    /// E[erf(g(m + sqrt(v) xi)/sqrt 2)] = erf(g m / sqrt(2 (1 + g^2 v))), the rest by a
    /// 3-D Gauss-Hermite product rule.
    private func gaussHermiteMoment(_ S: [Double], gain g: Double, nodes n: Int) -> Double {
        var L = [Double](repeating: 0, count: 16)
        for i in 0..<4 {
            for j in 0...i {
                var sum = S[4 * i + j]
                for k in 0..<j { sum -= L[4 * i + k] * L[4 * j + k] }
                L[4 * i + j] = i == j ? sum.squareRoot() : sum / L[4 * j + j]
            }
        }
        let (u, weight) = gaussHermite(n)
        let psi = GainFunction(gain: g)
        let lastVariance = L[15] * L[15]
        var total = 0.0
        for i in 0..<n {
            for j in 0..<n {
                for k in 0..<n {
                    let z1 = L[0] * u[i], z2 = L[4] * u[i] + L[5] * u[j], z3 = L[8] * u[i] + L[9] * u[j] + L[10] * u[k]
                    let mean = L[12] * u[i] + L[13] * u[j] + L[14] * u[k]
                    let last = erf(g * mean / (2 * (1 + g * g * lastVariance)).squareRoot()) / psi.gamma.squareRoot()
                    total += weight[i] * weight[j] * weight[k] * psi(z1) * psi(z2) * psi(z3) * last
                }
            }
        }
        return total
    }

    /// The latent covariance of four factors at ring sites.
    private func latentCovariance(_ distribution: InputDistribution, sites: [Int]) -> [Double] {
        var S = [Double](repeating: 0, count: 16)
        for a in 0..<4 { for b in 0..<4 { S[4 * a + b] = distribution.baseCovariance.element(sites[a], sites[b]) } }
        return S
    }

    // MARK: - The exact four-point function

    /// Plackett vs an independent 3-D Gauss-Hermite quadrature of the erf product, for a kernel
    /// matrix and for a generic correlation matrix with negative entries.
    func testPlackettFourPointFunctionMatchesGaussHermite() throws {
        let distribution = try ring(16, xi: 2, gain: 1)
        let kernelMatrix = latentCovariance(distribution, sites: [0, 1, 3, 4])
        let A = randomVector(24, seed: 11)
        var generic = [Double](repeating: 0, count: 16)
        for a in 0..<4 { for b in 0..<4 { generic[4 * a + b] = (0..<6).reduce(0) { $0 + A[6 * a + $1] * A[6 * b + $1] } } }
        let scale = (0..<4).map { generic[5 * $0].squareRoot() }
        for a in 0..<4 { for b in 0..<4 { generic[4 * a + b] /= scale[a] * scale[b] } }
        XCTAssertTrue(generic.contains { $0 < -0.1 }, "the generic matrix should test negative correlations")
        for S in [kernelMatrix, generic] {
            for g in [0.5, 1, 3] {
                let plackett = try FourPointFunction.moment(latentCovariance: S, psi: GainFunction(gain: g))
                let reference = gaussHermiteMoment(S, gain: g, nodes: 120)
                XCTAssertEqual(plackett, reference, accuracy: 1e-9, "g = \(g)")
            }
        }
    }

    /// Closed forms: uncorrelated pairs factorise into (2/pi) asin terms; four signs with
    /// equal correlation 1/2 have E[s1 s2 s3 s4] = 1/5 (orthant probability 1/(n+1)).
    func testPlackettSignMomentLimits() throws {
        let (r, q) = (0.7, -0.4)
        let blocks: [Double] = [1, r, 0, 0, r, 1, 0, 0, 0, 0, 1, q, 0, 0, q, 1]
        let product = (2 / Double.pi * asin(r)) * (2 / Double.pi * asin(q))
        XCTAssertEqual(try FourPointFunction.signMoment(correlation: blocks), product, accuracy: 1e-13)
        // The same pairing in another order of the factors.
        let permuted: [Double] = [1, 0, r, 0, 0, 1, 0, q, r, 0, 1, 0, 0, q, 0, 1]
        XCTAssertEqual(try FourPointFunction.signMoment(correlation: permuted), product, accuracy: 1e-13)
        let equal = (0..<16).map { $0 % 5 == 0 ? 1.0 : 0.5 }
        XCTAssertEqual(try FourPointFunction.signMoment(correlation: equal), 0.2, accuracy: 1e-13)
        // Identical signs reduce to a two-point function.
        let coincident: [Double] = [1, 1, 0.3, 0.2, 1, 1, 0.3, 0.2, 0.3, 0.3, 1, 0.5, 0.2, 0.2, 0.5, 1]
        XCTAssertEqual(try FourPointFunction.signMoment(correlation: coincident), 2 / Double.pi * asin(0.5), accuracy: 1e-15)
    }

    /// Finite g is the same integrand stopped at tau = g^2 s/(1 + g^2 s): at g = 1 all four
    /// factors on one site see R = 1/2 everywhere, so E[x^4] = gamma^-2 / 5 = 9/5; and the
    /// large-g moments tend continuously to the g = inf (sign) values, coincident sites included.
    func testFourPointFunctionGainLimits() throws {
        let distribution = try ring(16, xi: 2, gain: 1)
        let oneSite = latentCovariance(distribution, sites: [0, 0, 0, 0])
        XCTAssertEqual(try FourPointFunction.moment(latentCovariance: oneSite, psi: GainFunction(gain: 1)), 9.0 / 5, accuracy: 1e-12)
        for sites in [[0, 1, 3, 4], [0, 0, 1, 3], [0, 0, 1, 1], [0, 0, 0, 2]] {
            let S = latentCovariance(distribution, sites: sites)
            let sign = try FourPointFunction.moment(latentCovariance: S, psi: GainFunction(gain: .infinity))
            let large = try FourPointFunction.moment(latentCovariance: S, psi: GainFunction(gain: 1e4))
            let larger = try FourPointFunction.moment(latentCovariance: S, psi: GainFunction(gain: 1e6))
            XCTAssertEqual(large, sign, accuracy: 1e-3, "sites \(sites)")
            // The approach is O(1/g): a hundredfold gain closes the gap at least tenfold.
            XCTAssertLessThan(abs(larger - sign), abs(large - sign) / 10, "sites \(sites)")
            // g -> 0 is Gaussian: Wick's theorem.
            let small = try FourPointFunction.moment(latentCovariance: S, psi: GainFunction(gain: 1e-3))
            let wick = S[1] * S[11] + S[2] * S[7] + S[3] * S[6]
            XCTAssertEqual(small, wick, accuracy: 1e-5, "sites \(sites)")
        }
    }

    // MARK: - The action against Monte Carlo

    /// T_full within 4 standard errors of the Monte Carlo estimate at every component (ring,
    /// D = 16, xi = 2); the leading diagram is off by ~45% at g = 1 and 3, ~22% at g = 0.5,
    /// which the same Monte Carlo resolves.
    func testFullActionMatchesMonteCarloOnRing() throws {
        let w = randomVector(16, seed: 7)
        let expectedLeadingGap: [Double: ClosedRange<Double>] = [0.5: 0.17...0.27, 1: 0.38...0.52, 3: 0.38...0.52]
        for g in [0.5, 1, 3] {
            let distribution = try ring(16, xi: 2, gain: g)
            let full = try FourthCumulant(distribution, method: .full).action(w)
            let leading = try FourthCumulant(distribution, method: .leading).action(w)
            let estimate = FourthCumulant.monteCarloAction(distribution, w: w, samples: 400_000, seed: 2022)
            XCTAssertLessThan(largestDeviation(full, estimate), 4, "g = \(g): full vs Monte Carlo")
            let gap = relativeDistance(leading, full)
            XCTAssertTrue(expectedLeadingGap[g]!.contains(gap), "g = \(g): leading vs full relative gap \(gap)")
            XCTAssertGreaterThan(largestDeviation(leading, estimate), 10, "g = \(g): Monte Carlo resolves the leading error")
        }
    }

    /// The same on a 4 x 4 torus (D = 16, xi = 1).
    func testFullActionMatchesMonteCarloOnTorus() throws {
        let distribution = try torus(4, xi: 1, gain: 1.5)
        let w = randomVector(16, seed: 8)
        let full = try FourthCumulant(distribution, method: .full).action(w)
        let estimate = FourthCumulant.monteCarloAction(distribution, w: w, samples: 400_000, seed: 2023)
        XCTAssertLessThan(largestDeviation(full, estimate), 4)
        XCTAssertGreaterThan(norm(full), 20 * norm(estimate.standardError), "the test must resolve T")
    }

    /// The leading diagram is the first order in the non-Gaussianity: its relative error
    /// against the exact action vanishes like g^2 (the next diagrams carry c3^2 or c1 c5 ~ g^2 more).
    func testLeadingApproachesFullAsGainVanishes() throws {
        let w = randomVector(16, seed: 7)
        var gaps: [Double] = []
        let gains = [0.1, 0.25, 0.5]
        for g in gains {
            let distribution = try ring(16, xi: 2, gain: g)
            gaps.append(relativeDistance(try FourthCumulant(distribution, method: .leading).action(w),
                                         try FourthCumulant(distribution, method: .full).action(w)))
        }
        XCTAssertLessThan(gaps[0], gaps[1])
        XCTAssertLessThan(gaps[1], gaps[2])
        XCTAssertLessThan(gaps[0], 0.02)
        for (g, gap) in zip(gains.prefix(2), gaps.prefix(2)) {
            XCTAssertTrue((0.7...1.5).contains(gap / (g * g)), "gap / g^2 = \(gap / (g * g)) at g = \(g)")
        }
    }

    // MARK: - Exact zeros, symmetries, marginals

    /// Every cumulant of order > 2 of a Gaussian vanishes: the clone and gain 0, both methods;
    /// the Monte Carlo estimator is unbiased there too.
    func testGaussianInputsHaveNoFourthCumulant() throws {
        let w = randomVector(16, seed: 3)
        for distribution in [try ring(16, xi: 2, gain: 1, clone: true), try ring(16, xi: 2, gain: 0)] {
            for method in CumulantMethod.allCases {
                let T = try FourthCumulant(distribution, method: method).action(w)
                XCTAssertEqual(T, [Double](repeating: 0, count: 16))
            }
            let estimate = FourthCumulant.monteCarloAction(distribution, w: w, samples: 100_000, seed: 5)
            XCTAssertLessThan(largestDeviation([Double](repeating: 0, count: 16), estimate), 4.5)
        }
    }

    /// Translation invariance: T(shift w) = shift T(w) on the ring and the torus, both
    /// methods, and the allocation-free pointer variant agrees with the array variant.
    func testActionIsTranslationEquivariant() throws {
        for distribution in [try ring(16, xi: 2, gain: 1), try torus(5, xi: 1, gain: 2)] {
            let lattice = distribution.lattice
            let D = lattice.size
            let w = randomVector(D, seed: 9)
            let displacement = lattice.dimension == 1 ? 5 : 2 * lattice.length + 3
            var shifted = [Double](repeating: 0, count: D)
            for i in 0..<D { shifted[lattice.translate(i, by: displacement)] = w[i] }
            for method in CumulantMethod.allCases {
                let cumulant = try FourthCumulant(distribution, method: method)
                let T = cumulant.action(w), shiftedT = cumulant.action(shifted)
                let scale = norm(T)
                for i in 0..<D {
                    XCTAssertEqual(shiftedT[lattice.translate(i, by: displacement)], T[i], accuracy: 1e-12 * scale)
                }
                let workspace = cumulant.makeWorkspace()
                var out = [Double](repeating: .nan, count: D)
                w.withUnsafeBufferPointer { input in
                    out.withUnsafeMutableBufferPointer { cumulant.action(input.baseAddress!, into: $0.baseAddress!, workspace: workspace) }
                }
                XCTAssertEqual(out, T, "\(method): pointer variant")
            }
        }
    }

    /// w = e_0 picks the single-site cumulant: e_0.T(e_0) = K_0000 = E[x^4] - 3 C_00^2 =
    /// kurtosis * C_00^2 (GSL quadrature of the marginal), the same on every lattice size,
    /// with jitter (s != 1); at g = 1, s = 1 it is -6/5 exactly; the leading value is 24 c1^3 c3.
    func testSingleSiteEntryIsTheMarginalFourthCumulant() throws {
        for g in [0.5, 1, 3, .infinity] {
            var values: [Double] = []
            for length in [16, 24] {
                let distribution = try ring(length, xi: 2, gain: g, jitter: 0.1)
                let e0 = (0..<length).map { $0 == 0 ? 1.0 : 0.0 }
                let full = try FourthCumulant(distribution, method: .full)
                values.append(full.action(e0)[0])
                let c00 = distribution.covariance.firstRow[0]
                let kurtosis = try HermiteExpansion(psi: distribution.psi, latentVariance: 1.1).marginalExcessKurtosis()
                XCTAssertEqual(values.last!, kurtosis * c00 * c00, accuracy: 1e-9, "g = \(g), D = \(length)")
                let c = HermiteExpansion(psi: distribution.psi, latentVariance: 1.1).coefficients(maxOrder: 3)
                let leading = try FourthCumulant(distribution, method: .leading).action(e0)[0]
                XCTAssertEqual(leading, 24 * c[1] * c[1] * c[1] * c[3], accuracy: 1e-12)
            }
            XCTAssertEqual(values[0], values[1], accuracy: 1e-12, "D-independent")
        }
        let unitGain = try FourthCumulant(ring(16, xi: 2, gain: 1), method: .full)
        XCTAssertEqual(try unitGain.cumulant(0, 0, 0, 0), -6.0 / 5, accuracy: 1e-12)
    }

    /// The FFT form of the leading action equals the brute-force sum over its defining star
    /// diagrams, K_ijkl = 6 c1^3 c3 (rho_ij rho_ik rho_il + three more centres).
    func testLeadingActionEqualsStarDiagramSum() throws {
        let distribution = try ring(16, xi: 2, gain: 1, jitter: 0.2)
        let leading = try FourthCumulant(distribution, method: .leading)
        let w = randomVector(16, seed: 4)
        let T = leading.action(w)
        for i in [0, 5, 11] {
            var direct = 0.0
            for j in 0..<16 { for k in 0..<16 { for l in 0..<16 { direct += try leading.cumulant(i, j, k, l) * w[j] * w[k] * w[l] } } }
            XCTAssertEqual(T[i], direct, accuracy: 1e-12 * norm(T))
        }
    }

    /// The window drops configurations whose points split into two groups with all cross
    /// correlations below the threshold; what it drops is below tolerance, so the tabulated
    /// action equals the untruncated direct sum over all D^3 displacement triples.
    func testWindowedTableEqualsDirectSum() throws {
        let distribution = try ring(24, xi: 1, gain: 1)
        let full = try FourthCumulant(distribution, method: .full)
        XCTAssertLessThan(full.tableEntryCount, 24 * 25 * 26 / 6, "the window must prune at this size")
        let w = randomVector(24, seed: 12)
        var direct = 0.0
        for a in 0..<24 {
            for b in a..<24 {
                for c in b..<24 {
                    let orderings: Double = (a == b && b == c) ? 1 : (a == b || b == c) ? 3 : 6
                    direct += orderings * (try full.cumulant(0, a, b, c)) * w[a] * w[b] * w[c]
                }
            }
        }
        XCTAssertEqual(full.action(w)[0], direct, accuracy: 1e-9)
    }

    /// A table that could exceed 1 GB is refused with a message naming --cumulant.
    func testOversizedTableIsRefused() throws {
        let distribution = try torus(64, xi: 2, gain: 1)
        XCTAssertThrowsError(try FourthCumulant(distribution, method: .full)) { error in
            guard case let ConvEmergeError.invalidInput(flag, message) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(flag, "--cumulant")
            XCTAssertTrue(message.contains("GB"), message)
        }
        XCTAssertNoThrow(try FourthCumulant(distribution, method: .leading))
    }
}
