import ConvEmerge
import Foundation
import XCTest

/// The NLGP and its Gaussian clone: exact covariance (arcsine law), Hermite
/// expansion, limits in the gain, the FFT and dense samplers, input validation.
/// Derivations: derivations/nlgp-covariance.md, derivations/hermite-expansion.md,
/// derivations/circulant-sampler.md.
final class InputTests: XCTestCase {
    /// Monte Carlo tolerance in standard errors.
    private let z = 4.0

    // MARK: fixtures

    private struct Case {
        var dimension = 1, length = 16
        var shape = KernelShape.gaussian
        var xi = 2.0, jitter = 0.0, gain = 1.0
        var clone = false
        var name: String { "\(dimension)D L=\(length) \(shape) xi=\(xi) eps=\(jitter) g=\(gain)\(clone ? " clone" : "")" }
        func distribution() throws -> InputDistribution {
            let lattice = try Lattice(dimension: dimension, length: length)
            let kernel = try Kernel(shape: shape, correlationLength: xi, jitter: jitter)
            return try InputDistribution(InputSpec(lattice: lattice, kernel: kernel, gain: gain, isGaussianClone: clone))
        }
        /// C_ij from SPEC §1 written out independently of the library.
        func expectedCovariance(distance d: Double, sameSite: Bool) -> Double {
            let k = shape == .gaussian ? exp(-d * d / (xi * xi)) : exp(-d / xi)
            let sigma = k + (sameSite ? jitter : 0), s = 1 + jitter
            if gain == 0 { return sigma }
            if gain.isInfinite { return 2 / Double.pi * asin(sigma / s) }
            let g2 = gain * gain
            let gamma = 2 / Double.pi * asin(g2 / (1 + g2))
            return 2 / (Double.pi * gamma) * asin(g2 * sigma / (1 + g2 * s))
        }
    }

    /// Per-sample translation averages, accumulated over independent draws, so
    /// that standard errors come from the spread between samples (the D sites of
    /// one sample are correlated and must not be counted as independent).
    private struct SampleStatistics {
        let lattice: Lattice
        private(set) var count = 0
        /// lag[r]: sum over samples of y(r) = (1/D) sum_i x_i x_(i+r).
        private var lag: [Double], lagSquare: [Double]
        private var site: [Double]
        /// Spatial moments m_p = (1/D) sum_i x_i^p per sample, p = 2, 4, and their products.
        private var m2 = 0.0, m4 = 0.0, m2m2 = 0.0, m4m4 = 0.0, m2m4 = 0.0
        private let partner: [Int]

        init(lattice: Lattice) {
            self.lattice = lattice
            let d = lattice.size
            lag = [Double](repeating: 0, count: d)
            lagSquare = lag
            site = lag
            partner = (0..<(d * d)).map { lattice.translate($0 % d, by: $0 / d) }
        }

        mutating func add(_ x: UnsafePointer<Double>) {
            let d = lattice.size
            let inverse = 1 / Double(d)
            partner.withUnsafeBufferPointer { p in
                for r in 0..<d {
                    var sum = 0.0
                    for i in 0..<d { sum += x[i] * x[p[r * d + i]] }
                    sum *= inverse
                    lag[r] += sum
                    lagSquare[r] += sum * sum
                }
            }
            var s2 = 0.0, s4 = 0.0
            for i in 0..<d {
                site[i] += x[i]
                let x2 = x[i] * x[i]
                s2 += x2
                s4 += x2 * x2
            }
            s2 *= inverse; s4 *= inverse
            m2 += s2; m4 += s4; m2m2 += s2 * s2; m4m4 += s4 * s4; m2m4 += s2 * s4
            count += 1
        }

        /// Estimate of C_(0,r) and its standard error.
        func covariance(lag r: Int) -> (mean: Double, error: Double) {
            let n = Double(count), mean = lag[r] / n
            return (mean, ((lagSquare[r] / n - mean * mean) / (n - 1)).squareRoot())
        }

        var siteMeans: [Double] { site.map { $0 / Double(count) } }

        /// Excess kurtosis E[x^4]/E[x^2]^2 - 3 of one site, with its delta-method error.
        var excessKurtosis: (value: Double, error: Double) {
            let n = Double(count)
            let a = m2 / n, b = m4 / n
            let varA = m2m2 / n - a * a, varB = m4m4 / n - b * b, cov = m2m4 / n - a * b
            let dA = -2 * b / (a * a * a), dB = 1 / (a * a)
            return (b / (a * a) - 3, ((dA * dA * varA + dB * dB * varB + 2 * dA * dB * cov) / (n - 1)).squareRoot())
        }
    }

