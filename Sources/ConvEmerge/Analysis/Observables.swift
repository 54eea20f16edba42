import Foundation

/// Order parameters of a receptive field w on its lattice (SPEC §4).
/// Definitions and conventions: derivations/observables.md.
public enum Observables {
    // MARK: - Localisation

    /// IPR(w) = sum w_i^4 / (sum w_i^2)^2: 1/D for a uniform w, 1 for one site.
    /// NaN for w = 0. (The paper's code calls 1/IPR "IPR"; see `participationRatio`.)
    /// derivations/observables.md eq. (1).
    public static func inverseParticipationRatio(_ w: [Double]) -> Double {
        // Dividing by max|w| first keeps w^4 from overflowing or underflowing; IPR is scale-free.
        let scale = w.reduce(0) { max($0, abs($1)) }
        var second = 0.0, fourth = 0.0
        for x in w {
            let y = x / scale, y2 = y * y
            second += y2
            fourth += y2 * y2
        }
        return fourth / (second * second)
    }

    /// PR(w) = 1 / IPR(w) = (sum w^2)^2 / sum w^4: the effective number of occupied
    /// sites, 1 ... D. This is what the published code calls "IPR".
    public static func participationRatio(_ w: [Double]) -> Double {
        1 / inverseParticipationRatio(w)
    }

    /// Circular mean of the weight distribution p_i = w_i^2 / sum w^2 along each lattice
    /// axis, in sites in [0, L): one value for a ring, (row, column) for a torus.
    /// NaN on an axis along which the resultant vanishes (no preferred position).
    public static func center(_ w: [Double], lattice: Lattice) -> [Double] {
        let length = Double(lattice.length)
        return meanResultants(w, lattice: lattice).map { resultant in
            guard resultant.magnitude > 0 else { return .nan }
            // derivations/observables.md eq. (3)
            let angle = atan2(resultant.sine, resultant.cosine)
            var site = angle / (2 * Double.pi) * length
            if site < 0 { site += length }
            // -tiny + L rounds to L itself.
            return site >= length ? site - length : site
        }
    }

    /// Circular spread of w^2 around its centre, in sites: per axis
    /// s_a = sqrt(-2 ln R_a) L / (2 pi) (R_a the mean resultant length; exactly the
    /// standard deviation of a wrapped Gaussian), combined as the root mean square
    /// over axes, so an isotropic Gaussian bump of standard deviation s (in w^2) gives s.
    /// 0 for one site; grows without bound (+inf at R = 0) as w extends: values
    /// beyond ~L/4 mean "not localised" (derivations/observables.md eq. (4)).
    public static func width(_ w: [Double], lattice: Lattice) -> Double {
        let resultants = meanResultants(w, lattice: lattice)
        let length = Double(lattice.length)
        var sumOfSquares = 0.0
        for resultant in resultants {
            let r = min(resultant.magnitude, 1)
            let spread = (-2 * log(r)).squareRoot() * length / (2 * Double.pi)
            sumOfSquares += spread * spread
        }
        return (sumOfSquares / Double(resultants.count)).squareRoot()
    }

    /// Per axis, sum_i p_i (cos, sin)(2 pi x_a(i) / L) with p_i = w_i^2 / sum w^2,
    /// in the order of `Lattice.coordinates`: (column) on a ring, (row, column) on a torus.
    private static func meanResultants(_ w: [Double], lattice: Lattice)
        -> [(cosine: Double, sine: Double, magnitude: Double)] {
        precondition(w.count == lattice.size, "Observables: w has \(w.count) entries, lattice \(lattice.size)")
        let length = lattice.length
        // Marginal weight of each coordinate value along each axis.
        var rows = [Double](repeating: 0, count: length), columns = rows
        for i in 0..<w.count {
            let (row, column) = lattice.coordinates(of: i)
            rows[row] += w[i] * w[i]
            columns[column] += w[i] * w[i]
        }
        let marginals = lattice.dimension == 1 ? [columns] : [rows, columns]
        return marginals.map { marginal in
            var c = 0.0, s = 0.0
            for x in 0..<length {
                let phase = 2 * Double.pi * Double(x) / Double(length)
                c += marginal[x] * cos(phase)
                s += marginal[x] * sin(phase)
            }
            let total = marginal.reduce(0, +)
            c /= total
            s /= total
            return (c, s, (c * c + s * s).squareRoot())
        }
    }

    // MARK: - Spectrum

    /// Power of w in each bin of the real-FFT half spectrum (FFT order: k = 0 ... L/2 on a
    /// ring; row-major (k_row, k_col), k_col = 0 ... L/2 on a torus), with the
    /// mirror-image bin folded in so that the entries sum to sum w_i^2 (Parseval):
    /// P_k = m_k |sum_i w_i e^{-2 pi i k.x_i / L}|^2 / D, m_k = 1 if k_col is 0 or L/2, else 2
    /// (derivations/observables.md eq. (5)).
    public static func powerSpectrum(_ w: [Double], lattice: Lattice) -> [Double] {
        precondition(w.count == lattice.size, "Observables: w has \(w.count) entries, lattice \(lattice.size)")
        let fft = RealFFT.plans(for: lattice)
        let spectrum = forwardTransform(w, fft: fft)
        let columns = lattice.length / 2 + 1
        let size = Double(lattice.size)
        return (0..<fft.complexCount).map { k in
            let column = k % columns
            let selfConjugate = column == 0 || (lattice.length % 2 == 0 && column == lattice.length / 2)
            let power = spectrum[2 * k] * spectrum[2 * k] + spectrum[2 * k + 1] * spectrum[2 * k + 1]
            return (selfConjugate ? 1 : 2) * power / size
        }
    }

