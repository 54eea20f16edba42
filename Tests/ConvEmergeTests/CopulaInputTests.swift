import ConvEmerge
import Foundation
import XCTest

/// Gaussian-copula input families (derivations/copula-inputs.md): the Hermite series of the
/// covariance and its truncation bound, the marginal moments, the erf case being the NLGP,
/// and the leading fourth-cumulant action with its chain diagrams.
final class CopulaInputTests: XCTestCase {
    static let ring = try! Lattice(dimension: 1, length: 16)

    static func distribution(_ family: InputFamily, gain: Double = 1, xi: Double = 2, jitter: Double = 0) throws -> InputDistribution {
        let kernel = try Kernel(shape: .gaussian, correlationLength: xi, jitter: jitter)
        return try InputDistribution(InputSpec(lattice: ring, kernel: kernel, gain: gain, family: family))
    }

    /// Marginals with a finite eighth moment, so that Monte Carlo kurtosis has a standard error.
    static let sampled: [CopulaMarginal] = [.uniform, .laplace, .logistic, .student(nu: 10), .algebraic(k: 10), .exponential]

    /// Per-draw translation averages (x_i x_{i+d} for d = 0 ... D/2, then x^3 and x^4), their
    /// means and standard errors over n independent draws.
    static func monteCarloMoments(_ distribution: InputDistribution, draws n: Int, seed: UInt64) -> (mean: [Double], error: [Double]) {
        let D = distribution.size, lags = D / 2 + 1
        var sum = [Double](repeating: 0, count: lags + 2), squares = sum
        var rng = Xoshiro256(seed: seed)
        let scratch = distribution.makeScratch()
        var x = [Double](repeating: 0, count: D)
        var observation = sum
        for _ in 0..<n {
            x.withUnsafeMutableBufferPointer { distribution.sample(into: $0.baseAddress!, rng: &rng, scratch: scratch) }
            for d in 0..<lags {
                var total = 0.0
                for i in 0..<D { total += x[i] * x[(i + d) % D] }
                observation[d] = total / Double(D)
            }
            observation[lags] = x.reduce(0) { $0 + $1 * $1 * $1 } / Double(D)
            observation[lags + 1] = x.reduce(0) { $0 + $1 * $1 * $1 * $1 } / Double(D)
            for k in observation.indices {
                sum[k] += observation[k]
                squares[k] += observation[k] * observation[k]
            }
        }
        let mean = sum.map { $0 / Double(n) }
        let error = mean.indices.map { k in ((squares[k] / Double(n) - mean[k] * mean[k]) / Double(n - 1)).squareRoot() }
        return (mean, error)
    }

    /// Covariance C_0d from the Hermite series, E x^3 (skewness) and E x^4 - 3 (excess kurtosis,
    /// Var x = 1) from the closed forms, against 1e5 draws of the sampler, within 4 standard errors.
    func testCovarianceAndMomentsAgainstMonteCarlo() throws {
        for (index, marginal) in Self.sampled.enumerated() {
            let distribution = try Self.distribution(.copula(marginal))
            let (mean, error) = Self.monteCarloMoments(distribution, draws: 100_000, seed: 11 + UInt64(index))
            let lags = distribution.size / 2 + 1
            for d in 0..<lags {
                let exact = distribution.covariance.firstRow[d]
                XCTAssertLessThanOrEqual(abs(mean[d] - exact), 4 * error[d], "\(marginal): C_0\(d) = \(exact), Monte Carlo \(mean[d]) +- \(error[d])")
            }
            let skewness = distribution.marginal.skewness
            let kurtosis = try distribution.marginal.excessKurtosis()
            XCTAssertLessThanOrEqual(abs(mean[lags] - skewness), 4 * error[lags], "\(marginal): skewness \(skewness), Monte Carlo \(mean[lags]) +- \(error[lags])")
            XCTAssertLessThanOrEqual(abs(mean[lags + 1] - 3 - kurtosis), 4 * error[lags + 1],
                                     "\(marginal): excess kurtosis \(kurtosis), Monte Carlo \(mean[lags + 1] - 3) +- \(error[lags + 1])")
            print("copula:\(marginal): excess kurtosis \(kurtosis), Monte Carlo \(mean[lags + 1] - 3) +- \(error[lags + 1]); skewness \(skewness), Monte Carlo \(mean[lags]) +- \(error[lags])")
        }
    }

