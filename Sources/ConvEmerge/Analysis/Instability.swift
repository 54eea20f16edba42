import Foundation

/// Growth rates omega of the Fourier modes under the Gaussian closure at fixed overlaps q_c
/// (SPEC §5): omega(k) = eta sum_c p_c E_G[h_c'](q_c) Chat_c(k). derivations/linear-stability.md eq. (2).
public struct Dispersion: Sendable {
    /// One wavevector per entry of the real-FFT half spectrum: [k] on a ring (k = 0 ... L/2),
    /// [k_row, k_col] on a torus (row-major, k_col = 0 ... L/2, k_row signed minimum image).
    public let wavevectors: [[Int]]
    public let omega: [Double]
    /// The q_c = w.C_c w / D at which omega was evaluated.
    public let overlaps: [Double]
    /// Half-spectrum index of the largest omega.
    public var mostUnstable: Int { omega.indices.max { omega[$0] < omega[$1] }! }
}

/// The extended state: a Fourier pair at the amplitude where the Gaussian flow's radial
/// velocity vanishes, chosen as the pair stable against every other Fourier mode
/// (derivations/linear-stability.md §2).
public struct ExtendedState: Sendable {
    /// Half-spectrum index and wavevector of k*.
    public let mode: Int
    public let wavevector: [Int]
    /// r* cos(k*.x), |w| = r*.
    public let weights: [Double]
    public let amplitude: Double
    public let overlaps: [Double]
    /// Eigenvalue of the amplitude mode (w itself) under the Gaussian closure; < 0: radially stable.
    public let radialRate: Double
    /// max omega over the modes outside the k* star at this state: the Gaussian growth rate (< 0: selected).
    public let selectionMargin: Double
}

/// One eigenpair of a Jacobian.
public struct JacobianMode: Sendable {
    public let rate: Double
    public let frequency: Double
    /// The eigenvector rotated to be as real as possible, real part (unit norm).
    public let vector: [Double]
    /// sum |v_i|^4 / (sum |v_i|^2)^2 of the complex eigenvector.
    public let ipr: Double
    /// Norm of the projection onto the lattice-translation generators of the state (0 ... 1).
    public let translationOverlap: Double
    /// Norm of the projection onto the Fourier star of k* (0 ... 1).
    public let starOverlap: Double
}

/// Everything `convemerge instability` reports.
public struct StabilityReport: Sendable {
    /// The dispersion at the extended state's q, and at the q of the random initial weights.
    public let dispersion: Dispersion
    public let initialDispersion: Dispersion
    public let extendedState: ExtendedState
    /// The state the Jacobian was taken at: the chosen closure's fixed point continued from
    /// the Gaussian extended state by Newton's method (the Gaussian state itself for `gaussian`).
    public let state: [Double]
    /// |v(state)| / |state| under the chosen closure (0 at a fixed point).
    public let stateResidual: Double
    /// Newton reached a fixed point of the chosen closure (residual below 1e-8 of the Jacobian's scale).
    public let refined: Bool
    /// Cosine between `state` and the Gaussian extended state.
    public let stateOverlapWithGaussian: Double
    /// All modes, largest rate first.
    public let modes: [JacobianMode]
    /// The leading mode once translation (Goldstone) modes are excluded.
    public let leading: JacobianMode
    /// The excluded translation modes (their rates measure the lattice pinning of the state).
    public let translationModes: [JacobianMode]

    public var growthRate: Double { leading.rate }
}

/// Sign change of the localising growth rate against the gain.
public struct GainScan: Sendable {
    public var gains: [Double]
    public var growthRates: [Double]
    /// The gain where the growth rate crosses zero (bisection), nil without a sign change.
    public var criticalGain: Double?
    /// The bracket [a, b] that was bisected.
    public var bracket: [Double]?
}

/// Linear stability of the extended state (SPEC §5). derivations/linear-stability.md,
/// derivations/closure-jacobians.md.
public final class InstabilityAnalysis: @unchecked Sendable {
    public let task: TaskSpec
    public let neuron: NeuronSpec
    public let closure: ClosureSpec
    public let learningRate: Double
    public let flow: GradientFlow
    let distributions: [InputDistribution]
    let signals: [ErrorSignal]
    /// Per class: the fourth cumulant when the closure is `cumulant` and the class is non-Gaussian.
    let cumulants: [FourthCumulant?]
    /// C_c as dense matrices, for the analytic Jacobian (built once, not per Newton step).
    let denseCovariances: [[Double]]
    let expectation = GaussianExpectation()
    let modes: FourierModes

