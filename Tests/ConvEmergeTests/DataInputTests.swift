import ConvEmerge
import Foundation
import XCTest

/// `--inputs data:` in the theory and the simulation (derivations/data-inputs.md, "Closures on
/// data", "Simulation on data"): each closure on a data set against an identity it must obey.
final class DataInputTests: XCTestCase {
    let ring = try! Lattice(dimension: 1, length: 16)
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("DataInputTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func nlgp(gain: Double = 3) throws -> InputSpec {
        try InputSpec(lattice: ring, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: gain)
    }

    /// Writes `rows` (n x 16) to a file and returns the task on it (one file: clone; two: data).
    func dataTask(_ rowSets: [[Double]], stationarity: EmpiricalInputs.Stationarity = .raw, symmetrise: Bool = false) throws -> TaskSpec {
        let files = try rowSets.enumerated().map { index, rows -> DataSetReference in
            let path = scratch.appendingPathComponent("rows\(index).npy").path
            try NpyArray(shape: [rows.count / 16, 16], values: rows).write(to: path)
            return try DataSetReference.inspect(path: path, lattice: ring, stationarity: stationarity, signSymmetrised: symmetrise)
        }
        var base = try nlgp()
        base.family = .data
        return try TaskSpec.data(base: base, files: files, prior1: 0.5, targets: [0, 1])
    }

    func flow(_ task: TaskSpec, _ kind: ClosureKind, activation: ActivationKind = .relu, samples: Int = 1000) throws -> GradientFlow {
        try GradientFlow(task: task, neuron: NeuronSpec(activation: activation, bias: 0.1),
                         closure: ClosureSpec(kind: kind, monteCarloSamples: samples, monteCarloSeed: 1), learningRate: 1)
    }

    /// A localised w with |w|^2 = D.
    var probe: [Double] {
        let bump = (0..<16).map { i in exp(-Double((i - 5) * (i - 5)) / 4) + 0.1 * sin(Double(i)) }
        return bump.map { $0 * (16 / dot(bump, bump)).squareRoot() }
    }

    func relativeDistance(_ a: [Double], _ b: [Double]) -> Double { euclideanNorm(zip(a, b).map { $0 - $1 }) / euclideanNorm(b) }

    /// Non-stationary rows: NLGP samples with a site-dependent scale and an offset, so that the
    /// covariance is far from circulant and the mean is not zero.
    func nonStationaryRows(_ n: Int, seed: UInt64) throws -> [Double] {
        var rng = Xoshiro256(seed: seed)
        let rows = try InputDistribution(nlgp()).sample(count: n, rng: &rng)
        return rows.enumerated().map { k, x in x * (1 + 0.5 * Double(k % 16) / 16) + 0.2 }
    }

    func testMonteCarloClosureOnADataFileOfNLGPSamplesIsTheNLGPMonteCarloClosure() throws {
        // The NLGP's montecarlo closure draws class 1's fixed sample from stream 1 of the seed;
        // written to a file, the same rows make the data closure: the same sum, to round-off.
        let samples = 3000
        var rng = Xoshiro256(seed: 1, stream: 1)
        let rows = try InputDistribution(nlgp()).sample(count: samples, rng: &rng)
        let model = try flow(TaskSpec.clone(base: nlgp(), prior1: 0.5, targets: [0, 1]), .montecarlo, samples: samples)
        let data = try flow(dataTask([rows]), .montecarlo, samples: samples)
        let exact = model.classDrifts(probe)[1], fromFile = data.classDrifts(probe)[1]
        XCTAssertLessThan(relativeDistance(fromFile, exact), 1e-13)
    }

    func testLinearNeuronSeesOnlyTheCovarianceSoTheGaussianClosureIsExactOnCentredData() throws {
        // For h(lambda) = y - b - lambda, g(w) = sqrt(D) (y - b) E[x] - C w: on sign-symmetrised
        // rows E[x] = 0 exactly and E[x x^T] = C, so the gaussian closure (dense C) equals the
        // full-batch flow on the rows for any data set, however non-Gaussian or non-stationary.
        let task = try dataTask([nonStationaryRows(500, seed: 3)], symmetrise: true)
        let gaussian = try flow(task, .gaussian, activation: .linear).classDrifts(probe)[1]
        let rows = try flow(task, .montecarlo, activation: .linear).classDrifts(probe)[1]
        XCTAssertLessThan(relativeDistance(gaussian, rows), 1e-12)
    }