    private func statistics(of distribution: InputDistribution, samples: Int, seed: UInt64,
                            draw: ((UnsafeMutablePointer<Double>, inout Xoshiro256) -> Void)? = nil) -> SampleStatistics {
        var stats = SampleStatistics(lattice: distribution.lattice)
        var rng = Xoshiro256(seed: seed)
        let scratch = distribution.makeScratch()
        var x = [Double](repeating: 0, count: distribution.size)
        x.withUnsafeMutableBufferPointer { buffer in
            let p = buffer.baseAddress!
            for _ in 0..<samples {
                if let draw { draw(p, &rng) } else { distribution.sample(into: p, rng: &rng, scratch: scratch) }
                stats.add(p)
            }
        }
        return stats
    }

    /// Every lag of the translation-averaged sample covariance within z standard
    /// errors of the exact C; returns the largest |estimate - C| / error.
    @discardableResult
    private func assertCovarianceMatches(_ stats: SampleStatistics, _ c: Case, _ label: String = "") -> Double {
        var worst = 0.0
        for r in 0..<stats.lattice.size {
            let estimate = stats.covariance(lag: r)
            let exact = c.expectedCovariance(distance: stats.lattice.distanceFromOrigin(r), sameSite: r == 0)
            XCTAssertLessThan(estimate.error, 0.01, "the test must be able to resolve C: \(c.name)")
            if estimate.error < 1e-12 {
                // No spread at all: x_i^2 = 1 for sign inputs. Then it is exact.
                XCTAssertEqual(estimate.mean, exact, accuracy: 1e-12, "\(label)\(c.name) lag \(r)")
                continue
            }
            let deviation = abs(estimate.mean - exact) / estimate.error
            worst = max(worst, deviation)
            XCTAssertLessThan(deviation, z, "\(label)\(c.name) lag \(r): \(estimate.mean) vs \(exact) +- \(estimate.error)")
        }
        return worst
    }

    // MARK: covariance

    func testCovarianceMatchesMonteCarlo() throws {
        let cases: [Case] = [
            Case(gain: 1), Case(gain: 3), Case(jitter: 0.25, gain: 1),
            Case(shape: .exponential, xi: 2, jitter: 0.1, gain: 3),
            Case(dimension: 2, length: 6, xi: 1.2, gain: 1),
            Case(gain: 3, clone: true), Case(jitter: 0.25, gain: 1, clone: true),
            Case(dimension: 2, length: 6, shape: .exponential, xi: 1.5, gain: 3, clone: true),
            Case(gain: .infinity), Case(jitter: 0.3, gain: .infinity),
        ]
        for (index, c) in cases.enumerated() {
            let distribution = try c.distribution()
            // The library's first row is the formula of SPEC §1.
            for r in 0..<distribution.size {
                let exact = c.expectedCovariance(distance: distribution.lattice.distanceFromOrigin(r), sameSite: r == 0)
                XCTAssertEqual(distribution.covariance.firstRow[r], exact, accuracy: 1e-14, c.name)
            }
            let stats = statistics(of: distribution, samples: 100_000, seed: 1000 + UInt64(index))
            assertCovarianceMatches(stats, c)
            if c.gain == 3 && !c.clone && c.shape == .gaussian {
                // Power: the same data reject the Gaussian answer C = Sigma by far.
                let sigma = distribution.baseCovariance.firstRow
                let worst = (0..<distribution.size).map { abs(stats.covariance(lag: $0).mean - sigma[$0]) / stats.covariance(lag: $0).error }.max()!
                XCTAssertGreaterThan(worst, 10 * z)
            }
        }
    }

    func testSampleMeanVanishes() throws {
        for c in [Case(gain: 3), Case(gain: 1, clone: true), Case(dimension: 2, length: 6, xi: 1.5, jitter: 0.1, gain: 1)] {
            let distribution = try c.distribution()
            let n = 50_000
            let stats = statistics(of: distribution, samples: n, seed: 5)
            let means = stats.siteMeans
            let siteError = (distribution.covariance.firstRow[0] / Double(n)).squareRoot()
            for (i, m) in means.enumerated() { XCTAssertLessThan(abs(m), z * siteError, "\(c.name) site \(i)") }
            // Var of the spatial mean is (1/D^2) sum_ij C_ij = lambda_0(C) / D, exactly.
            let lambda0 = distribution.covariance.halfSpectrum[0]
            let spatialError = (lambda0 / Double(distribution.size * n)).squareRoot()
            XCTAssertLessThan(abs(means.reduce(0, +) / Double(distribution.size)), z * spatialError, c.name)
        }
    }

