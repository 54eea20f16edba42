import Foundation

/// The `cumulant` closure of K units (derivations/committee-closures.md §5): the gaussian closure
/// plus the first-order Edgeworth terms of the fourth cumulant,
///   sqrt(D) E[x f_k] += (1/(6 D)) sum_(a,b,c) T(w_a, w_b, w_c) E[d^3 f_k / dlambda_a dlambda_b dlambda_c]
///                     + C w_k v_k kappa4_k / 24 E[s_k^(5)],      kappa4_k = w_k.T(w_k) / D^2,
/// where only triples inside pairs {k, m} survive (F has no mixed derivative in three distinct units)
/// and s_k is the unit's own signal of CommitteeGaussianClosure. At K = 1 this is GaussianClosure's
/// cumulant mode term by term. The joint fourth cumulants of two units' preactivations (the Edgeworth
/// corrections of the pair expectations) are omitted: §5 gives their order.
/// T(w_a, w_b, w_c) by polarisation of the cubic action: T(w_k) per unit and T(w_k +- w_m) per pair,
/// K^2 actions, O(K^2 D log D) per call with the leading diagram.
public final class CommitteeCumulantClosure: CommitteeClassExpectation {
    let gaussian: CommitteeGaussianClosure
    /// nil for a Gaussian class: the closure is then the gaussian one.
    let cumulant: FourthCumulant?
    let units: Int
    let activation: Activation
    private let size: Int
    private let workspace: CumulantWorkspace?
    /// T(w_k) for each unit (K x D); the pair scratch w_k +- w_m and T(w_k +- w_m).
    private let cubicActions: UnsafeMutablePointer<Double>
    private let pairScratch: UnsafeMutablePointer<Double>
    /// kappa4_k and the coefficient of T(w_l) in row k (K x K), reused by every call.
    private var kappa4: [Double]
    private var cubicCoefficients: [Double]
    private var pairMoments: [CommitteePairExpectations.FourthOrderMoments]
    private let moments = UnsafeMutableBufferPointer<Double>.allocate(capacity: 6)

    public init(distribution: InputDistribution, target: Double, network: CommitteeNetwork, cumulant: FourthCumulant?) {
        gaussian = CommitteeGaussianClosure(distribution: distribution, target: target, network: network)
        self.cumulant = cumulant
        units = network.units
        activation = network.activation
        size = distribution.size
        workspace = cumulant?.makeWorkspace()
        cubicActions = .allocate(capacity: units * size)
        pairScratch = .allocate(capacity: 4 * size)
        kappa4 = [Double](repeating: 0, count: units)
        cubicCoefficients = [Double](repeating: 0, count: units * units)
        pairMoments = [CommitteePairExpectations.FourthOrderMoments](repeating: .init(), count: units * units)
    }

    deinit {
        cubicActions.deallocate()
        pairScratch.deallocate()
        moments.deallocate()
    }

    /// T(w_k) and kappa4_k for every unit.
    private func cubicOrder(_ w: UnsafePointer<Double>, _ cumulant: FourthCumulant) {
        let d = Double(size)
        for k in 0..<units {
            cumulant.action(w + k * size, into: cubicActions + k * size, workspace: workspace!)
            kappa4[k] = dot(w + k * size, cubicActions + k * size, size) / (d * d)
        }
    }

    /// The unit's own function of lambda_k, shifted by its bias, with the kinks as breakpoints: E_G[f^(4)].
    private func ownFourthMoment(_ k: Int, _ b: UnsafePointer<Double>, _ f: @escaping (Double) -> Double) -> Double {
        let bias = b[k]
        return gaussian.expectation.derivativeMoments(of: { f($0 + bias) }, breakpoints: activation.kinks.map { $0 - bias },
                                                      transitions: activation.transitions.map { $0 - bias },
                                                      variance: gaussian.overlap[k * units + k], maxOrder: 4)[4]
    }

