import ConvEmerge
import Foundation
import XCTest

/// Activations, error signals and the derivative-free Gaussian expectations
/// (derivations/derivative-free-expectations.md).
final class LearningTests: XCTestCase {
    let gaussian = GaussianExpectation()
    let maxOrder = 5

    // MARK: - Activations

    func testActivationDerivativesMatchCentralDifferences() {
        let step = 1e-5
        for kind in ActivationKind.allCases {
            let sigma = Activation(kind)
            for x in [-3.1, -0.8, -0.05, 0.3, 1.7, 4.2] {
                let difference = (sigma.value(x + step) - sigma.value(x - step)) / (2 * step)
                XCTAssertEqual(sigma.derivative(x), difference, accuracy: 1e-8, "\(kind) at \(x)")
            }
        }
    }

    func testActivationConventions() {
        // erf means erf(x / sqrt 2): the Gaussian CDF rescaled to (-1, 1).
        XCTAssertEqual(Activation(.erf).value(1), 2 * normalCDF(1) - 1, accuracy: 1e-15)
        XCTAssertEqual(Activation(.erf).derivative(0), (2 / Double.pi).squareRoot(), accuracy: 1e-15)
        // The sigmoid does not overflow far out and is symmetric about 1/2.
        XCTAssertEqual(Activation(.sigmoid).value(-800), 0)
        XCTAssertEqual(Activation(.sigmoid).value(2) + Activation(.sigmoid).value(-2), 1, accuracy: 1e-15)
        XCTAssertEqual(Activation(.relu).kinks, [0])
        XCTAssertEqual(Activation(.tanh).kinks, [])
        let encoded = try! JSONEncoder().encode([Activation(.sigmoid)])
        XCTAssertEqual(String(decoding: encoded, as: UTF8.self), "[\"sigmoid\"]")
        XCTAssertEqual(try! JSONDecoder().decode([Activation].self, from: encoded), [Activation(.sigmoid)])
    }

    /// relu's error signal jumps from 0 to y at lambda = -b (derivations/derivative-free-expectations.md §3).
    func testReluErrorSignalJumpsAtMinusBias() {
        let h = ErrorSignal(activation: Activation(.relu), bias: 0.4, target: 1)
        XCTAssertEqual(h.discontinuities, [-0.4])
        XCTAssertEqual(h(-0.4 + 1e-12), 1, accuracy: 1e-11)
        XCTAssertEqual(h(-0.4 - 1e-12), 0)
        XCTAssertEqual(h(0.6), 1 - 1, accuracy: 1e-15)       // (y - (l + b)) at l + b = 1
        let smooth = ErrorSignal(activation: Activation(.tanh), bias: 0.4, target: 1)
        XCTAssertEqual(smooth.discontinuities, [])
        XCTAssertEqual(smooth(0.1), (1 - tanh(0.5)) * (1 - tanh(0.5) * tanh(0.5)), accuracy: 1e-15)
    }

    // MARK: - Closed forms

    /// E[h^(n)] for relu, orders 0 ... 5, against derivations/derivative-free-expectations.md eq. (6):
    /// the jump's delta-function terms come out of the He_n formula by themselves.
    func testReluMomentsMatchClosedFormThroughFifthOrder() {
        var worst = 0.0
        for bias in [0, 0.7, -1.3] {
            for q in [0.01, 1, 25] {
                for target in [1, 0, 0.4] {
                    for mean in [0, 0.3] {
                        let h = ErrorSignal(activation: Activation(.relu), bias: bias, target: target)
                        let moments = gaussian.derivativeMoments(of: h, mean: mean, variance: q, maxOrder: maxOrder)
                        for n in 0...maxOrder {
                            // A mean mu acts like an extra bias: h(mu + l) is the b + mu signal at mean 0.
                            let exact = reluMoment(order: n, target: target, shift: bias + mean, variance: q)
                            let error = relativeError(moments[n], exact, scale: magnitude(order: n, variance: q))
                            worst = max(worst, error)
                            XCTAssertLessThan(error, 1e-11, "relu n=\(n) b=\(bias) q=\(q) y=\(target) mu=\(mean)")
                        }
                    }
                }
            }
        }
        print("relu closed forms: worst relative error \(worst)")
    }

