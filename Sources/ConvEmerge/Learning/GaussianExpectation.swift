import CGSL
import Foundation

/// Gaussian expectations of a piecewise-smooth function and of its derivatives,
/// without differentiating it (SPEC §3):
///   E[f^(n)(lambda)] = q^(-n/2) E_u[ f(mu + sqrt(q) u) He_n(u) ],  lambda ~ N(mu, q), u ~ N(0, 1).
/// The identity is n integrations by parts against the Gaussian density, so the
/// delta functions that a jump or kink of f puts into f^(n) are included
/// automatically (derivations/derivative-free-expectations.md).
///
/// The u-integral is done by composite Gauss-Legendre on [-R, R] (R = `truncation`
/// standard deviations): uniform panels, every breakpoint made a panel edge (so
/// jumps and kinks cost nothing), and around each `transition` (a point near which f
/// changes over a unit interval in lambda, e.g. tanh's centre) a mesh graded
/// geometrically outwards from `refinementScale`, so that such f stays resolved
/// when the Gaussian is much wider (q = 400).
/// Defaults (16 nodes, 8 panels of 3 sigma, R = 12) integrate u^k phi(u) for
/// k <= 12 to 6e-16 relative, and the tail beyond 12 sigma is ~1e-22 for the
/// polynomial growth met here (derivations/derivative-free-expectations.md §4).
///
/// Requires variance q > 0. At q == 0 order 0 is f(mu) and higher orders are NaN;
/// q < 0 or NaN gives NaN (callers clamp round-off negatives, e.g. q - m^2).
/// Conditioning: order n carries a round-off of about 1e-16 |f| / q^(n/2), which
/// matters only for smooth f at tiny q (q = 1e-4: ~1e-6 relative at n = 5).
public struct GaussianExpectation: Sendable {
    public let nodesPerPanel: Int
    public let panels: Int
    /// R: the integral is cut at mu +- R sqrt(q).
    public let truncation: Double
    /// Width in lambda of the first graded panel on each side of a breakpoint.
    public let refinementScale: Double
    /// Gauss-Legendre abscissae and weights on [-1, 1].
    @usableFromInline let abscissae: [Double]
    @usableFromInline let weights: [Double]

    public init(nodesPerPanel: Int = 16, panels: Int = 8, truncation: Double = 12, refinementScale: Double = 1) {
        precondition(nodesPerPanel >= 2 && panels >= 1 && truncation > 0 && refinementScale > 0,
                     "GaussianExpectation: invalid mesh parameters")
        GSL.initialize()
        self.nodesPerPanel = nodesPerPanel
        self.panels = panels
        self.truncation = truncation
        self.refinementScale = refinementScale
        let table = gsl_integration_glfixed_table_alloc(nodesPerPanel)!
        defer { gsl_integration_glfixed_table_free(table) }
        var x = [Double](repeating: 0, count: nodesPerPanel), w = x
        for i in 0..<nodesPerPanel {
            gsl_integration_glfixed_point(-1, 1, i, &x[i], &w[i], table)
        }
        abscissae = x
        weights = w
    }

    /// Width of a uniform panel, in standard deviations.
    public var panelWidth: Double { 2 * truncation / Double(panels) }

    // MARK: - Entry points

    /// [E[f], E[f'], ..., E[f^(maxOrder)]] for lambda ~ N(mean, variance).
    /// `breakpoints`: points (in lambda) where f or a derivative jumps; `transitions`:
    /// points near which f changes over about `refinementScale` (both lists may be empty).
    @inlinable
    public func derivativeMoments(of f: (Double) -> Double, breakpoints: [Double], transitions: [Double] = [],
                                  mean: Double = 0, variance q: Double, maxOrder: Int) -> [Double] {
        precondition(maxOrder >= 0)
        return [Double](unsafeUninitializedCapacity: maxOrder + 1) { buffer, count in
            derivativeMoments(of: f, breakpoints: breakpoints, transitions: transitions, mean: mean, variance: q, into: buffer)
            count = maxOrder + 1
        }
    }

    /// Allocation-free form: writes E[f^(n)] for n = 0 ..< moments.count.
    @inlinable
    public func derivativeMoments(of f: (Double) -> Double, breakpoints: [Double], transitions: [Double] = [],
                                  mean: Double = 0, variance q: Double, into moments: UnsafeMutableBufferPointer<Double>) {
        precondition(moments.count >= 1)
        guard q > 0 else {
            moments.initialize(repeating: .nan)
            if q == 0 { moments[0] = f(mean) }
            return
        }
        let sigma = q.squareRoot()
        let levels = gradingLevels(sigma: sigma)
        let capacity = panels + 1 + breakpoints.count + transitions.count * (1 + 2 * levels)
        withUnsafeTemporaryAllocation(of: Double.self, capacity: capacity) { edges in
            let count = buildMesh(breakpoints: breakpoints, transitions: transitions, levels: levels,
                                  mean: mean, sigma: sigma, into: edges)
            integrate(f, mean: mean, sigma: sigma, edges: UnsafeBufferPointer(rebasing: edges[0..<count]), into: moments)
        }
        // derivations/derivative-free-expectations.md eq. (2): the q^(-n/2) factor.
        var scale = 1.0
        for n in 1..<moments.count {
            scale /= sigma
            moments[n] *= scale
        }
    }

