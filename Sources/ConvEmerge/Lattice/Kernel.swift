import Foundation

/// Shape of the base correlation k_xi(d) of the Gaussian field z (SPEC §1), evaluated at
/// the minimum-image distance (derivations/circulant-diagonalisation.md: why that can be indefinite).
public enum KernelShape: String, Codable, CaseIterable, Sendable {
    /// exp(-d^2 / xi^2), the paper's.
    case gaussian
    /// exp(-d / xi), Ising-like.
    case exponential
}

/// A translation-invariant base kernel: Sigma_ij = k_xi(d(i,j)) + jitter * delta_ij.
public struct Kernel: Codable, Hashable, Sendable {
    public let shape: KernelShape
    public let correlationLength: Double
    public let jitter: Double

    public init(shape: KernelShape, correlationLength xi: Double, jitter: Double = 0) throws {
        try require(xi.isFinite && xi > 0, flag: "--xi", "must be finite and > 0, got \(xi)")
        try require(jitter.isFinite && jitter >= 0 && jitter <= ParameterBound.magnitude, flag: "--jitter",
                    "must be in [0, \(formatBound(ParameterBound.magnitude))], got \(jitter)")
        self.shape = shape
        self.correlationLength = xi
        self.jitter = jitter
    }

    private enum CodingKeys: String, CodingKey { case shape, correlationLength, jitter }

    /// Decoding validates like `init(shape:correlationLength:jitter:)`.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(shape: container.decode(KernelShape.self, forKey: .shape),
                      correlationLength: container.decode(Double.self, forKey: .correlationLength),
                      jitter: container.decode(Double.self, forKey: .jitter))
    }

    /// k_xi(d) without the jitter.
    @inlinable
    public func value(atDistance d: Double) -> Double {
        switch shape {
        case .gaussian: return exp(-(d * d) / (correlationLength * correlationLength))
        case .exponential: return exp(-d / correlationLength)
        }
    }

    /// Sigma_ii = k(0) + jitter.
    public var variance: Double { 1 + jitter }

    /// First row of Sigma on `lattice` (lattice order).
    public func firstRow(on lattice: Lattice) -> [Double] {
        (0..<lattice.size).map { i in
            value(atDistance: lattice.distanceFromOrigin(i)) + (i == 0 ? jitter : 0)
        }
    }

    /// The periodic images make the kernel meaningless once its correlation
    /// length is comparable to the lattice: we require k(L/2) <= 1/e, which for
    /// both shapes reads L >= 2 xi. The error names --xi: raising --L is the other way out.
    public func validate(on lattice: Lattice) throws {
        try require(2 * correlationLength <= Double(lattice.length), flag: "--xi",
                    "must be <= L/2 = \(Double(lattice.length) / 2) so that the correlation length fits on the lattice (or raise --L), got \(correlationLength)")
    }
}
