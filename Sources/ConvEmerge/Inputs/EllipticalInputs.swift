import Foundation

/// The radial law of an elliptical family x = R Sigma^(1/2) u, u uniform on the unit sphere,
/// written as x = (R / |g|) z with z = Sigma^(1/2) g the latent field of the NLGP and g white
/// noise (`--inputs elliptical:RADIAL[:PARAM]`). Derivation: derivations/elliptical-inputs.md.
public enum RadialLaw: Hashable, Sendable, CustomStringConvertible {
    /// r^2 = nu / chi^2_nu, x = r z / sqrt(E r^2): multivariate Student t, nu > 4.
    case student(nu: Double)
    /// R = sqrt(D): x = sqrt(D) Sigma^(1/2) u, on the ellipsoid |Sigma^(-1/2) x|^2 = D.
    case shell
    /// r^2 ~ Exp(1): a Gaussian scale mixture with Laplace marginals.
    case laplace

    init(name: String, parameters: [String]) throws {
        func noParameter(_ law: RadialLaw) throws -> RadialLaw {
            try require(parameters.isEmpty, flag: "--inputs", "\(name) takes no parameter, got elliptical:\(name):\(parameters.joined(separator: ":"))")
            return law
        }
        switch name {
        case "student":
            guard parameters.count == 1, let nu = Double(parameters[0]), !nu.isNaN else {
                throw ConvEmergeError.invalidInput(flag: "--inputs", message: "student needs one number nu (elliptical:student:nu), got '\(parameters.joined(separator: ":"))'")
            }
            // Same bounds as copula:student: a finite kurtosis, and a chi^2 draw that stays cheap.
            try require(nu > 4 && nu <= 1e4, flag: "--inputs", "elliptical student needs 4 < nu <= 10000, got \(parameters[0])")
            self = .student(nu: nu)
        case "shell": self = try noParameter(.shell)
        case "laplace": self = try noParameter(.laplace)
        default:
            throw ConvEmergeError.invalidInput(flag: "--inputs", message: "unknown radial law '\(name)'; expected one of \(InputFamily.allowedForms)")
        }
    }

    public var description: String {
        switch self {
        case let .student(nu): return "student:\(nu == nu.rounded() ? String(Int(nu)) : "\(nu)")"
        case .shell: return "shell"
        case .laplace: return "laplace"
        }
    }

    /// kappa = D E R^4 / ((D + 2) (E R^2)^2), the radial kurtosis ratio: every fourth moment is
    /// kappa times the Gaussian one (derivations/elliptical-inputs.md, "Radial laws").
    public func kurtosisRatio(dimension d: Int) -> Double {
        switch self {
        case let .student(nu): return (nu - 2) / (nu - 4)
        case .shell: return Double(d) / Double(d + 2)
        case .laplace: return 2
        }
    }

    /// The shell's factor R / |g| needs |g|^2, the squared norm of the white noise coloured into z.
    public var needsNoiseNorm: Bool { self == .shell }

    /// The factor multiplying z for one input: r / sqrt(E r^2) from one draw of r, or
    /// sqrt(D / |g|^2) for the shell (derivations/elliptical-inputs.md, "Sampling").
    @inline(__always)
    public func factor(rng: inout Xoshiro256, dimension d: Int, noiseSquaredNorm: Double) -> Double {
        switch self {
        case let .student(nu):
            // r^2 / E r^2 = (nu / chi^2_nu) / (nu / (nu - 2)).
            return ((nu - 2) / rng.nextChiSquared(degrees: nu)).squareRoot()
        case .shell:
            return (Double(d) / noiseSquaredNorm).squareRoot()
        case .laplace:
            return rng.nextExponential().squareRoot()
        }
    }
}

/// The pointwise part of an elliptical family: the identity on z (C = Sigma), with the
/// marginal moments of x = (scale) z. Not `isIdentity`: the inputs are not Gaussian, the
/// radial factor is applied by the samplers (InputDistribution.applyRadialFactor).
public struct EllipticalMarginal: MarginalTransform {
    public let law: RadialLaw
    public let latentVariance: Double
    /// kappa on the lattice of the family.
    public let kurtosisRatio: Double

    public init(law: RadialLaw, latentVariance: Double, dimension: Int) {
        self.law = law
        self.latentVariance = latentVariance
        kurtosisRatio = law.kurtosisRatio(dimension: dimension)
    }

    @inline(__always) public func callAsFunction(_ z: Double) -> Double { z }

    /// Of psi = identity on z: c_1 = sqrt(s), the others 0. The fourth cumulant is not a
    /// Hermite diagram here; FourthCumulant reads `kurtosisRatio` instead.
    public func hermiteCoefficients(maxOrder: Int) -> [Double] {
        (0...maxOrder).map { $0 == 1 ? latentVariance.squareRoot() : 0 }
    }

    /// C = Sigma (derivations/elliptical-inputs.md, "Covariance").
    public func covariance(latentCovariance sigma: Double) throws -> Double { sigma }
    /// 3 (kappa - 1) (derivations/elliptical-inputs.md, "Fourth cumulant").
    public func excessKurtosis() throws -> Double { 3 * (kurtosisRatio - 1) }
    public var skewness: Double { 0 }
    public var isIdentity: Bool { false }
    public var gainFunction: GainFunction? { nil }
    public var breakpoints: [Double] { [] }
    public func apply(_ x: UnsafeMutablePointer<Double>, count: Int) {}
}

extension Xoshiro256 {
    /// Exp(1) by inversion.
    @inlinable @inline(__always)
    public mutating func nextExponential() -> Double { -log(nextOpenUniform()) }

    /// Gamma(shape, 1) for shape >= 1 by Marsaglia and Tsang (2000): a squeeze-free rejection
    /// on (1 + c n)^3 with n from this stream's normals, so that one seed gives one stream.
    @inlinable
    public mutating func nextGamma(shape a: Double) -> Double {
        precondition(a >= 1, "Marsaglia-Tsang needs shape >= 1")
        let d = a - 1.0 / 3.0, c = 1 / (9 * d).squareRoot()
        while true {
            let n = nextGaussian()
            let t = 1 + c * n
            if t <= 0 { continue }
            let v = t * t * t
            if log(nextOpenUniform()) < 0.5 * n * n + d - d * v + d * log(v) { return d * v }
        }
    }

    /// chi^2 with `degrees` >= 2 degrees of freedom: 2 Gamma(degrees / 2).
    @inlinable
    public mutating func nextChiSquared(degrees nu: Double) -> Double { 2 * nextGamma(shape: nu / 2) }
}
