import Foundation

extension FourthCumulant {
    /// The multilinear action T(u, v, w)_i = sum_jkl K_ijkl u_j v_k w_l, by polarisation of the cubic
    /// map T(x) = T(x, x, x) (derivations/committee-closures.md §4):
    ///   T(u, v, w) = (1/24) sum_(e, f = +-1) e f T(u + e v + f w),
    /// four actions of either method, O(D log D) for `leading`. The first brick of a K-unit cumulant
    /// closure, whose fourth-order terms need T(w_a, w_b, w_c) of pairs of units.
    public func multilinearAction(_ u: [Double], _ v: [Double], _ w: [Double], workspace: CumulantWorkspace) -> [Double] {
        precondition(u.count == size && v.count == size && w.count == size, "u, v and w must have D entries")
        var result = [Double](repeating: 0, count: size)
        for (e, f) in [(1.0, 1.0), (1, -1), (-1, 1), (-1, -1)] {
            let corner = (0..<size).map { u[$0] + e * v[$0] + f * w[$0] }
            let cubic = action(corner, workspace: workspace)
            for i in 0..<size { result[i] += e * f * cubic[i] / 24 }
        }
        return result
    }
}
