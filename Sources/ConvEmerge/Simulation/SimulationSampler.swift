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
    public let distribution: InputDistribution
    public let mode: SamplerMode
    private let size: Int
    private let scratch: SamplerScratch
    private let spectrum: UnsafeMutablePointer<Double>
    private let noise: UnsafeMutablePointer<Double>
    /// Per half-spectrum bin, the scale of the real and imaginary draws (ring only).
    private let realScale: [Double]
    private let imaginaryScale: [Double]
    private let fft: RealFFT
    private let erfTable = FastErf.shared.coefficients
    private let zigguratTable = Ziggurat.table
    private let dense: DenseCholeskySampler?
    /// The rows of a data class, with replacement or in epochs (derivations/data-inputs.md).
    private let dataRows: DataRowSampler?

    /// `inEpochs`: a data class walks its rows in passes, each a fresh random order.
    public init(_ distribution: InputDistribution, mode: SamplerMode, inEpochs: Bool = false) throws {
        self.distribution = distribution
        self.mode = mode
        precondition(distribution.dataSet == nil || mode != .dense, "SimulationParameters refuses --sampler dense on data")
        dataRows = distribution.isDataRows ? DataRowSampler(distribution.dataSet!, withoutReplacement: inEpochs) : nil
        dense = mode == .dense ? try DenseCholeskySampler(distribution) : nil
        size = distribution.size
        scratch = distribution.makeScratch()
        fft = RealFFT.plans(for: distribution.lattice)
        spectrum = .allocate(capacity: 2 * fft.complexCount)
        noise = .allocate(capacity: size)
        // The DFT of white noise xi ~ N(0, I_D): Xi_0 (and Xi_{D/2}) real with variance D,
        // the other bins complex with independent parts of variance D/2. The c2r
        // transform returns D times the inverse DFT, hence z = c2r(sqrt(lambda) Xi / D)
        // (derivations/sgd-noise-scaling.md §5).
        let root = distribution.colouringOperator.squareRootSpectrum
        let d = Double(size)
        var realScale = [Double](repeating: 0, count: root.count)
        var imaginaryScale = realScale
        for k in 0..<root.count {
            let selfConjugate = k == 0 || (size % 2 == 0 && k == size / 2)
            realScale[k] = root[k] * (selfConjugate ? 1 / d.squareRoot() : 1 / (2 * d).squareRoot())
            imaginaryScale[k] = selfConjugate ? 0 : realScale[k]
        }
        self.realScale = realScale
        self.imaginaryScale = imaginaryScale
    }

    deinit {
        spectrum.deallocate()
        noise.deallocate()
    }

    /// One input into `x` (D doubles), allocation-free.
    @inline(__always)
    public func sample(into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256) {
        if let dataRows { return dataRows.sample(into: x, rng: &rng) }
        // The clone of raw data: N(0, C) by the Cholesky factor of the dense C.
        if distribution.cloneFactor != nil { return distribution.sample(into: x, rng: &rng, scratch: scratch) }
        switch mode {
        case .exact:
            distribution.sample(into: x, rng: &rng, scratch: scratch)
        case .dense:
            dense!.sample(into: x, rng: &rng)
        case .fast:
            var noiseNorm = 0.0
            if distribution.lattice.dimension == 1 {
                noiseNorm = drawSpectralNoise(into: x, rng: &rng)
            } else {
                rng.fillZigguratGaussian(noise, count: size)
                noiseNorm = distribution.noiseSquaredNorm(noise)
                let colouring = distribution.colouringOperator
                colouring.squareRootSpectrum.withUnsafeBufferPointer { root in
                    colouring.applySpectral(root.baseAddress!, noise, x, workspace: spectrum)
                }
            }
            applyFastNonlinearity(x)
            distribution.applyRadialFactor(x, rng: &rng, noiseSquaredNorm: noiseNorm)
        }
    }

    /// z with covariance equal to the colouring operator, from D normals drawn in Fourier space.
    /// Returns |g|^2 of the white noise g those normals represent: by Parseval the sum of their
    /// squares (derivations/elliptical-inputs.md, "Sampling"), which the shell's radius needs.
    @inline(__always)
    private func drawSpectralNoise(into x: UnsafeMutablePointer<Double>, rng: inout Xoshiro256) -> Double {
        let count = fft.complexCount
        var squaredNorm = 0.0
        zigguratTable.withUnsafeBufferPointer { tablePointer in
            let table = tablePointer.baseAddress!
            realScale.withUnsafeBufferPointer { re in
                imaginaryScale.withUnsafeBufferPointer { im in
                    for k in 0..<count {
                        let real = rng.nextZigguratGaussian(table: table)
                        spectrum[2 * k] = re[k] * real
                        squaredNorm += real * real
                        if im[k] == 0 {
                            spectrum[2 * k + 1] = 0
                        } else {
                            let imaginary = rng.nextZigguratGaussian(table: table)
                            spectrum[2 * k + 1] = im[k] * imaginary
                            squaredNorm += imaginary * imaginary
                        }
                    }
                }
            }
        }
        fft.backward(spectrum, x)
        return squaredNorm
    }

    /// x = psi(x) as the fast sampler applies it to D sites: the table erf for the NLGP (within
    /// 1.1e-16 / sqrt(gamma) of the exact psi), the exact psi otherwise. Public so that tests
    /// hold it to that bound.
    @inline(__always)
    public func applyFastNonlinearity(_ x: UnsafeMutablePointer<Double>) {
        guard distribution.appliesNonlinearity else { return }
        // Sign inputs need no table, and a copula quantile has no tabulated form whose error
        // is proven here: both are evaluated exactly, so their error bound is 0.
        guard let psi = distribution.gainFunction, !psi.isSign else {
            distribution.applyNonlinearity(x)
            return
        }
        // psi_g(z) = erf(g z / sqrt 2) / sqrt(gamma) (derivations/nlgp-covariance.md), with
        // GainFunction's own scales and the table erf.
        let argumentScale = psi.argumentScale, outputScale = psi.outputScale
        erfTable.withUnsafeBufferPointer { table in
            for i in 0..<size { x[i] = outputScale * FastErf.evaluate(argumentScale * x[i], table: table.baseAddress!) }
        }
    }
}
