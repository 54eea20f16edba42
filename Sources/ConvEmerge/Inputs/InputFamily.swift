import CGSL
import Foundation

/// Which pointwise map turns the latent Gaussian field z into the inputs x (`--inputs`).
/// `nlgp` is SPEC §1's erf nonlinearity with the gain of `--gain`; `copula` is a Gaussian
/// copula (NORTA, SPEC §6) x_i = psi(z_i), psi = F^-1 o Phi standardised; `elliptical` scales
/// the whole field by one radial factor per input, x = r z / sqrt(E r^2).
/// Derivations: derivations/copula-inputs.md, derivations/elliptical-inputs.md.
public enum InputFamily: Hashable, Sendable, CustomStringConvertible {
    case nlgp
    case copula(CopulaMarginal)
    case elliptical(RadialLaw)
    /// Rows of a data file; the file itself is `InputSpec.dataSet` (derivations/data-inputs.md).
    case data

    /// The forms `--inputs` accepts, for error messages and help.
    public static let allowedForms = "nlgp, copula:erf:g, copula:sign, copula:uniform, copula:laplace, copula:logistic, copula:student:nu (4 < nu <= 1e4), copula:alg:k (4 < k <= 1e4), copula:exponential, copula:tabulated:FILE.npy (>= 100 finite float64 samples), elliptical:student:nu (4 < nu <= 1e4), elliptical:shell, elliptical:laplace"

    /// Parses `nlgp` or `copula:MARGINAL[:PARAM]`; every failure is one line about `--inputs`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "nlgp" where parts.count == 1:
            self = .nlgp
        case "copula" where parts.count >= 2:
            self = .copula(try CopulaMarginal(name: parts[1], parameters: Array(parts.dropFirst(2))))
        case "elliptical" where parts.count >= 2:
            self = .elliptical(try RadialLaw(name: parts[1], parameters: Array(parts.dropFirst(2))))
        case "data" where parts.count == 1:
            // A manifest's family; the file is recorded in InputSpec.dataSet.
            self = .data
        case "data":
            // The commands that read data files parse `data:FILE.npy` themselves (InputOptions.dataFiles).
            throw ConvEmergeError.invalidInput(flag: "--inputs", message: "data:FILE.npy is read by stats, solve, closure-error, simulate and criterion only; this command takes \(Self.allowedForms)")
        default:
            throw ConvEmergeError.invalidInput(flag: "--inputs", message: "expected one of \(Self.allowedForms); got '\(text)'")
        }
    }

    public var description: String {
        switch self {
        case .nlgp: return "nlgp"
        case let .copula(marginal): return "copula:\(marginal)"
        case let .elliptical(law): return "elliptical:\(law)"
        case .data: return "data"
        }
    }

    public var isNLGP: Bool { self == .nlgp }

    /// The radial law of an elliptical family, nil otherwise.
    public var radialLaw: RadialLaw? {
        if case let .elliptical(law) = self { return law }
        return nil
    }

    /// psi(-z) = -psi(z): then every odd cumulant vanishes, and the `cumulant` closure's
    /// expansion (fourth cumulant first) is consistent (derivations/copula-inputs.md,
    /// "Closures on copula inputs").
    public var isOdd: Bool {
        if case let .copula(marginal) = self { return marginal.isOdd }
        // A data set's odd cumulants vanish only under --symmetrise sign (InputSpec.dataSet).
        return self != .data
    }

    /// The exact fourth cumulant (`--cumulant full`) needs the Plackett four-point function of
    /// the erf marginals (nlgp, copula:erf, copula:sign); an elliptical one is exact in closed form.
    public var hasExactCumulant: Bool {
        if case let .copula(marginal) = self { return marginal.gainFunction != nil }
        return self != .data
    }
}

