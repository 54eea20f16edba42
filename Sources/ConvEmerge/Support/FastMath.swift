import Foundation

/// erf by piecewise polynomials, for the simulation's hot loop (the NLGP
/// sampler evaluates D of them per input).
///
/// On [0, 6) the argument falls in one of 192 intervals of width h = 1/32; on each,
/// erf is its degree-7 Taylor polynomial about the interval's centre c, in the local
/// variable t = (x - c) / (h/2) in [-1, 1], evaluated by Horner. The coefficients are
/// exact derivatives, erf^(n)(c) = (2/sqrt pi) (-1)^(n-1) H_{n-1}(c) e^{-c^2}
/// (physicists' Hermite), times (h/2)^n / n!. Beyond 6, 1 - erf(6) = 2.2e-17 is
/// below half an ulp of 1, so erf = +-1 exactly; erf is odd.
/// Truncation error <= max|erf^(8)| (h/2)^8 / 8! < 4.0e-17 (derivations/sgd-noise-scaling.md §5);
/// measured maximum absolute difference from libm's erf over 4e5 points of [-7, 7]:
/// `measuredMaximumError`, 1.1e-16 over 4e6 points (round-off). Eight coefficients a point instead
/// of the ten of h = 1/16 at degree 9 (issue 11: the loads and multiply-adds are the sampler's cost).
/// Checked by `SimulationTests.testFastErfMatchesLibm`, `SGDStepTests.testErfKernelMeetsItsBoundOnADenseGrid`.
public struct FastErf: Sendable {
    /// `evaluate` spells these out (32, 8 coefficients) so that they are constants in its loop.
    public static let intervalsPerUnit = 32.0
    public static let cutoff = 6.0
    public static let degree = 7

    /// Taylor coefficients in t, `degree + 1` per interval, lowest power first.
    public let coefficients: [Double]

    public static let shared = FastErf()

    /// The table before issue 11 (h = 1/16, degree 9), for `bench`'s baseline only: `evaluatePrevious`.
    static let previous = FastErf(intervalsPerUnit: 16, degree: 9)

    public init() { self.init(intervalsPerUnit: FastErf.intervalsPerUnit, degree: FastErf.degree) }

    init(intervalsPerUnit: Double, degree: Int) {
        let n = degree + 1
        let halfWidth = 0.5 / intervalsPerUnit
        let intervalCount = Int(FastErf.cutoff * intervalsPerUnit)
        var table = [Double](repeating: 0, count: intervalCount * n)
        for interval in 0..<intervalCount {
            let c = (Double(interval) + 0.5) / intervalsPerUnit
            table[interval * n] = Foundation.erf(c)
            // H_0 ... H_{n-2} at c by the recurrence H_{m+1} = 2c H_m - 2m H_{m-1}.
            var hermite = [1.0, 2 * c]
            while hermite.count < n - 1 {
                let m = Double(hermite.count - 1)
                hermite.append(2 * c * hermite[hermite.count - 1] - 2 * m * hermite[hermite.count - 2])
            }
            let gaussian = 2 / Double.pi.squareRoot() * exp(-c * c)
            var scale = 1.0   // (h/2)^k / k!
            for k in 1..<n {
                scale *= halfWidth / Double(k)
                let sign: Double = (k - 1) % 2 == 0 ? 1 : -1
                table[interval * n + k] = sign * hermite[k - 1] * gaussian * scale
            }
        }
        coefficients = table
    }

    /// erf(x), max absolute error 1.1e-16 measured (see the type's documentation).
    @inlinable @inline(__always)
    public func callAsFunction(_ x: Double) -> Double {
        coefficients.withUnsafeBufferPointer { FastErf.evaluate(x, table: $0.baseAddress!) }
    }

