import Foundation

/// J_ij = (f_i(w + h e_j) - f_i(w - h e_j)) / (2h), row-major D x D: the
/// Jacobian of a vector field by central differences, exact for quadratics and
/// O(h^2) otherwise (2D evaluations of f).
public func centralDifferenceJacobian(at w: [Double], step h: Double, _ f: ([Double]) -> [Double]) -> [Double] {
    let d = w.count
    var matrix = [Double](repeating: 0, count: d * d)
    var shifted = w
    for j in 0..<d {
        shifted[j] = w[j] + h
        let plus = f(shifted)
        shifted[j] = w[j] - h
        let minus = f(shifted)
        shifted[j] = w[j]
        for i in 0..<d { matrix[i * d + j] = (plus[i] - minus[i]) / (2 * h) }
    }
    return matrix
}