    static func forwardTransform(_ w: [Double], fft: RealFFT) -> [Double] {
        var spectrum = [Double](repeating: 0, count: 2 * fft.complexCount)
        w.withUnsafeBufferPointer { input in
            spectrum.withUnsafeMutableBufferPointer { output in
                fft.forward(input.baseAddress!, output.baseAddress!)
            }
        }
        return spectrum
    }

    // MARK: - Comparison

    /// a.b / (|a| |b|).
    public static func cosineSimilarity(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "Observables: vectors of different lengths")
        var dot = 0.0, aa = 0.0, bb = 0.0
        for i in 0..<a.count {
            dot += a[i] * b[i]
            aa += a[i] * a[i]
            bb += b[i] * b[i]
        }
        return dot / (aa * bb).squareRoot()
    }

    /// The largest cosine between b and a translated by s over all lattice translations s
    /// (a translated by s has a_i at site `lattice.translate(i, by: s)`), and that s as a
    /// site index (row-major displacement on a torus). Signed: no sign flip is allowed,
    /// since w and -w are different receptive fields for a neuron with a bias; pass -a
    /// to test the flipped one. The cross-correlation c(s) = sum_i a_i b_{i+s} is one
    /// FFT product (derivations/observables.md eq. (6)).
    public static func maximalShiftedCosine(_ a: [Double], _ b: [Double], lattice: Lattice) -> (cosine: Double, shift: Int) {
        let cosines = shiftedCosines(a, b, lattice: lattice)
        var best = 0
        for s in 1..<cosines.count where cosines[s] > cosines[best] { best = s }
        return (cosines[best], best)
    }

    /// max over circular shifts and over the sign of a of cos(shifted a, b). For a task
    /// whose loss is unchanged by w -> -w (zero-mean symmetric inputs), a network that
    /// learned -w learned the same receptive field.
    public static func maximalShiftedCosineUpToSign(_ a: [Double], _ b: [Double], lattice: Lattice) -> Double {
        shiftedCosines(a, b, lattice: lattice).map(abs).max()!
    }

    /// cos(a shifted by s, b) for every lattice shift s, by FFT cross-correlation.
    private static func shiftedCosines(_ a: [Double], _ b: [Double], lattice: Lattice) -> [Double] {
        precondition(a.count == lattice.size && b.count == lattice.size,
                     "Observables: vectors must have \(lattice.size) entries")
        let fft = RealFFT.plans(for: lattice)
        let correlation = crossCorrelation(forwardTransform(a, fft: fft), forwardTransform(b, fft: fft), fft: fft, lattice: lattice)
        let norms = euclideanNorm(a) * euclideanNorm(b)
        return correlation.map { $0 / norms }
    }

    /// The spectrum of w, as `crossCorrelation` takes it (so that a vector compared with many is transformed once).
    static func spectrum(_ w: [Double], lattice: Lattice) -> [Double] {
        forwardTransform(w, fft: RealFFT.plans(for: lattice))
    }

    /// c(s) = sum_i a_i b_{i+s} = (a translated by s) . b for every lattice shift s, from the
    /// spectra of a and b: the inverse transform of conj(A_k) B_k (derivations/observables.md eq. (6)).
    static func crossCorrelation(_ spectrumA: [Double], _ spectrumB: [Double], fft: RealFFT, lattice: Lattice) -> [Double] {
        var product = spectrumB
        for k in 0..<fft.complexCount {
            let ar = spectrumA[2 * k], ai = spectrumA[2 * k + 1]
            let br = spectrumB[2 * k], bi = spectrumB[2 * k + 1]
            // conj(A_k) B_k
            product[2 * k] = ar * br + ai * bi
            product[2 * k + 1] = ar * bi - ai * br
        }
        var correlation = [Double](repeating: 0, count: lattice.size)
        product.withUnsafeMutableBufferPointer { spectrum in
            correlation.withUnsafeMutableBufferPointer { output in
                fft.backward(spectrum.baseAddress!, output.baseAddress!)
            }
        }
        // FFTW's backward transform is D times the inverse DFT.
        return correlation.map { $0 / Double(lattice.size) }
    }

    /// |a - b| / |b|: the distance of a (e.g. the simulation) from the reference b (the theory).
    public static func relativeDistance(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "Observables: vectors of different lengths")
        var difference = 0.0, reference = 0.0
        for i in 0..<a.count {
            difference += (a[i] - b[i]) * (a[i] - b[i])
            reference += b[i] * b[i]
        }
        return (difference / reference).squareRoot()
    }
}