    /// SPEC §5: at b = 0, E_G[h'] = y / sqrt(2 pi q) - 1/2.
    func testReluSlopeAtZeroBiasIsTheSpecFormula() {
        for q in [1e-4, 0.3, 4, 100] {
            let h = ErrorSignal(activation: Activation(.relu), bias: 0, target: 1)
            let slope = gaussian.derivativeMoments(of: h, variance: q, maxOrder: 1)[1]
            XCTAssertEqual(slope, 1 / (2 * Double.pi * q).squareRoot() - 0.5, accuracy: 1e-12 * (1 + 1 / q.squareRoot()))
        }
    }

    /// erf(x / sqrt 2): E[sigma'(lambda)] = sqrt(2/pi) / sqrt(1 + q), and all orders of h
    /// from derivations/derivative-free-expectations.md eqs. (8)-(10).
    func testErfMomentsMatchClosedFormThroughFifthOrder() {
        let sigma = Activation(.erf)
        for q in [0.05, 1, 7, 300] {
            let slope = gaussian.derivativeMoments(of: sigma.value, breakpoints: [], transitions: [0], variance: q, maxOrder: 1)[1]
            XCTAssertEqual(slope, (2 / Double.pi).squareRoot() / (1 + q).squareRoot(), accuracy: 1e-13)
        }
        var worst = 0.0
        for bias in [0, 0.5, -1.2] {
            for q in [0.05, 1, 7, 300] {
                for target in [1, -0.3] {
                    let h = ErrorSignal(activation: sigma, bias: bias, target: target)
                    let moments = gaussian.derivativeMoments(of: h, mean: 0.2, variance: q, maxOrder: maxOrder)
                    for n in 0...maxOrder {
                        let exact = erfMoment(order: n, target: target, shift: bias + 0.2, variance: q)
                        let error = relativeError(moments[n], exact, scale: magnitude(order: n, variance: q))
                        worst = max(worst, error)
                        XCTAssertLessThan(error, 1e-11, "erf n=\(n) b=\(bias) q=\(q) y=\(target)")
                    }
                }
            }
        }
        print("erf closed forms: worst relative error \(worst)")
    }

    /// Polynomial signals: linear h = y - l - b, quadratic h = 2y(l+b) - 2(l+b)^3; the moments
    /// are the Gaussian moments of the exact derivatives (derivations/derivative-free-expectations.md §5).
    func testLinearAndQuadraticMomentsAreExactPolynomials() {
        for (bias, q, target, mean) in [(0.0, 0.5, 1.0, 0.0), (0.8, 3.0, -0.5, -0.4), (-1.1, 0.02, 0.3, 1.5)] {
            let m = bias + mean
            let linear = gaussian.derivativeMoments(of: ErrorSignal(activation: Activation(.linear), bias: bias, target: target),
                                                    mean: mean, variance: q, maxOrder: maxOrder)
            let linearExact = [target - m, -1, 0, 0, 0, 0]
            let quadratic = gaussian.derivativeMoments(of: ErrorSignal(activation: Activation(.quadratic), bias: bias, target: target),
                                                       mean: mean, variance: q, maxOrder: maxOrder)
            // With x = l + b ~ N(m, q): E[x] = m, E[x^3] = m^3 + 3 m q, E[x^2] = m^2 + q.
            let quadraticExact = [2 * target * m - 2 * (m * m * m + 3 * m * q),
                                  2 * target - 6 * (m * m + q), -12 * m, -12, 0, 0]
            for n in 0...maxOrder {
                XCTAssertEqual(linear[n], linearExact[n], accuracy: 1e-12 * magnitude(order: n, variance: q), "linear n=\(n)")
                XCTAssertEqual(quadratic[n], quadraticExact[n],
                               accuracy: 1e-11 * magnitude(order: n, variance: q) * (1 + m * m + q) * (1 + abs(m)),
                               "quadratic n=\(n)")
            }
        }
    }

