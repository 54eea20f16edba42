import CGSL
import Foundation

/// The pointwise map x_i = psi(z_i) of an input family built on the latent Gaussian field z
/// (Sigma_ii = s): everything the covariance, the cumulant actions, the closures and the
/// samplers need to know about the marginal. Derivation: derivations/copula-inputs.md.
public protocol MarginalTransform: Sendable {
    /// s = Sigma_ii, the variance of the latent z this transform is bound to.
    var latentVariance: Double { get }
    /// psi(z) for a latent z of variance s.
    func callAsFunction(_ z: Double) -> Double
    /// c_n = E[psi(sqrt(s) u) He_n(u)] / n!, n = 0 ... maxOrder (probabilists' He_n).
    func hermiteCoefficients(maxOrder: Int) -> [Double]
    /// C_ij = E[psi(z_i) psi(z_j)] for Sigma_ij = sigma.
    func covariance(latentCovariance sigma: Double) throws -> Double
    /// E[x^4]/E[x^2]^2 - 3 of one input.
    func excessKurtosis() throws -> Double
    /// E[x^3]/E[x^2]^(3/2) of one input.
    var skewness: Double { get }
    /// psi is the identity (the inputs are the Gaussian field itself).
    var isIdentity: Bool { get }
    /// The erf nonlinearity when psi is one: then the Plackett four-point function gives the
    /// exact fourth cumulant (`--cumulant full`); nil for every other marginal.
    var gainFunction: GainFunction? { get }
    /// Points of the standard latent u = z / sqrt(s) where psi is not smooth.
    var breakpoints: [Double] { get }
    /// x[i] = psi(x[i]) for i < count: one dynamic dispatch per draw, not per site.
    func apply(_ x: UnsafeMutablePointer<Double>, count: Int)
}

extension InputFamily {
    /// The marginal of this family on a latent field of variance s and `dimension` sites;
    /// `gain` is `--gain` (nlgp only). copula:erf and copula:sign are the NLGP itself, SPEC §1's
    /// convention included.
    public func marginal(gain: Double, latentVariance s: Double, dimension: Int) throws -> any MarginalTransform {
        switch self {
        case .nlgp: return NLGPMarginal(psi: GainFunction(gain: gain), latentVariance: s)
        case let .elliptical(law): return EllipticalMarginal(law: law, latentVariance: s, dimension: dimension)
        case let .copula(marginal):
            if let psi = marginal.gainFunction { return NLGPMarginal(psi: psi, latentVariance: s) }
            return try CopulaTransform(marginal, latentVariance: s)
        case .data:
            // A data class has no latent field: InputDistribution(_:data:) builds it from the rows.
            throw ConvEmergeError.invalidInput(flag: "--inputs", message: "a data set has no marginal transform of a latent field")
        }
    }
}

/// The NLGP erf marginal psi_g as a conforming case: every number comes from the closed forms
/// it had before families existed (derivations/nlgp-covariance.md, hermite-expansion.md).
public struct NLGPMarginal: MarginalTransform {
    public let psi: GainFunction
    public let latentVariance: Double

    public init(psi: GainFunction, latentVariance: Double) {
        self.psi = psi
        self.latentVariance = latentVariance
    }

    @inline(__always) public func callAsFunction(_ z: Double) -> Double { psi(z) }

    public func hermiteCoefficients(maxOrder: Int) -> [Double] {
        HermiteExpansion(psi: psi, latentVariance: latentVariance).coefficients(maxOrder: maxOrder)
    }

    public func covariance(latentCovariance sigma: Double) throws -> Double {
        psi.covariance(latentCovariance: sigma, latentVariance: latentVariance)
    }

    public func excessKurtosis() throws -> Double {
        try HermiteExpansion(psi: psi, latentVariance: latentVariance).marginalExcessKurtosis()
    }

    public var skewness: Double { 0 }
    public var isIdentity: Bool { psi.isIdentity }
    public var gainFunction: GainFunction? { psi }
    public var breakpoints: [Double] { psi.isSign ? [0] : [] }

    public func apply(_ x: UnsafeMutablePointer<Double>, count: Int) {
        let psi = self.psi
        for i in 0..<count { x[i] = psi(x[i]) }
    }
}

