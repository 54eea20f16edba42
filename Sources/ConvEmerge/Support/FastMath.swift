import Foundation

/// erf by piecewise polynomial interpolation, for the simulation's hot loop
/// (the NLGP sampler evaluates D of them per input).
///
/// On [0, 6) the argument falls in one of 48 intervals of width 1/8; on each,
/// erf is the degree-9 interpolant at the Chebyshev nodes (built once from libm's
/// erf), evaluated by Horner in the local variable t in [-1, 1]. Beyond 6,
/// 1 - erf(6) = 2.2e-17 is below half an ulp of 1, so erf = +-1 exactly; erf is odd.
/// Interpolation error bound (derivations/sgd-noise-scaling.md §5):
/// |f^(10)| (h/2)^10 / (2^9 10!) < 1e-16 for h = 1/8; measured maximum absolute
/// difference from libm's erf over 2e6 points of [-7, 7]: `FastErf.measuredMaximumError`
/// (about 2e-16, i.e. round-off). Checked by `SimulationTests.testFastErfMatchesLibm`.
public struct FastErf: Sendable {
    public static let intervalsPerUnit = 8.0
    public static let cutoff = 6.0
    public static let degree = 9
    static let intervalCount = Int(cutoff * intervalsPerUnit)

    /// Monomial coefficients in t, `degree + 1` per interval, lowest power first.
    public let coefficients: [Double]

    public static let shared = FastErf()

    public init() {
        let n = FastErf.degree + 1
        let h = 1 / FastErf.intervalsPerUnit
        // Monomial coefficients of the Chebyshev polynomials T_0 ... T_degree.
        var chebyshev = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        chebyshev[0][0] = 1
        if n > 1 { chebyshev[1][1] = 1 }
        if n > 2 {
            for j in 2..<n {
                for p in 0..<n {
                    chebyshev[j][p] = -chebyshev[j - 2][p] + (p > 0 ? 2 * chebyshev[j - 1][p - 1] : 0)
                }
            }
        }
        var table = [Double](repeating: 0, count: FastErf.intervalCount * n)
        for interval in 0..<FastErf.intervalCount {
            let centre = (Double(interval) + 0.5) * h
            let nodes = (0..<n).map { cos(Double.pi * (Double($0) + 0.5) / Double(n)) }
            let values = nodes.map { Foundation.erf(centre + 0.5 * h * $0) }
            for j in 0..<n {
                // Discrete Chebyshev transform at the Chebyshev-Gauss nodes.
                var c = 0.0
                for (k, t) in nodes.enumerated() { c += values[k] * cos(Double(j) * acos(t)) }
                c *= (j == 0 ? 1.0 : 2.0) / Double(n)
                for p in 0..<n { table[interval * n + p] += c * chebyshev[j][p] }
            }
        }
        coefficients = table
    }

    /// erf(x), max absolute error ~2e-16 (see the type's documentation).
    @inlinable @inline(__always)
    public func callAsFunction(_ x: Double) -> Double {
        coefficients.withUnsafeBufferPointer { FastErf.evaluate(x, table: $0.baseAddress!) }
    }

    /// The kernel, on a table pointer hoisted out of the caller's loop.
    @inlinable @inline(__always)
    public static func evaluate(_ x: Double, table: UnsafePointer<Double>) -> Double {
        let a = abs(x)
        guard a < 6.0 else { return a.isNaN ? .nan : (x < 0 ? -1 : 1) }
        let scaled = a * 8.0
        let interval = Int(scaled)
        let t = 2 * (scaled - Double(interval)) - 1
        let c = table + interval * 10
        var p = c[9]
        p = p * t + c[8]
        p = p * t + c[7]
        p = p * t + c[6]
        p = p * t + c[5]
        p = p * t + c[4]
        p = p * t + c[3]
        p = p * t + c[2]
        p = p * t + c[1]
        p = p * t + c[0]
        return x < 0 ? -p : p
    }

