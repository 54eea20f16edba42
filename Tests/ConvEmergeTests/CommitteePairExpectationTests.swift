import ConvEmerge
import Foundation
import XCTest

/// The pair expectations E[g^(n)(a) g^(j)(b)] of the committee gaussian closure
/// (derivations/committee-closures.md §3) against closed forms and an independent 2D quadrature.
final class CommitteePairExpectationTests: XCTestCase {
    private struct Pair {
        var meanA = 0.0, meanB = 0.0, varianceA: Double, varianceB: Double, covariance: Double
        var rho: Double { covariance / (varianceA * varianceB).squareRoot() }
    }

    private let pairs: [Pair] = [Pair(varianceA: 0.7, varianceB: 1.9, covariance: 0.5), Pair(varianceA: 2.5, varianceB: 0.4, covariance: -0.8),
                                 Pair(varianceA: 1, varianceB: 1, covariance: 0.95)]

    private func value(_ rule: CommitteePairExpectations, _ n: Int, _ j: Int, _ p: Pair) -> Double {
        rule.pair(innerOrder: n, outerOrder: j, meanA: p.meanA, meanB: p.meanB, varianceA: p.varianceA, varianceB: p.varianceB, covariance: p.covariance)
    }

    /// Saad and Solla (1995) for g = erf(x / sqrt 2) at zero means:
    /// E[g(a) g(b)] = (2/pi) asin(Q_ab / sqrt((1 + Q_aa)(1 + Q_bb))), E[g'(a) g'(b)] = (2/pi) / sqrt((1 + Q_aa)(1 + Q_bb) - Q_ab^2).
    func testErfPairsMatchSaadSollaClosedForms() throws {
        let rule = CommitteePairExpectations(activation: Activation(.erf))
        for p in pairs {
            let spread = (1 + p.varianceA) * (1 + p.varianceB)
            XCTAssertEqual(value(rule, 0, 0, p), 2 / Double.pi * asin(p.covariance / spread.squareRoot()), accuracy: 1e-12)
            XCTAssertEqual(value(rule, 1, 1, p), 2 / Double.pi / (spread - p.covariance * p.covariance).squareRoot(), accuracy: 1e-12)
        }
    }

    /// Cho and Saul's arc-cosine kernels for relu at zero means, rho = cos theta:
    /// E[relu(a) relu(b)] = sqrt(Q_aa Q_bb) (sin theta + (pi - theta) cos theta) / (2 pi),
    /// E[Theta(a) Theta(b)] = 1/4 + asin(rho) / (2 pi), and the kink's delta:
    /// E[delta(a) relu(b)] = p_a(0) E[relu(b) | a = 0] = sqrt(Q_bb (1 - rho^2)) / (2 pi sqrt Q_aa).
    func testReluPairsMatchArcCosineKernels() throws {
        let rule = CommitteePairExpectations(activation: Activation(.relu))
        for p in pairs {
            let theta = acos(p.rho)
            XCTAssertEqual(value(rule, 0, 0, p), (p.varianceA * p.varianceB).squareRoot() * (sin(theta) + (Double.pi - theta) * cos(theta)) / (2 * Double.pi),
                           accuracy: 1e-10)
            XCTAssertEqual(value(rule, 1, 1, p), 0.25 + asin(p.rho) / (2 * Double.pi), accuracy: 1e-10)
            XCTAssertEqual(value(rule, 2, 0, p), (p.varianceB * (1 - p.rho * p.rho)).squareRoot() / (2 * Double.pi * p.varianceA.squareRoot()),
                           accuracy: 1e-10)
        }
    }

    /// With biases (non-zero means) against a 2D composite Simpson rule over (a, b) with the joint
    /// density, panels split at relu's kinks; relu's g'' = delta(a) is the 1D integral of
    /// g^(j)(b) p(0, b) over b. Independent of the conditioning on b that the rule uses.
    func testPairsWithBiasesMatchTwoDimensionalQuadrature() throws {
        for kind in [ActivationKind.relu, .erf] {
            let g = Activation(kind)
            let rule = CommitteePairExpectations(activation: g)
            for var p in pairs {
                p.meanA = 0.3
                p.meanB = -0.5
                let a = simpsonNodes(mean: p.meanA, sigma: p.varianceA.squareRoot(), breakpoints: g.kinks)
                let b = simpsonNodes(mean: p.meanB, sigma: p.varianceB.squareRoot(), breakpoints: g.kinks)
                let determinant = p.varianceA * p.varianceB - p.covariance * p.covariance
                func density(_ x: Double, _ y: Double) -> Double {
                    let u = x - p.meanA, v = y - p.meanB
                    let form = (p.varianceB * u * u - 2 * p.covariance * u * v + p.varianceA * v * v) / determinant
                    return exp(-0.5 * form) / (2 * Double.pi * determinant.squareRoot())
                }
                func derivative(_ order: Int, _ x: Double) -> Double {
                    switch order {
                    case 0: return g.value(x)
                    case 1: return g.derivative(x)
                    default: return kind == .erf ? -x * g.derivative(x) : .nan
                    }
                }
                for (n, j) in [(2, 0), (1, 1), (1, 0), (0, 0), (0, 1)] {
                    var reference = 0.0
                    if n == 2 && kind == .relu {
                        for (y, wy) in b { reference += wy * derivative(j, y) * density(0, y) }
                    } else {
                        for (x, wx) in a {
                            let gx = derivative(n, x)
                            for (y, wy) in b { reference += wx * wy * gx * derivative(j, y) * density(x, y) }
                        }
                    }
                    XCTAssertEqual(value(rule, n, j, p), reference, accuracy: 1e-8 * max(1, abs(reference)), "\(kind) (\(n), \(j)) rho \(p.rho)")
                }
            }
        }
    }

    /// Composite Simpson nodes and weights on mean +- 10 sigma, a panel edge at each breakpoint.
    private func simpsonNodes(mean: Double, sigma: Double, breakpoints: [Double]) -> [(Double, Double)] {
        let low = mean - 10 * sigma, high = mean + 10 * sigma
        let edges = [low] + breakpoints.filter { $0 > low && $0 < high }.sorted() + [high]
        var nodes: [(Double, Double)] = []
        for (start, end) in zip(edges, edges.dropFirst()) {
            let intervals = 2 * max(1, Int((500 * (end - start) / (high - low)).rounded(.up)))
            let h = (end - start) / Double(intervals)
            for i in 0...intervals {
                let weight = (i == 0 || i == intervals) ? 1.0 : (i % 2 == 1 ? 4.0 : 2.0)
                // Panel ends a hair inside: the one-sided value where g' jumps (relu'(0) is 0, not the mean of its limits).
                let inside = i == 0 ? 1e-12 * h : i == intervals ? -1e-12 * h : 0
                nodes.append((start + Double(i) * h + inside, weight * h / 3))
            }
        }
        return nodes
    }
}
