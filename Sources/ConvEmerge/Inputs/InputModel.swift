import Foundation

/// Everything that defines one class of inputs (SPEC §1): the lattice, the base
/// kernel of the latent field z, the input family (the pointwise map psi), the gain g
/// of the NLGP's nonlinearity, and whether the class is the family itself or its
/// Gaussian clone (same covariance).
public struct InputSpec: Codable, Hashable, Sendable {
    public var lattice: Lattice
    public var kernel: Kernel
    /// g >= 0 of the `nlgp` family; `.infinity` gives sign inputs, 0 the base Gaussian field.
    /// Copula families carry their own parameters and do not read it.
    public var gain: Double
    public var isGaussianClone: Bool
    public var family: InputFamily
    /// The file of a `data` class (for its Gaussian clone too: the clone has its covariance).
    public var dataSet: DataSetReference?

    public init(lattice: Lattice, kernel: Kernel, gain: Double, isGaussianClone: Bool = false, family: InputFamily = .nlgp,
                dataSet: DataSetReference? = nil) throws {
        try require(!gain.isNaN && gain >= 0, flag: "--gain", "must be >= 0 (or inf for sign inputs), got \(gain)")
        try kernel.validate(on: lattice)
        self.lattice = lattice
        self.kernel = kernel
        self.gain = gain
        self.isGaussianClone = isGaussianClone
        self.family = family
        self.dataSet = dataSet
    }

    private enum CodingKeys: String, CodingKey { case lattice, kernel, gain, isGaussianClone, family, dataSet }

    /// Decoding validates like the memberwise initialiser (gain range, L >= 2 xi). Manifests
    /// written before input families existed have no `family`: they are NLGP.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(lattice: container.decode(Lattice.self, forKey: .lattice),
                      kernel: container.decode(Kernel.self, forKey: .kernel),
                      gain: container.decode(Double.self, forKey: .gain),
                      isGaussianClone: container.decode(Bool.self, forKey: .isGaussianClone),
                      family: container.decodeIfPresent(InputFamily.self, forKey: .family) ?? .nlgp,
                      dataSet: container.decodeIfPresent(DataSetReference.self, forKey: .dataSet))
    }

    /// `family` is written only when it is not the NLGP, so NLGP manifests are unchanged.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(lattice, forKey: .lattice)
        try container.encode(kernel, forKey: .kernel)
        try container.encode(gain, forKey: .gain)
        try container.encode(isGaussianClone, forKey: .isGaussianClone)
        if !family.isNLGP { try container.encode(family, forKey: .family) }
        try container.encodeIfPresent(dataSet, forKey: .dataSet)
    }

    /// The same spec with another correlation length (the two classes of the `xi` task).
    public func with(correlationLength xi: Double) throws -> InputSpec {
        try InputSpec(lattice: lattice,
                      kernel: Kernel(shape: kernel.shape, correlationLength: xi, jitter: kernel.jitter),
                      gain: gain, isGaussianClone: isGaussianClone, family: family, dataSet: dataSet)
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
        // Below g ~ 1e-154, g^2 underflows and gamma would be 0: psi_g equals the
        // identity to within a relative g^2 there, so take the limit exactly.
        if gain * gain < 1e-300 {
            gamma = 0
            argumentScale = 0
            outputScale = 1
        } else if gain.isInfinite {
            gamma = 1
            argumentScale = .infinity
            outputScale = 1
        } else {
            // g^2/(1+g^2) written so that it does not overflow to inf/inf for huge g
            // (derivations/nlgp-covariance.md).
            gamma = 2 / Double.pi * asin(1 / (1 + 1 / (gain * gain)))
            argumentScale = gain / 2.0.squareRoot()
            outputScale = 1 / gamma.squareRoot()
        }
    }

    public var isIdentity: Bool { argumentScale == 0 }
    public var isSign: Bool { gain.isInfinite }

    /// kappa = g^2 s / (1 + g^2 s), the correlation of one site's sign variable with its
    /// latent field (derivations/nlgp-covariance.md); written so that huge g does not give
    /// inf/inf. 0 for the identity, 1 at g = inf.
    public func kappa(latentVariance s: Double) -> Double {
        isIdentity ? 0 : (isSign ? 1 : 1 / (1 + 1 / (gain * gain * s)))
    }

    /// 1 - kappa = 1 / (1 + g^2 s), computed directly: its relative precision matters where
    /// kappa is close to 1 (the Plackett path's endpoint, derivations/fourth-cumulant.md).
    public func kappaComplement(latentVariance s: Double) -> Double {
        isIdentity ? 1 : (isSign ? 0 : 1 / (1 + gain * gain * s))
    }

    /// psi_g(z); the identity at g = 0 (the limit), sign(z) at g = inf.
    @inlinable @inline(__always)
    public func callAsFunction(_ z: Double) -> Double {
        if argumentScale == 0 { return z }
        if argumentScale.isInfinite { return z > 0 ? 1 : (z < 0 ? -1 : 0) }
        return erf(argumentScale * z) * outputScale
    }

    /// E[psi(z_i) psi(z_j)] for latent variances s and covariance sigma (the
    /// arcsine law, derivations/nlgp-covariance.md):
    /// (2/(pi gamma)) asin(g^2 sigma / (1 + g^2 s)); (2/pi) asin(sigma/s) at g = inf.
    public func covariance(latentCovariance sigma: Double, latentVariance s: Double) -> Double {
        if isIdentity { return sigma }
        if isSign { return 2 / Double.pi * asin(max(-1, min(1, sigma / s))) }
        return 2 / (Double.pi * gamma) * asin(sigma / (1 / (gain * gain) + s))
    }
}
