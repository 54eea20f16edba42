import Foundation

/// The real Fourier modes of a lattice indexed like the real-FFT half spectrum.
struct FourierModes: Sendable {
    let lattice: Lattice
    let wavevectors: [[Int]]

    init(lattice: Lattice) {
        self.lattice = lattice
        let L = lattice.length, columns = L / 2 + 1
        if lattice.dimension == 1 {
            wavevectors = (0..<columns).map { [$0] }
        } else {
            wavevectors = (0..<(L * columns)).map { index in [lattice.wrapped(index / columns), index % columns] }
        }
    }

    var count: Int { wavevectors.count }

    /// Phase 2 pi k.x / L at site i.
    private func phase(_ k: [Int], site i: Int) -> Double {
        let (row, column) = lattice.coordinates(of: i)
        let dot = lattice.dimension == 1 ? k[0] * column : k[0] * row + k[1] * column
        return 2 * Double.pi * Double(dot) / Double(lattice.length)
    }

    /// cos(k.x), unit norm.
    func vector(_ m: Int) -> [Double] {
        normalised((0..<lattice.size).map { cos(phase(wavevectors[m], site: $0)) })
    }

    /// An orthonormal basis of the real span of cos and sin of every wavevector in the star
    /// of mode m (the wavevectors related to it by the lattice's reflections and, on the torus,
    /// the square's rotations).
    func starBasis(of m: Int) -> [[Double]] {
        let k = wavevectors[m]
        let members: [[Int]] = lattice.dimension == 1
            ? [k]
            : [k, [k[1], k[0]], [k[0], -k[1]], [k[1], -k[0]]]
        var raw: [[Double]] = []
        for member in members {
            raw.append((0..<lattice.size).map { cos(phase(member, site: $0)) })
            raw.append((0..<lattice.size).map { sin(phase(member, site: $0)) })
        }
        return FourierModes.orthonormalise(raw)
    }

    /// The spectral derivative of w along each lattice axis: the generators of the continuous
    /// translations of a Fourier state (derivations/linear-stability.md §3). Axes along which
    /// w does not move are dropped; the rest are orthonormalised.
    func translationGenerators(of w: [Double]) -> [[Double]] {
        let reference = euclideanNorm(w)
        return FourierModes.orthonormalise(axisDerivatives(of: w).filter { euclideanNorm($0) > 1e-9 * reference })
    }

    /// The spectral derivative of w along each lattice axis (last axis last), not normalised.
    func axisDerivatives(of w: [Double]) -> [[Double]] {
        let L = lattice.length
        let axes = lattice.dimension == 1 ? [1] : [0, 1]
        var generators: [[Double]] = []
        for axis in axes {
            var derivative = [Double](repeating: 0, count: lattice.size)
            // d/dx of the trigonometric interpolant along the axis, line by line (the Nyquist term has no derivative).
            let lines = lattice.dimension == 1 ? 1 : L
            for line in 0..<lines {
                let site = { (x: Int) -> Int in
                    lattice.dimension == 1 ? x : (axis == 1 ? line * L + x : x * L + line)
                }
                for k in 1..<((L + 1) / 2) {
                    var a = 0.0, b = 0.0
                    for x in 0..<L {
                        let theta = 2 * Double.pi * Double(k * x) / Double(L)
                        a += w[site(x)] * cos(theta)
                        b += w[site(x)] * sin(theta)
                    }
                    let scale = 2 / Double(L) * 2 * Double.pi * Double(k) / Double(L)
                    for x in 0..<L {
                        let theta = 2 * Double.pi * Double(k * x) / Double(L)
                        derivative[site(x)] += scale * (b * cos(theta) - a * sin(theta))
                    }
                }
            }
            generators.append(derivative)
        }
        return generators
    }

    /// Whether mode m is its own conjugate (2k = 0 mod L on every axis: the uniform and Nyquist
    /// modes), so that sin(k.x) vanishes and its "pair" is one-dimensional.
    func isSelfConjugate(_ m: Int) -> Bool {
        wavevectors[m].allSatisfy { (2 * $0) % lattice.length == 0 }
    }

    static func orthonormalise(_ vectors: [[Double]]) -> [[Double]] {
        var basis: [[Double]] = []
        for v in vectors {
            var u = v
            for b in basis {
                let overlap = dot(b, u)
                for i in u.indices { u[i] -= overlap * b[i] }
            }
            let length = euclideanNorm(u)
            let original = euclideanNorm(v)
            if length > 1e-8 * original { basis.append(u.map { $0 / length }) }
        }
        return basis
    }

}

