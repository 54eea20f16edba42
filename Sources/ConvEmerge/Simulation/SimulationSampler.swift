import Foundation

/// How the simulation draws its inputs.
public enum SamplerMode: String, Codable, CaseIterable, Sendable {
    /// Ziggurat normals drawn directly in Fourier space (one c2r FFT per input on a
    /// ring; forward + backward on a torus) and, for the erf marginals, the tabulated erf:
    /// the same distribution as `exact` to ~2e-16 in psi (derivations/sgd-noise-scaling.md §5).
    /// Other copula marginals get the family's own psi, bit for bit `exact`'s.
    case fast
    /// `InputDistribution.sample`: Box-Muller, two FFTs, libm erf. The reference.
    case exact
    /// `DenseCholeskySampler`: O(D^2) per input, the baseline of the benchmarks
    /// (needs a positive definite covariance: --jitter for smooth kernels).
    case dense
}

/// One thread's sampler for one class: owns its buffers, so each seed replica
/// makes its own and nothing is shared but the read-only distribution.
public final class SimulationSampler {
    /// How the fast mode runs on a ring. `tuned` and `baseline` draw the same normals in the
    /// same order and scale them identically; they differ in buffers and loops only, so their
    /// inputs agree to FFT round-off (derivations/sgd-noise-scaling.md §5, "Layout").
    public enum Implementation: Sendable {
        /// Aligned buffers and FFTW's SIMD c2r, the scaling as one flat vector pass, |g|^2 only
        /// where the radial law needs it, and every per-draw decision taken once at init.
        case tuned
        /// The implementation before issue 11, kept as `bench`'s baseline.
        case baseline
    }

    public let distribution: InputDistribution
    public let mode: SamplerMode
    public let implementation: Implementation
    private let size: Int
    private let scratch: SamplerScratch
    /// fftw_malloc'd: 2 x complexCount doubles, interleaved (re, im).
    private let spectrum: UnsafeMutablePointer<Double>
    /// fftw_malloc'd: the latent field z, D doubles, before psi.
    private let field: UnsafeMutablePointer<Double>
    /// Per entry of `spectrum`, the factor of its normal: the real and imaginary scales of each
    /// half-spectrum bin, 0 for the imaginary part of a self-conjugate bin (ring only).
    private let spectralScale: [Double]
    /// The entries of `spectrum` that draw a normal, in the order they draw it: 0, then
    /// 2 ..< `drawnEnd` (the imaginary part of bin D/2 is left out for even D).
    private let drawnEnd: Int
    private let fft: RealFFT
    private let erfTable = FastErf.shared.coefficients
    /// The C erf pass's instruction set, fixed for the process (`KernelVariant.best`).
    private let erfVariant = KernelVariant.best
    private let zigguratTable = Ziggurat.table
    private let dense: DenseCholeskySampler?
    /// The rows of a data class, with replacement or in epochs (derivations/data-inputs.md).
    private let dataRows: DataRowSampler?
    /// Decided once: the fast mode's one-c2r ring route (no data rows, no clone factor).
    private let drawsOnRing: Bool
    /// psi_g's (argument, output) scales when psi goes through the table erf; nil otherwise.
    private let tabulatedPsi: (argument: Double, output: Double)?
    private let needsNoiseNorm: Bool

    /// `inEpochs`: a data class walks its rows in passes, each a fresh random order.
    public init(_ distribution: InputDistribution, mode: SamplerMode, inEpochs: Bool = false,
                implementation: Implementation = .tuned) throws {
        self.distribution = distribution
        self.mode = mode
        self.implementation = implementation
        precondition(distribution.dataSet == nil || mode != .dense, "SimulationParameters refuses --sampler dense on data")
        dataRows = distribution.isDataRows ? DataRowSampler(distribution.dataSet!, withoutReplacement: inEpochs) : nil
        dense = mode == .dense ? try DenseCholeskySampler(distribution) : nil
        size = distribution.size
        scratch = distribution.makeScratch()
        fft = RealFFT.plans(for: distribution.lattice)
        spectrum = RealFFT.allocateAligned(2 * fft.complexCount)
        field = RealFFT.allocateAligned(size)
        drawsOnRing = mode == .fast && distribution.lattice.dimension == 1 && dataRows == nil && distribution.cloneFactor == nil
        if distribution.appliesNonlinearity, let psi = distribution.gainFunction, !psi.isSign {
            tabulatedPsi = (psi.argumentScale, psi.outputScale)
        } else {
            tabulatedPsi = nil
        }
        needsNoiseNorm = distribution.radialLaw?.needsNoiseNorm == true
        // The DFT of white noise xi ~ N(0, I_D): Xi_0 (and Xi_{D/2}) real with variance D,
        // the other bins complex with independent parts of variance D/2. The c2r
        // transform returns D times the inverse DFT, hence z = c2r(sqrt(lambda) Xi / D)
        // (derivations/sgd-noise-scaling.md §5).
        let root = distribution.colouringOperator.squareRootSpectrum
        let d = Double(size)
        var spectralScale = [Double](repeating: 0, count: 2 * root.count)
        for k in 0..<root.count {
            let selfConjugate = k == 0 || (size % 2 == 0 && k == size / 2)
            spectralScale[2 * k] = root[k] * (selfConjugate ? 1 / d.squareRoot() : 1 / (2 * d).squareRoot())
            spectralScale[2 * k + 1] = selfConjugate ? 0 : spectralScale[2 * k]
        }
        self.spectralScale = spectralScale
        drawnEnd = 2 * root.count - (size % 2 == 0 ? 1 : 0)
    }

    deinit {
        RealFFT.deallocateAligned(spectrum)
        RealFFT.deallocateAligned(field)
    }