    /// SPEC §6's excess kurtoses, and every closed form against quadrature of psi itself: the
    /// standardisation (mean 0, variance 1), E psi^3 and E psi^4 - 3.
    func testClosedFormMomentsMatchQuadratureOfPsi() throws {
        let spec: [(CopulaMarginal, Double)] = [(.uniform, -1.2), (.laplace, 3), (.logistic, 1.2), (.student(nu: 5), 6),
                                                 (.student(nu: 10), 1), (.exponential, 6), (.sign, -2)]
        for (marginal, kurtosis) in spec { XCTAssertEqual(try XCTUnwrap(marginal.closedFormExcessKurtosis), kurtosis, accuracy: 1e-14, "\(marginal)") }
        XCTAssertEqual(CopulaMarginal.exponential.skewness, 2)
        // Alg(k) tends to the uniform as k -> inf.
        XCTAssertEqual(try XCTUnwrap(CopulaMarginal.algebraic(k: 1e6).closedFormExcessKurtosis), -1.2, accuracy: 1e-4)
        let marginals: [CopulaMarginal] = [.uniform, .laplace, .logistic, .student(nu: 10), .student(nu: 6), .algebraic(k: 6), .algebraic(k: 10), .exponential]
        for marginal in marginals {
            func moment(_ m: Int) throws -> Double {
                try GaussianQuadrature.expectation(relativeTolerance: 1e-10, absoluteTolerance: 1e-12) { pow(marginal.standardised($0), Double(m)) }
            }
            XCTAssertEqual(try moment(1), 0, accuracy: 1e-9, "\(marginal): mean")
            XCTAssertEqual(try moment(2), 1, accuracy: 1e-9, "\(marginal): variance")
            XCTAssertEqual(try moment(3), marginal.skewness, accuracy: 1e-8, "\(marginal): skewness")
            XCTAssertEqual(try moment(4) - 3, try XCTUnwrap(marginal.closedFormExcessKurtosis), accuracy: 1e-7, "\(marginal): excess kurtosis")
        }
    }

    /// copula:erf:g is the NLGP with gain g and copula:sign the NLGP at g = inf: covariance,
    /// Hermite coefficients, kurtosis and samples of the same seed agree (here exactly).
    func testErfAndSignCopulasAreTheNLGP() throws {
        for (marginal, gain) in [(CopulaMarginal.erf(gain: 0.7), 0.7), (.erf(gain: 3), 3), (.sign, .infinity)] {
            for jitter in [0, 0.1] {
                let copula = try Self.distribution(.copula(marginal), gain: 5, jitter: jitter)
                let nlgp = try Self.distribution(.nlgp, gain: gain, jitter: jitter)
                for (a, b) in zip(copula.covariance.firstRow, nlgp.covariance.firstRow) { XCTAssertEqual(a, b, accuracy: 1e-12, "\(marginal)") }
                for (a, b) in zip(copula.marginal.hermiteCoefficients(maxOrder: 9), nlgp.marginal.hermiteCoefficients(maxOrder: 9)) {
                    XCTAssertEqual(a, b, accuracy: 1e-12, "\(marginal)")
                }
                XCTAssertEqual(try copula.marginal.excessKurtosis(), try nlgp.marginal.excessKurtosis(), accuracy: 1e-12)
                var first = Xoshiro256(seed: 3), second = Xoshiro256(seed: 3)
                let x = copula.sample(count: 50, rng: &first), y = nlgp.sample(count: 50, rng: &second)
                XCTAssertLessThanOrEqual(zip(x, y).map { abs($0 - $1) }.max()!, 1e-12, "\(marginal)")
            }
        }
    }

    /// The uniform copula is the NLGP at g = 1 (sqrt 3 erf(u / sqrt 2) = psi_1): the quadrature
    /// of its Hermite coefficients against the closed form up to n = 1000, and its series
    /// covariance against the arcsine law.
    func testUniformCopulaIsUnitGainNLGPThroughTheQuadrature() throws {
        let uniform = try CopulaTransform(.uniform, latentVariance: 1)
        let exact = HermiteSeries(nlgp: GainFunction(gain: 1), latentVariance: 1)
        for n in 0...HermiteSeries.maximumOrder { XCTAssertEqual(uniform.series.normalised[n], exact.normalised[n], accuracy: 1e-13, "a_\(n)") }
        let copula = try Self.distribution(.copula(.uniform)), nlgp = try Self.distribution(.nlgp, gain: 1)
        for (a, b) in zip(copula.covariance.firstRow, nlgp.covariance.firstRow) { XCTAssertEqual(a, b, accuracy: 2e-12) }
    }