    public func drift(weights w: UnsafePointer<Double>, readouts v: UnsafePointer<Double>, biases b: UnsafePointer<Double>,
                      weightDrift out: UnsafeMutablePointer<Double>, readoutDrift: UnsafeMutablePointer<Double>?,
                      biasDrift: UnsafeMutablePointer<Double>?) {
        gaussian.drift(weights: w, readouts: v, biases: b, weightDrift: out, readoutDrift: readoutDrift, biasDrift: biasDrift)
        guard let cumulant else { return }
        cubicOrder(w, cumulant)
        let d = Double(size), overlap = gaussian.overlap
        let kinks = activation.kinks, transitions = activation.transitions
        for i in 0..<(units * units) { cubicCoefficients[i] = 0 }
        for k in 0..<units {
            for m in 0..<units where m != k {
                pairMoments[k * units + m] = gaussian.pairs.fourthOrderMoments(
                    meanA: b[k], meanB: b[m], varianceA: overlap[k * units + k], varianceB: overlap[m * units + m],
                    covariance: overlap[k * units + m])
            }
        }
        for k in 0..<units {
            gaussian.expectation.derivativeMoments(of: gaussian.ownSignal(k, v, b), breakpoints: kinks.map { $0 - b[k] },
                                                   transitions: transitions.map { $0 - b[k] },
                                                   variance: overlap[k * units + k], into: moments)
            // E[d^3 f_k / dlambda_k^3] = v_k E[s_k'''] - v_k sum_m v_m E[g''''_k g_m] (§5, eq. (T)).
            var ownThird = v[k] * moments[3]
            for m in 0..<units where m != k { ownThird -= v[k] * v[m] * pairMoments[k * units + m].fourthValue }
            cubicCoefficients[k * units + k] += ownThird
            axpy(v[k] * kappa4[k] / 24 * moments[5], gaussian.covarianceTimesW + k * size, out + k * size, size)
            biasDrift?[k] += v[k] * kappa4[k] / 24 * moments[4]
            if let readoutDrift {
                let readout = v[k], y = gaussian.target, g = activation
                readoutDrift[k] += kappa4[k] / 24 * ownFourthMoment(k, b) { a in (y - readout * g.value(a)) * g.value(a) }
            }
        }
        for k in 0..<units {
            for m in (k + 1)..<units { addPairTerms(k, m, w, v, out, cumulant) }
        }
        let scale = 1 / (6 * d)
        for k in 0..<units {
            for l in 0..<units where cubicCoefficients[k * units + l] != 0 {
                axpy(scale * cubicCoefficients[k * units + l], cubicActions + l * size, out + k * size, size)
            }
        }
    }

    /// The pair {k, m}'s terms of rows k and m (§5, eq. (P)): with P = T(w_k + w_m), M = T(w_k - w_m),
    ///   T(w_k, w_k, w_m) = (P - M - 2 T(w_m)) / 6,   T(w_k, w_m, w_m) = (P + M - 2 T(w_k)) / 6,
    /// row k gains (3 alpha_km T(kkm) + 3 beta T(kmm) + gamma_km T(mmm)) / (6 D), alpha_km = -v_k v_m E[g'''_k g'_m],
    /// beta = -v_k v_m E[g''_k g''_m], gamma_km = -v_k v_m E[g'_k g'''_m]; row m the same with k and m swapped.
    private func addPairTerms(_ k: Int, _ m: Int, _ w: UnsafePointer<Double>, _ v: UnsafePointer<Double>,
                              _ out: UnsafeMutablePointer<Double>, _ cumulant: FourthCumulant) {
        let sum = pairScratch, difference = pairScratch + size, plus = pairScratch + 2 * size, minus = pairScratch + 3 * size
        let wk = w + k * size, wm = w + m * size
        for i in 0..<size {
            sum[i] = wk[i] + wm[i]
            difference[i] = wk[i] - wm[i]
        }
        cumulant.action(sum, into: plus, workspace: workspace!)
        cumulant.action(difference, into: minus, workspace: workspace!)
        let product = -v[k] * v[m]
        let forward = pairMoments[k * units + m], backward = pairMoments[m * units + k]
        let alphaK = product * forward.thirdSlope, alphaM = product * backward.thirdSlope
        let beta = product * forward.curvatureCurvature
        let gammaK = alphaM, gammaM = alphaK
        let scale = 1 / (6 * Double(size))
        axpy(scale * (alphaK + beta) / 2, plus, out + k * size, size)
        axpy(scale * (beta - alphaK) / 2, minus, out + k * size, size)
        axpy(scale * (alphaM + beta) / 2, plus, out + m * size, size)
        axpy(scale * (alphaM - beta) / 2, minus, out + m * size, size)
        cubicCoefficients[k * units + k] -= beta
        cubicCoefficients[k * units + m] += gammaK - alphaK
        cubicCoefficients[m * units + m] -= beta
        cubicCoefficients[m * units + k] += gammaM - alphaM
    }

