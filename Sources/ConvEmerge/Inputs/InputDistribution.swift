import Foundation

/// One class of inputs with its exact second-order statistics and an
/// O(D log D) sampler. Family: x = psi(z), z ~ N(0, Sigma) (the NLGP's psi_g or a
/// copula marginal), or x = (radial factor) z for an elliptical family; Gaussian clone:
/// x ~ N(0, C) with C the family's exact covariance.
/// Derivations: derivations/nlgp-covariance.md, derivations/copula-inputs.md,
/// derivations/elliptical-inputs.md, derivations/circulant-sampler.md.
public final class InputDistribution: @unchecked Sendable {
    public let spec: InputSpec
    /// The pointwise map psi with its Hermite coefficients, moments and covariance map.
    public let marginal: any MarginalTransform
    /// psi_g when the family is the NLGP (nlgp, copula:erf, copula:sign), nil otherwise.
    public let gainFunction: GainFunction?
    /// Sigma, the covariance of the latent Gaussian field z.
    public let baseCovariance: CirculantOperator
    /// C, the covariance of the inputs x (identical for the NLGP and its clone).
    public let covariance: CirculantOperator
    /// The radial law that scales each draw of an elliptical family (nil otherwise, and for
    /// the Gaussian clone).
    public let radialLaw: RadialLaw?
    /// For a `data` class (and its clone): the data set. The data class's inputs are its rows.
    public let dataSet: LoadedDataSet?
    /// The covariance as a dense D x D matrix where it is not circulant (`--stationarity raw`
    /// data); nil where `covariance` is exact. `covariance` then holds its circulant projection.
    public let denseCovariance: [Double]?
    /// The clone of raw data samples with this lower Cholesky factor (and reports its jitter).
    public let cloneFactor: (factor: [Double], jitter: Double)?

    public init(_ spec: InputSpec) throws {
        dataSet = nil
        denseCovariance = nil
        cloneFactor = nil
        self.spec = spec
        let s = spec.kernel.variance
        let marginal = try spec.family.marginal(gain: spec.gain, latentVariance: s, dimension: spec.lattice.size)
        radialLaw = spec.isGaussianClone ? nil : spec.family.radialLaw
        self.marginal = marginal
        gainFunction = marginal.gainFunction
        let lattice = spec.lattice
        baseCovariance = CirculantOperator(lattice: lattice, firstRow: spec.kernel.firstRow(on: lattice))
        try baseCovariance.requirePositiveSemidefinite(flag: "--xi", what: "the \(spec.kernel.shape.rawValue) kernel with xi = \(spec.kernel.correlationLength), jitter = \(spec.kernel.jitter)")
        covariance = CirculantOperator(lattice: lattice,
                                       firstRow: try baseCovariance.firstRow.map { try marginal.covariance(latentCovariance: $0) })
        // A power series in Sigma with non-negative coefficients is PSD (Schur, Schoenberg),
        // so this only catches round-off trouble.
        try covariance.requirePositiveSemidefinite(flag: spec.family.isNLGP ? "--gain" : "--inputs",
                                                   what: spec.family.isNLGP ? "the input covariance at gain \(spec.gain)" : "the \(spec.family) input covariance")
    }

    /// A class of `--inputs data:` (`spec.dataSet` names `data`'s file): the rows themselves, or for
    /// the clone N(0, C) with C the empirical covariance, sampled by FFT when C is circulant and by
    /// its Cholesky factor otherwise (derivations/data-inputs.md, "Gradient flow on data").
    public init(_ spec: InputSpec, data: LoadedDataSet) throws {
        precondition(spec.dataSet?.checksum == data.reference.checksum, "InputDistribution: the data set is not the spec's")
        self.spec = spec
        dataSet = data
        radialLaw = nil
        let projection = data.circulantProjection
        covariance = CirculantOperator(lattice: spec.lattice, firstRow: projection)
        baseCovariance = covariance
        denseCovariance = data.isCirculant ? nil : data.covarianceMatrix
        cloneFactor = spec.isGaussianClone && denseCovariance != nil ? try data.choleskyFactor() : nil
        // No latent field: the identity marginal keeps every sampler from applying a psi.
        marginal = NLGPMarginal(psi: GainFunction(gain: 0), latentVariance: projection[0])
        gainFunction = nil
    }

    /// A line for the user when the clone of raw data needed a jitter to be sampled, nil otherwise.
    public var cloneJitterNote: String? {
        guard let cloneFactor, cloneFactor.jitter > 0, let dataSet else { return nil }
        return "the Gaussian clone of '\(dataSet.reference.path)' is sampled with \(cloneFactor.jitter) added to the diagonal of its covariance, which is only semidefinite (fewer rows than sites, or exact symmetries)"
    }

    /// Whether this class's inputs are a data set's rows (not its Gaussian clone).
    public var isDataRows: Bool { dataSet != nil && !spec.isGaussianClone }

    /// C w into `out`, dense or by FFT; `workspace` from `covariance.makeWorkspace()`.
    public func applyCovariance(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, workspace: UnsafeMutablePointer<Double>) {
        if let denseCovariance {
            DenseLinearAlgebra.symmetricMultiply(denseCovariance, n: size, w, into: out)
        } else {
            covariance.apply(w, out, workspace: workspace)
        }
    }

