import Foundation

/// The state of K >= 2 kinked (relu) units: one Fourier pair at distinct phases, where the flow has a
/// Jacobian (derivations/committee-stability.md §5).
public struct SpreadState: Sendable {
    /// The pair the units sit on: the neuron's k*, or the best two-dimensional pair when k* is its own
    /// conjugate (uniform or Nyquist mode: no sin(k*.x), no room for distinct phases).
    public let wavevector: [Int]
    public let replacesSelfConjugatePair: Bool
    /// phi_k of w_k = r (cos phi_k u_c + sin phi_k u_s) at the start, and of the refined state.
    public let startPhases: [Double]
    public let phases: [Double]
    /// max over classes and unit pairs of |rho_kl| = |Q_kl| / sqrt(Q_kk Q_ll); relu's cusps sit at 1.
    public let maximumCorrelation: Double
    /// |v| / |state| of the chosen closure at the Gaussian spread state, before refining under it.
    public let closureResidualAtGaussianState: Double
    /// Fraction of |W|^2 outside the pair plane in the analysed state (0 under the Gaussian closure).
    public let offPlaneFraction: Double
}

/// The state an analysis linearises about, with where it came from.
struct CommitteeFixedPoint {
    let state: [Double]
    let residual: Double
    let refined: Bool
    let jacobian: [Double]?
    let amplitude: Double
    let spread: SpreadState?
}

extension CommitteeStabilityAnalysis {
    /// Kinked units have no Jacobian where two coincide or are antiparallel (§1, §5): K >= 2 of them are spread.
    public var usesSpreadState: Bool { layout.units >= 2 && !network.activation.kinks.isEmpty }

    /// derivations/committee-stability.md §5.2: equal spacing on the circle, phi_k = 2 pi k / K (K odd, so
    /// that no two units are antiparallel): relabelling k -> k+1 with the pair-plane rotation by -2 pi / K fixes it.
    public static func spreadPhases(units: Int) -> [Double] {
        (0..<units).map { 2 * Double.pi * Double($0) / Double(units) }
    }

    /// cos(k.x) and sin(k.x) of a mode that is not its own conjugate, unit norm (the first two vectors of its star).
    func pairBasis(_ m: Int) -> (cosine: [Double], sine: [Double]) {
        let basis = modes.starBasis(of: m)
        return (basis[0], basis[1])
    }

    func weights(of state: [Double], unit k: Int) -> [Double] {
        Array(state[(k * layout.dimension)..<((k + 1) * layout.dimension)])
    }

    /// derivations/committee-stability.md §5.1-5.3: the spread state, exact under the Gaussian closure
    /// with fixed readout and biases, otherwise refined by Newton under the Gaussian closure and then the chosen one.
    func spreadFixedPoint(extended: ExtendedState, reporting: StageProgress,
                          jacobian: (CommitteeFlow) -> ([Double], String) -> [Double]) throws -> CommitteeFixedPoint {
        let units = layout.units
        let selfConjugate = modes.isSelfConjugate(extended.mode)
        let pair = selfConjugate ? try single.extendedState(admitting: { !self.modes.isSelfConjugate($0) }) : extended
        let phases = Self.spreadPhases(units: units)
        let (cosine, sine) = pairBasis(pair.mode)
        let directions = phases.map { phi in zip(cosine, sine).map { cos(phi) * $0 + sin(phi) * $1 } }
        reporting.stage?("spread state of \(units) units on the pair \(pair.wavevector)", nil)
        let amplitude = try radialAmplitude(directions: directions)
        let start = state(directions: directions, amplitude: amplitude)
        let residual = { (field: CommitteeFlow, w: [Double]) in euclideanNorm(field.velocity(w)) / euclideanNorm(w) }
        var gaussian = CommitteeFixedPoint(state: start, residual: residual(gaussianFlow, start), refined: true, jacobian: nil,
                                           amplitude: amplitude, spread: nil)
        if layout.trainsReadout || layout.trainsBias {
            let newton = try InstabilityAnalysis.newtonFixedPoint(from: start, velocity: gaussianFlow.velocity, label: "gaussian spread",
                                                                  reporting: reporting, jacobian: jacobian(gaussianFlow))
            gaussian = CommitteeFixedPoint(state: newton.state, residual: newton.residual, refined: newton.refined,
                                           jacobian: newton.jacobian, amplitude: amplitude, spread: nil)
        }
        let atGaussian = closure.kind == .gaussian ? gaussian.residual : residual(flow, gaussian.state)
        var final = gaussian
        if closure.kind != .gaussian {
            let newton = try InstabilityAnalysis.newtonFixedPoint(from: gaussian.state, velocity: flow.velocity, label: closure.kind.rawValue,
                                                                  reporting: reporting, jacobian: jacobian(flow))
            final = CommitteeFixedPoint(state: newton.state, residual: newton.residual, refined: newton.refined,
                                        jacobian: newton.jacobian, amplitude: amplitude, spread: nil)
        }
        let w = final.state
        let inPlane = (0..<units).map { k in (dot(weights(of: w, unit: k), cosine), dot(weights(of: w, unit: k), sine)) }
        let weightNorm = (0..<units).reduce(0.0) { $0 + dot(weights(of: w, unit: $1), weights(of: w, unit: $1)) }
        let planeNorm = inPlane.reduce(0.0) { $0 + $1.0 * $1.0 + $1.1 * $1.1 }
        let correlation = maximumCorrelation(w)
        try require(correlation < 1 - 1e-6, flag: "--activation",
                    "the spread state of \(units) \(network.activation.kind.rawValue) units collapsed onto coinciding or antiparallel units (max |rho| = \(correlation)), a cusp of the flow with no Jacobian")
        let spread = SpreadState(
            wavevector: pair.wavevector, replacesSelfConjugatePair: selfConjugate, startPhases: phases,
            phases: inPlane.map { atan2($0.1, $0.0) }, maximumCorrelation: correlation,
            closureResidualAtGaussianState: atGaussian, offPlaneFraction: max(0, 1 - planeNorm / max(weightNorm, 1e-300)))
        return CommitteeFixedPoint(state: w, residual: final.residual, refined: final.refined, jacobian: final.jacobian,
                                   amplitude: amplitude, spread: spread)
    }