    // MARK: sampler

    func testSamplerIsReproducibleAndStreamsAreIndependent() throws {
        let distribution = try Case(jitter: 0.1, gain: 3).distribution()
        var a = Xoshiro256(seed: 42), b = Xoshiro256(seed: 42)
        XCTAssertEqual(distribution.sample(count: 20, rng: &a), distribution.sample(count: 20, rng: &b))
        var stream0 = Xoshiro256(seed: 42, stream: 0), plain = Xoshiro256(seed: 42)
        XCTAssertEqual(distribution.sample(count: 5, rng: &stream0), distribution.sample(count: 5, rng: &plain))

        // Streams 1 and 2 of one seed: uncorrelated inputs, <x_i^(1) x_i^(2)> = 0.
        let n = 50_000, d = distribution.size
        var s1 = Xoshiro256(seed: 42, stream: 1), s2 = Xoshiro256(seed: 42, stream: 2)
        let x1 = distribution.sample(count: n, rng: &s1), x2 = distribution.sample(count: n, rng: &s2)
        XCTAssertNotEqual(Array(x1[0..<d]), Array(x2[0..<d]))
        var sum = 0.0, sumSquares = 0.0
        for row in 0..<n {
            var y = 0.0
            for i in 0..<d { y += x1[row * d + i] * x2[row * d + i] }
            y /= Double(d)
            sum += y; sumSquares += y * y
        }
        let mean = sum / Double(n), error = ((sumSquares / Double(n) - mean * mean) / Double(n - 1)).squareRoot()
        XCTAssertLessThan(abs(mean), z * error)
    }

    func testDenseCholeskySamplerMatchesTheFFTSampler() throws {
        for (index, c) in [Case(jitter: 0.1, gain: 1), Case(gain: 3, clone: true)].enumerated() {
            let distribution = try c.distribution()
            let dense = try DenseCholeskySampler(distribution)
            // Both consume the random stream identically: D normals per draw.
            var fftRNG = Xoshiro256(seed: 9), denseRNG = Xoshiro256(seed: 9)
            _ = distribution.sample(count: 7, rng: &fftRNG)
            _ = dense.sample(count: 7, rng: &denseRNG)
            XCTAssertEqual(fftRNG.next(), denseRNG.next(), c.name)
            let stats = statistics(of: distribution, samples: 100_000, seed: 77 + UInt64(index)) { x, rng in dense.sample(into: x, rng: &rng) }
            assertCovarianceMatches(stats, c, "dense sampler: ")
        }
        // A kernel that is PSD only to round-off has no Cholesky factor: the user
        // is told to add jitter (the FFT sampler itself works).
        let smooth = try Case(length: 40, xi: 4, gain: 1).distribution()
        XCTAssertLessThan(smooth.baseCovariance.minimumEigenvalue, 1e-8)
        let message = assertInvalid(flag: "--jitter") { _ = try DenseCholeskySampler(smooth) }
        XCTAssertTrue(message.contains("smallest eigenvalue"), message)
    }

    // MARK: limits in the gain

    func testSmallGainIsTheBaseGaussian() throws {
        let g = 1e-4
        let psi = GainFunction(gain: g)
        for zValue in stride(from: -4.0, through: 4.0, by: 0.5) {
            XCTAssertEqual(psi(zValue), zValue, accuracy: g * g * (1 + zValue * zValue) * abs(zValue) + 1e-15)
        }
        // Underflowing g^2 is the limit itself, not 0/0.
        XCTAssertEqual(GainFunction(gain: 1e-200)(1.5), 1.5)
        let small = try Case(jitter: 0.2, gain: g).distribution()
        let gaussian = try Case(jitter: 0.2, gain: 0).distribution()
        XCTAssertEqual(gaussian.covariance.firstRow, gaussian.baseCovariance.firstRow)
        for (c, sigma) in zip(small.covariance.firstRow, small.baseCovariance.firstRow) { XCTAssertEqual(c, sigma, accuracy: 1e-7) }
        // Same noise, same field: the NLGP sample tends to z itself.
        var a = Xoshiro256(seed: 3), b = Xoshiro256(seed: 3)
        for (x, zValue) in zip(small.sample(count: 100, rng: &a), gaussian.sample(count: 100, rng: &b)) {
            XCTAssertEqual(x, zValue, accuracy: 1e-6)
        }
        let c = HermiteExpansion(psi: psi).coefficients(maxOrder: 3)
        XCTAssertEqual(c[1], 1, accuracy: 1e-7)
        XCTAssertEqual(c[3], 0, accuracy: 1e-7)
        XCTAssertEqual(try HermiteExpansion(psi: psi).marginalExcessKurtosis(), 0, accuracy: 1e-6)
    }

