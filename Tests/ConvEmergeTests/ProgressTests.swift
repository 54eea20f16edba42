import ConvEmerge
import Foundation
import XCTest

/// dw/dt = -w: many steps of an explicit stepper, with a known solution.
private final class Decay: VelocityField {
    let dimension = 2
    func velocity(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        for i in 0..<dimension { out[i] = -w[i] }
    }
    func jacobian(at w: [Double], relativeStep: Double) -> [Double] { [-1, 0, 0, -1] }
}

/// A right-hand side that flips between +-1e20 from one evaluation to the next: no step size
/// meets the tolerance, so the step shrinks towards nothing and t stops moving.
private final class Rough: VelocityField {
    let dimension = 1
    var evaluations = 0
    func velocity(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        evaluations += 1
        out[0] = evaluations.isMultiple(of: 2) ? 1e20 : -1e20
    }
    func jacobian(at w: [Double], relativeStep: Double) -> [Double] { [0] }
}

/// A clock that moves `tick` seconds each time it is read.
private final class SteppingClock {
    private var now = 0.0
    let tick: Double
    init(tick: Double) { self.tick = tick }
    func read() -> Double {
        now += tick
        return now
    }
}

/// Progress reported by the library (issue 8): monotone, within [0, 1], finishing at 1, and
/// never a change to the numbers.
final class ProgressTests: XCTestCase {
    private func assertMonotoneToOne(_ fractions: [Double], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(fractions.isEmpty, file: file, line: line)
        XCTAssertEqual(fractions.last, 1, file: file, line: line)
        for (a, b) in zip(fractions, fractions.dropFirst()) { XCTAssertLessThanOrEqual(a, b, file: file, line: line) }
        XCTAssertTrue(fractions.allSatisfy { (0...1).contains($0) }, "\(fractions)", file: file, line: line)
    }

    /// One save interval [0, 100]: with a clock that moves a second per read, every step reports;
    /// with a frozen clock only the save does. The trajectory is the same either way.
    func testIntegratorReportsBetweenSavesAtMostOncePerInterval() throws {
        let settings = try IntegratorSpec(tMax: 100, saves: 2, logSpacedSaves: false)
        var moving: [Double] = []
        let clock = SteppingClock(tick: 1)
        let reported = ODEIntegrator.integrate(Decay(), from: [1, -2], settings: settings, progress: { moving.append($0) }, clock: clock.read)
        assertMonotoneToOne(moving)
        XCTAssertGreaterThan(moving.count, 10, "no progress between the saves")
        var frozen: [Double] = []
        let silent = ODEIntegrator.integrate(Decay(), from: [1, -2], settings: settings, progress: { frozen.append($0) }, clock: { 0 })
        XCTAssertEqual(frozen, [1])
        let plain = ODEIntegrator.integrate(Decay(), from: [1, -2], settings: settings)
        XCTAssertEqual(reported.weights, plain.weights)
        XCTAssertEqual(silent.weights, plain.weights)
        XCTAssertEqual(reported.evaluations, plain.evaluations)
        XCTAssertEqual(plain.weights.last![0], exp(-100), accuracy: 1e-8)
    }

    /// With log-spaced saves the fraction moves long before the first save (t-max / 1000).
    func testLogSpacedProgressMovesBeforeTheFirstSave() throws {
        let settings = try IntegratorSpec(tMax: 1e4, saves: 5)
        var fractions: [Double] = []
        let clock = SteppingClock(tick: 1)
        _ = ODEIntegrator.integrate(Decay(), from: [1, 1], settings: settings, progress: { fractions.append($0) }, clock: clock.read)
        assertMonotoneToOne(fractions)
        let beforeFirstSave = settings.progressFraction(at: settings.firstSave)
        XCTAssertGreaterThan(fractions.filter { $0 > 0 && $0 < beforeFirstSave }.count, 3)
        XCTAssertEqual(settings.progressFraction(at: 0), 0)
        XCTAssertEqual(settings.progressFraction(at: settings.tMax), 1)
        XCTAssertEqual(settings.firstSave, settings.saveTimes[1])
        let linear = try IntegratorSpec(tMax: 50, saves: 6, logSpacedSaves: false)
        XCTAssertEqual(linear.progressFraction(at: 20), 0.4, accuracy: 1e-15)
        XCTAssertEqual(linear.firstSave, linear.saveTimes[1])
    }

    /// A run whose step size collapses stops with stepper_failed, keeps its saves and says why,
    /// within a few thousand right-hand sides instead of crawling on at one ulp of t per step.
    func testStalledStepperStopsTheRun() throws {
        let settings = try IntegratorSpec(tMax: 1, saves: 3, logSpacedSaves: false)
        let field = Rough()
        let trajectory = ODEIntegrator.integrate(field, from: [0], settings: settings)
        XCTAssertEqual(trajectory.status, .stepperFailed)
        XCTAssertEqual(trajectory.times, [0])
        XCTAssertTrue(trajectory.message.contains("stalled"), trajectory.message)
        XCTAssertLessThan(field.evaluations, 100_000)
    }