    /// tanh and sigmoid have sigma' = G(sigma) with G a polynomial, so every derivative of
    /// h is a polynomial in sigma: integrate it directly (order 0) and compare with the
    /// He_n formula, from a narrow Gaussian to a wide one (at q = 400 h changes within
    /// 1/20 of a standard deviation: the graded mesh must resolve it).
    /// The reference integral of h^(n) cancels: at q = 400, E[h^(5)] ~ 1e-9 while E|h^(5)| ~ 1e-2,
    /// so its own round-off is ~1e-17 E|h^(n)| and the error is measured on that scale
    /// (the He_n side agrees with 40-digit quadrature to ~1e-14 relative, see the derivation §4).
    func testSaturatingActivationsMatchExactDerivatives() {
        // sigma' as a polynomial in sigma: tanh 1 - t^2, sigmoid s - s^2.
        let slopes: [(ActivationKind, [Double])] = [(.tanh, [1, 0, -1]), (.sigmoid, [0, 1, -1])]
        var worst = 0.0
        for (kind, slope) in slopes {
            let sigma = Activation(kind)
            for bias in [0, -0.6] {
                for q in [0.05, 1, 9, 400] {
                    let target = 0.7
                    let h = ErrorSignal(activation: sigma, bias: bias, target: target)
                    let moments = gaussian.derivativeMoments(of: h, mean: 0.1, variance: q, maxOrder: maxOrder)
                    // h = (y - s) G(s); d/dl P(s) = P'(s) G(s).
                    var derivative = multiply([target, -1], slope)
                    for n in 0...maxOrder {
                        let polynomial = derivative
                        let exact = gaussian.smoothedMean(of: { l in evaluate(polynomial, at: sigma.value(l + bias)) },
                                                          breakpoints: [], transitions: [-bias], mean: 0.1, variance: q)
                        let absolute = gaussian.smoothedMean(of: { l in abs(evaluate(polynomial, at: sigma.value(l + bias))) },
                                                             breakpoints: [], transitions: [-bias], mean: 0.1, variance: q)
                        let error = abs(moments[n] - exact) / absolute
                        worst = max(worst, error)
                        XCTAssertLessThan(error, 1e-10, "\(kind) n=\(n) b=\(bias) q=\(q)")
                        derivative = multiply(differentiate(derivative), slope)
                    }
                }
            }
        }
        print("tanh/sigmoid exact derivatives: worst relative error \(worst)")
    }

    /// Stein's lemma E[(lambda - mu) f(lambda)] = q E[f'(lambda)], for every activation's h;
    /// for relu the right side holds the jump's delta term y p(-b).
    func testSteinIdentityHoldsForEveryActivation() {
        for kind in ActivationKind.allCases {
            for (bias, q, mean) in [(0.0, 1.0, 0.0), (0.5, 0.2, -0.3), (-0.9, 6.0, 0.7)] {
                let h = ErrorSignal(activation: Activation(kind), bias: bias, target: 0.8)
                let slope = gaussian.derivativeMoments(of: h, mean: mean, variance: q, maxOrder: 1)[1]
                let covariance = gaussian.smoothedMean(of: { l in (l - mean) * h(l) }, breakpoints: h.discontinuities,
                                                       transitions: h.transitions, mean: mean, variance: q)
                XCTAssertEqual(covariance, q * slope, accuracy: 1e-12 * max(1, abs(covariance)) * (1 + q), "\(kind) b=\(bias) q=\(q)")
            }
        }
    }

    /// As q -> 0 the Gaussian average of a smooth f tends to f(mean), and its derivative
    /// moments to the derivatives at the mean; q = 0 is the documented degenerate case.
    func testSmallVarianceLimitAndDegenerateVariance() {
        let h = ErrorSignal(activation: Activation(.tanh), bias: 0.3, target: 1)
        let q = 1e-8
        let moments = gaussian.derivativeMoments(of: h, mean: 0.2, variance: q, maxOrder: 1)
        XCTAssertEqual(moments[0], h(0.2), accuracy: 1e-7)
        let step = 1e-5
        XCTAssertEqual(moments[1], (h(0.2 + step) - h(0.2 - step)) / (2 * step), accuracy: 1e-6)
        XCTAssertEqual(gaussian.smoothedMean(of: h, mean: 0.2, variance: 0), h(0.2))
        let degenerate = gaussian.derivativeMoments(of: h, mean: 0.2, variance: 0, maxOrder: 2)
        XCTAssertEqual(degenerate[0], h(0.2))
        XCTAssertTrue(degenerate[1].isNaN && degenerate[2].isNaN)
        XCTAssertTrue(gaussian.smoothedMean(of: h, mean: 0, variance: -1).isNaN)
    }

    func testBufferOverloadAgreesWithArrayForm() {
        let h = ErrorSignal(activation: Activation(.relu), bias: 0.2, target: 1)
        let array = gaussian.derivativeMoments(of: h, mean: -0.1, variance: 0.7, maxOrder: 3)
        var buffer = [Double](repeating: .nan, count: 4)
        buffer.withUnsafeMutableBufferPointer { gaussian.derivativeMoments(of: h, mean: -0.1, variance: 0.7, into: $0) }
        XCTAssertEqual(array, buffer)
    }
}