    func testInfiniteGainGivesSignInputsWithArcsineCovariance() throws {
        for jitter in [0.0, 0.3] {
            let sign = try Case(jitter: jitter, gain: .infinity).distribution()
            let s = 1 + jitter
            for (c, sigma) in zip(sign.covariance.firstRow, sign.baseCovariance.firstRow) {
                XCTAssertEqual(c, 2 / Double.pi * asin(sigma / s), accuracy: 1e-15)
            }
            var rng = Xoshiro256(seed: 8)
            XCTAssertTrue(sign.sample(count: 1000, rng: &rng).allSatisfy { abs($0) == 1 })
            // Large finite gains approach it; gamma(g) = 1 - O(1/g).
            let steep = try Case(jitter: jitter, gain: 1e6).distribution()
            for (c, limit) in zip(steep.covariance.firstRow, sign.covariance.firstRow) { XCTAssertEqual(c, limit, accuracy: 1e-5) }
            let huge = try Case(jitter: jitter, gain: 1e200).distribution()
            for (c, limit) in zip(huge.covariance.firstRow, sign.covariance.firstRow) { XCTAssertEqual(c, limit, accuracy: 1e-12) }
        }
    }

    // MARK: Hermite expansion

    func testHermiteCoefficientsAtUnitGainMatchSpec() {
        let c = HermiteExpansion(psi: GainFunction(gain: 1)).coefficients(maxOrder: 6)
        XCTAssertEqual(c[1], 0.97721, accuracy: 5e-6)
        XCTAssertEqual(c[3], -0.08143, accuracy: 5e-6)
        XCTAssertEqual(c[5], 0.00611, accuracy: 5e-6)
        for n in [0, 2, 4, 6] { XCTAssertEqual(c[n], 0) }
    }

    func testHermiteClosedFormMatchesQuadrature() throws {
        for gain in [0.3, 1, 3, 10, Double.infinity] {
            for s in [1.0, 1.25] {
                let expansion = HermiteExpansion(psi: GainFunction(gain: gain), latentVariance: s)
                let closed = expansion.coefficients(maxOrder: 15)
                for n in 0...15 {
                    // Compared on the unit-norm basis He_n / sqrt(n!), where sum c^2 = E[x^2]
                    // sets the scale: relative 1e-9, or 1e-12 absolute for tiny c_n.
                    let norm = exp(0.5 * lgamma(Double(n + 1)))
                    let quadrature = try expansion.coefficientByQuadrature(order: n) * norm
                    XCTAssertEqual(closed[n] * norm, quadrature, accuracy: 1e-12 + 1e-9 * abs(closed[n] * norm), "g = \(gain), s = \(s), n = \(n)")
                }
            }
        }
        // Sign inputs: c_n = sqrt(2/pi) (-1)^((n-1)/2) (n-2)!!/n!.
        let sign = HermiteExpansion(psi: GainFunction(gain: .infinity)).coefficients(maxOrder: 15)
        var doubleFactorial = 1.0  // (n-2)!!
        for n in stride(from: 1, through: 15, by: 2) {
            if n >= 3 { doubleFactorial *= Double(n - 2) }
            let exact = (2 / Double.pi).squareRoot() * (n % 4 == 1 ? 1 : -1) * doubleFactorial / tgamma(Double(n + 1))
            XCTAssertEqual(sign[n], exact, accuracy: 1e-15 * abs(exact) + 1e-18, "n = \(n)")
        }
    }