    /// The gaussian loss plus each unit's own correction kappa4_k / 24 E[l_k''''], l_k = (y - v_k g_k)^2 / 2.
    public func loss(weights w: UnsafePointer<Double>, readouts v: UnsafePointer<Double>, biases b: UnsafePointer<Double>) -> Double {
        var total = gaussian.loss(weights: w, readouts: v, biases: b)
        guard let cumulant else { return total }
        cubicOrder(w, cumulant)
        for k in 0..<units {
            let readout = v[k], y = gaussian.target, g = activation
            total += kappa4[k] / 24 * ownFourthMoment(k, b) { a in
                let error = y - readout * g.value(a)
                return 0.5 * error * error
            }
        }
        return total
    }
}

extension CommitteePairExpectations {
    /// (G_2, G_3, G_4)(mu, s^2), G_n = d^n/dmu^n G_0 = E[g^(n)(a)], a ~ N(mu, s^2) (derivations/committee-closures.md §5, eq. (G4)).
    func higherConditionalMoments(mean mu: Double, variance s2: Double) -> (Double, Double, Double) {
        switch activation.kind {
        case .linear:
            return (0, 0, 0)
        case .quadratic:
            return (2, 0, 0)
        case .erf:
            let spread = 1 + s2
            let first = 0.79788456080286535588 * exp(-0.5 * mu * mu / spread) / spread.squareRoot()
            let z2 = mu * mu / spread
            return (-mu / spread * first, first * (z2 - 1) / spread, first * mu * (3 - z2) / (spread * spread))
        case .relu:
            guard s2 > 0 else { return (0, 0, 0) }
            let s = s2.squareRoot(), z = mu / s
            let density = exp(-0.5 * z * z) * 0.39894228040143267794 / s
            return (density, -z * density / s, (z * z - 1) * density / s2)
        default:
            preconditionFailure("unreachable: checked in init")
        }
    }

    /// The pair expectations of the cumulant closure, inner a and outer b.
    public struct FourthOrderMoments: Sendable {
        /// E[g''''(a) g(b)], E[g'''(a) g'(b)], E[g''(a) g''(b)].
        public var fourthValue = 0.0, thirdSlope = 0.0, curvatureCurvature = 0.0
    }

    /// One pass over b. E[g''(a) g''(b)] by parts in b (no second derivative of relu at the outer kink):
    ///   E[H(b) g''(b)] = E[g'(b) (H(b)(b - mu_b)/V_b - H'(b))],  H = G_2(mu(b)), H' = (C/V_b) G_3(mu(b)).
    public func fourthOrderMoments(meanA: Double, meanB: Double, varianceA: Double, varianceB: Double, covariance: Double) -> FourthOrderMoments {
        let g = activation
        var result = FourthOrderMoments()
        guard varianceB > 0 else {
            let inner = higherConditionalMoments(mean: meanA, variance: varianceA)
            result.fourthValue = inner.2 * g.value(meanB)
            result.thirdSlope = inner.1 * g.derivative(meanB)
            result.curvatureCurvature = inner.0 * higherConditionalMoments(mean: meanB, variance: 0).0
            return result
        }
        let slope = covariance / varianceB
        integrateOverOuter(meanA: meanA, meanB: meanB, varianceA: varianceA, varianceB: varianceB, covariance: covariance) { weight, b, mean, variance in
            let conditional = higherConditionalMoments(mean: mean, variance: variance)
            let outerSlope = g.derivative(b)
            result.fourthValue += weight * conditional.2 * g.value(b)
            result.thirdSlope += weight * conditional.1 * outerSlope
            result.curvatureCurvature += weight * outerSlope * (conditional.0 * (b - meanB) / varianceB - slope * conditional.1)
        }
        return result
    }
}