    func testCumulantClosureWithTheEmpiricalFourthCumulantIsExactForACubicErrorSignal() throws {
        // quadratic sigma, b = 0: h = 2 y lambda - 2 lambda^3 is cubic, so E[x h] needs moments up to the
        // fourth only, and the fourth-order Edgeworth closure with the data's own T(w) is exact
        // (derivations/data-inputs.md, "Closures on data"): it must equal the flow on the rows.
        let task = try dataTask([nonStationaryRows(800, seed: 4)], symmetrise: true)
        let neuron = try NeuronSpec(activation: .quadratic, bias: 0)
        func drift(_ kind: ClosureKind) throws -> [Double] {
            try GradientFlow(task: task, neuron: neuron, closure: ClosureSpec(kind: kind), learningRate: 1).classDrifts(probe)[1]
        }
        let rows = try drift(.montecarlo), cumulant = try drift(.cumulant), gaussian = try drift(.gaussian)
        XCTAssertLessThan(relativeDistance(cumulant, rows), 1e-10)
        // The fourth cumulant matters here: without it the closure is visibly off.
        XCTAssertGreaterThan(relativeDistance(gaussian, rows), 1e-2)
    }

    /// Skewed rows, exactly centred, both classes data: with sigma = (lambda + b)^2 and b != 0 the
    /// error signal is a cubic with a lambda^2 term, so E[x h] needs E[x lambda^2] = S(w)/D as well
    /// as T(w), and the closure with the empirical S and T (third-order terms included) is exact
    /// (derivations/data-inputs.md, "Closures on data"); dropping S (the fourth-order closure of
    /// sign-symmetrised data) would not be.
    func testCumulantClosureWithTheEmpiricalThirdCumulantIsExactForACubicSignalWithEvenPart() throws {
        func skewedCentredRows(_ n: Int, seed: UInt64) -> [Double] {
            var rng = Xoshiro256(seed: seed)
            var rows = (0..<(n * 16)).map { _ in rng.nextGaussian() }
            for r in 0..<n {
                let g = Array(rows[(r * 16)..<(r * 16 + 16)])
                for i in 0..<16 { rows[r * 16 + i] = g[i] + 0.4 * g[(i + 1) % 16] + 0.6 * (g[i] * g[i] - 1) }
            }
            for i in 0..<16 {
                let mean = stride(from: i, to: rows.count, by: 16).reduce(0) { $0 + rows[$1] } / Double(n)
                for k in stride(from: i, to: rows.count, by: 16) { rows[k] -= mean }
            }
            return rows
        }
        let task = try dataTask([skewedCentredRows(700, seed: 11), skewedCentredRows(900, seed: 12)])
        let neuron = try NeuronSpec(activation: .quadratic, bias: 0.5)
        func drifts(_ kind: ClosureKind) throws -> [[Double]] {
            try GradientFlow(task: task, neuron: neuron, closure: ClosureSpec(kind: kind), learningRate: 1).classDrifts(probe)
        }
        let rows = try drifts(.montecarlo), cumulant = try drifts(.cumulant), gaussian = try drifts(.gaussian)
        for c in 0..<2 {
            XCTAssertLessThan(relativeDistance(cumulant[c], rows[c]), 1e-9, "class \(c)")
            XCTAssertGreaterThan(relativeDistance(gaussian[c], rows[c]), 1e-2, "class \(c)")
        }
    }

    func testDenseAndCirculantGaussianClosuresAgreeOnExactlyCirculantData() throws {
        // All 16 translations of a few rows: the empirical covariance (and the per-site mean) is
        // exactly translation invariant, so raw (dense products) and circulant (FFT) coincide.
        var rng = Xoshiro256(seed: 5)
        var rows: [Double] = []
        for _ in 0..<4 {
            let x = (0..<16).map { _ in rng.nextGaussian() + 0.3 * rng.nextGaussian() * rng.nextGaussian() }
            for shift in 0..<16 { rows += (0..<16).map { x[($0 + shift) % 16] } }
        }
        let raw = try flow(dataTask([rows], stationarity: .raw), .gaussian)
        let circulant = try flow(dataTask([rows], stationarity: .circulant), .gaussian)
        for c in 0..<2 { XCTAssertLessThan(relativeDistance(raw.classDrifts(probe)[c], circulant.classDrifts(probe)[c]), 1e-12) }
        XCTAssertEqual(raw.overlaps(probe)[1], circulant.overlaps(probe)[1], accuracy: 1e-12)
    }