    /// E[f(lambda)], lambda ~ N(mean, variance): order 0 of `derivativeMoments`.
    /// The conditional closure's E[h(lambda) | x_i] (SPEC §3).
    @inlinable
    public func smoothedMean(of f: (Double) -> Double, breakpoints: [Double], transitions: [Double] = [],
                             mean: Double, variance q: Double) -> Double {
        var result = 0.0
        withUnsafeMutablePointer(to: &result) { pointer in
            derivativeMoments(of: f, breakpoints: breakpoints, transitions: transitions, mean: mean, variance: q,
                              into: UnsafeMutableBufferPointer(start: pointer, count: 1))
        }
        return result
    }

    @inlinable
    public func derivativeMoments(of h: ErrorSignal, mean: Double = 0, variance q: Double, maxOrder: Int) -> [Double] {
        derivativeMoments(of: { h($0) }, breakpoints: h.discontinuities, transitions: h.transitions,
                          mean: mean, variance: q, maxOrder: maxOrder)
    }

    @inlinable
    public func derivativeMoments(of h: ErrorSignal, mean: Double = 0, variance q: Double,
                                  into moments: UnsafeMutableBufferPointer<Double>) {
        derivativeMoments(of: { h($0) }, breakpoints: h.discontinuities, transitions: h.transitions,
                          mean: mean, variance: q, into: moments)
    }

    @inlinable
    public func smoothedMean(of h: ErrorSignal, mean: Double, variance q: Double) -> Double {
        smoothedMean(of: { h($0) }, breakpoints: h.discontinuities, transitions: h.transitions, mean: mean, variance: q)
    }

    // MARK: - Mesh

    /// Number of graded offsets refinementScale * 2^j / sigma (in u) narrower than a panel.
    @usableFromInline
    func gradingLevels(sigma: Double) -> Int {
        var levels = 0
        var offset = refinementScale / sigma
        while offset < panelWidth && levels < 64 {
            levels += 1
            offset *= 2
        }
        return levels
    }

    /// Panel edges in u, sorted, duplicates removed; returns their number.
    /// Uniform edges inside a transition's graded zone are dropped, so that no panel is
    /// wider than `panelWidth` and none is split needlessly
    /// (derivations/derivative-free-expectations.md §4).
    @usableFromInline
    func buildMesh(breakpoints: [Double], transitions: [Double], levels: Int, mean: Double, sigma: Double,
                   into edges: UnsafeMutableBufferPointer<Double>) -> Int {
        let firstOffset = refinementScale / sigma
        // Offsets are firstOffset * 2^j, j < levels; the zone reaches the largest.
        let zone = levels > 0 ? firstOffset * Double(1 << (levels - 1)) : 0
        let lower = -truncation, upper = truncation
        var count = 0
        func append(_ edge: Double) {
            if edge > lower && edge < upper {
                edges[count] = edge
                count += 1
            }
        }
        edges[0] = lower
        edges[1] = upper
        count = 2
        for k in 1..<panels {
            let edge = lower + Double(k) * panelWidth
            if !transitions.contains(where: { abs(edge - ($0 - mean) / sigma) < zone }) { append(edge) }
        }
        for point in breakpoints { append((point - mean) / sigma) }
        for point in transitions {
            let centre = (point - mean) / sigma
            guard centre > lower && centre < upper else { continue }
            append(centre)
            var offset = firstOffset
            for _ in 0..<levels {
                append(centre - offset)
                append(centre + offset)
                offset *= 2
            }
        }
        // Insertion sort: a few dozen edges, mostly in order already.
        for i in 1..<count {
            let value = edges[i]
            var j = i - 1
            while j >= 0 && edges[j] > value {
                edges[j + 1] = edges[j]
                j -= 1
            }
            edges[j + 1] = value
        }
        var unique = 1
        for i in 1..<count where edges[i] - edges[unique - 1] > 1e-12 * truncation {
            edges[unique] = edges[i]
            unique += 1
        }
        return unique
    }

    // MARK: - Quadrature

    /// moments[n] = E_u[ f(mean + sigma u) He_n(u) ] over the truncated range
    /// (derivations/derivative-free-expectations.md eq. (2), before the q^(-n/2) factor).
    @inlinable
    func integrate(_ f: (Double) -> Double, mean: Double, sigma: Double,
                   edges: UnsafeBufferPointer<Double>, into moments: UnsafeMutableBufferPointer<Double>) {
        let maxOrder = moments.count - 1
        moments.initialize(repeating: 0)
        let normalisation = 0.39894228040143267794   // 1 / sqrt(2 pi)
        abscissae.withUnsafeBufferPointer { x in
            weights.withUnsafeBufferPointer { w in
                for panel in 0..<(edges.count - 1) {
                    let half = 0.5 * (edges[panel + 1] - edges[panel])
                    let middle = 0.5 * (edges[panel + 1] + edges[panel])
                    for i in 0..<x.count {
                        let u = middle + half * x[i]
                        let g = w[i] * half * normalisation * exp(-0.5 * u * u) * f(mean + sigma * u)
                        moments[0] += g
                        guard maxOrder >= 1 else { continue }
                        // He_{k+1}(u) = u He_k(u) - k He_{k-1}(u)
                        var previous = 1.0, current = u
                        moments[1] += g * u
                        var k = 1
                        while k < maxOrder {
                            let next = u * current - Double(k) * previous
                            previous = current
                            current = next
                            k += 1
                            moments[k] += g * current
                        }
                    }
                }
            }
        }
    }
}
