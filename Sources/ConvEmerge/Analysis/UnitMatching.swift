import Foundation

/// Which unit of one K-unit network corresponds to which unit of another, and by which common
/// lattice translation: the hidden units of a committee are exchangeable and, on translation-
/// invariant inputs, so are the positions of all its receptive fields at once, so a theory run
/// and a simulation run agree only up to a relabelling and a common shift.
/// Definitions: derivations/tiling-statistics.md §9 (matching) and §10 (common shift).
public enum UnitMatching {
    /// A matching of theory units to simulation units.
    public struct Match: Codable, Sendable, Hashable {
        /// Theory unit i is matched with simulation unit `permutation[i]`.
        public var permutation: [Int]
        /// The theory's units are translated by this lattice displacement (a site index, as in
        /// `Lattice.translate`; 0 when shifts are not searched).
        public var shiftSite: Int
        /// Relative distance |w_sim - T w_th| / |T w_th| of each theory unit from its match.
        public var distances: [Double]
        /// Mean of `distances` over the units.
        public var meanDistance: Double
    }

    /// The permutation p minimising sum_i cost[i][p[i]] of a square matrix of finite costs:
    /// the Hungarian algorithm with row and column potentials, O(K^3)
    /// (derivations/tiling-statistics.md §9).
    public static func minimumCostAssignment(_ cost: [[Double]]) -> [Int] {
        let n = cost.count
        precondition(cost.allSatisfy { $0.count == n }, "UnitMatching: the cost matrix must be square")
        guard n > 0 else { return [] }
        // 1-based: column 0 and row 0 are the virtual start of each augmenting path.
        var rowPotential = [Double](repeating: 0, count: n + 1), columnPotential = rowPotential
        var rowOfColumn = [Int](repeating: 0, count: n + 1), previousColumn = rowOfColumn
        for row in 1...n {
            rowOfColumn[0] = row
            var column = 0
            var slack = [Double](repeating: .infinity, count: n + 1)
            var visited = [Bool](repeating: false, count: n + 1)
            repeat {
                visited[column] = true
                let current = rowOfColumn[column]
                var delta = Double.infinity, next = 0
                for j in 1...n where !visited[j] {
                    let reduced = cost[current - 1][j - 1] - rowPotential[current] - columnPotential[j]
                    if reduced < slack[j] { slack[j] = reduced; previousColumn[j] = column }
                    if slack[j] < delta { delta = slack[j]; next = j }
                }
                for j in 0...n {
                    if visited[j] {
                        rowPotential[rowOfColumn[j]] += delta
                        columnPotential[j] -= delta
                    } else {
                        slack[j] -= delta
                    }
                }
                column = next
            } while rowOfColumn[column] != 0
            repeat {
                let previous = previousColumn[column]
                rowOfColumn[column] = rowOfColumn[previous]
                column = previous
            } while column != 0
        }
        var assignment = [Int](repeating: 0, count: n)
        for column in 1...n { assignment[rowOfColumn[column] - 1] = column - 1 }
        return assignment
    }

    /// The matching of least mean relative distance: for every lattice shift s (only s = 0 when
    /// `searchShifts` is false) the assignment of the distances |w_sim,j - T_s w_th,i| / |w_th,i|,
    /// then the shift whose assignment costs least. All K^2 overlaps (T_s w_th,i) . w_sim,j for
    /// all D shifts come from FFT cross-correlations, O(K^2 D log D + D K^3)
    /// (derivations/tiling-statistics.md §10). `groups`: units are matched only within the same
    /// group (units with different fixed biases are not exchangeable; nil: all are).
    public static func bestMatch(theory: [[Double]], simulation: [[Double]], lattice: Lattice, searchShifts: Bool,
                                 groups: [Int]? = nil) -> Match {
        let units = theory.count
        precondition(units == simulation.count && units > 0, "UnitMatching: both networks need the same K >= 1 units")
        precondition(groups == nil || groups!.count == units, "UnitMatching: one group per unit")
        let forbidden = Double.greatestFiniteMagnitude / Double(units * units)
        let fft = RealFFT.plans(for: lattice)
        let theorySpectra = theory.map { Observables.forwardTransform($0, fft: fft) }
        let simulationSpectra = simulation.map { Observables.forwardTransform($0, fft: fft) }
        // overlaps[i][j][s] = (T_s w_th,i) . w_sim,j
        let overlaps = theorySpectra.map { a in
            simulationSpectra.map { b in Observables.crossCorrelation(a, b, fft: fft, lattice: lattice) }
        }
        let theorySquares = theory.map { dot($0, $0) }, simulationSquares = simulation.map { dot($0, $0) }
        func distanceMatrix(shift: Int) -> [[Double]] {
            (0..<units).map { i in
                (0..<units).map { j in
                    if let groups, groups[i] != groups[j] { return forbidden }
                    let squared = (theorySquares[i] + simulationSquares[j] - 2 * overlaps[i][j][shift]) / theorySquares[i]
                    let distance = max(squared, 0).squareRoot()
                    // A zero theory unit has no relative distance; it must not stall the assignment.
                    return distance.isFinite ? distance : forbidden
                }
            }
        }
        var best: (permutation: [Int], shift: Int, cost: Double)?
        for shift in 0..<(searchShifts ? lattice.size : 1) {
            let distances = distanceMatrix(shift: shift)
            let permutation = minimumCostAssignment(distances)
            let cost = (0..<units).reduce(0.0) { $0 + distances[$1][permutation[$1]] }
            if best == nil || cost < best!.cost { best = (permutation, shift, cost) }
        }
        // The overlaps' distances carry the square root of round-off; the chosen pairs' are recomputed directly.
        let matched = distances(theory: theory, simulation: simulation, permutation: best!.permutation, shiftSite: best!.shift, lattice: lattice)
        return Match(permutation: best!.permutation, shiftSite: best!.shift, distances: matched,
                     meanDistance: matched.reduce(0, +) / Double(units))
    }

    /// Each theory unit's relative distance from its match under a fixed matching (the one chosen
    /// at another time), computed directly.
    public static func distances(theory: [[Double]], simulation: [[Double]], permutation: [Int], shiftSite: Int,
                                 lattice: Lattice) -> [Double] {
        theory.indices.map { i in
            Observables.relativeDistance(simulation[permutation[i]], translated(theory[i], by: shiftSite, lattice: lattice))
        }
    }

    /// w translated by the displacement of site `shiftSite` from 0: w_i moves to site `translate(i, by:)`.
    public static func translated(_ w: [Double], by shiftSite: Int, lattice: Lattice) -> [Double] {
        var moved = [Double](repeating: 0, count: w.count)
        for site in w.indices { moved[lattice.translate(site, by: shiftSite)] = w[site] }
        return moved
    }

    /// The displacement of a site from 0 per axis, as minimum images (ring: [column]; torus: [row, column]).
    public static func displacement(ofSite site: Int, lattice: Lattice) -> [Int] {
        let (row, column) = lattice.coordinates(of: site)
        return lattice.dimension == 1 ? [lattice.wrapped(column)] : [lattice.wrapped(row), lattice.wrapped(column)]
    }
}
