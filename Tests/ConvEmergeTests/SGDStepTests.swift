import ConvEmerge
import Foundation
import XCTest

/// The fast paths of the SGD step (issue 11): the erf table, the ziggurat, and the tuned
/// one-c2r sampler against the exact law and against the implementation it replaced
/// (derivations/sgd-noise-scaling.md §5).
final class SGDStepTests: XCTestCase {
    /// An NLGP class on a ring of `length` sites, gain 3 (the bench's), gaussian kernel.
    private func distribution(length: Int, xi: Double = 1.5) throws -> InputDistribution {
        let lattice = try Lattice(dimension: 1, length: length)
        return try InputDistribution(InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: xi), gain: 3))
    }

    /// The degree-7, h = 1/32 table is within 1.2e-16 of libm's erf on 2e6 points of [-7, 7] and
    /// on both sides of every interval boundary (truncation < 4e-17 plus round-off); psi_g through
    /// the sampler's pass is within outputScale x 1.11e-16 plus the rounding of the two products.
    func testErfKernelMeetsItsBoundOnADenseGrid() throws {
        let erfTable = FastErf.shared
        var worst = 0.0
        let points = 2_000_000
        for k in 0...points {
            let x = -7 + 14 * Double(k) / Double(points)
            worst = max(worst, abs(erfTable(x) - erf(x)))
        }
        for boundary in 0...192 {
            let x = Double(boundary) / 32
            for y in [x.nextDown, x, x.nextUp, -x.nextUp] { worst = max(worst, abs(erfTable(y) - erf(y))) }
        }
        XCTAssertLessThanOrEqual(worst, 1.2e-16)
        XCTAssertEqual(erfTable(6), 1)
        XCTAssertEqual(erfTable(-6.5), -1)
        XCTAssertTrue(erfTable(.nan).isNaN)

        let distribution = try distribution(length: 400)
        let sampler = try SimulationSampler(distribution, mode: .fast)
        let psi = distribution.psi
        let z = (0..<400).map { -4 + 8 * Double($0) / 399 }
        var x = [Double](repeating: 0, count: 400)
        z.withUnsafeBufferPointer { source in
            x.withUnsafeMutableBufferPointer { sampler.applyFastNonlinearity(source.baseAddress!, into: $0.baseAddress!) }
        }
        let bound = 1.11e-16 / psi.gamma.squareRoot() + 2.3e-16
        for i in 0..<400 { XCTAssertEqual(x[i], psi(z[i]), accuracy: bound, "z = \(z[i])") }
    }

    /// The four-at-a-time pass is the one-point kernel bit for bit, NaN, +-inf, +-6, interval
    /// boundaries and a count that is not a multiple of 4 included.
    func testErfPassIsTheOnePointKernelBitForBit() {
        var z = (0..<4001).map { -8 + 16 * Double($0) / 4000 }
        z += [.nan, .infinity, -.infinity, 6, -6, 6.0.nextDown, -(6.0.nextDown), 0, -0.0, 1.0 / 32, (1.0 / 32).nextDown, 5.96875]
        var x = [Double](repeating: 0, count: z.count)
        FastErf.shared.coefficients.withUnsafeBufferPointer { table in
            z.withUnsafeBufferPointer { source in
                x.withUnsafeMutableBufferPointer {
                    FastErf.evaluate(source.baseAddress!, into: $0.baseAddress!, count: z.count, argumentScale: 1.5, outputScale: 0.75,
                                     table: table.baseAddress!)
                }
            }
        }
        for (value, zValue) in zip(x, z) {
            let expected = 0.75 * FastErf.shared(1.5 * zValue)
            XCTAssertTrue(value == expected || (value.isNaN && expected.isNaN), "z = \(zValue): \(value) vs \(expected)")
        }
    }

    /// Every C erf variant this CPU runs, called explicitly: within 1.2e-16 of libm's erf on 2e6
    /// points of [-7, 7] (chunks of 4099, so every variant's remainder path runs) and on both sides
    /// of every interval boundary, +-1 beyond 6 and NaN for NaN; fused multiply-adds change only
    /// the rounding of Horner's steps, so the bound of the Swift kernel holds for each. The
    /// portable variant rounds as the Swift kernel does: equal bit for bit.
    func testEveryISAVariantMeetsTheErfBound() {
        XCTAssertTrue(KernelVariant.supported.contains(.portable))
        var z = (0...2_000_000).map { -7 + 14 * Double($0) / 2_000_000 }
        for boundary in 0...192 {
            let x = Double(boundary) / 32
            z += [x.nextDown, x, x.nextUp, -x.nextUp, -x]
        }
        let special: [Double] = [6, -6.5, 6.0.nextDown, -(6.0.nextDown), .infinity, -.infinity, .nan]
        z += special
        var swiftValues = [Double](repeating: 0, count: z.count)
        FastErf.shared.coefficients.withUnsafeBufferPointer { table in
            z.withUnsafeBufferPointer { source in
                swiftValues.withUnsafeMutableBufferPointer {
                    FastErf.evaluate(source.baseAddress!, into: $0.baseAddress!, count: z.count, argumentScale: 1, outputScale: 1,
                                     table: table.baseAddress!)
                }
            }
        }
        let chunk = 4099
        for variant in KernelVariant.supported {
            var x = [Double](repeating: 0, count: z.count)
            FastErf.shared.coefficients.withUnsafeBufferPointer { table in
                z.withUnsafeBufferPointer { source in
                    x.withUnsafeMutableBufferPointer { output in
                        for start in stride(from: 0, to: z.count, by: chunk) {
                            FastErf.evaluate(source.baseAddress! + start, into: output.baseAddress! + start,
                                             count: min(chunk, z.count - start), argumentScale: 1, outputScale: 1,
                                             table: table.baseAddress!, variant: variant)
                        }
                    }
                }
            }
            var worst = 0.0
            for (value, argument) in zip(x, z) where argument.isFinite { worst = max(worst, abs(value - erf(argument))) }
            XCTAssertLessThanOrEqual(worst, 1.2e-16, variant.name)
            let tail = Array(x.suffix(special.count))
            XCTAssertEqual(Array(tail.prefix(6)), [1, -1, erf(6.0.nextDown), -erf(6.0.nextDown), 1, -1], variant.name)
            XCTAssertTrue(tail[6].isNaN, variant.name)
            if variant == .portable {
                XCTAssertTrue(zip(x, swiftValues).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "portable is the Swift kernel")
            }
        }
    }

    /// The dispatcher takes the widest variant this CPU runs, once, and the sampler's psi is that
    /// variant's pass bit for bit (scales included).
    func testSamplerUsesTheWidestSupportedVariant() throws {
        XCTAssertEqual(KernelVariant.best, KernelVariant.supported.max { $0.rawValue < $1.rawValue })
        XCTAssertEqual(Set(KernelVariant.allCases.map(\.name)).count, KernelVariant.allCases.count)
        let distribution = try distribution(length: 203)
        let sampler = try SimulationSampler(distribution, mode: .fast)
        let z = (0..<203).map { -5 + 10 * Double($0) / 202 }
        var viaSampler = [Double](repeating: 0, count: 203), viaVariant = viaSampler
        let psi = distribution.psi
        z.withUnsafeBufferPointer { source in
            viaSampler.withUnsafeMutableBufferPointer { sampler.applyFastNonlinearity(source.baseAddress!, into: $0.baseAddress!) }
            FastErf.shared.coefficients.withUnsafeBufferPointer { table in
                viaVariant.withUnsafeMutableBufferPointer {
                    // GainFunction's scales, g / sqrt 2 and 1 / sqrt(gamma), as it computes them.
                    FastErf.evaluate(source.baseAddress!, into: $0.baseAddress!, count: 203, argumentScale: psi.gain / 2.0.squareRoot(),
                                     outputScale: 1 / psi.gamma.squareRoot(), table: table.baseAddress!, variant: .best)
                }
            }
        }
        XCTAssertEqual(viaSampler, viaVariant)
    }

    /// The C ziggurat is the Swift one draw for draw: the same 2e5 normals bit for bit (about
    /// 2400 of them through the wedges and the tail) in fills of uneven sizes, and the same final
    /// generator state.
    func testNativeZigguratIsTheSwiftStreamBitForBit() {
        let n = 200_000
        var swiftGenerator = Xoshiro256(seed: 11), nativeGenerator = Xoshiro256(seed: 11)
        var swiftValues = [Double](repeating: 0, count: n), nativeValues = swiftValues
        swiftValues.withUnsafeMutableBufferPointer { swiftGenerator.fillZigguratGaussian($0.baseAddress!, count: n) }
        nativeValues.withUnsafeMutableBufferPointer { buffer in
            var start = 0
            for size in [0, 1, 7, 400, 1023] where start < n {
                nativeGenerator.fillZigguratGaussianNative(buffer.baseAddress! + start, count: size)
                start += size
            }
            nativeGenerator.fillZigguratGaussianNative(buffer.baseAddress! + start, count: n - start)
        }
        XCTAssertEqual(swiftValues, nativeValues)
        XCTAssertGreaterThan(nativeValues.map(abs).max()!, Ziggurat.table[1], "a tail draw was among them")
        XCTAssertEqual(swiftGenerator.next(), nativeGenerator.next())
    }

    /// Kolmogorov-Smirnov: sqrt(n) sup |F_n - Phi| of 2e5 ziggurat draws below 1.95 (the 0.1%
    /// critical value); the buffer fill reproduces the one-at-a-time draws bit for bit.
    func testZigguratPassesKolmogorovSmirnov() {
        let n = 200_000
        var rng = Xoshiro256(seed: 3)
        var values = [Double](repeating: 0, count: n)
        values.withUnsafeMutableBufferPointer { rng.fillZigguratGaussian($0.baseAddress!, count: n) }
        var single = Xoshiro256(seed: 3)
        let first = Ziggurat.table.withUnsafeBufferPointer { table in
            (0..<1000).map { _ in single.nextZigguratGaussian(table: table.baseAddress!) }
        }
        XCTAssertEqual(Array(values[0..<1000]), first)
        values.sort()
        var distance = 0.0
        for (k, value) in values.enumerated() {
            let phi = 0.5 * erfc(-value / 2.0.squareRoot())
            distance = max(distance, abs(Double(k + 1) / Double(n) - phi), abs(phi - Double(k) / Double(n)))
        }
        XCTAssertLessThan(Double(n).squareRoot() * distance, 1.95)
    }

    /// The tuned sampler on odd and even rings: the covariance of x_0 with x_r at every lag r
    /// equals the exact C within 4 standard errors (the SE of the mean of the products), and the
    /// marginal P(x_0 <= psi(q)) = Phi(q / sqrt(s)) within 4 binomial standard errors.
    func testTunedSamplerHasTheExactCovarianceAndMarginal() throws {
        let n = 60_000
        for length in [15, 16] {
            let distribution = try distribution(length: length)
            let sampler = try SimulationSampler(distribution, mode: .fast)
            let psi = distribution.psi, s = distribution.spec.kernel.variance
            let quantiles = [-1.5, -0.5, 0.3, 1.2]
            var rng = Xoshiro256(seed: 21)
            var x = [Double](repeating: 0, count: length)
            var sums = [Double](repeating: 0, count: length / 2 + 1), squares = sums
            var below = [Double](repeating: 0, count: quantiles.count)
            for _ in 0..<n {
                x.withUnsafeMutableBufferPointer { sampler.sample(into: $0.baseAddress!, rng: &rng) }
                for lag in 0..<sums.count {
                    let product = x[0] * x[lag]
                    sums[lag] += product
                    squares[lag] += product * product
                }
                for (k, q) in quantiles.enumerated() where x[0] <= psi(q) { below[k] += 1 }
            }
            let count = Double(n)
            for lag in 0..<sums.count {
                let mean = sums[lag] / count
                let standardError = ((squares[lag] / count - mean * mean) / count).squareRoot()
                XCTAssertEqual(mean, distribution.covariance.element(0, lag), accuracy: 4 * standardError, "D = \(length), lag \(lag)")
            }
            for (k, q) in quantiles.enumerated() {
                let p = 0.5 * erfc(-q / (2 * s).squareRoot())
                XCTAssertEqual(below[k] / count, p, accuracy: 4 * (p * (1 - p) / count).squareRoot(), "D = \(length), q = \(q)")
            }
        }
    }

    /// Tuned and baseline draw the same normals in the same order (every lambda_k > 0 here), so
    /// their inputs agree to the FFT's round-off and leave the generator in the same state;
    /// the same seed gives the same inputs bit for bit.
    func testTunedSamplerIsTheBaselineToRoundOff() throws {
        for length in [63, 400] {
            let distribution = try distribution(length: length, xi: 1)
            let tuned = try SimulationSampler(distribution, mode: .fast)
            let again = try SimulationSampler(distribution, mode: .fast)
            let baseline = try SimulationSampler(distribution, mode: .fast, implementation: .baseline)
            var rngs = [Xoshiro256](repeating: Xoshiro256(seed: 8), count: 3)
            var x = [[Double]](repeating: [Double](repeating: 0, count: length), count: 3)
            for _ in 0..<50 {
                for (k, sampler) in [tuned, again, baseline].enumerated() {
                    x[k].withUnsafeMutableBufferPointer { sampler.sample(into: $0.baseAddress!, rng: &rngs[k]) }
                }
                XCTAssertEqual(x[0], x[1])
                XCTAssertLessThan(zip(x[0], x[2]).map { abs($0 - $1) }.max()!, 1e-13, "D = \(length)")
            }
            XCTAssertEqual(rngs[0].next(), rngs[2].next(), "D = \(length): the same number of draws")
        }
    }

    /// SGD with the tuned sampler follows the baseline's trajectory (same seed) to round-off over
    /// 2000 steps of a relu neuron at D = 64, and repeats itself bit for bit.
    func testTunedReplicaFollowsTheBaselineTrajectory() throws {
        let lattice = try Lattice(dimension: 1, length: 64)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 1), gain: 3)
        let task = try TaskSpec.xi(base: base, xi0: 0.5, xi1: 1, gaussianControl: false, prior1: 0.5, targets: [0, 1])
        let parameters = try SimulationParameters(task: task, neuron: NeuronSpec(activation: .relu, bias: 0), learningRate: 0.5,
                                                  tMax: 1, initialization: .random(scale: 0.1, seed: 1))
        let distributions = try task.classes.map(InputDistribution.init)
        let initial = try parameters.initialWeights()
        let replicas = try [SimulationSampler.Implementation.tuned, .tuned, .baseline].map {
            try SGDReplica(parameters, distributions: distributions, initial: initial, replica: 0, samplerImplementation: $0)
        }
        for replica in replicas { replica.step(2000) }
        XCTAssertEqual(replicas[0].weights, replicas[1].weights)
        XCTAssertNotEqual(replicas[0].weights, initial)
        let difference = zip(replicas[0].weights, replicas[2].weights).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(difference, 1e-10)
    }
}