    /// The kernel, on a table pointer hoisted out of the caller's loop.
    @inlinable @inline(__always)
    public static func evaluate(_ x: Double, table: UnsafePointer<Double>) -> Double {
        let a = abs(x)
        guard a < 6.0 else { return a.isNaN ? .nan : (x < 0 ? -1 : 1) }
        let scaled = a * 32.0
        let interval = Int(scaled)
        let t = 2 * (scaled - Double(interval)) - 1
        let c = table + interval * 8
        var p = c[7]
        p = p * t + c[6]
        p = p * t + c[5]
        p = p * t + c[4]
        p = p * t + c[3]
        p = p * t + c[2]
        p = p * t + c[1]
        p = p * t + c[0]
        return x < 0 ? -p : p
    }

    /// `evaluate` on the `previous` table, as before issue 11 (the baseline of `bench`).
    @inline(__always)
    static func evaluatePrevious(_ x: Double, table: UnsafePointer<Double>) -> Double {
        let a = abs(x)
        guard a < 6.0 else { return a.isNaN ? .nan : (x < 0 ? -1 : 1) }
        let scaled = a * 16.0
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

    /// x_i = outputScale erf(argumentScale z_i) for `count` points (x may be z): `evaluate` bit for bit,
    /// four points at a time so that their Horner chains (7 dependent multiply-adds each) overlap.
    @inlinable @inline(__always)
    public static func evaluate(_ z: UnsafePointer<Double>, into x: UnsafeMutablePointer<Double>, count: Int,
                                argumentScale: Double, outputScale: Double, table: UnsafePointer<Double>) {
        // The interval's coefficients and t; |x| >= 6 and NaN read interval 0 and are replaced in `finish`.
        @inline(__always) func locate(_ x: Double) -> (UnsafePointer<Double>, Double) {
            let a = abs(x)
            let scaled = (a < 6.0 ? a : 0) * 32.0
            let interval = Int(scaled)
            return (table + interval * 8, 2 * (scaled - Double(interval)) - 1)
        }
        @inline(__always) func finish(_ x: Double, _ p: Double) -> Double {
            let magnitude = abs(x) < 6.0 ? p : (x.isNaN ? .nan : 1)
            return outputScale * (x < 0 ? -magnitude : magnitude)
        }
        var i = 0
        while i + 4 <= count {
            let x0 = argumentScale * z[i], x1 = argumentScale * z[i + 1]
            let x2 = argumentScale * z[i + 2], x3 = argumentScale * z[i + 3]
            let (c0, t0) = locate(x0), (c1, t1) = locate(x1), (c2, t2) = locate(x2), (c3, t3) = locate(x3)
            var p0 = c0[7], p1 = c1[7], p2 = c2[7], p3 = c3[7]
            for k in (0..<7).reversed() {
                p0 = p0 * t0 + c0[k]
                p1 = p1 * t1 + c1[k]
                p2 = p2 * t2 + c2[k]
                p3 = p3 * t3 + c3[k]
            }
            x[i] = finish(x0, p0)
            x[i + 1] = finish(x1, p1)
            x[i + 2] = finish(x2, p2)
            x[i + 3] = finish(x3, p3)
            i += 4
        }
        while i < count {
            x[i] = outputScale * evaluate(argumentScale * z[i], table: table)
            i += 1
        }
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

    /// `table`'s values at a fixed address for the life of the process, so that hot loops can
    /// read them without a closure around the loop. Written once, then only read: safe to share.
    nonisolated(unsafe) public static let storage: UnsafePointer<Double> = {
        let copy = UnsafeMutablePointer<Double>.allocate(capacity: table.count)
        copy.initialize(from: table, count: table.count)
        return UnsafePointer(copy)
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
            // The rare path runs on a copy: a call that took self's address would keep the state
            // in memory on the fast path too, every draw then waiting on a store and a reload.
            var generator = self
            let value = generator.zigguratSlowPath(u: u, layer: layer, table: table)
            self = generator
            if let value { return value }
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
        // A local copy, captured by no closure, keeps the generator's state in registers.
        var generator = self
        let table = Ziggurat.storage
        for k in 0..<count { buffer[k] = generator.nextZigguratGaussian(table: table) }
        self = generator
    }
}