    /// The truncation bound |C(rho) - C_N(rho)| <= |rho|^(N+1) sum_{n>N} a_n^2 holds against the
    /// exact arcsine covariance (erf at several gains, sign), and C_N(1) falls short of the exact
    /// variance 1 by exactly the tail the bound uses, for every copula marginal.
    func testTruncationBoundBoundsTheError() throws {
        for gain in [0.5, 1, 3, Double.infinity] {
            let psi = GainFunction(gain: gain)
            let series = HermiteSeries(nlgp: psi, latentVariance: 1)
            for rho in [0.3, 0.78, 0.95, -0.6] {
                let exact = psi.covariance(latentCovariance: rho, latentVariance: 1)
                for order in [1, 5, 20, 80] {
                    let error = abs(series.truncatedCovariance(correlation: rho, order: order) - exact)
                    XCTAssertLessThanOrEqual(error, series.truncationBound(order: order, correlation: rho) + 1e-15, "g = \(gain), rho = \(rho), N = \(order)")
                }
                XCTAssertEqual(try series.covariance(correlation: rho, what: "erf"), exact, accuracy: 1e-12)
            }
        }
        for marginal in Self.sampled + [.student(nu: 5), .algebraic(k: 5)] {
            let series = try CopulaTransform(marginal, latentVariance: 1).series
            // Parseval: the quadrature never captures more than the variance (a bound that is too
            // small would show here), and the orders computed carry nearly all of it.
            let captured = series.normalised.reduce(0) { $0 + $1 * $1 }
            XCTAssertLessThanOrEqual(captured, 1 + 1e-12, "\(marginal)")
            XCTAssertGreaterThan(captured, 0.99, "\(marginal)")
            for order in [3, 30, 300] {
                let shortfall = 1 - series.truncatedCovariance(correlation: 1, order: order)
                XCTAssertEqual(shortfall, series.truncationBound(order: order, correlation: 1), accuracy: 1e-12, "\(marginal), N = \(order)")
            }
            XCTAssertEqual(try series.covariance(correlation: 1, what: "\(marginal)"), 1)
        }
    }

    /// The leading action is the contraction of the leading entries (stars plus, for the
    /// skewed exponential marginal, the twelve chains) with w: its combinatorial factors.
    func testLeadingActionContractsTheLeadingEntries() throws {
        let lattice = try Lattice(dimension: 1, length: 8)
        let kernel = try Kernel(shape: .gaussian, correlationLength: 1.5, jitter: 0.2)
        for marginal in [CopulaMarginal.exponential, .laplace] {
            let distribution = try InputDistribution(InputSpec(lattice: lattice, kernel: kernel, gain: 1, family: .copula(marginal)))
            let cumulant = try FourthCumulant(distribution, method: .leading)
            XCTAssertEqual(cumulant.chainPrefactor == 0, marginal.isOdd, "\(marginal)")
            let w = (0..<8).map { sin(Double($0) + 0.3) }
            let t = cumulant.action(w)
            for i in 0..<8 {
                var contracted = 0.0
                for j in 0..<8 { for k in 0..<8 { for l in 0..<8 {
                    contracted += try cumulant.cumulant(i, j, k, l) * w[j] * w[k] * w[l]
                } } }
                XCTAssertEqual(t[i], contracted, accuracy: 1e-12 * max(1, abs(contracted)), "\(marginal), site \(i)")
            }
        }
    }

    /// The exact table needs the Plackett integral of the erf marginal: others are refused
    /// naming --cumulant, while copula:sign gives the NLGP's exact action.
    func testFullCumulantOnlyForErfMarginals() throws {
        let laplace = try Self.distribution(.copula(.laplace))
        XCTAssertThrowsError(try FourthCumulant(laplace, method: .full)) { error in
            guard case let ConvEmergeError.invalidInput(flag, message)? = error as? ConvEmergeError else { return XCTFail("\(error)") }
            XCTAssertEqual(flag, "--cumulant")
            XCTAssertTrue(message.contains("leading"), message)
        }
        let sign = try FourthCumulant(Self.distribution(.copula(.sign)), method: .full, tolerance: 1e-8)
        let nlgp = try FourthCumulant(Self.distribution(.nlgp, gain: .infinity), method: .full, tolerance: 1e-8)
        let w = (0..<16).map { cos(0.4 * Double($0)) }
        XCTAssertEqual(sign.action(w), nlgp.action(w))
    }

