import CGSL
import Foundation

/// Lufkin, Saxe and Grant's early-time amplifier phi(a) = E_x[x erf(x a / sqrt(2 (1 - a^2)))]
/// of one standardised input marginal x: what E[x_i sign(lambda)] becomes when lambda | x_i is
/// Gaussian and a = corr(x_i, lambda). Linear, sqrt(2/pi) a, exactly when x is Gaussian; its
/// cubic term sqrt(2/pi) (3 - kappa) a^3 / 6 (kappa = E x^4) amplifies the largest |a_i|
/// when the marginal is platykurtic. Derivation: derivations/lufkin-criterion.md.
public struct MarginalAmplifier: Sendable {
    /// phi at a = sin(theta_k), theta_k = k (pi/2) / (n - 1): a is dense near |a| = 1, where
    /// phi(a) = E|x| - O(1 - a^2) changes fastest in a (derivations/lufkin-criterion.md, "Table").
    private let table: [Double]
    /// sqrt(2/pi) a when the marginal is Gaussian: no table, no quadrature error.
    public let isLinear: Bool

    static let nodes = 513

    /// The amplifier of x = standardised(u), u ~ N(0, 1); `breakpoints` are the u where it is
    /// not smooth (x = 0 is added by the caller when erf(c x) turns into sign(x) at |a| = 1).
    public init(standardised marginal: (Double) -> Double, breakpoints: [Double]) {
        let zero = Self.zeroCrossing(of: marginal)
        let kinks = Array(Set(breakpoints + [zero])).sorted()
        table = (0..<Self.nodes).map { k in
            let theta = Double(k) * (Double.pi / 2) / Double(Self.nodes - 1)
            // c = a / sqrt(1 - a^2) = tan(theta); at theta = pi/2 erf(c x) = sign(x) in doubles.
            let c = k == Self.nodes - 1 ? 1e300 : tan(theta)
            // erf(c x) turns over within |x| ~ 1/c of the zero of x(u): a mesh graded down to
            // that width there (derivations/lufkin-criterion.md, "Table").
            let expectation = GaussianExpectation(refinementScale: min(1, 0.25 / c))
            return expectation.smoothedMean(of: { u in
                let x = marginal(u)
                return x * Foundation.erf(x * c / 2.0.squareRoot())
            }, breakpoints: kinks, transitions: c < 1e12 ? [zero] : [], mean: 0, variance: 1)
        }
        isLinear = false
    }

    /// The latent u where the standardised (non-decreasing) marginal changes sign, by bisection.
    static func zeroCrossing(of marginal: (Double) -> Double) -> Double {
        var (lower, upper) = (-8.0, 8.0)
        for _ in 0..<60 {
            let middle = (lower + upper) / 2
            if marginal(middle) < 0 { lower = middle } else { upper = middle }
        }
        return (lower + upper) / 2
    }

    /// The Gaussian marginal's amplifier, sqrt(2/pi) a.
    public static let gaussian = MarginalAmplifier()

    private init() {
        table = []
        isLinear = true
    }

    /// The amplifier of one class's inputs: its marginal psi(sqrt(s) u) / sqrt(C_ii), or the
    /// Gaussian one for a clone; nil for elliptical inputs, where lambda | x_i is not Gaussian
    /// (the model's premise) and x_i is a scale mixture, not a function of one latent u, and for
    /// data sets, which have no model marginal.
    public init?(_ distribution: InputDistribution) {
        guard !distribution.spec.isGaussianClone else {
            self = .gaussian
            return
        }
        guard distribution.radialLaw == nil, distribution.dataSet == nil else { return nil }
        guard !distribution.isGaussian else {
            self = .gaussian
            return
        }
        let latentScale = distribution.spec.kernel.variance.squareRoot()
        let outputScale = 1 / distribution.covariance.firstRow[0].squareRoot()
        let psi = distribution.marginal
        self.init(standardised: { outputScale * psi(latentScale * $0) }, breakpoints: psi.breakpoints)
    }

