import Foundation

/// A periodic lattice: a ring of L sites (`dimension` 1, D = L) or an L x L
/// torus (`dimension` 2, D = L^2, sites in row-major order).
public struct Lattice: Codable, Hashable, Sendable {
    public let dimension: Int
    public let length: Int

    public init(dimension: Int, length: Int) throws {
        try require(dimension == 1 || dimension == 2, flag: "--dim", "must be 1 (ring) or 2 (torus), got \(dimension)")
        try require(length >= 4, flag: "--L", "must be >= 4, got \(length)")
        try require(length <= 1 << 20, flag: "--L", "must be <= \(1 << 20), got \(length)")
        let sites = dimension == 1 ? length : length * length
        try require(sites <= Lattice.maximumSites, flag: "--L",
                    "D = L^dim must be <= \(Lattice.maximumSites) sites, got L = \(length) on a \(dimension == 1 ? "ring" : "torus") (D = \(sites))")
        self.dimension = dimension
        self.length = length
    }

    private enum CodingKeys: String, CodingKey { case dimension, length }

    /// Decoding goes through the validating initialiser, so a hand-edited run
    /// manifest cannot smuggle in a lattice the rest of the library assumes away.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(dimension: container.decode(Int.self, forKey: .dimension),
                      length: container.decode(Int.self, forKey: .length))
    }

    /// 2^24 sites (a 4096 x 4096 torus): one vector is 128 MiB, and every method keeps several.
    public static let maximumSites = 1 << 24

    /// Number of sites D.
    public var size: Int { dimension == 1 ? length : length * length }

    /// FFTW's shape for the real transforms (slowest axis first).
    public var shape: [Int] { Array(repeating: length, count: dimension) }

    /// Minimum-image displacement along one axis, in -L/2 ..< L/2 + 1.
    @inlinable
    public func wrapped(_ delta: Int) -> Int {
        var d = delta % length
        if d < 0 { d += length }
        return d > length / 2 ? d - length : d
    }

    /// Coordinates of site i (row, column); a ring has row 0.
    @inlinable
    public func coordinates(of site: Int) -> (row: Int, column: Int) {
        dimension == 1 ? (0, site) : (site / length, site % length)
    }

    /// Periodic (minimum-image) Euclidean distance between two sites.
    public func distance(_ i: Int, _ j: Int) -> Double {
        let a = coordinates(of: i), b = coordinates(of: j)
        let dr = Double(wrapped(a.row - b.row)), dc = Double(wrapped(a.column - b.column))
        return (dr * dr + dc * dc).squareRoot()
    }

    /// Distance of site i from site 0: the argument of the first row of any
    /// translation-invariant operator.
    public func distanceFromOrigin(_ i: Int) -> Double { distance(i, 0) }

    /// The site reached from `site` by the displacement of `offset` from 0
    /// (translation on the ring / torus).
    @inlinable
    public func translate(_ site: Int, by offset: Int) -> Int {
        if dimension == 1 { return (site + offset) % length }
        let a = coordinates(of: site), b = coordinates(of: offset)
        return ((a.row + b.row) % length) * length + (a.column + b.column) % length
    }

    /// The site whose displacement from 0 is the opposite of `site`'s.
    @inlinable
    public func negate(_ site: Int) -> Int {
        if dimension == 1 { return (length - site) % length }
        let a = coordinates(of: site)
        return ((length - a.row) % length) * length + (length - a.column) % length
    }
}