    /// max over classes and unit pairs k < l of |Q_kl| / sqrt(Q_kk Q_ll), Q = W C_c W^T / D.
    func maximumCorrelation(_ state: [Double]) -> Double {
        let units = layout.units
        var largest = 0.0
        for distribution in flow.distributions {
            let w = (0..<units).map { weights(of: state, unit: $0) }
            let cw = w.map { distribution.covariance.apply($0) }
            for k in 0..<units {
                for l in (k + 1)..<max(k + 1, units) {
                    let rho = dot(w[k], cw[l]) / (dot(w[k], cw[k]) * dot(w[l], cw[l])).squareRoot()
                    largest = max(largest, abs(rho))
                }
            }
        }
        return largest
    }

    /// (G x)_k = R x_{k+1}: the relabelling k -> k+1 composed with the rotation R by -2 pi / K in the pair plane
    /// (readouts and biases relabelled only); G fixes the cyclic spread state (derivations/committee-stability.md §5.4).
    func cyclicImage(_ x: [Double], cosine: [Double], sine: [Double]) -> [Double] {
        let units = layout.units, d = layout.dimension
        let angle = -2 * Double.pi / Double(units)
        var out = x
        for k in 0..<units {
            let source = (k + 1) % units
            let w = Array(x[(source * d)..<((source + 1) * d)])
            let (a, b) = (dot(w, cosine), dot(w, sine))
            let (ra, rb) = (a * cos(angle) - b * sin(angle), a * sin(angle) + b * cos(angle))
            for i in 0..<d { out[k * d + i] = w[i] + (ra - a) * cosine[i] + (rb - b) * sine[i] }
            for (offset, trained) in [(layout.readoutOffset, layout.trainsReadout), (layout.biasOffset, layout.trainsBias)] where trained {
                out[offset + k] = x[offset + source]
            }
        }
        return out
    }

    /// |G J G^T - J|_F / |J|_F: 0 when the Jacobian commutes with the cyclic symmetry G (G orthogonal;
    /// G J^T column by column is (J G^T)^T, and G applied to the columns of J G^T is G J G^T).
    func cyclicDeviation(_ matrix: [Double], cosine: [Double], sine: [Double]) -> Double {
        let n = layout.stateSize
        let columns = { (m: [Double], transposed: Bool) -> [[Double]] in
            (0..<n).map { j in (0..<n).map { i in transposed ? m[j * n + i] : m[i * n + j] } }
        }
        // Columns of J^T are the rows of J; their images are the columns of G J^T, i.e. the rows of J G^T.
        let rowsOfJGT = columns(matrix, true).map { cyclicImage($0, cosine: cosine, sine: sine) }
        let jgt = rowsOfJGT.flatMap { $0 }
        let conjugated = columns(jgt, false).map { cyclicImage($0, cosine: cosine, sine: sine) }  // columns of G J G^T
        var difference = 0.0
        for j in 0..<n { for i in 0..<n { let e = conjugated[j][i] - matrix[i * n + j]; difference += e * e } }
        return difference.squareRoot() / max(euclideanNorm(matrix), 1e-300)
    }

