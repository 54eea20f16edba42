import Foundation

/// The output nonlinearities of SPEC §2.
public enum ActivationKind: String, Codable, CaseIterable, Sendable {
    case relu, erf, tanh, sigmoid, linear, quadratic
}

/// A pointwise activation sigma with its derivative.
/// `erf` means erf(x / sqrt 2) (slope sqrt(2/pi) at 0, range -1 ... 1);
/// `sigmoid` is 1 / (1 + e^-x); `quadratic` is x^2; relu'(0) is taken as 0.
public struct Activation: Hashable, Sendable, Codable {
    public let kind: ActivationKind

    public init(_ kind: ActivationKind) { self.kind = kind }

    /// Encodes as the bare kind name ("relu"), the form the CLI and manifests use.
    public init(from decoder: Decoder) throws {
        kind = try decoder.singleValueContainer().decode(ActivationKind.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(kind)
    }

    @inlinable
    public func value(_ x: Double) -> Double {
        switch kind {
        case .relu: return x > 0 ? x : 0
        case .erf: return Foundation.erf(x * 0.70710678118654752440)
        case .tanh: return Foundation.tanh(x)
        case .sigmoid:
            // Written so that exp never overflows: for x < 0 use e^x / (1 + e^x).
            if x >= 0 { return 1 / (1 + exp(-x)) }
            let e = exp(x)
            return e / (1 + e)
        case .linear: return x
        case .quadratic: return x * x
        }
    }

    @inlinable
    public func derivative(_ x: Double) -> Double {
        switch kind {
        case .relu: return x > 0 ? 1 : 0
        case .erf: return 0.79788456080286535588 * exp(-0.5 * x * x)   // sqrt(2/pi) e^{-x^2/2}
        case .tanh:
            let t = Foundation.tanh(x)
            return 1 - t * t
        case .sigmoid:
            let s = value(x)
            return s * (1 - s)
        case .linear: return 1
        case .quadratic: return 2 * x
        }
    }

    /// Points where the value or the derivative is not smooth (relu: [0]).
    public var kinks: [Double] { kind == .relu ? [0] : [] }

    /// Centres of the saturating activations (erf, tanh, sigmoid: [0]): sigma changes
    /// there over a unit interval, which a Gaussian quadrature must resolve however wide
    /// the Gaussian is (derivations/derivative-free-expectations.md §4).
    public var transitions: [Double] {
        switch kind {
        case .erf, .tanh, .sigmoid: return [0]
        case .relu, .linear, .quadratic: return []
        }
    }
}

/// h_c(lambda) = (y - sigma(lambda + b)) sigma'(lambda + b): minus the derivative of
/// the loss 1/2 (y - yhat)^2 with respect to the preactivation (SPEC §2-3).
/// For relu, h jumps from 0 to y at lambda = -b (derivations/derivative-free-expectations.md §3).
public struct ErrorSignal: Hashable, Sendable {
    public let activation: Activation
    public let bias: Double
    public let target: Double
    /// Discontinuities of h or of h' in lambda: the activation's kinks shifted by -bias.
    public let discontinuities: [Double]
    /// The activation's transitions shifted by -bias: where GaussianExpectation grades its mesh.
    /// Both lists are stored so that the hot path does not allocate.
    public let transitions: [Double]

    public init(activation: Activation, bias: Double, target: Double) {
        self.activation = activation
        self.bias = bias
        self.target = target
        discontinuities = activation.kinks.map { $0 - bias }
        transitions = activation.transitions.map { $0 - bias }
    }

    @inlinable
    public func callAsFunction(_ lambda: Double) -> Double {
        let x = lambda + bias
        return (target - activation.value(x)) * activation.derivative(x)
    }
}