    func testCloneSamplerHasTheEmpiricalCovarianceWithinFourStandardErrors() throws {
        let task = try dataTask([nonStationaryRows(2000, seed: 6)])
        let distributions = try task.distributions()
        let clone = distributions[0], data = try XCTUnwrap(clone.dataSet)
        XCTAssertEqual(try XCTUnwrap(clone.cloneFactor).jitter, 0, "2000 rows of D = 16: positive definite")
        let sampler = try SimulationSampler(clone, mode: .fast)
        let m = 40000, d = 16
        var rng = Xoshiro256(seed: 7)
        var x = [Double](repeating: 0, count: d), second = [Double](repeating: 0, count: d * d)
        for _ in 0..<m {
            x.withUnsafeMutableBufferPointer { sampler.sample(into: $0.baseAddress!, rng: &rng) }
            for i in 0..<d { for j in i..<d { second[i * d + j] += x[i] * x[j] / Double(m) } }
        }
        // For a Gaussian, var(x_i x_j) = C_ii C_jj + C_ij^2 (Isserlis). 136 entries: max |z| < 4.5.
        let c = data.covarianceMatrix
        var worst = 0.0
        for i in 0..<d {
            for j in i..<d {
                let standardError = ((c[i * d + i] * c[j * d + j] + c[i * d + j] * c[i * d + j]) / Double(m)).squareRoot()
                worst = max(worst, abs(second[i * d + j] - c[i * d + j]) / standardError)
            }
        }
        XCTAssertLessThan(worst, 4.5)
        XCTAssertGreaterThan(data.distanceFromCirculant, 0.05, "the test data are not circulant: the dense path is exercised")
    }

    func testSemidefiniteCovarianceIsFactoredWithASmallJitterThatIsReported() throws {
        // 12 rows of D = 16: rank <= 11 (12 after centring, minus one), so only semidefinite.
        let distributions = try dataTask([nonStationaryRows(12, seed: 13)]).distributions()
        let clone = distributions[0], c = try XCTUnwrap(clone.dataSet).covarianceMatrix
        let (factor, jitter) = try XCTUnwrap(clone.cloneFactor)
        let meanVariance = (0..<16).reduce(0) { $0 + c[$1 * 16 + $1] } / 16
        XCTAssertGreaterThan(jitter, 0)
        XCTAssertLessThanOrEqual(jitter, 1e-4 * meanVariance)
        XCTAssertNotNil(clone.cloneJitterNote)
        // L L^T = C + jitter I.
        var worst = 0.0
        for i in 0..<16 {
            for j in 0..<16 {
                let product = (0..<16).reduce(0) { $0 + factor[i * 16 + $1] * factor[j * 16 + $1] }
                worst = max(worst, abs(product - c[i * 16 + j] - (i == j ? jitter : 0)))
            }
        }
        XCTAssertLessThan(worst, 1e-12 * meanVariance)
    }

    func testEpochsVisitEveryRowOnceAndDrawsWithReplacementAreUniform() throws {
        let rows = try nonStationaryRows(50, seed: 8)
        let distributions = try dataTask([rows]).distributions()
        let data = try XCTUnwrap(distributions[1].dataSet)
        var rng = Xoshiro256(seed: 9)
        let epochs = DataRowSampler(data, withoutReplacement: true)
        for _ in 0..<3 {
            let visited = (0..<50).map { _ in epochs.nextRow(rng: &rng) }
            XCTAssertEqual(visited.sorted(), Array(0..<50), "one epoch visits each row once")
        }
        // With replacement each row's count is Binomial(n, 1/50): within 4.5 SD of n/50 (50 rows).
        let uniform = DataRowSampler(data, withoutReplacement: false)
        let n = 100_000
        var counts = [Int](repeating: 0, count: 50)
        for _ in 0..<n { counts[uniform.nextRow(rng: &rng)] += 1 }
        let sd = (Double(n) / 50 * (1 - 1.0 / 50)).squareRoot()
        XCTAssertLessThan(counts.map { abs(Double($0) - Double(n) / 50) / sd }.max()!, 4.5)
        // The simulation's sampler copies rows as given.
        let sampler = try SimulationSampler(distributions[1], mode: .fast, inEpochs: true)
        var x = [Double](repeating: 0, count: 16)
        x.withUnsafeMutableBufferPointer { sampler.sample(into: $0.baseAddress!, rng: &rng) }
        XCTAssertTrue((0..<50).contains { Array(rows[$0 * 16..<($0 + 1) * 16]) == x })
    }