    /// phi(a) for a in [-1, 1]; odd in a. Cubic interpolation in theta = asin(a) on the table.
    public func callAsFunction(_ a: Double) -> Double {
        if isLinear { return (2 / Double.pi).squareRoot() * a }
        let magnitude = min(abs(a), 1)
        let position = asin(magnitude) / (Double.pi / 2) * Double(Self.nodes - 1)
        // Four-point Lagrange interpolation, mirrored through theta = 0 where phi is odd.
        let base = min(max(Int(position) - 1, -1), Self.nodes - 4)
        let s = position - Double(base)
        func node(_ k: Int) -> Double { k < 0 ? -table[-k] : table[k] }
        let p0 = node(base), p1 = node(base + 1), p2 = node(base + 2), p3 = node(base + 3)
        let value = -p0 * (s - 1) * (s - 2) * (s - 3) / 6 + p1 * s * (s - 2) * (s - 3) / 2
            - p2 * s * (s - 1) * (s - 3) / 2 + p3 * s * (s - 1) * (s - 2) / 6
        return a < 0 ? -value : value
    }

    /// The cubic coefficient of phi at a = 0, sqrt(2/pi) (3 - kappa) / 6 with kappa = E x^4:
    /// positive (super-linear, localising in Lufkin et al.'s reduced model) for excess
    /// kurtosis < 0 (derivations/lufkin-criterion.md, "Small a").
    public static func cubicCoefficient(excessKurtosis: Double) -> Double {
        (2 / Double.pi).squareRoot() * (0 - excessKurtosis) / 6
    }
}

/// The `lufkin` closure: Lufkin, Saxe and Grant's reduced dynamics of a relu neuron without
/// bias, for any class and target,
///   g_c(w) = (sqrt(D) / 2) y_c sqrt(C_ii) phi_c(a_c) - C_c w / 2,
///   a_c,i = (C_c w)_i / sqrt(C_c,ii w.C_c w),
/// i.e. E[x_i (y - lambda) Theta(lambda)] with the amplifier for y E[x_i Theta(lambda)] and Stein
/// for the rest. At p = 1/2 and targets (0, 1) it is their published
/// dw/dt ~ phi(Sigma_1 w / sqrt(w.Sigma_1 w)) - (Sigma_0 + Sigma_1) w / 2 up to the scales of w
/// and t. Derivation: derivations/lufkin-criterion.md.
public final class LufkinClosure: ClassExpectation {
    let distribution: InputDistribution
    let signal: ErrorSignal
    let amplifier: MarginalAmplifier
    private let size: Int
    private let covarianceTimesW: UnsafeMutablePointer<Double>
    private var fftWorkspace: [Double]

    /// Refuses what the reduced model does not describe: a neuron other than relu, or a bias.
    public static func requireApplicable(to neuron: NeuronSpec) throws {
        try require(neuron.activation == .relu, flag: "--activation",
                    "--closure lufkin is Lufkin et al.'s reduced model of a relu neuron; got \(neuron.activation.rawValue)")
        try require(neuron.bias == 0, flag: "--bias", "--closure lufkin describes a neuron without bias; got \(neuron.bias)")
    }

    public init(distribution: InputDistribution, signal: ErrorSignal) {
        self.distribution = distribution
        self.signal = signal
        // ClosureSpec.requireApplicable refuses elliptical classes before any closure is built.
        amplifier = MarginalAmplifier(distribution)!
        size = distribution.size
        covarianceTimesW = .allocate(capacity: size)
        fftWorkspace = distribution.covariance.makeWorkspace()
    }

    deinit { covarianceTimesW.deallocate() }

    private func applyCovariance(_ w: UnsafePointer<Double>) -> Double {
        fftWorkspace.withUnsafeMutableBufferPointer {
            distribution.applyCovariance(w, into: covarianceTimesW, workspace: $0.baseAddress!)
        }
        return dot(w, covarianceTimesW, size)
    }

    public func drift(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        let wCw = applyCovariance(w)
        let siteVariance = distribution.covariance.firstRow[0]
        let amplitude = Double(size).squareRoot() / 2 * signal.target * siteVariance.squareRoot()
        // At w = 0 every a_i is 0/0; phi(0) = 0 is the limit along any direction.
        let normaliser = wCw > 0 ? 1 / (siteVariance * wCw).squareRoot() : 0
        for i in 0..<size {
            out[i] = amplitude * amplifier(covarianceTimesW[i] * normaliser) - covarianceTimesW[i] / 2
        }
    }

    /// lambda keeps its Gaussian marginal in the reduced model: the Gaussian loss.
    public func loss(_ w: UnsafePointer<Double>) -> Double {
        signal.gaussianLoss(variance: applyCovariance(w) / Double(size))
    }
}