    /// The cyclic sector |m| (0 ... K/2) holding most of v, and that share: the real projector on the
    /// eigenvalues e^(+-2 pi i m / K) of G is (c_m / K) sum_j cos(2 pi m j / K) G^j, c_m = 1 for m = 0, K/2, else 2.
    func cyclicSector(of v: [Double], cosine: [Double], sine: [Double]) -> (sector: Int, weight: Double) {
        let units = layout.units
        var powers = [v]
        for _ in 1..<units { powers.append(cyclicImage(powers.last!, cosine: cosine, sine: sine)) }
        let total = max(dot(v, v), 1e-300)
        var best = (sector: 0, weight: -1.0)
        for m in 0...(units / 2) {
            let factor = (m == 0 || 2 * m == units ? 1.0 : 2.0) / Double(units)
            var projection = [Double](repeating: 0, count: v.count)
            for (j, power) in powers.enumerated() {
                let c = factor * cos(2 * Double.pi * Double(m * j) / Double(units))
                for i in projection.indices { projection[i] += c * power[i] }
            }
            let weight = dot(projection, projection) / total
            if weight > best.weight { best = (m, weight) }
        }
        return best
    }

    /// The translation generators of the whole state: per moving axis, every unit's spectral derivative
    /// (derivations/committee-stability.md §3, §5.3), orthonormalised.
    func stateTranslationGenerators(_ state: [Double]) -> [[Double]] {
        let units = layout.units, n = layout.stateSize
        let perUnit = (0..<units).map { modes.axisDerivatives(of: weights(of: state, unit: $0)) }
        let raw = perUnit[0].indices.map { axis -> [Double] in
            var out = [Double](repeating: 0, count: n)
            for k in 0..<units { for (i, value) in perUnit[k][axis].enumerated() { out[k * layout.dimension + i] = value } }
            return out
        }
        let reference = euclideanNorm(Array(state[0..<layout.weightCount]))
        return FourierModes.orthonormalise(raw.filter { euclideanNorm($0) > 1e-9 * reference })
    }

    /// derivations/committee-stability.md §5.3: the rotations mixing the pair with another wavevector e of its star
    /// (same Chat_c, so they commute with every C_c) move unit k by e (p.w_k), p = u_c, u_s: exact zero modes of the
    /// Gaussian flow (none on the ring, whose star is the pair).
    func starRotationGenerators(_ state: [Double], mode m: Int) -> [[Double]] {
        let (cosine, sine) = pairBasis(m)
        let d = layout.dimension
        return modes.starBasis(of: m).dropFirst(2).flatMap { e in
            [cosine, sine].map { p -> [Double] in
                var out = [Double](repeating: 0, count: layout.stateSize)
                for k in 0..<layout.units {
                    let weight = dot(p, weights(of: state, unit: k))
                    for i in 0..<d { out[k * d + i] = weight * e[i] }
                }
                return out
            }
        }
    }

    /// derivations/committee-stability.md §5.5: centres of the leading mode's units that carry at least
    /// 1/(2K) of its weights and are localised; their smallest pairwise distance (min image), nil for fewer than 2.
    func localisedUnitSeparation(_ mode: CommitteeMode) -> Double? {
        let units = layout.units
        let localised = mode.units.filter { $0.weight >= 1 / (2 * Double(units)) && $0.ipr > 3 / Double(layout.dimension) }
        guard localised.count >= 2 else { return nil }
        let length = Double(task.lattice.length)
        var smallest = Double.infinity
        for a in localised.indices {
            for b in localised.indices where b > a {
                let squared = zip(localised[a].center, localised[b].center).reduce(0.0) { sum, pair in
                    let difference = abs(pair.0 - pair.1).truncatingRemainder(dividingBy: length)
                    let image = min(difference, length - difference)
                    return sum + image * image
                }
                smallest = min(smallest, squared.squareRoot())
            }
        }
        return smallest
    }
}
