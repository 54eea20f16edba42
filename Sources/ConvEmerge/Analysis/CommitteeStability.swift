import Foundation

/// One unit's share of a K-unit mode (its first-layer weights only).
public struct UnitComponent: Sendable {
    /// Fraction of |v|^2 carried by this unit's weights.
    public let weight: Double
    /// Centre of |v_k|^2 on the lattice (Observables.center; NaN where it is extended).
    public let center: [Double]
    public let ipr: Double
}

/// An eigenpair of the K-unit Jacobian with its decomposition by unit.
public struct CommitteeMode: Sendable {
    public let mode: JacobianMode
    /// |P_sym v|^2 / |v|^2, P_sym the average over units: 1 in the symmetric sector, 0 in the difference sectors.
    public let symmetricFraction: Double
    public let units: [UnitComponent]
    /// Spread state with odd K: the cyclic sector |m| (0 ... K/2) holding most of the mode, and that share
    /// (1 under the Gaussian closure, derivations/committee-stability.md §5.4).
    public var cyclicSector: Int? = nil
    public var cyclicWeight: Double? = nil
}

/// One permutation sector: the spectrum of A + (K-1) B (symmetric) or A - B (difference),
/// derivations/committee-stability.md §3.
public struct SectorSpectrum: Sendable {
    /// All eigenpairs of the sector matrix, largest rate first (translation modes included).
    public let modes: [JacobianMode]
    /// The leading mode once translation (Goldstone) modes are excluded.
    public let leading: JacobianMode
    public let translationModes: [JacobianMode]
    /// Eigenvalues of the sector matrix within 1e-6 of the spectral scale of the leading one: the
    /// number m of spatial patterns in the leading eigenspace.
    public let multiplicity: Int
    /// Per pattern of that eigenspace (real and imaginary parts, orthonormalised): centre and IPR.
    public let patternCenters: [[Double]]
    public let patternIPRs: [Double]
    /// Dimension of the leading eigenspace in the full K-unit state: m times 1 or K - 1.
    public let fullMultiplicity: Int
    /// The orthonormal patterns themselves (weights and, when trained, readout and bias of one unit).
    let patterns: [[Double]]
}

/// Everything `instability --model committee|twolayer` reports.
public struct CommitteeStabilityReport: Sendable {
    public let units: Int
    /// D, the sites per unit.
    public let dimension: Int
    public let latticeLength: Int
    /// The single neuron's k* (the units' pair for identical units; see `spread` for kinked ones).
    public let wavevector: [Int]
    /// Kinked units (K >= 2 relu): the spread state on one pair at distinct phases (§5); nil for identical units.
    public let spread: SpreadState?
    /// |w_k| of the symmetric (or spread) Gaussian state, and the single neuron's extended-state amplitude.
    public let amplitude: Double
    public let singleNeuronAmplitude: Double
    /// The state the Jacobian was taken at (the layout of CommitteeFlow), its residual |v| / |state|.
    public let state: [Double]
    public let stateResidual: Double
    public let refined: Bool
    /// The dense Jacobian, row-major.
    public let jacobian: [Double]
    /// max over blocks of |J_kl - (A or B)|_F / |J|_F: 0 for identical units (permutation symmetry); for the
    /// spread state |G J G^T - J|_F / |J|_F, G its cyclic symmetry (§5.4).
    public let symmetryDeviation: Double
    /// All modes of the full Jacobian, largest rate first, translation modes excluded.
    public let modes: [CommitteeMode]
    public let translationModes: [JacobianMode]
    /// The permutation sectors of identical units; nil for the spread state (distinct units), and difference nil for K = 1.
    public let symmetric: SectorSpectrum?
    public let difference: SectorSpectrum?
    /// The tiled trial vector (unit k carrying the leading difference pattern shifted by k L / K
    /// sites, its unit average removed): the fraction of its norm inside the leading difference
    /// eigenspace (nil for K = 1). 1: tiling is a leading linear mode.
    public let tiledOverlap: Double?
    /// Spread state: the smallest distance between the centres of the leading mode's localised units that
    /// carry at least 1/(2K) of it (nil with fewer than two such units), derivations/committee-stability.md §5.5.
    public let leadingUnitSeparation: Double?