    /// `--inputs` parsing: the allowed forms round-trip, each bad one is one line about --inputs.
    func testParsingAndItsErrors() throws {
        for text in ["nlgp", "copula:erf:2", "copula:sign", "copula:uniform", "copula:laplace", "copula:logistic",
                     "copula:student:4.5", "copula:alg:6", "copula:exponential"] {
            XCTAssertEqual(try InputFamily(parsing: text).description, text)
        }
        let bad: [(String, String)] = [("copula:student:3", "student needs 4 < nu <= 10000, got 3"), ("copula:alg:2", "alg needs 4 < k <= 10000"),
                                       ("copula:student:1e300", "student needs 4 < nu <= 10000"),
                                       ("copula:student", "student needs one number nu"), ("copula:laplace:2", "laplace takes no parameter"),
                                       ("copula:cauchy", "unknown marginal 'cauchy'"), ("gauss", "expected one of nlgp"),
                                       ("copula:erf:-1", "erf needs a finite gain"), ("copula:student:nan", "student needs one number")]
        for (text, message) in bad {
            XCTAssertThrowsError(try InputFamily(parsing: text), text) { error in
                guard case let ConvEmergeError.invalidInput(flag, got)? = error as? ConvEmergeError else { return XCTFail("\(error)") }
                XCTAssertEqual(flag, "--inputs")
                XCTAssertTrue(got.contains(message), "\(text): \(got)")
                XCTAssertFalse(got.contains("\n"))
            }
        }
        // Manifests: the NLGP is written as before (no family key); a copula round-trips.
        let kernel = try Kernel(shape: .gaussian, correlationLength: 2)
        let nlgp = try InputSpec(lattice: Self.ring, kernel: kernel, gain: 1)
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(nlgp), as: UTF8.self).contains("family"))
        let copula = try InputSpec(lattice: Self.ring, kernel: kernel, gain: 1, family: .copula(.student(nu: 6)))
        XCTAssertEqual(try JSONDecoder().decode(InputSpec.self, from: JSONEncoder().encode(copula)), copula)
    }
}

/// copula:tabulated (derivations/copula-inputs.md, "Tabulated marginal").
extension CopulaInputTests {
    /// n samples of a copula's own marginal, psi(u) for u ~ N(0, 1).
    static func samples(of marginal: CopulaMarginal, count n: Int, seed: UInt64) -> [Double] {
        var rng = Xoshiro256(seed: seed)
        return (0..<n).map { _ in marginal.standardised(rng.nextGaussian()) }
    }