/// A Gaussian-copula marginal other than erf: psi(z) = F^-1(Phi(z / sqrt s)) standardised,
/// so Var x_i = 1 at any jitter. Its covariance is the Hermite series of `series`.
public struct CopulaTransform: MarginalTransform {
    public let marginal: CopulaMarginal
    public let latentVariance: Double
    /// a_n = c_n sqrt(n!) by quadrature, with the truncation bound of the covariance series.
    public let series: HermiteSeries
    private let inverseScale: Double

    public init(_ marginal: CopulaMarginal, latentVariance s: Double) throws {
        self.marginal = marginal
        latentVariance = s
        inverseScale = 1 / s.squareRoot()
        series = try HermiteSeries(quadratureOf: marginal.standardised, variance: 1, breakpoints: marginal.breakpoints,
                                   odd: marginal.isOdd)
    }

    @inline(__always) public func callAsFunction(_ z: Double) -> Double { marginal.standardised(z * inverseScale) }

    public func hermiteCoefficients(maxOrder: Int) -> [Double] { series.coefficients(maxOrder: maxOrder) }

    public func covariance(latentCovariance sigma: Double) throws -> Double {
        try series.covariance(correlation: sigma / latentVariance, what: "copula:\(marginal)")
    }

    public func excessKurtosis() throws -> Double { marginal.closedFormExcessKurtosis! }
    public var skewness: Double { marginal.skewness }
    public var isIdentity: Bool { false }
    public var gainFunction: GainFunction? { nil }
    public var breakpoints: [Double] { marginal.breakpoints }

    public func apply(_ x: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { x[i] = self(x[i]) }
    }
}

/// The orthonormal Hermite coefficients a_n = E[f(u) He_n(u)] / sqrt(n!) of a function of a
/// standard normal u, and its covariance map C(rho) = sum_{n>=1} a_n^2 rho^n (Mehler) with the
/// truncation bound |C(rho) - C_N(rho)| <= |rho|^(N+1) sum_{n>N} a_n^2, the tail known exactly
/// from Parseval: sum_n a_n^2 = E f^2. derivations/copula-inputs.md, "Covariance series".
public struct HermiteSeries: Sendable {
    /// a_0 ... a_maxOrder.
    public let normalised: [Double]
    /// tails[N] = E f^2 - sum_{n<=N} a_n^2, clamped at 0 (round-off of the quadrature).
    public let tails: [Double]
    public let variance: Double
    /// Target of the truncation bound on every covariance entry.
    public static let tolerance = 1e-12
    /// Orders computed: enough for the bound at |rho| <= 0.9 for every marginal offered, and
    /// u^n / sqrt(n!) stays finite on the quadrature range.
    public static let maximumOrder = 1000
    /// The quadrature range |u| <= 37: beyond it Phi(-|u|) underflows and phi(u) < 1e-297.
    static let range = 37.0
    /// Panel width and Gauss-Legendre order: He_1000 oscillates with period ~0.14.
    static let panelWidth = 0.1
    static let nodesPerPanel = 16

    public init(normalised: [Double], variance: Double) {
        self.normalised = normalised
        self.variance = variance
        var tails = [Double](repeating: 0, count: normalised.count)
        var remaining = variance
        for n in normalised.indices {
            remaining -= normalised[n] * normalised[n]
            tails[n] = max(0, remaining)
        }
        self.tails = tails
    }

    /// a_n for n <= maximumOrder by composite Gauss-Legendre quadrature on [-37, 37], panels
    /// ending at 0 and at every breakpoint (kinks and jumps of f cost no accuracy), with the
    /// orthonormal recurrence h_{n+1} = (u h_n - sqrt(n) h_{n-1}) / sqrt(n+1) at each node.
    /// `odd`: f(-u) = -f(u), so the even a_n are set to their exact value 0 rather than
    /// round-off (which would switch on the chain diagrams of the leading cumulant).
    public init(quadratureOf f: (Double) -> Double, variance: Double, breakpoints: [Double], odd: Bool = false,
                maxOrder: Int = HermiteSeries.maximumOrder) throws {
        GSL.initialize()
        guard let table = gsl_integration_glfixed_table_alloc(HermiteSeries.nodesPerPanel) else {
            throw ConvEmergeError.gsl(routine: "gsl_integration_glfixed_table_alloc", status: Int32(GSL_ENOMEM), reason: "out of memory")
        }
        defer { gsl_integration_glfixed_table_free(table) }
        let edges = Array(Set([-HermiteSeries.range, 0, HermiteSeries.range] + breakpoints)).sorted()
        var a = [Double](repeating: 0, count: maxOrder + 1)
        let roots = (0...maxOrder + 1).map { Double($0).squareRoot() }
        let normalisation = 1 / (2 * Double.pi).squareRoot()
        a.withUnsafeMutableBufferPointer { a in
            for (lower, upper) in zip(edges, edges.dropFirst()) {
                let panels = max(1, Int(((upper - lower) / HermiteSeries.panelWidth).rounded(.up)))
                let width = (upper - lower) / Double(panels)
                for panel in 0..<panels {
                    let left = lower + Double(panel) * width
                    for node in 0..<HermiteSeries.nodesPerPanel {
                        var u = 0.0, weight = 0.0
                        gsl_integration_glfixed_point(left, left + width, node, &u, &weight, table)
                        let p = f(u) * weight * normalisation * exp(-0.5 * u * u)
                        var previous = 0.0, current = 1.0
                        for n in 0...maxOrder {
                            a[n] += p * current
                            let next = (u * current - roots[n] * previous) / roots[n + 1]
                            previous = current
                            current = next
                        }
                    }
                }
            }
        }
        if odd { for n in stride(from: 0, through: maxOrder, by: 2) { a[n] = 0 } }
        self.init(normalised: a, variance: variance)
    }

