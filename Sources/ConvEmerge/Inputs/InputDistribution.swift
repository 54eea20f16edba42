import Foundation

/// One class of inputs with its exact second-order statistics and an
/// O(D log D) sampler. NLGP: x = psi_g(z), z ~ N(0, Sigma); Gaussian clone:
/// x ~ N(0, C) with C the NLGP's exact covariance.
/// Derivations: derivations/nlgp-covariance.md, derivations/circulant-sampler.md.
public final class InputDistribution: @unchecked Sendable {
    public let spec: InputSpec
    public let psi: GainFunction
    /// Sigma, the covariance of the latent Gaussian field z.
    public let baseCovariance: CirculantOperator
    /// C, the covariance of the inputs x (identical for the NLGP and its clone).
    public let covariance: CirculantOperator

    public init(_ spec: InputSpec) throws {
        self.spec = spec
        psi = GainFunction(gain: spec.gain)
        let lattice = spec.lattice
        baseCovariance = CirculantOperator(lattice: lattice, firstRow: spec.kernel.firstRow(on: lattice))
        try baseCovariance.requirePositiveSemidefinite(flag: "--xi", what: "the \(spec.kernel.shape.rawValue) kernel with xi = \(spec.kernel.correlationLength), jitter = \(spec.kernel.jitter)")
        let s = spec.kernel.variance
        let psi = self.psi
        covariance = CirculantOperator(lattice: lattice,
                                       firstRow: baseCovariance.firstRow.map { psi.covariance(latentCovariance: $0, latentVariance: s) })
        // asin of a PSD kernel is PSD (Schoenberg), so this only catches round-off trouble.
        try covariance.requirePositiveSemidefinite(flag: "--gain", what: "the input covariance at gain \(spec.gain)")
    }

    public var lattice: Lattice { spec.lattice }
    public var size: Int { spec.lattice.size }
    public var isGaussian: Bool { spec.isGaussianClone || psi.isIdentity }

    /// The operator whose square root colours white noise: Sigma for the NLGP
    /// (then psi is applied), C for the clone.
    public var colouringOperator: CirculantOperator { spec.isGaussianClone ? covariance : baseCovariance }

    /// Per-thread scratch for `sample(into:rng:scratch:)`.
    public func makeScratch() -> SamplerScratch { SamplerScratch(size: size, spectrumCount: 2 * covariance.halfSpectrumCount) }

    /// One input, written into `x` (D doubles): z = F^-1(sqrt(eigenvalues) F(noise)),
    /// then x = psi(z) for the NLGP (derivations/circulant-sampler.md).
    @inline(__always)
    public func sample(into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256, scratch: SamplerScratch) {
        let operatorForClass = colouringOperator
        rng.fillGaussian(UnsafeMutableBufferPointer(start: scratch.noise, count: size))
        operatorForClass.squareRootSpectrum.withUnsafeBufferPointer { root in
            operatorForClass.applySpectral(root.baseAddress!, scratch.noise, x, workspace: scratch.spectrum)
        }
        applyNonlinearity(x)
    }

    /// Whether samples pass through psi after colouring (not for the clone, nor at g = 0).
    var appliesNonlinearity: Bool { !spec.isGaussianClone && !psi.isIdentity }

    /// The last step of every sampler, FFT or dense: x = psi(z) for the NLGP;
    /// nothing for the clone, whose coloured noise already has covariance C.
    @inline(__always)
    func applyNonlinearity(_ x: UnsafeMutablePointer<Double>) {
        guard appliesNonlinearity else { return }
        let psi = self.psi
        for i in 0..<size { x[i] = psi(x[i]) }
    }

    /// n inputs as an (n x D) row-major array.
    public func sample(count n: Int, rng: inout Xoshiro256) -> [Double] {
        var out = [Double](repeating: 0, count: n * size)
        let scratch = makeScratch()
        out.withUnsafeMutableBufferPointer { buffer in
            for row in 0..<n { sample(into: buffer.baseAddress! + row * size, rng: &rng, scratch: scratch) }
        }
        return out
    }
}

/// Buffers reused across draws so the sampler does not allocate.
public final class SamplerScratch {
    let noise: UnsafeMutablePointer<Double>
    let spectrum: UnsafeMutablePointer<Double>
    init(size: Int, spectrumCount: Int) {
        noise = .allocate(capacity: size)
        spectrum = .allocate(capacity: spectrumCount)
    }
    deinit {
        noise.deallocate()
        spectrum.deallocate()
    }
}

/// The O(D^2)-per-draw baseline of the FFT sampler, for benchmarks: it colours
/// white noise with the lower Cholesky factor of the same operator
/// (`colouringOperator`: Sigma for the NLGP, C for the clone) and consumes the
/// random stream exactly like `InputDistribution.sample` (D normals, colour,
/// then psi), so the two differ only in the square root they use
/// (derivations/circulant-sampler.md).
public struct DenseCholeskySampler: @unchecked Sendable {
    public let distribution: InputDistribution
    /// L with L L^T = colouring operator, row-major, zeros above the diagonal.
    public let factor: [Double]

    /// Factors the colouring operator (O(D^3), once). Throws `invalidInput` for
    /// `--jitter` when it is only semidefinite in floating point (a smooth kernel
    /// with a long correlation length has eigenvalues at round-off level); the
    /// FFT sampler needs no such jitter.
    public init(_ distribution: InputDistribution) throws {
        self.distribution = distribution
        let colouring = distribution.colouringOperator
        do {
            factor = try DenseLinearAlgebra.cholesky(colouring.denseMatrix(), n: distribution.size)
        } catch ConvEmergeError.gsl {
            throw ConvEmergeError.invalidInput(
                flag: "--jitter",
                message: "the dense Cholesky baseline needs a positive definite covariance, but its smallest eigenvalue is \(colouring.minimumEigenvalue); use --jitter >= \(1e-10 * colouring.maximumEigenvalue - min(0, colouring.minimumEigenvalue))")
        }
    }

    public var size: Int { distribution.size }

    /// One input into `x` (D doubles), allocation-free: noise, x <- L x, psi.
    @inline(__always)
    public func sample(into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256) {
        rng.fillGaussian(UnsafeMutableBufferPointer(start: x, count: size))
        factor.withUnsafeBufferPointer { DenseLinearAlgebra.multiplyLowerTriangular($0.baseAddress!, n: size, x) }
        distribution.applyNonlinearity(x)
    }

    /// n inputs as an (n x D) row-major array.
    public func sample(count n: Int, rng: inout Xoshiro256) -> [Double] {
        var out = [Double](repeating: 0, count: n * size)
        out.withUnsafeMutableBufferPointer { buffer in
            for row in 0..<n { sample(into: buffer.baseAddress! + row * size, rng: &rng) }
        }
        return out
    }
}