// MARK: - Closed forms (derivations/derivative-free-expectations.md)

private func normalDensity(_ a: Double) -> Double { exp(-0.5 * a * a) / (2 * Double.pi).squareRoot() }
private func normalCDF(_ a: Double) -> Double { 0.5 * erfc(-a / 2.0.squareRoot()) }

/// Typical size of E[f^(n)] for an O(1) signal: q^(-n/2) (1 + sqrt q), used where the exact value crosses zero.
private func magnitude(order n: Int, variance q: Double) -> Double {
    pow(q, -Double(n) / 2) * (1 + q.squareRoot())
}

private func relativeError(_ value: Double, _ exact: Double, scale: Double) -> Double {
    abs(value - exact) / max(abs(exact), 1e-3 * scale)
}

/// relu, x = lambda + b ~ N(m, q), s = sqrt q, a = m / s (eq. (6)):
/// n = 0: (y - m) Phi(a) - s phi(a); n = 1: y phi(a)/s - Phi(a);
/// n >= 2: phi(a) [ y He_{n-1}(-a) / s^n - He_{n-2}(-a) / s^(n-1) ].
private func reluMoment(order n: Int, target y: Double, shift m: Double, variance q: Double) -> Double {
    let s = q.squareRoot(), a = m / s
    switch n {
    case 0: return (y - m) * normalCDF(a) - s * normalDensity(a)
    case 1: return y * normalDensity(a) / s - normalCDF(a)
    default:
        return normalDensity(a) * (y * hermite(n - 1, -a) / pow(s, Double(n)) - hermite(n - 2, -a) / pow(s, Double(n - 1)))
    }
}

/// erf(x / sqrt 2), x ~ N(m, q) (eqs. (8)-(10)): E[h^(n)] = d^n/dm^n [ y A(m) - A(m) erf(beta m) ],
/// A(m) = sqrt(2/pi) (1+q)^(-1/2) e^{-m^2 / (2(1+q))}, beta = 1 / sqrt(2 (1+q)(1+2q)).
private func erfMoment(order n: Int, target y: Double, shift m: Double, variance q: Double) -> Double {
    let v = 1 + q
    let amplitude = (2 / Double.pi).squareRoot() / v.squareRoot() * exp(-m * m / (2 * v))
    // A^(k) = A (-1)^k v^(-k/2) He_k(m / sqrt v)
    func slopeDerivative(_ k: Int) -> Double {
        amplitude * pow(-1, Double(k)) * pow(v, -Double(k) / 2) * hermite(k, m / v.squareRoot())
    }
    let beta = 1 / (2 * v * (1 + 2 * q)).squareRoot()
    // d^j/dm^j erf(beta m) = beta^j (2/sqrt pi) (-1)^(j-1) H_{j-1}(beta m) e^{-beta^2 m^2}, H physicists'.
    func erfDerivative(_ j: Int) -> Double {
        if j == 0 { return erf(beta * m) }
        let z = beta * m
        let physicists = pow(2, Double(j - 1) / 2) * hermite(j - 1, 2.0.squareRoot() * z)
        return pow(beta, Double(j)) * 2 / Double.pi.squareRoot() * pow(-1, Double(j - 1)) * physicists * exp(-z * z)
    }
    var product = 0.0
    for k in 0...n {
        product += binomial(n, k) * slopeDerivative(k) * erfDerivative(n - k)
    }
    return y * slopeDerivative(n) - product
}

private func binomial(_ n: Int, _ k: Int) -> Double {
    (0..<k).reduce(1.0) { $0 * Double(n - $1) / Double($1 + 1) }
}

// Polynomials as coefficient arrays, lowest power first.
private func multiply(_ p: [Double], _ r: [Double]) -> [Double] {
    var product = [Double](repeating: 0, count: p.count + r.count - 1)
    for (i, a) in p.enumerated() { for (j, b) in r.enumerated() { product[i + j] += a * b } }
    return product
}

private func differentiate(_ p: [Double]) -> [Double] {
    p.count <= 1 ? [0] : (1..<p.count).map { Double($0) * p[$0] }
}

private func evaluate(_ p: [Double], at x: Double) -> Double {
    p.reversed().reduce(0) { $0 * x + $1 }
}