    public var leading: CommitteeMode { modes[0] }
    public var leadingSector: String {
        if spread != nil { return "cyclic m = \(leading.cyclicSector ?? 0)" }
        guard let symmetric, let difference, difference.leading.rate > symmetric.leading.rate else { return "symmetric" }
        return "difference"
    }
    /// Spread state: localised units of the leading mode at least half the tiled spacing L / K apart.
    var spreadTiles: Bool { (leadingUnitSeparation ?? 0) >= Double(latticeLength) / Double(2 * units) }
    /// An IPR above twice that of a Fourier mode (3 / (2 D)) counts as localised.
    public var localisedIPR: Double { 3 / Double(dimension) }

    /// derivations/committee-stability.md §4: units localise at different positions in the linear
    /// regime only if the difference sector leads, its patterns are localised, and its eigenspace
    /// holds the tiled configuration.
    public var tilesLinearly: Bool {
        if spread != nil { return spreadTiles }
        guard let difference, leadingSector == "difference" else { return false }
        return difference.leading.ipr > localisedIPR && (tiledOverlap ?? 0) > 0.9
    }

    public var verdict: String {
        if spread != nil {
            let f = { (x: Double) in String(format: "%.3g", x) }
            if leading.units.allSatisfy({ $0.ipr <= localisedIPR }) {
                return "the leading mode is extended in every unit: the spread units do not localise in the linear regime"
            }
            guard let separation = leadingUnitSeparation else {
                return "the leading mode localises one unit: positions lock only nonlinearly"
            }
            return spreadTiles
                ? "the leading mode localises different units \(f(separation)) sites apart (>= L/(2K)): tiling already in the linear regime"
                : "the leading mode localises units only \(f(separation)) sites apart (< L/(2K)): positions lock only nonlinearly"
        }
        guard let difference else { return "K = 1: no difference sector" }
        if leadingSector == "symmetric" { return "the symmetric sector leads: the units move together, no tiling in the linear regime" }
        if difference.leading.ipr <= localisedIPR {
            return "the difference sector leads with extended patterns: the units differentiate but do not localise in the linear regime"
        }
        return tilesLinearly ? "localised difference modes hold the tiled configuration: tiling already in the linear regime"
            : "localised difference modes without the tiled configuration: positions lock only nonlinearly"
    }
}

/// Linear stability of the symmetric extended state of K identical units, or of the spread state of
/// K >= 2 kinked ones (derivations/committee-stability.md §5).
public final class CommitteeStabilityAnalysis: @unchecked Sendable {
    /// The largest K (D + trained per-unit parameters) of the dense Jacobian and its eigensystem.
    public static let maximumStateSize = 2048

    public let task: TaskSpec
    public let network: CommitteeNetwork
    public let closure: ClosureSpec
    public let flow: CommitteeFlow
    /// The flow under the Gaussian closure: the symmetric family is exactly invariant under it.
    let gaussianFlow: CommitteeFlow
    let single: InstabilityAnalysis
    let modes: FourierModes

    public init(task: TaskSpec, network: CommitteeNetwork, closure: ClosureSpec, learningRate: Double) throws {
        GSL.initialize()
        let layout = CommitteeLayout(units: network.units, dimension: task.dimension,
                                     trainsReadout: network.trainsReadout, trainsBias: network.trainsBias)
        try require(network.units >= 1, flag: "--K", "must be at least 1, got \(network.units)")
        // The state holds K x D values: --K and --L share the blame for its size.
        try require(layout.stateSize <= Self.maximumStateSize, flag: "--K, --L",
                    "the dense Jacobian needs K x (D + trained readout and bias) <= \(Self.maximumStateSize), got \(network.units) x \(layout.stateSize / network.units)")
        try MemoryBudget.require(MemoryBudget.product(8, layout.stateSize, layout.stateSize, 8), flag: "--K, --L",
                                 for: "the dense \(layout.stateSize) x \(layout.stateSize) Jacobian of K = \(network.units) units")
        // derivations/committee-stability.md §1: the sectors exist only for identical units.
        try require(Set(network.initialBiases).count == 1, flag: network.options.biasInit == nil ? "--bias" : "--bias-init",
                    "the symmetric state needs identical units: --bias 0 or one --bias-init value (the default alternates +b, -b), got \(Array(Set(network.initialBiases)).sorted())")
        try require(network.options.l1 == 0, flag: "--l1", "the Jacobian of dw/dt -= l1 sign(w) does not exist at w = 0; instability needs --l1 0")
        try InstabilityAnalysis.requireJacobian(closure: closure.kind, activation: network.activation.kind)
        // derivations/committee-stability.md §5.2: kinked units are spread at equal phases on the circle, and for
        // even K opposite units would be antiparallel (rho = -1, a cusp); in the pair plane they relax to it.
        try require(network.units == 1 || network.activation.kinks.isEmpty || network.units % 2 == 1, flag: "--K",
                    "\(network.activation.kind.rawValue) units need an odd K (the spread state of an even number of units has antiparallel units, a cusp of the flow with no Jacobian) or K = 1, got \(network.units)")
        self.task = task
        self.network = network
        self.closure = closure
        let gaussian = try ClosureSpec(kind: .gaussian)
        flow = try CommitteeFlow(task: task, network: network, closure: closure, learningRate: learningRate)
        gaussianFlow = closure.kind == .gaussian ? flow
            : try CommitteeFlow(task: task, network: network, closure: gaussian, learningRate: learningRate, distributions: flow.distributions)
        single = try InstabilityAnalysis(task: task, neuron: NeuronSpec(activation: network.activation.kind, bias: network.initialBiases[0]),
                                         closure: gaussian, learningRate: learningRate)
        modes = FourierModes(lattice: task.lattice)
    }