    /// Tolerances double precision cannot meet, and horizons past the bound, are refused up front.
    func testUnreachableSettingsAreRefused() throws {
        func flag(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let ConvEmergeError.invalidInput(flag, message) {
                XCTAssertFalse(message.isEmpty)
                return flag
            } catch { return "other" }
        }
        XCTAssertEqual(flag { _ = try IntegratorSpec(relativeTolerance: 1e-300) }, "--rtol")
        XCTAssertEqual(flag { _ = try IntegratorSpec(relativeTolerance: .nan) }, "--rtol")
        XCTAssertNil(flag { _ = try IntegratorSpec(relativeTolerance: 1e-13) })
        XCTAssertEqual(flag { _ = try IntegratorSpec(absoluteTolerance: 5e-301) }, "--atol")
        XCTAssertEqual(flag { _ = try IntegratorSpec(absoluteTolerance: .infinity) }, "--atol")
        XCTAssertEqual(flag { _ = try IntegratorSpec(tMax: 1e12) }, "--t-max")
        XCTAssertEqual(flag { _ = try IntegratorSpec(tMax: .infinity) }, "--t-max")
        XCTAssertNil(flag { _ = try IntegratorSpec(tMax: 1e9) })
    }

    private func task(length: Int, jitter: Double = 0) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2, jitter: jitter), gain: 2)
        return try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
    }

    /// The instability analysis announces its stages (the dense eigensolve with an estimate) and
    /// reports fractions within each; the report is the one computed without them.
    func testInstabilityReportsItsStages() throws {
        for kind in [ClosureKind.cumulant, .conditional] {
            let analysis = try InstabilityAnalysis(task: task(length: 16), neuron: NeuronSpec(activation: .relu, bias: 0),
                                                   closure: ClosureSpec(kind: kind), learningRate: 1)
            var stages: [(String, Double?)] = []
            var fractions: [Double] = []
            let report = try analysis.analyse(stage: { stages.append(($0, $1)) }, progress: { fractions.append($0) })
            XCTAssertEqual(report.growthRate, try analysis.analyse().growthRate)
            XCTAssertTrue(stages.first!.0.contains("extended state"))
            let eigensolve = try XCTUnwrap(stages.last)
            XCTAssertTrue(eigensolve.0.contains("eigenpairs"), eigensolve.0)
            XCTAssertGreaterThan(eigensolve.1 ?? 0, 0)
            XCTAssertTrue(stages.contains { $0.0.contains("Jacobian") }, "\(stages.map(\.0))")
            XCTAssertTrue(fractions.allSatisfy { (0...1).contains($0) })
        }
        var scanned: [Double] = []
        let scan = try InstabilityAnalysis.scanGain(from: 0, to: 1, samples: 3, tolerance: 0.1, progress: { scanned.append($0) }) { $0 - 0.3 }
        XCTAssertEqual(scan.criticalGain ?? .nan, 0.3, accuracy: 0.1)
        XCTAssertEqual(scanned.count, 3 + 3)  // 3 samples, then [0, 0.5] bisected to 0.0625
        XCTAssertEqual(scanned, scanned.sorted())
        XCTAssertLessThan(scanned.last!, 1)
    }

    func testTensorEigenpairsReportRestarts() throws {
        let distribution = try InputDistribution(task(length: 16).classes[1])
        let solver = try TensorEigenSolver(cumulant: FourthCumulant(distribution, method: .leading))
        var fractions: [Double] = []
        let pairs = try solver.eigenpairs(restarts: 3, seed: 2) { fractions.append($0) }
        assertMonotoneToOne(fractions)
        for k in 0..<3 { XCTAssertTrue(fractions.contains(Double(k) / 3)) }
        XCTAssertEqual(pairs.map(\.vector), try solver.eigenpairs(restarts: 3, seed: 2).map(\.vector))
    }

    /// The dense sampler announces its Cholesky factorisations with an estimate, then the steps,
    /// then the test evaluation, each stage's fraction rising to 1; the replicas are those of a silent run.
    func testDenseSimulationAnnouncesItsFactorisation() throws {
        let parameters = try SimulationParameters(task: task(length: 16, jitter: 1e-3), neuron: NeuronSpec(activation: .relu, bias: 0),
                                                  learningRate: 0.5, seeds: 2, tMax: 20, saves: 3, logSpacedSaves: false,
                                                  initialization: .random(scale: 0.3, seed: 1), testSamples: 20, sampler: .dense)
        var stages: [(String, Double?)] = []
        var fractions: [Double] = [], fractionsBeforeStage: [Int] = []
        let result = try SimulationJob.run(parameters, progress: { fractions.append($0) },
                                           stage: { stages.append(($0, $1)); fractionsBeforeStage.append(fractions.count) })
        XCTAssertEqual(stages.count, 3)
        XCTAssertTrue(stages[0].0.contains("Cholesky"), stages[0].0)
        XCTAssertGreaterThan(stages[0].1 ?? 0, 0)
        XCTAssertNil(stages[1].1)
        XCTAssertTrue(stages[2].0.contains("test loss"), stages[2].0)
        assertMonotoneToOne(Array(fractions[..<fractionsBeforeStage[2]]))
        assertMonotoneToOne(Array(fractions[fractionsBeforeStage[2]...]))
        XCTAssertEqual(result.weights, try SimulationJob.run(parameters).weights)
    }
}
