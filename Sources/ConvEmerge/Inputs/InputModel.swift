import Foundation

/// Everything that defines one class of inputs (SPEC §1): the lattice, the base
/// kernel of the latent field z, the gain g of the nonlinearity, and whether the
/// class is the NLGP itself or its Gaussian clone (same covariance).
public struct InputSpec: Codable, Hashable, Sendable {
    public var lattice: Lattice
    public var kernel: Kernel
    /// g >= 0; `.infinity` gives sign inputs, 0 the base Gaussian field.
    public var gain: Double
    public var isGaussianClone: Bool

    public init(lattice: Lattice, kernel: Kernel, gain: Double, isGaussianClone: Bool = false) throws {
        try require(!gain.isNaN && gain >= 0, flag: "--gain", "must be >= 0 (or inf for sign inputs), got \(gain)")
        try kernel.validate(on: lattice)
        self.lattice = lattice
        self.kernel = kernel
        self.gain = gain
        self.isGaussianClone = isGaussianClone
    }

    /// The same spec with another correlation length (the two classes of the `xi` task).
    public func with(correlationLength xi: Double) throws -> InputSpec {
        try InputSpec(lattice: lattice,
                      kernel: Kernel(shape: kernel.shape, correlationLength: xi, jitter: kernel.jitter),
                      gain: gain, isGaussianClone: isGaussianClone)
    }

    public func asGaussianClone(_ clone: Bool = true) -> InputSpec {
        var copy = self
        copy.isGaussianClone = clone
        return copy
    }
}

/// The pointwise nonlinearity psi_g(z) = erf(g z / sqrt 2) / sqrt(gamma(g)).
/// Derivation: derivations/nlgp-covariance.md.
public struct GainFunction: Hashable, Sendable {
    public let gain: Double
    /// gamma(g) = (2/pi) asin(g^2 / (1 + g^2)); 1 at g = inf.
    public let gamma: Double
    /// Multiplies z inside erf: g / sqrt 2.
    @usableFromInline let argumentScale: Double
    @usableFromInline let outputScale: Double

    public init(gain: Double) {
        self.gain = gain
        if gain == 0 {
            gamma = 0
            argumentScale = 0
            outputScale = 1
        } else if gain.isInfinite {
            gamma = 1
            argumentScale = .infinity
            outputScale = 1
        } else {
            let g2 = gain * gain
            gamma = 2 / Double.pi * asin(g2 / (1 + g2))
            argumentScale = gain / 2.0.squareRoot()
            outputScale = 1 / gamma.squareRoot()
        }
    }

    public var isIdentity: Bool { gain == 0 }
    public var isSign: Bool { gain.isInfinite }

    /// psi_g(z); the identity at g = 0 (the limit), sign(z) at g = inf.
    @inlinable @inline(__always)
    public func callAsFunction(_ z: Double) -> Double {
        if argumentScale == 0 { return z }
        if argumentScale.isInfinite { return z > 0 ? 1 : (z < 0 ? -1 : 0) }
        return erf(argumentScale * z) * outputScale
    }

    /// E[psi(z_i) psi(z_j)] for latent variances s and covariance sigma
    /// (SPEC §1): (2/(pi gamma)) asin(g^2 sigma / (1 + g^2 s)).
    public func covariance(latentCovariance sigma: Double, latentVariance s: Double) -> Double {
        if gain == 0 { return sigma }
        if gain.isInfinite { return 2 / Double.pi * asin(max(-1, min(1, sigma / s))) }
        let g2 = gain * gain
        return 2 / (Double.pi * gamma) * asin(g2 * sigma / (1 + g2 * s))
    }
}