    /// sum_n c_n^2 n! = E[psi(sqrt(s) u)^2] = (2/(pi gamma)) asin(g^2 s/(1 + g^2 s)): one at s = 1.
    func testHermiteParsevalIdentity() throws {
        for gain in [0.5, 1, 3] {
            for s in [1.0, 1.3] {
                let psi = GainFunction(gain: gain)
                let c = HermiteExpansion(psi: psi, latentVariance: s).coefficients(maxOrder: 601)
                var sum = 0.0
                for n in stride(from: 1, through: 601, by: 2) where c[n] != 0 {
                    sum += exp(2 * log(abs(c[n])) + lgamma(Double(n + 1)))
                }
                let secondMoment = psi.covariance(latentCovariance: s, latentVariance: s)
                XCTAssertEqual(sum, secondMoment, accuracy: 1e-12, "g = \(gain), s = \(s)")
                let quadrature = try GaussianQuadrature.expectation { u in let x = psi(s.squareRoot() * u); return x * x }
                XCTAssertEqual(quadrature, secondMoment, accuracy: 1e-10)
                if s == 1 { XCTAssertEqual(sum, 1, accuracy: 1e-12, "gamma(g) normalises Var x to 1") }
                // Mehler: at latent correlation r the series sums to the arcsine law.
                for r in [-0.9, -0.3, 0.2, 0.7] {
                    var series = 0.0
                    for n in stride(from: 1, through: 601, by: 2) where c[n] != 0 {
                        series += exp(2 * log(abs(c[n])) + lgamma(Double(n + 1)) + Double(n) * log(abs(r))) * (r < 0 ? -1 : 1)
                    }
                    XCTAssertEqual(series, psi.covariance(latentCovariance: r * s, latentVariance: s), accuracy: 1e-12, "g = \(gain), r = \(r)")
                }
            }
        }
    }

    // MARK: marginal distribution

    func testMarginalExcessKurtosisIsNegativeAndTendsToMinusTwo() throws {
        let gains = [0.25, 0.5, 1, 3, 10, 100, 1000]
        let kurtosis = try gains.map { try HermiteExpansion(psi: GainFunction(gain: $0)).marginalExcessKurtosis() }
        for (g, k) in zip(gains, kurtosis) { XCTAssertLessThan(k, 0, "g = \(g)") }
        for (a, b) in zip(kurtosis, kurtosis.dropFirst()) { XCTAssertLessThan(b, a, "monotone in g") }
        // g = 1: 2 Phi(z) - 1 is uniform on [-1, 1], so x is uniform on
        // [-sqrt 3, sqrt 3] with excess kurtosis 9/5 - 3 = -6/5.
        XCTAssertEqual(kurtosis[2], -1.2, accuracy: 1e-9)
        // The distance to -2 (sign inputs) closes like 1/g.
        XCTAssertEqual(kurtosis.last! + 2, 0, accuracy: 1e-3)
        XCTAssertEqual((kurtosis[5] + 2) / (kurtosis[6] + 2), 10, accuracy: 0.5)
        XCTAssertEqual(try HermiteExpansion(psi: GainFunction(gain: .infinity)).marginalExcessKurtosis(), -2)
        // Kurtosis is scale-free, so jitter acts only through the effective gain g sqrt(s).
        let jittered = try HermiteExpansion(psi: GainFunction(gain: 1), latentVariance: 1.5).marginalExcessKurtosis()
        XCTAssertEqual(jittered, try HermiteExpansion(psi: GainFunction(gain: 1.5.squareRoot())).marginalExcessKurtosis(), accuracy: 1e-9)
        XCTAssertLessThan(jittered, kurtosis[2])

        // The sampled inputs carry the same marginal.
        for (index, c) in [Case(gain: 1), Case(jitter: 0.5, gain: 3, clone: false), Case(gain: 3, clone: true)].enumerated() {
            let distribution = try c.distribution()
            let stats = statistics(of: distribution, samples: 100_000, seed: 300 + UInt64(index))
            let measured = stats.excessKurtosis
            let exact = c.clone ? 0 : try HermiteExpansion(psi: distribution.psi, latentVariance: 1 + c.jitter).marginalExcessKurtosis()
            XCTAssertLessThan(measured.error, 0.02)
            XCTAssertEqual(measured.value, exact, accuracy: z * measured.error, c.name)
        }
    }

