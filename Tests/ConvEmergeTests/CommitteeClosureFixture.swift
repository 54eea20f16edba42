import ConvEmerge
import Foundation
import XCTest

/// The setting in which the K-unit cumulant tests compare closures (derivations/committee-closures.md §5): the xi task
/// on NLGP over a ring, units three sites apart whose receptive fields overlap, and the Monte Carlo reference.
enum CommitteeClosureFixture {
    static func task(gain: Double, length: Int = 16) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: gain)
        return try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.4, targets: [0, 1])
    }

    /// Bumps three sites apart plus a unit-specific ripple, so that no two units are alike.
    static func overlappingWeights(units: Int, dimension d: Int) -> [Double] {
        (0..<units).flatMap { k in
            (0..<d).map { i -> Double in
                let x = Double(min(abs(i - 3 * k), d - abs(i - 3 * k)))
                return 2 * exp(-x * x / 4) + 0.2 * sin(Double(i * (k + 1)))
            }
        }
    }

    static func norm(_ a: [Double]) -> Double { a.reduce(0) { $0 + $1 * $1 }.squareRoot() }
    static func distance(_ a: [Double], _ b: [Double]) -> Double { norm(zip(a, b).map { $0 - $1 }) }

    /// The Monte Carlo reference (M inputs per class), the gaussian closure and the exact cumulant (`--cumulant full`).
    static func closures(task: TaskSpec, network: CommitteeNetwork, samples: Int = 800_000, seed: UInt64)
        throws -> (reference: CommitteeFlow, gaussian: CommitteeFlow, cumulant: CommitteeFlow) {
        let distributions = try task.classes.map(InputDistribution.init)
        func flow(_ closure: ClosureSpec) throws -> CommitteeFlow {
            try CommitteeFlow(task: task, network: network, closure: closure, learningRate: 1, distributions: distributions)
        }
        return (try flow(ClosureSpec(kind: .montecarlo, monteCarloSamples: samples, monteCarloSeed: seed)),
                try flow(ClosureSpec(kind: .gaussian)), try flow(ClosureSpec(kind: .cumulant, cumulantMethod: .full)))
    }

    /// |c - mc| < |g - mc| iff the projection s of mc - c on e = (g - c)/|g - c| is below |g - c| / 2, and the Monte
    /// Carlo error of s is at most sum_i |e_i| SE_i whatever the correlations of the components: asserts that the
    /// margin |g - c| / 2 - s exceeds 4 of those.
    static func assertCumulantCloser(truth: [Double], errors: [Double], gaussian: [Double], cumulant: [Double],
                                     _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let gap = distance(gaussian, cumulant)
        let direction = zip(gaussian, cumulant).map { ($0 - $1) / gap }
        let projection = zip(direction, zip(truth, cumulant)).reduce(0.0) { $0 + $1.0 * ($1.1.0 - $1.1.1) }
        let projectionError = zip(direction, errors).reduce(0.0) { $0 + abs($1.0) * $1.1 }
        print("\(label): |g - mc| = \(distance(gaussian, truth)), |c - mc| = \(distance(cumulant, truth)),",
              "|mc| = \(norm(truth)), SE = \(norm(errors)), margin = \(gap / 2 - projection), 4 err = \(4 * projectionError)")
        XCTAssertGreaterThan(gap / 2 - projection, 4 * projectionError, "\(label): cumulant closer to Monte Carlo than gaussian",
                             file: file, line: line)
    }
}
