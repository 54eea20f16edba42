import Foundation

/// xoshiro256** (Blackman & Vigna): fast, 2^256 period, with a jump function
/// that gives 2^128 non-overlapping streams, one per seed replica or thread.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    @usableFromInline var s: (UInt64, UInt64, UInt64, UInt64)
    @usableFromInline var spareGaussian: Double = 0
    @usableFromInline var hasSpare = false

    /// State from a 64-bit seed through SplitMix64, as the authors recommend.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// Stream `index` of `seed`: the seed's generator jumped `index` times.
    public init(seed: UInt64, stream index: Int) {
        self.init(seed: seed)
        for _ in 0..<index { jump() }
    }

    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    @inlinable @inline(__always)
    func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Advances by 2^128 draws (the authors' jump polynomial).
    public mutating func jump() {
        let table: [UInt64] = [0x180E_C6D3_3CFD_0ABA, 0xD5A6_1266_F0C9_392C, 0xA958_2618_E03F_C9AA, 0x39AB_DC45_29B1_661C]
        var t: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for word in table {
            for b in 0..<64 {
                if word & (UInt64(1) << UInt64(b)) != 0 {
                    t.0 ^= s.0; t.1 ^= s.1; t.2 ^= s.2; t.3 ^= s.3
                }
                _ = next()
            }
        }
        s = t
    }

    /// Uniform in the open interval (0, 1), 53 random bits.
    @inlinable @inline(__always)
    public mutating func nextOpenUniform() -> Double {
        (Double(next() >> 11) + 0.5) * 0x1.0p-53
    }

    /// Standard normal by the Box-Muller transform, pairs cached.
    @inlinable @inline(__always)
    public mutating func nextGaussian() -> Double {
        if hasSpare { hasSpare = false; return spareGaussian }
        let radius = (-2 * log(nextOpenUniform())).squareRoot()
        let angle = 2 * Double.pi * nextOpenUniform()
        spareGaussian = radius * sin(angle)
        hasSpare = true
        return radius * cos(angle)
    }

    /// Fills `buffer` with independent standard normals.
    @inlinable
    public mutating func fillGaussian(_ buffer: UnsafeMutableBufferPointer<Double>) {
        for k in buffer.indices { buffer[k] = nextGaussian() }
    }
}