    /// One input into `x` (D doubles), allocation-free.
    @inline(__always)
    public func sample(into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256) {
        if drawsOnRing {
            if implementation == .baseline { return sampleBaseline(into: x, rng: &rng) }
            let noiseNorm = drawSpectralNoise(rng: &rng)
            fft.backwardAligned(spectrum, field)
            applyFastNonlinearity(field, into: x)
            distribution.applyRadialFactor(x, rng: &rng, noiseSquaredNorm: noiseNorm)
            return
        }
        if let dataRows { return dataRows.sample(into: x, rng: &rng) }
        // The clone of raw data: N(0, C) by the Cholesky factor of the dense C.
        if distribution.cloneFactor != nil { return distribution.sample(into: x, rng: &rng, scratch: scratch) }
        switch mode {
        case .exact:
            distribution.sample(into: x, rng: &rng, scratch: scratch)
        case .dense:
            dense!.sample(into: x, rng: &rng)
        case .fast:
            // The torus: ziggurat noise, coloured forward and back.
            rng.fillZigguratGaussianNative(field, count: size)
            let noiseNorm = distribution.noiseSquaredNorm(field)
            let colouring = distribution.colouringOperator
            colouring.squareRootSpectrum.withUnsafeBufferPointer { root in
                colouring.applySpectral(root.baseAddress!, field, x, workspace: spectrum)
            }
            applyFastNonlinearity(x)
            distribution.applyRadialFactor(x, rng: &rng, noiseSquaredNorm: noiseNorm)
        }
    }

    /// The half spectrum sqrt(lambda) Xi / D into `spectrum` from D ziggurat normals, drawn in the
    /// order (re_0, re_1, im_1, re_2, ...). Returns |g|^2 of the white noise g those normals
    /// represent when the radial law needs it (by Parseval the sum of their squares,
    /// derivations/elliptical-inputs.md, "Sampling"), else 0.
    @inline(__always)
    private func drawSpectralNoise(rng: inout Xoshiro256) -> Double {
        rng.fillZigguratGaussianNative(spectrum, count: 1)
        rng.fillZigguratGaussianNative(spectrum + 2, count: drawnEnd - 2)
        let count = 2 * fft.complexCount
        // The entries that draw no normal: the imaginary parts of the self-conjugate bins.
        spectrum[1] = 0
        if drawnEnd < count { spectrum[drawnEnd] = 0 }
        // The skipped entries are 0, so the sum over all is the sum over the D normals.
        let squaredNorm = needsNoiseNorm ? dot(spectrum, spectrum, count) : 0
        spectralScale.withUnsafeBufferPointer { scale in
            for j in 0..<count { spectrum[j] *= scale[j] }
        }
        return squaredNorm
    }

    /// The implementation before issue 11 (`Implementation.baseline`): per-bin loop with |g|^2
    /// always summed, FFTW's unaligned c2r straight into x, psi in place one point at a time on
    /// the previous erf table, the generator's state in memory (captured by the loop's closure).
    private func sampleBaseline(into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256) {
        let count = fft.complexCount
        var squaredNorm = 0.0
        zigguratTable.withUnsafeBufferPointer { tablePointer in
            let table = tablePointer.baseAddress!
            spectralScale.withUnsafeBufferPointer { scale in
                for k in 0..<count {
                    let real = rng.nextZigguratGaussian(table: table)
                    spectrum[2 * k] = scale[2 * k] * real
                    squaredNorm += real * real
                    if scale[2 * k + 1] == 0 {
                        spectrum[2 * k + 1] = 0
                    } else {
                        let imaginary = rng.nextZigguratGaussian(table: table)
                        spectrum[2 * k + 1] = scale[2 * k + 1] * imaginary
                        squaredNorm += imaginary * imaginary
                    }
                }
            }
        }
        fft.backward(spectrum, x)
        if let tabulatedPsi {
            // One point at a time on the h = 1/16, degree-9 table, as before issue 11.
            FastErf.previous.coefficients.withUnsafeBufferPointer { table in
                for i in 0..<size {
                    x[i] = tabulatedPsi.output * FastErf.evaluatePrevious(tabulatedPsi.argument * x[i], table: table.baseAddress!)
                }
            }
        } else {
            distribution.applyNonlinearity(x)
        }
        distribution.applyRadialFactor(x, rng: &rng, noiseSquaredNorm: squaredNorm)
    }

    /// x = psi(x) as the fast sampler applies it to D sites: the table erf for the NLGP (within
    /// 1.2e-16 / sqrt(gamma) of the exact psi, every ISA variant), the exact psi otherwise. Public so that tests
    /// hold it to that bound.
    @inline(__always)
    public func applyFastNonlinearity(_ x: UnsafeMutablePointer<Double>) { applyFastNonlinearity(x, into: x) }

    /// x = psi(z) for D sites (x may be z), as `applyFastNonlinearity(_:)`.
    @inline(__always)
    public func applyFastNonlinearity(_ z: UnsafePointer<Double>, into x: UnsafeMutablePointer<Double>) {
        // Sign inputs need no table, and a copula quantile has no tabulated form whose error
        // is proven here: both are evaluated exactly, so their error bound is 0.
        guard let tabulatedPsi else {
            if UnsafePointer(x) != z { x.update(from: z, count: size) }
            distribution.applyNonlinearity(x)
            return
        }
        // psi_g(z) = erf(g z / sqrt 2) / sqrt(gamma) (derivations/nlgp-covariance.md), with
        // GainFunction's own scales and the table erf, by the C pass for this CPU's widest ISA.
        erfTable.withUnsafeBufferPointer { table in
            FastErf.evaluateUnchecked(z, into: x, count: size, argumentScale: tabulatedPsi.argument,
                                      outputScale: tabulatedPsi.output, table: table.baseAddress!, variant: erfVariant)
        }
    }
}