extension InputFamily: Codable {
    /// Written as the `--inputs` string so that a manifest reads like the command line.
    public init(from decoder: Decoder) throws {
        try self.init(parsing: decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The marginal distribution F of one input of a Gaussian copula, standardised to mean 0 and
/// variance 1. Closed forms: derivations/copula-inputs.md, "Marginals".
public enum CopulaMarginal: Hashable, Sendable, CustomStringConvertible {
    /// The NLGP marginal erf(g z / sqrt 2) / sqrt(gamma(g)) (SPEC §1's convention).
    case erf(gain: Double)
    /// The NLGP at g = inf.
    case sign
    case uniform
    case laplace
    case logistic
    /// Student's t with nu > 4 degrees of freedom (finite kurtosis).
    case student(nu: Double)
    /// Lufkin et al.'s Alg(k): q(p) = (2p-1)/(1-|2p-1|^k)^(1/k), k > 4 (finite kurtosis).
    case algebraic(k: Double)
    /// Exp(1) - 1: the skewed case (skewness 2, excess kurtosis 6).
    case exponential
    /// An empirical marginal from the samples of a .npy file (TabulatedMarginal.swift).
    case tabulated(TabulatedMarginal)

    init(name: String, parameters: [String]) throws {
        func parameter(_ symbol: String) throws -> Double {
            guard parameters.count == 1, let value = Double(parameters[0]), !value.isNaN else {
                throw ConvEmergeError.invalidInput(flag: "--inputs", message: "\(name) needs one number \(symbol) (copula:\(name):\(symbol)), got '\(parameters.joined(separator: ":"))'")
            }
            return value
        }
        func noParameter(_ marginal: CopulaMarginal) throws -> CopulaMarginal {
            try require(parameters.isEmpty, flag: "--inputs", "\(name) takes no parameter, got copula:\(name):\(parameters.joined(separator: ":"))")
            return marginal
        }
        switch name {
        case "erf":
            let g = try parameter("g")
            try require(g >= 0 && g.isFinite, flag: "--inputs", "erf needs a finite gain g >= 0 (copula:sign is g = inf), got \(parameters[0])")
            self = .erf(gain: g)
        case "sign": self = try noParameter(.sign)
        case "uniform": self = try noParameter(.uniform)
        case "laplace": self = try noParameter(.laplace)
        case "logistic": self = try noParameter(.logistic)
        case "exponential": self = try noParameter(.exponential)
        case "tabulated":
            // The rest of the spec is the path, colons included.
            let path = parameters.joined(separator: ":")
            try require(!path.isEmpty, flag: "--inputs", "tabulated needs a file (copula:tabulated:FILE.npy)")
            self = .tabulated(try TabulatedMarginal(path: path))
        case "student":
            let nu = try parameter("nu")
            // Beyond 1e4 the marginal is Gaussian to 6e-4 in kurtosis, and GSL's quantile crawls.
            try require(nu > 4 && nu <= 1e4, flag: "--inputs", "student needs 4 < nu <= 10000, got \(parameters[0])")
            self = .student(nu: nu)
        case "alg":
            let k = try parameter("k")
            try require(k > 4 && k <= 1e4, flag: "--inputs", "alg needs 4 < k <= 10000, got \(parameters[0])")
            self = .algebraic(k: k)
        default:
            throw ConvEmergeError.invalidInput(flag: "--inputs", message: "unknown marginal '\(name)'; expected one of \(InputFamily.allowedForms)")
        }
    }

    public var description: String {
        switch self {
        case let .erf(g): return "erf:\(formatParameter(g))"
        case .sign: return "sign"
        case .uniform: return "uniform"
        case .laplace: return "laplace"
        case .logistic: return "logistic"
        case let .student(nu): return "student:\(formatParameter(nu))"
        case let .algebraic(k): return "alg:\(formatParameter(k))"
        case .exponential: return "exponential"
        case let .tabulated(table): return "tabulated:\(table.path)"
        }
    }

    /// The NLGP nonlinearity when this marginal is one (erf, sign): then the exact arcsine
    /// covariance and the Plackett four-point function apply.
    public var gainFunction: GainFunction? {
        switch self {
        case let .erf(g): return GainFunction(gain: g)
        case .sign: return GainFunction(gain: .infinity)
        default: return nil
        }
    }

    /// Whether psi(-u) = -psi(u): then every even Hermite coefficient vanishes.
    /// A tabulated marginal is never treated as odd: its samples are not exactly symmetric.
    public var isOdd: Bool {
        switch self {
        case .exponential, .tabulated: return false
        default: return true
        }
    }

    /// Where psi is not analytic, in the standard latent u (quadrature splits there).
    public var breakpoints: [Double] {
        switch self {
        case .sign, .laplace, .algebraic: return [0]
        case let .tabulated(table): return table.breakpoints
        default: return []
        }
    }

    /// psi(u) = F^-1(Phi(u)) standardised, for a standard normal u. Tails use the upper
    /// probability Q(|u|) = Phi(-|u|) so that no quantile is taken of a number rounded to 1.
    /// derivations/copula-inputs.md, "Marginals".
    public func standardised(_ latent: Double) -> Double {
        // Beyond |u| = 37.5, Q(|u|) underflows and no quantile exists in doubles; such a draw
        // has probability below 1e-307, so psi is held at its value there.
        let u = max(-Self.latentLimit, min(Self.latentLimit, latent))
        let sign: Double = u > 0 ? 1 : (u < 0 ? -1 : 0)
        let tail = gsl_cdf_ugaussian_Q(abs(u))  // Q(|u|) <= 1/2
        switch self {
        case let .erf(g): return GainFunction(gain: g)(u)
        case .sign: return sign
        case .uniform: return 3.0.squareRoot() * Foundation.erf(u / 2.0.squareRoot())
        case .laplace: return -sign * log(2 * tail) / 2.0.squareRoot()
        case .logistic: return sign * (log1p(-tail) - log(tail)) * 3.0.squareRoot() / Double.pi
        case let .student(nu): return sign * Self.studentUpperQuantile(tail, nu: nu) * ((nu - 2) / nu).squareRoot()
        case let .algebraic(k):
            // x = |2p - 1| = 1 - 2Q; 1 - x^k from log1p so that it keeps its precision as x -> 1.
            let x = 1 - 2 * tail
            let complement = -expm1(k * log1p(-2 * tail))
            return sign * x / pow(complement, 1 / k) / Self.algebraicSecondMoment(k).squareRoot()
        case .exponential:
            // -log(1 - Phi(u)) - 1; for u < 0, 1 - Phi(u) = 1 - Q(|u|).
            return (u > 0 ? -log(tail) : -log1p(-tail)) - 1
        case let .tabulated(table): return table.standardised(u)
        }
    }

    static let latentLimit = 37.5

    /// t with P(T > t) = q for Student's t. GSL's Qinv overflows to inf below q ~ 1e-250 (the
    /// far tail of the quadrature range); there P(|T| > t) = I_x(nu/2, 1/2) with
    /// x = nu / (nu + t^2) gives t = sqrt(nu (1 - x) / x) from the beta quantile, exact and finite
    /// (derivations/copula-inputs.md, "Marginals").
    static func studentUpperQuantile(_ q: Double, nu: Double) -> Double {
        let direct = gsl_cdf_tdist_Qinv(q, nu)
        if direct.isFinite { return direct }
        let x = gsl_cdf_beta_Pinv(2 * q, nu / 2, 0.5)
        return (nu * (1 - x) / x).squareRoot()
    }

    /// E|q|^m of Alg(k) before standardisation: (1/k) B((m+1)/k, 1 - m/k), m < k
    /// (derivations/copula-inputs.md, "Marginals").
    static func algebraicMoment(_ k: Double, order m: Double) -> Double {
        exp(lgamma((m + 1) / k) + lgamma(1 - m / k) - lgamma((m + 1) / k + 1 - m / k)) / k
    }

    static func algebraicSecondMoment(_ k: Double) -> Double { algebraicMoment(k, order: 2) }

    /// Closed-form excess kurtosis E x^4 - 3 of the standardised marginal (the table of
    /// derivations/copula-inputs.md; for tabulated, the exact sum over its linear pieces); nil
    /// for erf, whose moments come from quadrature (HermiteExpansion.marginalExcessKurtosis).
    public var closedFormExcessKurtosis: Double? {
        switch self {
        case .erf: return nil
        case .sign: return -2
        case .uniform: return -1.2
        case .laplace: return 3
        case .logistic: return 1.2
        case let .student(nu): return 6 / (nu - 4)
        case let .algebraic(k):
            let second = Self.algebraicSecondMoment(k)
            return Self.algebraicMoment(k, order: 4) / (second * second) - 3
        case .exponential: return 6
        case let .tabulated(table): return table.excessKurtosis
        }
    }

    /// E x^3 of the standardised marginal: 2 for the exponential, exact for tabulated, 0 for
    /// the odd marginals.
    public var skewness: Double {
        switch self {
        case .exponential: return 2
        case let .tabulated(table): return table.skewness
        default: return 0
        }
    }
}

private func formatParameter(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)" }