    /// `flow`, when given, must be the flow of these parameters (see `SolveJob.run`).
    public init(task: TaskSpec, neuron: NeuronSpec, closure: ClosureSpec, learningRate: Double, flow prebuilt: GradientFlow? = nil) throws {
        GSL.initialize()
        try Self.requireJacobian(closure: closure.kind, activation: neuron.activation)
        // The Jacobian, the class covariances and the eigensolver's workspace are dense D x D.
        try MemoryBudget.require(MemoryBudget.product(8, task.dimension, task.dimension, 8), flag: "--L",
                                 for: "the dense Jacobian analysis at D = \(task.dimension)")
        self.task = task
        self.neuron = neuron
        self.closure = closure
        self.learningRate = learningRate
        flow = try prebuilt ?? GradientFlow(task: task, neuron: neuron, closure: closure, learningRate: learningRate)
        precondition(flow.task == task && flow.neuron == neuron && flow.closure == closure && flow.learningRate == learningRate,
                     "InstabilityAnalysis: the flow is not the flow of these parameters")
        distributions = flow.distributions
        signals = task.targets.map { neuron.errorSignal(target: $0) }
        // The flow's own cumulants: tabulating `full` again would double the set-up cost.
        cumulants = flow.classes.map { ($0 as? GaussianClosure)?.cumulant }
        denseCovariances = closure.kind == .gaussian || closure.kind == .cumulant
            ? distributions.map { $0.covariance.denseMatrix() } : []
        modes = FourierModes(lattice: task.lattice)
    }

    /// Refuses a closure without a Jacobian for this neuron; public so that `phase --measure
    /// growth` refuses the same request before its sweep starts instead of filling every cell.
    public static func requireJacobian(closure: ClosureKind, activation: ActivationKind) throws {
        // A sample average of h'(lambda) misses the delta function of a jump in h (relu's
        // y delta(lambda + b)), so the montecarlo Jacobian of a kinked neuron is not a
        // Jacobian at all: central differences over the sample's jumps gave growth rates of
        // 5.8 at g = 0 where the exact value is -0.006.
        try require(closure != .montecarlo || Activation(activation).kinks.isEmpty, flag: "--closure",
                    "montecarlo has no Jacobian for a \(activation.rawValue) neuron (its right-hand side jumps at every sample's kink); use gaussian, cumulant or conditional")
    }

    public var dimension: Int { task.dimension }

    // MARK: - Dispersion and extended state

    /// E_G[h_c^(n)] for n = 0 ... maxOrder at variance q.
    func moments(_ c: Int, variance q: Double, maxOrder: Int) -> [Double] {
        expectation.derivativeMoments(of: signals[c], variance: q, maxOrder: maxOrder)
    }

    /// derivations/linear-stability.md eq. (2).
    public func dispersion(overlaps q: [Double]) -> Dispersion {
        let slopes = (0..<2).map { learningRate * task.priors[$0] * moments($0, variance: q[$0], maxOrder: 1)[1] }
        let spectra = distributions.map(\.covariance.halfSpectrum)
        let omega = (0..<modes.count).map { m in slopes[0] * spectra[0][m] + slopes[1] * spectra[1][m] }
        return Dispersion(wavevectors: modes.wavevectors, omega: omega, overlaps: q)
    }

    /// The dispersion at random initial weights w_i ~ N(0, scale^2): q_c = scale^2 C_c(0).
    public func initialDispersion(scale: Double) -> Dispersion {
        dispersion(overlaps: distributions.map { scale * scale * $0.covariance.firstRow[0] })
    }

    /// Radial velocity of w = r u_m (per unit r, divided by eta) as a function of s = r^2 / D:
    /// F(s) = sum_c p_c E_G[h_c'](s Chat_c) Chat_c (derivations/linear-stability.md eq. (3)).
    private func radialSlope(mode m: Int, s: Double) -> Double {
        (0..<2).reduce(0) { sum, c in
            let chat = distributions[c].covariance.halfSpectrum[m]
            return sum + task.priors[c] * moments(c, variance: s * chat, maxOrder: 1)[1] * chat
        }
    }