    /// Maximum |FastErf(x) - erf(x)| over `points` evenly spaced x in [-7, 7] (libm as reference).
    public func measuredMaximumError(points: Int = 2_000_000) -> Double {
        var worst = 0.0
        for k in 0...points {
            let x = -7 + 14 * Double(k) / Double(points)
            worst = max(worst, abs(self(x) - Foundation.erf(x)))
        }
        return worst
    }
}

/// Standard normal deviates by the ziggurat method (Marsaglia & Tsang 2000, 128
/// layers, in Doornik's 2005 form that avoids the original's correlation
/// between layer and value): an exact rejection sampler, not an approximation.
/// 98.8% of draws cost one 64-bit random number, one multiply and one compare;
/// the wedges and the tail (|x| > 3.4426) use exp/log. Derivation and tables:
/// derivations/sgd-noise-scaling.md §5. Checked by `SimulationTests.testZigguratIsStandardNormal`.
public enum Ziggurat {
    static let layerCount = 128
    static let tailStart = 3.442619855899
    static let layerArea = 9.91256303526217e-3

    /// x_0 = V / f(R) (the base strip's virtual width), x_1 = R, ..., x_128 = 0,
    /// followed by the ratios x_{i+1} / x_i (i = 0 ... 127).
    public static let table: [Double] = {
        var x = [Double](repeating: 0, count: layerCount + 1)
        var f = exp(-0.5 * tailStart * tailStart)
        x[0] = layerArea / f
        x[1] = tailStart
        for i in 2..<layerCount {
            x[i] = (-2 * log(layerArea / x[i - 1] + f)).squareRoot()
            f = exp(-0.5 * x[i] * x[i])
        }
        x[layerCount] = 0
        let ratios = (0..<layerCount).map { x[$0 + 1] / x[$0] }
        return x + ratios
    }()
}

extension Xoshiro256 {
    /// One N(0, 1) deviate by the ziggurat; `table` is `Ziggurat.table`'s storage.
    @inlinable @inline(__always)
    public mutating func nextZigguratGaussian(table: UnsafePointer<Double>) -> Double {
        let ratios = table + 129
        while true {
            let bits = next()
            // Top 53 bits give u in (-1, 1); the low 7 bits, unused by u, the layer.
            let u = 2 * ((Double(bits >> 11) + 0.5) * 0x1.0p-53) - 1
            let layer = Int(bits & 0x7F)
            if abs(u) < ratios[layer] { return u * table[layer] }
            if let value = zigguratSlowPath(u: u, layer: layer, table: table) { return value }
        }
    }

    /// The rare wedge and tail draws; nil means rejected, draw again.
    @usableFromInline
    mutating func zigguratSlowPath(u: Double, layer: Int, table: UnsafePointer<Double>) -> Double? {
        if layer == 0 {
            // Marsaglia's tail algorithm beyond R.
            let r = Ziggurat.tailStart
            var x: Double, y: Double
            repeat {
                x = log(nextOpenUniform()) / r
                y = log(nextOpenUniform())
            } while -2 * y < x * x
            return u < 0 ? x - r : r - x
        }
        let x = u * table[layer]
        let f0 = exp(-0.5 * (table[layer] * table[layer] - x * x))
        let f1 = exp(-0.5 * (table[layer + 1] * table[layer + 1] - x * x))
        return f1 + nextOpenUniform() * (f0 - f1) < 1 ? x : nil
    }

    /// Fills `count` doubles at `buffer` with independent N(0, 1) ziggurat deviates.
    @inlinable
    public mutating func fillZigguratGaussian(_ buffer: UnsafeMutablePointer<Double>, count: Int) {
        Ziggurat.table.withUnsafeBufferPointer { table in
            for k in 0..<count { buffer[k] = nextZigguratGaussian(table: table.baseAddress!) }
        }
    }
}