    /// A table of 1e5 samples of uniform and laplace reproduces its source: the excess kurtosis
    /// within 4 standard errors of the sample's fourth moment (Var x^4 / n from the samples), the
    /// covariance C(rho) within the Cauchy-Schwarz bound 2 |delta| + |delta|^2, delta = psi_T - psi
    /// in L2(N(0, 1)) (computed on a grid), and its own series covariance, moments and sampler
    /// agree with 1e5 draws within 4 standard errors (the quadrature of a kinked psi).
    func testTabulatedMarginalReproducesItsSourceCopula() throws {
        let n = 100_000
        for (index, source) in [CopulaMarginal.uniform, .laplace].enumerated() {
            let x = Self.samples(of: source, count: n, seed: 40 + UInt64(index))
            let table = try TabulatedMarginal(path: "samples-of-\(source)", samples: x)
            let fourth = x.map { $0 * $0 * $0 * $0 }
            let meanFourth = fourth.reduce(0, +) / Double(n)
            let kurtosisError = (fourth.reduce(0) { $0 + ($1 - meanFourth) * ($1 - meanFourth) } / Double(n - 1) / Double(n)).squareRoot()
            let exactKurtosis = source.closedFormExcessKurtosis!
            print("copula:tabulated from \(source): excess kurtosis \(table.excessKurtosis) vs \(exactKurtosis): z = \((table.excessKurtosis - exactKurtosis) / kurtosisError)")
            XCTAssertLessThan(abs(table.excessKurtosis - exactKurtosis), 4 * kurtosisError, "\(source)")
            var deltaSquared = 0.0
            let step = 1e-4
            for k in 0..<160_000 {
                let u = -8 + (Double(k) + 0.5) * step
                let delta = table.standardised(u) - source.standardised(u)
                deltaSquared += delta * delta * exp(-0.5 * u * u) * step / (2 * Double.pi).squareRoot()
            }
            let bound = 2 * deltaSquared.squareRoot() + deltaSquared
            let tabulated = try CopulaTransform(.tabulated(table), latentVariance: 1), exact = try CopulaTransform(source, latentVariance: 1)
            for rho in [0.9, 0.5, 0.1, -0.5] {
                let difference = try tabulated.covariance(latentCovariance: rho) - exact.covariance(latentCovariance: rho)
                print("copula:tabulated from \(source): C(\(rho)) differs by \(difference), bound \(bound)")
                XCTAssertLessThanOrEqual(abs(difference), bound, "\(source) rho = \(rho)")
            }
            // The quadrature straddles the interior kinks of psi: its mean a_0 (exactly 0) and its
            // Parseval sum (exactly 1) measure what that costs.
            let parseval = tabulated.series.normalised.reduce(0) { $0 + $1 * $1 }
            print("copula:tabulated from \(source): quadrature a_0 = \(tabulated.series.normalised[0]), 1 - sum a_n^2 = \(1 - parseval)")
            XCTAssertEqual(tabulated.series.normalised[0], 0, accuracy: 1e-5)
            XCTAssertEqual(parseval, 1, accuracy: 1e-4)
            let distribution = try Self.distribution(.copula(.tabulated(table)))
            let (mean, error) = Self.monteCarloMoments(distribution, draws: 100_000, seed: 50 + UInt64(index))
            let lags = distribution.size / 2 + 1
            for d in 0..<lags {
                XCTAssertLessThanOrEqual(abs(mean[d] - distribution.covariance.firstRow[d]), 4 * error[d], "\(source) C_0\(d)")
            }
            XCTAssertLessThanOrEqual(abs(mean[lags] - table.skewness), 4 * error[lags])
            XCTAssertLessThanOrEqual(abs(mean[lags + 1] - 3 - table.excessKurtosis), 4 * error[lags + 1])
        }
    }

    /// The spec names its file: parsing reads it, the description (the manifest's record) is
    /// `copula:tabulated:PATH`, JSON round-trips, an (N, D) array pools its values, and the
    /// cumulant closure treats it as skewed (no table is exactly odd: the third-cumulant terms
    /// apply) and `--cumulant full` refuses it (no Plackett function).
    func testTabulatedSpecRoundTripsAndTakesTheSkewedCumulantClosure() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabulated-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let values = Self.samples(of: .logistic, count: 200, seed: 7)
        let flat = directory.appendingPathComponent("flat.npy").path, rows = directory.appendingPathComponent("rows.npy").path
        try NpyArray(shape: [200], values: values).write(to: flat)
        try NpyArray(shape: [50, 4], values: values).write(to: rows)
        let family = try InputFamily(parsing: "copula:tabulated:\(flat)")
        XCTAssertEqual(family.description, "copula:tabulated:\(flat)")
        XCTAssertEqual(try JSONDecoder().decode(InputFamily.self, from: JSONEncoder().encode(family)), family)
        guard case let .copula(.tabulated(flatTable)) = family, case let .copula(.tabulated(rowTable)) = try InputFamily(parsing: "copula:tabulated:\(rows)") else {
            return XCTFail("not parsed as tabulated")
        }
        XCTAssertEqual(flatTable.knots, rowTable.knots)
        let base = try InputSpec(lattice: Self.ring, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 1, family: family)
        let task = try TaskSpec.clone(base: base, prior1: 0.5, targets: [0, 1])
        XCTAssertFalse(family.isOdd)
        XCTAssertNoThrow(try ClosureSpec(kind: .cumulant).requireApplicable(to: task))
        XCTAssertThrowsError(try ClosureSpec(kind: .cumulant, cumulantMethod: .full).requireApplicable(to: task))
        XCTAssertNoThrow(try ClosureSpec(kind: .conditional).requireApplicable(to: task))
    }
}
