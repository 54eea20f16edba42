import Foundation

/// A symmetric translation-invariant (circulant, block-circulant on the torus)
/// operator on a lattice, stored by its first row and diagonalised by FFTW.
/// Derivation: derivations/circulant-diagonalisation.md.
public final class CirculantOperator: @unchecked Sendable {
    public let lattice: Lattice
    /// Row 0 of the matrix, lattice order (row-major on the torus).
    public let firstRow: [Double]
    /// Eigenvalues on the half spectrum used by the r2c transform (real, since
    /// the first row is symmetric under i -> -i).
    public let halfSpectrum: [Double]
    /// w.C w.
    public func quadraticForm(_ w: [Double]) -> Double { dot(w, apply(w)) }

    /// Half spectrum of C^(1/2); eigenvalues below zero (round-off, rejected
    /// beyond it by `requirePositiveSemidefinite`) are treated as zero. Computed
    /// eagerly: samplers read it from several threads at once, and a lazy
    /// property would race on first use.
    public let squareRootSpectrum: [Double]
    private let fft: RealFFT

    public init(lattice: Lattice, firstRow: [Double]) {
        precondition(firstRow.count == lattice.size, "first row must have D entries")
        // Only a row even under i -> -i has a real spectrum; the imaginary parts
        // are dropped below, so an odd component would be lost without a trace.
        precondition((0..<lattice.size).allSatisfy { i in
            abs(firstRow[i] - firstRow[lattice.negate(i)]) <= 1e-12 * max(1, abs(firstRow[i]))
        }, "first row must be symmetric under i -> -i")
        self.lattice = lattice
        self.firstRow = firstRow
        let plans = RealFFT.plans(for: lattice)
        var spectrum = [Double](repeating: 0, count: 2 * plans.complexCount)
        firstRow.withUnsafeBufferPointer { row in
            spectrum.withUnsafeMutableBufferPointer { plans.forward(row.baseAddress!, $0.baseAddress!) }
        }
        fft = plans
        halfSpectrum = (0..<plans.complexCount).map { spectrum[2 * $0] }
        squareRootSpectrum = halfSpectrum.map { max($0, 0).squareRoot() }
    }

    public var size: Int { lattice.size }
    /// Complex length of the half spectrum.
    public var halfSpectrumCount: Int { fft.complexCount }

    /// All D eigenvalues in FFT order (for the torus: row-major over (k_row, k_col)),
    /// filled in from the half spectrum by lambda(-k) = lambda(k)
    /// (derivations/circulant-diagonalisation.md).
    public var eigenvalues: [Double] {
        let L = lattice.length
        if lattice.dimension == 1 {
            return (0..<L).map { k in halfSpectrum[k <= L / 2 ? k : L - k] }
        }
        let half = L / 2 + 1
        return (0..<(L * L)).map { index in
            let (kr, kc) = (index / L, index % L)
            return kc < half ? halfSpectrum[kr * half + kc] : halfSpectrum[((L - kr) % L) * half + (L - kc)]
        }
    }

    public var minimumEigenvalue: Double { halfSpectrum.min()! }
    public var maximumEigenvalue: Double { halfSpectrum.max()! }

    /// Scratch space for allocation-free application in hot loops; one per thread.
    public func makeWorkspace() -> [Double] { [Double](repeating: 0, count: 2 * fft.complexCount) }

    /// output = f(Spectrum) * input, computed as IFFT(multiplier * FFT(input)):
    /// the DFT diagonalises every circulant (derivations/circulant-diagonalisation.md).
    /// `multiplier` is a half spectrum; `workspace` has 2 * halfSpectrumCount doubles.
    /// `input` and `output` may alias.
    @inline(__always)
    public func applySpectral(_ multiplier: UnsafePointer<Double>, _ input: UnsafePointer<Double>,
                              _ output: UnsafeMutablePointer<Double>, workspace: UnsafeMutablePointer<Double>) {
        fft.forward(input, workspace)
        let scale = 1 / Double(size)
        for k in 0..<fft.complexCount {
            let m = multiplier[k] * scale
            workspace[2 * k] *= m
            workspace[2 * k + 1] *= m
        }
        fft.backward(workspace, output)
    }

    /// C w, allocation-free.
    @inline(__always)
    public func apply(_ input: UnsafePointer<Double>, _ output: UnsafeMutablePointer<Double>,
                      workspace: UnsafeMutablePointer<Double>) {
        halfSpectrum.withUnsafeBufferPointer { applySpectral($0.baseAddress!, input, output, workspace: workspace) }
    }

    /// C w.
    public func apply(_ w: [Double]) -> [Double] {
        precondition(w.count == size)
        var out = [Double](repeating: 0, count: size)
        var workspace = makeWorkspace()
        w.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                workspace.withUnsafeMutableBufferPointer { apply(input.baseAddress!, output.baseAddress!, workspace: $0.baseAddress!) }
            }
        }
        return out
    }

    /// C^(1/2) noise: maps white noise to a field with covariance C
    /// (derivations/circulant-sampler.md).
    public func applySquareRoot(_ noise: [Double]) -> [Double] {
        precondition(noise.count == size)
        var out = [Double](repeating: 0, count: size)
        var workspace = makeWorkspace()
        let root = squareRootSpectrum
        root.withUnsafeBufferPointer { m in
            noise.withUnsafeBufferPointer { input in
                out.withUnsafeMutableBufferPointer { output in
                    workspace.withUnsafeMutableBufferPointer {
                        applySpectral(m.baseAddress!, input.baseAddress!, output.baseAddress!, workspace: $0.baseAddress!)
                    }
                }
            }
        }
        return out
    }

    /// The operator whose first row is this one's raised elementwise to `power`
    /// (used by the Hermite diagrams, whose edges carry powers of the correlation).
    public func elementwisePower(_ power: Double) -> CirculantOperator {
        CirculantOperator(lattice: lattice, firstRow: firstRow.map { pow($0, power) })
    }

    /// Matrix element C_ij.
    public func element(_ i: Int, _ j: Int) -> Double {
        firstRow[lattice.translate(i, by: lattice.negate(j))]
    }

    /// Dense D x D matrix, row-major (for tests and dense baselines only).
    public func denseMatrix() -> [Double] {
        var m = [Double](repeating: 0, count: size * size)
        for i in 0..<size { for j in 0..<size { m[i * size + j] = element(i, j) } }
        return m
    }

    /// Rejects a spectrum that is negative beyond round-off, naming the most
    /// negative eigenvalue (SPEC §1: an error for the user, never a silent clip).
    public func requirePositiveSemidefinite(flag: String, what: String) throws {
        let tolerance = 1e-10 * max(1, maximumEigenvalue)
        let lowest = minimumEigenvalue
        try require(lowest >= -tolerance, flag: flag,
                    "\(what) is not positive semidefinite on this lattice: most negative eigenvalue \(lowest); increase --jitter above \(-lowest) or change --xi/--L")
    }
}