    /// The smallest s where F turns from positive to negative (a radially stable fixed point).
    private func radialFixedPoint(mode m: Int) -> Double? {
        guard distributions.allSatisfy({ $0.covariance.halfSpectrum[m] > 1e-12 * $0.covariance.maximumEigenvalue }) else {
            return nil
        }
        return Self.firstDownwardCrossing { radialSlope(mode: m, s: $0) }
    }

    /// The smallest s > 0 where f turns from positive to non-positive, bracketed on a log grid
    /// s = 1e-8 ... 1e8 and bisected in log s; nil without such a crossing. Shared by the
    /// single neuron's and the committee's radial fixed points (derivations/linear-stability.md §2).
    static func firstDownwardCrossing(_ f: (Double) -> Double) -> Double? {
        let logGrid = stride(from: -8.0, through: 8.0, by: 0.25).map { pow(10, $0) }
        var previous = (s: logGrid[0], f: f(logGrid[0]))
        for s in logGrid.dropFirst() {
            let value = f(s)
            if previous.f > 0 && value <= 0 {
                var (low, high) = (log(previous.s), log(s))
                for _ in 0..<80 where high - low > 1e-14 {
                    let mid = 0.5 * (low + high)
                    if f(exp(mid)) > 0 { low = mid } else { high = mid }
                }
                return exp(0.5 * (low + high))
            }
            previous = (s, value)
        }
        return nil
    }

    /// The Fourier pair whose radial fixed point is stable against all other modes (or the
    /// least unstable one): derivations/linear-stability.md §2. `progress`: fraction of the modes tried;
    /// `admitting`: the half-spectrum indices considered (all by default).
    public func extendedState(progress: ((Double) -> Void)? = nil, admitting: ((Int) -> Bool)? = nil) throws -> ExtendedState {
        let spectra = distributions.map(\.covariance.halfSpectrum)
        var best: ExtendedState?
        // Ties (e.g. the clone task, where every pair is marginal) go to the mode growing fastest from small w.
        let early = initialDispersion(scale: 0.1).omega
        for (tried, m) in (0..<modes.count).sorted(by: { early[$0] > early[$1] }).enumerated() {
            progress?(Double(tried) / Double(modes.count))
            guard admitting?(m) ?? true, let s = radialFixedPoint(mode: m) else { continue }
            let q = spectra.map { s * $0[m] }
            let omega = dispersion(overlaps: q).omega
            // Modes with the same Chat in both classes (the rest of the k* star) are marginal by symmetry.
            let outside = (0..<modes.count).filter { other in
                !(0..<2).allSatisfy { abs(spectra[$0][other] - spectra[$0][m]) <= 1e-10 * max(spectra[$0][m], 1e-300) }
            }
            let margin = outside.map { omega[$0] }.max() ?? -.infinity
            if let current = best, current.selectionMargin <= margin + 1e-9 * early.map(abs).max()! { continue }
            let amplitude = (s * Double(dimension)).squareRoot()
            let radial = (0..<2).reduce(0.0) { sum, c in
                // derivations/linear-stability.md eq. (5): J w = eta sum_c p_c E_G[h_c'''] q_c Chat_c w.
                sum + learningRate * task.priors[c] * moments(c, variance: q[c], maxOrder: 3)[3] * q[c] * spectra[c][m]
            }
            best = ExtendedState(mode: m, wavevector: modes.wavevectors[m], weights: modes.vector(m).map { $0 * amplitude },
                                 amplitude: amplitude, overlaps: q, radialRate: radial, selectionMargin: margin)
        }
        guard let best else {
            throw ConvEmergeError.invalidInput(flag: "--targets", message:
                "the Gaussian flow has no radially stable fixed point in any Fourier pair for this task and neuron (e.g. no target pulls w away from 0): there is no extended state to analyse")
        }
        return best
    }

    // MARK: - Jacobians

    /// d(dw/dt)/dw of the chosen closure, row-major D x D. Analytic for `gaussian` and
    /// `cumulant` (derivations/closure-jacobians.md), central differences otherwise (with a
    /// wider step for `montecarlo`, allowed only for smooth activations).
    public func jacobian(at w: [Double]) -> [Double] { jacobian(at: w, reporting: StageProgress()) }