    var layout: CommitteeLayout { flow.layout }

    /// The state indices of unit k: its weights, then its readout and bias when trained.
    func unitIndices(_ k: Int) -> [Int] {
        let d = layout.dimension
        return Array((k * d)..<((k + 1) * d)) + (layout.trainsReadout ? [layout.readoutOffset + k] : [])
            + (layout.trainsBias ? [layout.biasOffset + k] : [])
    }

    /// Unit k on r directions[k]; readouts and biases at their initial values.
    func state(directions: [[Double]], amplitude r: Double) -> [Double] {
        layout.state(weights: directions.flatMap { $0.map { r * $0 } }, network: network)
    }

    /// The amplitude where the committee's Gaussian radial velocity vanishes along r -> r directions
    /// (derivations/committee-stability.md §2, §5.2): mean_k directions_k.(dw_k/dt) / r changes sign, in s = r^2 / D.
    func radialAmplitude(directions: [[Double]]) throws -> Double {
        let d = Double(layout.dimension), units = layout.units
        let slope = { (s: Double) -> Double in
            let r = (s * d).squareRoot()
            let velocity = self.gaussianFlow.velocity(self.state(directions: directions, amplitude: r))
            let radial = (0..<units).reduce(0.0) { $0 + dot(directions[$1], self.weights(of: velocity, unit: $1)) }
            return radial / (Double(units) * r)
        }
        guard let s = InstabilityAnalysis.firstDownwardCrossing(slope) else {
            throw ConvEmergeError.invalidInput(flag: "--targets", message:
                "the K-unit Gaussian flow has no radially stable \(usesSpreadState ? "spread" : "symmetric") state on its Fourier pair for this task and network")
        }
        return (s * d).squareRoot()
    }

    /// derivations/committee-stability.md §2: every unit on the neuron's pattern, exact under the Gaussian
    /// closure with fixed readout and biases, otherwise refined by Newton under the chosen closure.
    func identicalFixedPoint(extended: ExtendedState, reporting: StageProgress,
                             jacobian: ([Double], String) -> [Double]) throws -> CommitteeFixedPoint {
        let pattern = modes.vector(extended.mode)
        reporting.stage?("symmetric state of \(layout.units) units", nil)
        let directions = [[Double]](repeating: pattern, count: layout.units)
        let amplitude = try radialAmplitude(directions: directions)
        let start = state(directions: directions, amplitude: amplitude)
        if closure.kind == .gaussian && !layout.trainsReadout && !layout.trainsBias {
            return CommitteeFixedPoint(state: start, residual: euclideanNorm(flow.velocity(start)) / euclideanNorm(start), refined: true,
                                       jacobian: nil, amplitude: amplitude, spread: nil)
        }
        let newton = try InstabilityAnalysis.newtonFixedPoint(from: start, velocity: flow.velocity, label: closure.kind.rawValue,
                                                              reporting: reporting, jacobian: jacobian)
        return CommitteeFixedPoint(state: newton.state, residual: newton.residual, refined: newton.refined, jacobian: newton.jacobian,
                                   amplitude: amplitude, spread: nil)
    }