    /// At g = 1, x = sqrt 3 (2 Phi(z) - 1) with Phi(z) uniform: x is uniform on [-sqrt 3, sqrt 3].
    func testUnitGainInputsAreUniform() throws {
        let distribution = try Case(gain: 1).distribution()
        let n = 50_000, d = distribution.size, bins = 8
        let edge = 3.0.squareRoot()
        var rng = Xoshiro256(seed: 21)
        let x = distribution.sample(count: n, rng: &rng)
        XCTAssertLessThanOrEqual(x.map(abs).max()!, edge)
        // Per-sample bin fractions, so that correlated sites are not counted as independent.
        var sum = [Double](repeating: 0, count: bins), sumSquares = sum
        for row in 0..<n {
            var counts = [Double](repeating: 0, count: bins)
            for i in 0..<d { counts[min(bins - 1, Int((x[row * d + i] + edge) / (2 * edge) * Double(bins)))] += 1 / Double(d) }
            for b in 0..<bins { sum[b] += counts[b]; sumSquares[b] += counts[b] * counts[b] }
        }
        for b in 0..<bins {
            let mean = sum[b] / Double(n), error = ((sumSquares[b] / Double(n) - mean * mean) / Double(n - 1)).squareRoot()
            XCTAssertEqual(mean, 1 / Double(bins), accuracy: z * error, "bin \(b)")
        }
    }

    // MARK: validation

    func testInvalidInputsAreRejectedWithTheirFlag() throws {
        let ring = try Lattice(dimension: 1, length: 16)
        for xi in [0, -1, .nan, .infinity] {
            assertInvalid(flag: "--xi") { _ = try Kernel(shape: .gaussian, correlationLength: xi) }
        }
        for jitter in [-0.1, .nan] {
            assertInvalid(flag: "--jitter") { _ = try Kernel(shape: .exponential, correlationLength: 1, jitter: jitter) }
        }
        let kernel = try Kernel(shape: .gaussian, correlationLength: 2)
        for gain in [-1, -Double.infinity, .nan] {
            assertInvalid(flag: "--gain") { _ = try InputSpec(lattice: ring, kernel: kernel, gain: gain) }
        }
        XCTAssertNoThrow(try InputSpec(lattice: ring, kernel: kernel, gain: .infinity))
        // The correlation length must fit: L >= 2 xi (the error names --xi since 1a0f666).
        assertInvalid(flag: "--xi") {
            _ = try InputSpec(lattice: try Lattice(dimension: 1, length: 4), kernel: try Kernel(shape: .gaussian, correlationLength: 2.5), gain: 1)
        }
        assertInvalid(flag: "--xi") {
            _ = try InputSpec(lattice: ring, kernel: kernel, gain: 1).with(correlationLength: 8.5)
        }
        // Decoding a manifest validates too.
        let json = String(decoding: try JSONEncoder().encode(InputSpec(lattice: ring, kernel: kernel, gain: 1)), as: UTF8.self)
        XCTAssertEqual(try JSONDecoder().decode(InputSpec.self, from: Data(json.utf8)), try InputSpec(lattice: ring, kernel: kernel, gain: 1))
        assertInvalid(flag: "--gain") {
            _ = try JSONDecoder().decode(InputSpec.self, from: Data(json.replacingOccurrences(of: #""gain":1"#, with: #""gain":-1"#).utf8))
        }
    }

    /// Periodic images can make a kernel indefinite although L >= 2 xi: a
    /// gaussian kernel on a small ring, an exponential one on a torus (whose
    /// Euclidean minimum-image distance is not a tree metric).
    func testIndefiniteKernelIsAnErrorNamingItsLowestEigenvalue() throws {
        for (dimension, length, shape, xi) in [(1, 8, KernelShape.gaussian, 3.0), (2, 6, .exponential, 3.0), (1, 16, .gaussian, 8.0)] {
            let lattice = try Lattice(dimension: dimension, length: length)
            let kernel = try Kernel(shape: shape, correlationLength: xi)
            let spec = try InputSpec(lattice: lattice, kernel: kernel, gain: 1)
            let dense = try DenseLinearAlgebra.symmetricEigenvalues(
                CirculantOperator(lattice: lattice, firstRow: kernel.firstRow(on: lattice)).denseMatrix(), n: lattice.size)
            XCTAssertLessThan(dense[0], -1e-3, "the case must be indefinite beyond round-off")
            let message = assertInvalid(flag: "--xi") { _ = try InputDistribution(spec) }
            let reported = message.components(separatedBy: "most negative eigenvalue ").last!.prefix { $0 != ";" }
            XCTAssertEqual(Double(reported) ?? .nan, dense[0], accuracy: 1e-10, message)
            // The remedy the message proposes works.
            let jittered = try Kernel(shape: shape, correlationLength: xi, jitter: -dense[0] * 1.001)
            XCTAssertNoThrow(try InputDistribution(InputSpec(lattice: lattice, kernel: jittered, gain: 1)))
        }
    }
}