    func jacobian(at w: [Double], reporting: StageProgress, step: String = "") -> [Double] {
        let d = dimension
        // The analytic Jacobian has no third-cumulant terms: skewed classes take central differences.
        let skewed = flow.classes.contains { ($0 as? GaussianClosure)?.thirdCumulant != nil }
        switch closure.kind {
        case .gaussian, .cumulant where !skewed:
            reporting.stage?("\(step)Jacobian (\(d) x \(d), analytic)", nil)
            return analyticJacobian(at: w, progress: reporting.fraction)
        case .cumulant, .conditional, .lufkin, .montecarlo:
            // Central differences report no progress of their own: 2D right-hand sides, timed by one.
            let estimate = reporting.stage == nil ? nil : 2 * Double(d) * Stopwatch.seconds { _ = flow.velocity(w) }
            reporting.stage?("\(step)Jacobian (\(d) x \(d), \(2 * d) right-hand sides)", estimate)
            return closure.kind == .montecarlo ? flow.jacobian(at: w, relativeStep: 1e-3) : flow.jacobian(at: w)
        }
    }

    /// J = eta sum_c p_c J_c, J_c = A C + (Cw)(grad A)^T + B grad T + T (grad B)^T with
    /// A = E_G[h'] + kappa4/24 E_G[h^(5)], B = E_G[h''']/(6D) (derivations/closure-jacobians.md eq. (4)).
    func analyticJacobian(at w: [Double], progress: ((Double) -> Void)? = nil) -> [Double] {
        let d = dimension, dd = Double(d)
        var matrix = [Double](repeating: 0, count: d * d)
        for c in 0..<2 {
            let weight = learningRate * task.priors[c]
            let covariance = distributions[c].covariance
            let cw = covariance.apply(w)
            let q = dot(w, cw) / dd
            let dense = denseCovariances[c]
            guard let cumulant = cumulants[c] else {
                // Gaussian closure: A = E_G[h'](q), grad A = E_G[h'''] C w / D (eq. (2)).
                let m = moments(c, variance: q, maxOrder: 3)
                for i in 0..<d {
                    progress?((Double(c) + Double(i) / dd) / 2)
                    for j in 0..<d {
                        matrix[i * d + j] += weight * (m[1] * dense[i * d + j] + m[3] / dd * cw[i] * cw[j])
                    }
                }
                continue
            }
            let t = cumulant.action(w)
            let kappa = dot(w, t) / (dd * dd)
            let m = moments(c, variance: q, maxOrder: 7)
            let a = m[1] + kappa / 24 * m[5]
            let b = m[3] / (6 * dd)
            // grad A = (E_G[h'''] + kappa E_G[h^(7)] / 24) C w / D + E_G[h^(5)] T / (6 D^2); grad B = E_G[h^(5)] C w / (6 D^2).
            let gradientA = (0..<d).map { (m[3] + kappa * m[7] / 24) * cw[$0] / dd + m[5] * t[$0] / (6 * dd * dd) }
            let gradientB = cw.map { m[5] * $0 / (6 * dd * dd) }
            let gradientT = cumulant.gradient(at: w)
            for i in 0..<d {
                progress?((Double(c) + Double(i) / dd) / 2)
                for j in 0..<d {
                    let entry = a * dense[i * d + j] + cw[i] * gradientA[j] + b * gradientT[i * d + j] + t[i] * gradientB[j]
                    matrix[i * d + j] += weight * entry
                }
            }
        }
        return matrix
    }

    // MARK: - Stability

    /// The full analysis: dispersion, extended state, the chosen closure's fixed point near
    /// it, the Jacobian's spectrum there, and the leading non-translation mode.
    /// `stage` announces each step of the work (with an estimate in seconds for the dense GSL
    /// routines, which report nothing while they run); `progress` is the fraction of the current one.
    public func analyse(initialScale: Double = 0.1, stage: ((String, Double?) -> Void)? = nil,
                        progress: ((Double) -> Void)? = nil) throws -> StabilityReport {
        let reporting = StageProgress(stage: stage, fraction: progress)
        stage?("extended state (\(modes.count) Fourier modes)", nil)
        let extended = try extendedState(progress: progress)
        let (state, residual, refined, lastJacobian) = try closureFixedPoint(from: extended.weights, reporting: reporting)
        let matrix = lastJacobian ?? jacobian(at: state, reporting: reporting)
        let translations = modes.translationGenerators(of: state)
        let star = modes.starBasis(of: extended.mode)
        stage?("eigenpairs of the \(dimension) x \(dimension) Jacobian (gsl_eigen_nonsymmv)",
               DenseCost.eigensystem.seconds(dimension))
        let all = try Self.eigenmodes(matrix, n: dimension, translations: translations, star: star)
        let (translationModes, others) = Self.separatingTranslationModes(all, generators: translations.count)
        return StabilityReport(
            dispersion: dispersion(overlaps: extended.overlaps), initialDispersion: initialDispersion(scale: initialScale),
            extendedState: extended, state: state, stateResidual: residual, refined: refined,
            stateOverlapWithGaussian: Observables.cosineSimilarity(state, extended.weights),
            modes: all.sorted { $0.rate > $1.rate }, leading: others[0], translationModes: translationModes)
    }