    public func analyse(stage: ((String, Double?) -> Void)? = nil, progress: ((Double) -> Void)? = nil) throws -> CommitteeStabilityReport {
        let reporting = StageProgress(stage: stage, fraction: progress)
        let n = layout.stateSize, d = layout.dimension, units = layout.units
        stage?("single-neuron extended state (k*)", nil)
        let extended = try single.extendedState(progress: progress)
        let jacobianOf = { (field: CommitteeFlow) in { (w: [Double], label: String) -> [Double] in
            reporting.stage?("\(label)Jacobian (\(n) x \(n), \(2 * n) right-hand sides)", nil)
            return field.jacobian(at: w, relativeStep: field.closure.kind == .montecarlo ? 1e-3 : 1e-6)
        } }
        let fixedPoint = usesSpreadState
            ? try spreadFixedPoint(extended: extended, reporting: reporting, jacobian: jacobianOf)
            : try identicalFixedPoint(extended: extended, reporting: reporting, jacobian: jacobianOf(flow))
        let state = fixedPoint.state
        let matrix = fixedPoint.jacobian ?? jacobianOf(flow)(state, "")

        // Translations move every unit together: one generator per moving axis, each unit's own derivative;
        // under the Gaussian closure the spread state also turns within its star (§5.3).
        var translations = stateTranslationGenerators(state)
        if let spread = fixedPoint.spread, closure.kind == .gaussian {
            translations = FourierModes.orthonormalise(translations + starRotationGenerators(state, mode: pairMode(spread)))
        }
        let star = modes.starBasis(of: fixedPoint.spread.map(pairMode) ?? extended.mode)
        let perUnit = unitIndices(0).count
        let padded = { (v: [Double]) -> [Double] in v + [Double](repeating: 0, count: perUnit - d) }
        let lift = { (v: [Double], unit: Int) -> [Double] in
            var out = [Double](repeating: 0, count: n)
            for (i, index) in self.unitIndices(unit).enumerated() { out[index] = v[i] }
            return out
        }
        let unitStar = (0..<units).flatMap { k in star.map { lift(padded($0), k) } }
        stage?("eigenpairs of the \(n) x \(n) Jacobian (gsl_eigen_nonsymmv)", DenseCost.eigensystem.seconds(n))
        let all = try InstabilityAnalysis.eigenmodes(matrix, n: n, translations: translations, star: unitStar)
        let (translationModes, others) = InstabilityAnalysis.separatingTranslationModes(all, generators: translations.count)
        var decomposed = others.map(decompose)
        var deviation = fixedPoint.spread == nil ? 0 : Double.nan
        if let spread = fixedPoint.spread {
            let (cosine, sine) = pairBasis(pairMode(spread))
            deviation = cyclicDeviation(matrix, cosine: cosine, sine: sine)
            decomposed = decomposed.map { mode in
                var mode = mode
                (mode.cyclicSector, mode.cyclicWeight) = cyclicSector(of: mode.mode.vector, cosine: cosine, sine: sine)
                return mode
            }
        }

        var symmetric: SectorSpectrum?, difference: SectorSpectrum?
        if fixedPoint.spread == nil {
            let (a, b, blockDeviation) = blocks(matrix)
            deviation = blockDeviation
            let sectorStar = star.map(padded), sectorTranslations = modes.translationGenerators(of: Array(state[0..<d])).map(padded)
            symmetric = try sector(zip(a, b).map { $0 + Double(units - 1) * $1 }, translations: sectorTranslations,
                                   star: sectorStar, copies: 1)
            difference = units < 2 ? nil
                : try sector(zip(a, b).map { $0 - $1 }, translations: [], star: sectorStar, copies: units - 1)
        }
        return CommitteeStabilityReport(
            units: units, dimension: d, latticeLength: task.lattice.length, wavevector: extended.wavevector, spread: fixedPoint.spread,
            amplitude: fixedPoint.amplitude, singleNeuronAmplitude: extended.amplitude,
            state: state, stateResidual: fixedPoint.residual, refined: fixedPoint.refined, jacobian: matrix, symmetryDeviation: deviation,
            modes: decomposed, translationModes: translationModes, symmetric: symmetric, difference: difference,
            tiledOverlap: difference.map(tiledOverlap),
            leadingUnitSeparation: fixedPoint.spread == nil ? nil : decomposed.first.flatMap(localisedUnitSeparation))
    }

    /// The half-spectrum index of the spread state's pair.
    func pairMode(_ spread: SpreadState) -> Int { modes.wavevectors.firstIndex(of: spread.wavevector)! }

    /// A = J_00 and B = J_01 (zero for K = 1) of the unit blocks, and the largest deviation of
    /// any block from them relative to |J| (derivations/committee-stability.md §3).
    func blocks(_ matrix: [Double]) -> (a: [Double], b: [Double], deviation: Double) {
        let n = layout.stateSize, units = layout.units
        let indices = (0..<units).map(unitIndices)
        let p = indices[0].count
        func block(_ k: Int, _ l: Int) -> [Double] {
            indices[k].flatMap { i in indices[l].map { j in matrix[i * n + j] } }
        }
        let a = block(0, 0)
        let b = units > 1 ? block(0, 1) : [Double](repeating: 0, count: p * p)
        var deviation = 0.0
        for k in 0..<units {
            for l in 0..<units {
                deviation = max(deviation, euclideanNorm(zip(block(k, l), k == l ? a : b).map { $0 - $1 }))
            }
        }
        return (a, b, deviation / max(euclideanNorm(matrix), 1e-300))
    }