    func testTranslatedRowsHaveTheCirculantCovarianceOfTheGaussianClosure() throws {
        // Centred rows (per-site mean exactly 0), each at one random translation: for a linear
        // neuron the expected drift is -E[x' x'^T] w = -P(C) w, the gaussian closure on the circulant
        // projection, which the random translations reach within their standard error.
        var rows = try nonStationaryRows(4000, seed: 11)
        for i in 0..<16 {
            let mean = stride(from: i, to: rows.count, by: 16).reduce(0) { $0 + rows[$1] } / 4000
            for k in stride(from: i, to: rows.count, by: 16) { rows[k] -= mean }
        }
        let path = scratch.appendingPathComponent("centred.npy").path
        try NpyArray(shape: [4000, 16], values: rows).write(to: path)
        let file = try DataSetReference.inspect(path: path, lattice: ring, stationarity: .circulant, signSymmetrised: false, augmentation: .translate)
        let task = try TaskSpec.data(base: nlgp(), files: [file], prior1: 0.5, targets: [0, 1])
        let gaussian = try flow(task, .gaussian, activation: .linear).classDrifts(probe)[1]
        let signal = try NeuronSpec(activation: .linear, bias: 0.1).errorSignal(target: 1)
        var rng = Xoshiro256(seed: 1, stream: 1)
        let translated = MonteCarloClosure(distribution: try task.distributions()[1], signal: signal, samples: 1, rng: &rng)
        XCTAssertEqual(translated.sampleCount, 4000)
        var drift = [Double](repeating: 0, count: 16)
        probe.withUnsafeBufferPointer { w in drift.withUnsafeMutableBufferPointer { translated.drift(w.baseAddress!, into: $0.baseAddress!) } }
        let standardError = probe.withUnsafeBufferPointer { translated.driftStandardError($0.baseAddress!) }
        let z = (0..<16).map { abs(drift[$0] - gaussian[$0]) / standardError[$0] }
        XCTAssertLessThan(z.max()!, 4.5, "\(z)")
        // Without translations the rows are far from circulant: the comparison has power.
        let untranslated = try flow(dataTask([rows], stationarity: .raw), .montecarlo, activation: .linear).classDrifts(probe)[1]
        XCTAssertGreaterThan((0..<16).map { abs(untranslated[$0] - gaussian[$0]) / standardError[$0] }.max()!, 6)
    }

    func testAllTranslationsOfARowOnATorusHaveACirculantCovariance() throws {
        // The roll of copyRow is the lattice's translation group: the D translates of any rows
        // have an exactly circulant covariance (distance 0 to round-off), on the torus as on the ring.
        let torus = try Lattice(dimension: 2, length: 4)
        var rng = Xoshiro256(seed: 12)
        let source = (0..<(3 * 16)).map { _ in rng.nextGaussian() * rng.nextGaussian() }
        let path = scratch.appendingPathComponent("torus.npy").path
        try NpyArray(shape: [12, 16], values: source + source + source + source).write(to: path)
        let data = try LoadedDataSet.load(path: path, lattice: torus, stationarity: .raw, signSymmetrised: false)
        var translates = [Double](repeating: 0, count: 3 * 16 * 16)
        translates.withUnsafeMutableBufferPointer { out in
            for n in 0..<3 { for shift in 0..<16 { data.copyRow(n, into: out.baseAddress! + (n * 16 + shift) * 16, shift: shift) } }
        }
        let statistics = try EmpiricalInputs(values: translates, rowCount: 48, lattice: torus)
        XCTAssertLessThan(statistics.covariance().distanceFromCirculant, 1e-14)
        XCTAssertGreaterThan(data.distanceFromCirculant, 0.1, "the rows themselves are not translation invariant")
    }

    func testClosuresThatDoNotApplyToDataAreRefusedNamingTheFlag() throws {
        let task = try dataTask([nonStationaryRows(100, seed: 10)])
        for (closure, flag) in [(try ClosureSpec(kind: .conditional), "--closure"), (try ClosureSpec(kind: .lufkin), "--closure"),
                                (try ClosureSpec(kind: .cumulant, cumulantMethod: .full), "--cumulant")] {
            XCTAssertThrowsError(try closure.requireApplicable(to: task)) { error in
                guard case let ConvEmergeError.invalidInput(thrown, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(thrown, flag)
            }
        }
    }
}