    /// Newton's method on v(w) = 0 from the Gaussian extended state, each step solved by a
    /// truncated SVD (the translation direction is singular) and halved until |v| decreases.
    /// Also returns the Jacobian at the returned state when the last Newton step computed
    /// it there (nil when the state moved after it), so that `analyse` need not recompute it.
    func closureFixedPoint(from start: [Double], reporting: StageProgress = StageProgress()) throws
        -> (state: [Double], residual: Double, refined: Bool, jacobian: [Double]?) {
        if closure.kind == .gaussian { return (start, euclideanNorm(flow.velocity(start)) / euclideanNorm(start), true, nil) }
        return try Self.newtonFixedPoint(from: start, velocity: flow.velocity, label: closure.kind.rawValue, reporting: reporting) { w, step in
            jacobian(at: w, reporting: reporting, step: step)
        }
    }

    /// Newton's method on v(w) = 0 (shared with the committee's symmetric state): each step a
    /// truncated-SVD least-squares solve (translation directions are singular), halved until |v| decreases.
    static func newtonFixedPoint(from start: [Double], velocity field: ([Double]) -> [Double], label: String,
                                 reporting: StageProgress, jacobian: ([Double], String) -> [Double]) throws
        -> (state: [Double], residual: Double, refined: Bool, jacobian: [Double]?) {
        let n = start.count
        var w = start
        var velocity = field(w)
        var rateScale = 0.0
        var jacobianAtW: [Double]?
        for iteration in 0..<30 {
            let newton = "\(label) fixed point, Newton step \(iteration + 1): "
            let matrix = jacobian(w, newton)
            jacobianAtW = matrix
            rateScale = euclideanNorm(matrix) / Double(n).squareRoot()
            if euclideanNorm(velocity) <= 1e-12 * rateScale * euclideanNorm(w) { break }
            reporting.stage?(newton + "least squares by SVD (gsl_linalg_SV_decomp)", DenseCost.singularValues.seconds(n))
            let step = try DenseLinearAlgebra.leastSquaresSolve(matrix, n: n, velocity.map { -$0 }, relativeCutoff: 1e-10)
            var fraction = 1.0
            var accepted = false
            for _ in 0..<12 {
                let trial = zip(w, step).map { $0 + fraction * $1 }
                let trialVelocity = field(trial)
                if euclideanNorm(trialVelocity) < euclideanNorm(velocity) {
                    w = trial
                    velocity = trialVelocity
                    jacobianAtW = nil
                    accepted = true
                    break
                }
                fraction /= 2
            }
            if !accepted || fraction * euclideanNorm(step) <= 1e-13 * euclideanNorm(w) { break }
        }
        let residual = euclideanNorm(velocity) / euclideanNorm(w)
        return (w, residual, residual <= 1e-8 * max(rateScale, 1e-300), jacobianAtW)
    }

    /// Eigenpairs of a general real matrix (DenseLinearAlgebra.nonsymmetricEigensystem), with their IPR and their
    /// overlaps with the translation generators and the k* star.
    static func eigenmodes(_ matrix: [Double], n: Int, translations: [[Double]], star: [[Double]]) throws -> [JacobianMode] {
        try DenseLinearAlgebra.nonsymmetricEigensystem(matrix, n: n).map { pair in
            JacobianMode(rate: pair.value.re, frequency: pair.value.im, real: pair.vector.re, imaginary: pair.vector.im,
                         translations: translations, star: star)
        }
    }

    /// Splits off the translation (Goldstone) modes: per generator, the one eigenvector lying in the
    /// generators' span (overlap > 1/2); the rest sorted by rate, largest first.
    static func separatingTranslationModes(_ all: [JacobianMode], generators: Int) -> (translation: [JacobianMode], others: [JacobianMode]) {
        var translationModes: [JacobianMode] = []
        var others: [JacobianMode] = []
        for mode in all.sorted(by: { $0.translationOverlap > $1.translationOverlap }) {
            if translationModes.count < generators && mode.translationOverlap > 0.5 {
                translationModes.append(mode)
            } else {
                others.append(mode)
            }
        }
        return (translationModes, others.sorted { $0.rate > $1.rate })
    }