    /// The closed-form a_n of the NLGP (odd n): a_1 = sqrt(2 kappa/(pi gamma)),
    /// a_{n+2} = -kappa n / sqrt((n+1)(n+2)) a_n, so sum a_n^2 rho^n = (2/(pi gamma)) asin(kappa rho).
    /// derivations/copula-inputs.md, "The erf case".
    public init(nlgp psi: GainFunction, latentVariance s: Double, maxOrder: Int = HermiteSeries.maximumOrder) {
        var a = [Double](repeating: 0, count: maxOrder + 1)
        if psi.isIdentity {
            if maxOrder >= 1 { a[1] = s.squareRoot() }
            self.init(normalised: a, variance: s)
            return
        }
        let kappa = psi.kappa(latentVariance: s)
        var term = (2 * kappa / (Double.pi * psi.gamma)).squareRoot()
        var n = 1
        while n <= maxOrder {
            a[n] = term
            term *= -kappa * Double(n) / (Double(n + 1) * Double(n + 2)).squareRoot()
            n += 2
        }
        self.init(normalised: a, variance: psi.covariance(latentCovariance: s, latentVariance: s))
    }

    /// c_n = a_n / sqrt(n!), n = 0 ... maxOrder (maxOrder <= the orders computed).
    public func coefficients(maxOrder: Int) -> [Double] {
        precondition(maxOrder < normalised.count, "Hermite orders up to \(normalised.count - 1) are tabulated")
        return (0...maxOrder).map { normalised[$0] / exp(0.5 * lgamma(Double($0 + 1))) }
    }

    /// |C(rho) - C_N(rho)| <= |rho|^(N+1) tails[N].
    public func truncationBound(order N: Int, correlation rho: Double) -> Double {
        pow(abs(rho), Double(N + 1)) * tails[N]
    }

    /// The smallest order whose bound meets `tolerance`, nil when none computed does.
    public func truncationOrder(correlation rho: Double, tolerance: Double = HermiteSeries.tolerance) -> Int? {
        normalised.indices.first { truncationBound(order: $0, correlation: rho) <= tolerance }
    }

    /// C_N(rho) = sum_{n=1}^N a_n^2 rho^n by Horner.
    public func truncatedCovariance(correlation rho: Double, order N: Int) -> Double {
        var sum = 0.0
        var n = N
        while n >= 1 {
            sum = sum * rho + normalised[n] * normalised[n]
            n -= 1
        }
        return sum * rho
    }

    /// C(rho) within `tolerance`; exactly the variance at rho = 1 (one site). Throws for
    /// `--xi` when the series converges too slowly for the orders computed.
    public func covariance(correlation rho: Double, what: String) throws -> Double {
        if rho == 1 { return variance }
        guard let order = truncationOrder(correlation: rho) else {
            let last = normalised.count - 1
            throw ConvEmergeError.invalidInput(
                flag: "--xi",
                message: "the Hermite series of the \(what) covariance needs more than \(last) terms at latent correlation \(rho) (bound \(truncationBound(order: last, correlation: rho)) > \(HermiteSeries.tolerance)); use a shorter --xi or a larger --jitter")
        }
        return truncatedCovariance(correlation: rho, order: order)
    }
}