    func sector(_ matrix: [Double], translations: [[Double]], star: [[Double]], copies: Int) throws -> SectorSpectrum {
        let p = unitIndices(0).count, d = layout.dimension
        let all = try InstabilityAnalysis.eigenmodes(matrix, n: p, translations: FourierModes.orthonormalise(translations), star: star)
        let (translationModes, others) = InstabilityAnalysis.separatingTranslationModes(all, generators: translations.count)
        let leading = others[0]
        let scale = all.map { hypot($0.rate, $0.frequency) }.max() ?? 1
        let degenerate = others.filter { hypot($0.rate - leading.rate, $0.frequency - leading.frequency) <= 1e-6 * scale }
        // Real and imaginary parts of a complex pair span the same real eigenspace: the patterns are its orthonormal basis.
        let pairs = try DenseLinearAlgebra.nonsymmetricEigensystem(matrix, n: p).filter {
            hypot($0.value.re - leading.rate, $0.value.im - leading.frequency) <= 1e-6 * scale
                || hypot($0.value.re - leading.rate, $0.value.im + leading.frequency) <= 1e-6 * scale
        }
        let patterns = FourierModes.orthonormalise(pairs.flatMap { [$0.vector.re, $0.vector.im] })
        return SectorSpectrum(
            modes: all.sorted { $0.rate > $1.rate }, leading: leading, translationModes: translationModes,
            multiplicity: degenerate.count,
            patternCenters: patterns.map { Observables.center(Array($0[0..<d]), lattice: task.lattice) },
            patternIPRs: patterns.map { Observables.inverseParticipationRatio(Array($0[0..<d])) },
            fullMultiplicity: degenerate.count * copies, patterns: patterns)
    }

    func decompose(_ mode: JacobianMode) -> CommitteeMode {
        let units = layout.units, d = layout.dimension
        let components = (0..<units).map { k in unitIndices(k).map { mode.vector[$0] } }
        let mean = (0..<components[0].count).map { i in components.reduce(0) { $0 + $1[i] } / Double(units) }
        let total = max(dot(mode.vector, mode.vector), 1e-300)
        return CommitteeMode(
            mode: mode, symmetricFraction: Double(units) * dot(mean, mean) / total,
            units: components.map { component in
                let weights = Array(component[0..<d])
                return UnitComponent(weight: dot(weights, weights) / total, center: Observables.center(weights, lattice: task.lattice),
                                     ipr: Observables.inverseParticipationRatio(weights))
            })
    }

    /// derivations/committee-stability.md §4: T_k = S^(k L / K) u minus its unit average, projected on
    /// span{c (x) u_j : sum_k c_k = 0}; the projection's coefficients are <T_k, u_j> with the unit average removed.
    func tiledOverlap(_ difference: SectorSpectrum) -> Double {
        let units = layout.units
        let u = difference.patterns[0]
        var tiled = (0..<units).map { k in shifted(u, by: (k * task.lattice.length) / units) }
        let mean = (0..<u.count).map { i in tiled.reduce(0) { $0 + $1[i] } / Double(units) }
        tiled = tiled.map { zip($0, mean).map { $0 - $1 } }
        let norm = tiled.reduce(0) { $0 + dot($1, $1) }
        guard norm > 1e-24 else { return 0 }
        var captured = 0.0
        for pattern in difference.patterns {
            let coefficients = tiled.map { dot($0, pattern) }
            let average = coefficients.reduce(0, +) / Double(units)
            captured += coefficients.reduce(0) { $0 + ($1 - average) * ($1 - average) }
        }
        return (captured / norm).squareRoot()
    }

    /// A per-unit vector with its weights moved by `sites` along the last lattice axis (readout and bias unchanged).
    func shifted(_ v: [Double], by sites: Int) -> [Double] {
        let lattice = task.lattice, length = lattice.length, d = layout.dimension
        var out = v
        for i in 0..<d {
            let (row, column) = lattice.coordinates(of: i)
            let target = lattice.dimension == 1 ? (column + sites) % length : row * length + (column + sites) % length
            out[target] = v[i]
        }
        return out
    }
}