    /// w.C w.
    public func quadraticForm(_ w: [Double]) -> Double {
        guard let denseCovariance else { return covariance.quadraticForm(w) }
        var product = [Double](repeating: 0, count: size)
        w.withUnsafeBufferPointer { input in
            product.withUnsafeMutableBufferPointer { DenseLinearAlgebra.symmetricMultiply(denseCovariance, n: size, input.baseAddress!, into: $0.baseAddress!) }
        }
        return dot(w, product)
    }

    /// psi_g of the NLGP. Only for distributions whose `gainFunction` is set (the NLGP and its
    /// copula:erf/sign spellings); consumers that accept every family use `marginal`.
    public var psi: GainFunction {
        guard let gainFunction else { preconditionFailure("psi_g asked of \(spec.family) inputs, which are not NLGP") }
        return gainFunction
    }

    public var lattice: Lattice { spec.lattice }
    public var size: Int { spec.lattice.size }
    public var isGaussian: Bool { spec.isGaussianClone || (dataSet == nil && marginal.isIdentity) }

    /// The operator whose square root colours white noise: Sigma for the NLGP
    /// (then psi is applied), C for the clone.
    public var colouringOperator: CirculantOperator { spec.isGaussianClone ? covariance : baseCovariance }

    /// Per-thread scratch for `sample(into:rng:scratch:)`.
    public func makeScratch() -> SamplerScratch { SamplerScratch(size: size, spectrumCount: 2 * covariance.halfSpectrumCount) }

    /// One input, written into `x` (D doubles): z = F^-1(sqrt(eigenvalues) F(noise)),
    /// then x = psi(z) for the NLGP (derivations/circulant-sampler.md).
    @inline(__always)
    public func sample(into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256, scratch: SamplerScratch) {
        if let dataSet {
            if let cloneFactor {
                rng.fillGaussian(UnsafeMutableBufferPointer(start: x, count: size))
                cloneFactor.factor.withUnsafeBufferPointer { DenseLinearAlgebra.multiplyLowerTriangular($0.baseAddress!, n: size, x) }
                return
            }
            if !spec.isGaussianClone {
                return dataSet.draw(uniformIndex(dataSet.rowCount, rng: &rng), into: x, rng: &rng)
            }
        }
        let operatorForClass = colouringOperator
        rng.fillGaussian(UnsafeMutableBufferPointer(start: scratch.noise, count: size))
        let noiseNorm = noiseSquaredNorm(scratch.noise)
        operatorForClass.squareRootSpectrum.withUnsafeBufferPointer { root in
            operatorForClass.applySpectral(root.baseAddress!, scratch.noise, x, workspace: scratch.spectrum)
        }
        applyNonlinearity(x)
        applyRadialFactor(x, rng: &rng, noiseSquaredNorm: noiseNorm)
    }

    /// |g|^2 of the white noise g about to be coloured, when the radial law needs it (the
    /// shell); 0 otherwise, so that no sampler pays for it.
    @inline(__always)
    func noiseSquaredNorm(_ noise: UnsafePointer<Double>) -> Double {
        guard radialLaw?.needsNoiseNorm == true else { return 0 }
        var sum = 0.0
        for i in 0..<size { sum += noise[i] * noise[i] }
        return sum
    }

    /// The last step of every sampler of an elliptical family: x <- (radial factor) x, one
    /// factor for the whole input, drawn after the D normals (derivations/elliptical-inputs.md,
    /// "Sampling"). Nothing for other families and the clone.
    @inline(__always)
    func applyRadialFactor(_ x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256, noiseSquaredNorm: Double) {
        guard let radialLaw else { return }
        let factor = radialLaw.factor(rng: &rng, dimension: size, noiseSquaredNorm: noiseSquaredNorm)
        for i in 0..<size { x[i] *= factor }
    }

    /// Whether samples pass through psi after colouring (not for the clone, nor at g = 0).
    var appliesNonlinearity: Bool { !spec.isGaussianClone && !marginal.isIdentity }

    /// The last step of every sampler, FFT or dense: x = psi(z) for the family;
    /// nothing for the clone, whose coloured noise already has covariance C.
    @inline(__always)
    func applyNonlinearity(_ x: UnsafeMutablePointer<Double>) {
        guard appliesNonlinearity else { return }
        if let psi = gainFunction {
            for i in 0..<size { x[i] = psi(x[i]) }
        } else {
            marginal.apply(x, count: size)
        }
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
/// then psi, then the radial draw of an elliptical family), so the two differ only in the square root they use
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

    /// One input into `x` (D doubles), allocation-free: noise, x <- L x, psi, radial factor.
    @inline(__always)
    public func sample(into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256) {
        rng.fillGaussian(UnsafeMutableBufferPointer(start: x, count: size))
        let noiseNorm = distribution.noiseSquaredNorm(x)
        factor.withUnsafeBufferPointer { DenseLinearAlgebra.multiplyLowerTriangular($0.baseAddress!, n: size, x) }
        distribution.applyNonlinearity(x)
        distribution.applyRadialFactor(x, rng: &rng, noiseSquaredNorm: noiseNorm)
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