    // MARK: - Critical gain

    /// Samples the growth rate on `samples` evenly spaced gains in [lower, upper], brackets the
    /// first sign change and bisects it to `tolerance` (derivations/linear-stability.md §5).
    /// `progress`: growth rates computed over those a bracketed scan needs (samples + bisections).
    /// The checks of `scanGain`, for callers that validate every flag before the first analysis.
    public static func validateScan(from lower: Double, to upper: Double, samples: Int, tolerance: Double) throws {
        try require(lower.isFinite && upper.isFinite && lower >= 0 && upper > lower, flag: "--scan-gain",
                    "must be a:b with 0 <= a < b finite, got \(lower):\(upper)")
        try require(samples >= 2 && samples <= 10_000, flag: "--scan-gain", "needs 2 ... 10000 samples, got \(samples)")
        try requireGainTolerance(tolerance)
    }

    public static func requireGainTolerance(_ tolerance: Double) throws {
        try require(tolerance.isFinite && tolerance > 0 && tolerance < 1, flag: "--gain-tolerance", "must be in (0, 1), got \(tolerance)")
    }

    public static func scanGain(from lower: Double, to upper: Double, samples: Int, tolerance: Double,
                                progress: ((Double) -> Void)? = nil,
                                growthRate rate: (Double) throws -> Double) throws -> GainScan {
        try validateScan(from: lower, to: upper, samples: samples, tolerance: tolerance)
        let gains = (0..<samples).map { lower + (upper - lower) * Double($0) / Double(samples - 1) }
        let bisections = max(0, (log2((upper - lower) / Double(samples - 1) / tolerance)).rounded(.up))
        let evaluations = Double(samples) + bisections
        var done = 0.0
        func growthRate(_ gain: Double) throws -> Double {
            progress?(done / evaluations)
            defer { done += 1 }
            return try rate(gain)
        }
        let rates = try gains.map(growthRate)
        var scan = GainScan(gains: gains, growthRates: rates, criticalGain: nil, bracket: nil)
        guard let k = (0..<(samples - 1)).first(where: { rates[$0].isFinite && rates[$0 + 1].isFinite && (rates[$0] < 0) != (rates[$0 + 1] < 0) })
        else { return scan }
        var (a, b) = (gains[k], gains[k + 1])
        let signAtA = rates[k] < 0
        scan.bracket = [a, b]
        while b - a > tolerance {
            let mid = 0.5 * (a + b)
            // A tolerance below the spacing of doubles near g_c would otherwise bisect for ever.
            guard a < mid && mid < b else { break }
            let rate = try growthRate(mid)
            guard rate.isFinite else { break }
            if (rate < 0) == signAtA { a = mid } else { b = mid }
        }
        scan.criticalGain = 0.5 * (a + b)
        return scan
    }
}

extension JacobianMode {
    init(rate: Double, frequency: Double, real: [Double], imaginary: [Double], translations: [[Double]], star: [[Double]]) {
        // Rotate by the phase that makes v as real as possible: theta = arg(sum v_i^2) / 2.
        var sumRe = 0.0, sumIm = 0.0, second = 0.0, fourth = 0.0
        for i in real.indices {
            sumRe += real[i] * real[i] - imaginary[i] * imaginary[i]
            sumIm += 2 * real[i] * imaginary[i]
            let p = real[i] * real[i] + imaginary[i] * imaginary[i]
            second += p
            fourth += p * p
        }
        let theta = 0.5 * atan2(sumIm, sumRe)
        var vector = real.indices.map { real[$0] * cos(theta) + imaginary[$0] * sin(theta) }
        let length = euclideanNorm(vector)
        if length > 0 { vector = vector.map { $0 / length } }
        // |P v| / |v| for an orthonormal basis, applied to both the real and imaginary parts.
        let projection = { (basis: [[Double]]) -> Double in
            var captured = 0.0
            for b in basis {
                let re = dot(b, real)
                let im = dot(b, imaginary)
                captured += re * re + im * im
            }
            return (captured / second).squareRoot()
        }
        self.init(rate: rate, frequency: frequency, vector: vector, ipr: fourth / (second * second),
                  translationOverlap: projection(translations), starOverlap: projection(star))
    }
}
