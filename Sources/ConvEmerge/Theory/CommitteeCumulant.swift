import Foundation

/// The `cumulant` closure of K units (derivations/committee-closures.md §5): the gaussian closure
/// plus the first-order Edgeworth terms of the fourth cumulants of (x_i, lambda_1, ..., lambda_K),
///   sqrt(D) E[x f_k] += (1/(6 D)) sum_(a,b,c) T(w_a, w_b, w_c) E_G[d^3 f_k / dlambda_a dlambda_b dlambda_c]
///                     + sum_l C w_l (1/24) sum_(a,b,c,d) kappa_abcd E_G[d^5 f_k / dlambda_l dlambda_a..d],
/// kappa_abcd = w_a.T(w_b, w_c, w_d) / D^2, where only indices inside pairs {k, m} survive (F has no mixed
/// derivative in three distinct units). At K = 1 this is GaussianClosure's cumulant mode term by term.
/// T(w_a, w_b, w_c): for the leading diagram of odd marginals fused into one trilinear sum per row (2K
/// convolutions, O(K D log D + K^2 D)); otherwise by polarisation of the cubic action, T(w_k) per unit and
/// T(w_k +- w_m) per pair (K^2 actions, O(K^2 D log D)). The bias and readout drifts and the loss carry
/// (1/24) sum_(a,b,c,d) kappa_abcd E_G[d^4 F / dlambda_a..d] over every pair, like the weights (§5, eq. (S)).
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
    /// kappa_kkkk, the pair cumulants kappa_kkkm (at [k][m]) and kappa_kkmm, and the coefficients of T(w_l)
    /// and of C w_l in row k (K x K each), reused by every call.
    private var kappa4: [Double]
    private var kappaThreeOne: [Double]
    private var kappaTwoTwo: [Double]
    private var cubicCoefficients: [Double]
    private var covarianceCoefficients: [Double]
    /// E[g^(j)(a_k) g^(n)(a_m)] for every ordered pair (k inner, m outer), `pairOrders.count` each.
    private var pairMoments: [Double]
    private let moments = UnsafeMutableBufferPointer<Double>.allocate(capacity: 6)

    /// The (inner, outer) derivative orders of the stored pair expectations, inner >= outer (the swapped pair holds the
    /// others): eq. (T), the readout and the loss (eq. (S)); then the weights' eq. (E); then the bias's (eq. (S)).
    static let pairOrders: [(inner: Int, outer: Int)] = [(4, 0), (3, 1), (2, 2), (6, 0), (5, 1), (4, 2), (3, 3), (5, 0), (4, 1), (3, 2)]
    /// The leading pairOrders of the drift with a fixed bias (a trained one adds E50, E41, E32).
    private static let driftPairOrders = Array(pairOrders.prefix(7))
    /// E[g^(4-o)_k g^(o)_m], o = 0 ... 4: the loss's S_km(0, 0) from one pass per unordered pair.
    private static let lossPairOrders: [(inner: Int, outer: Int)] = (0...4).map { (4 - $0, $0) }
    /// The index in pairOrders of (inner, outer) at [inner * orderLimit + outer], -1 where not stored.
    private static let orderLimit = 7
    private static let momentIndex: [Int] = {
        var table = [Int](repeating: -1, count: orderLimit * orderLimit)
        for (index, order) in pairOrders.enumerated() { table[order.inner * orderLimit + order.outer] = index }
        return table
    }()

    /// The leading diagram of an odd marginal as one trilinear sum per row (2K convolutions, eq. (F)); false (or another
    /// cumulant) takes the polarisation of eq. (P), K^2 cubic actions: the baseline of `bench`.
    public let fused: Bool
    /// y_k = rho w_k (K x D), for the fused path.
    private let smoothedWeights: UnsafeMutablePointer<Double>

    /// `fusedLeadingDiagram` applies where it can: the leading method, an odd marginal (no chain diagram), not elliptical.
    public init(distribution: InputDistribution, target: Double, network: CommitteeNetwork, cumulant: FourthCumulant?,
                fusedLeadingDiagram: Bool = true) {
        gaussian = CommitteeGaussianClosure(distribution: distribution, target: target, network: network)
        self.cumulant = cumulant
        let fused = fusedLeadingDiagram && cumulant.map { $0.method == .leading && !$0.vanishes && $0.chainPrefactor == 0 && $0.ellipticalExcess == nil } == true
        self.fused = fused
        units = network.units
        activation = network.activation
        size = distribution.size
        workspace = cumulant?.makeWorkspace()
        cubicActions = .allocate(capacity: units * size)
        pairScratch = .allocate(capacity: 4 * size)
        smoothedWeights = .allocate(capacity: fused ? units * size : 0)
        kappa4 = [Double](repeating: 0, count: units)
        kappaThreeOne = [Double](repeating: 0, count: units * units)
        kappaTwoTwo = kappaThreeOne
        cubicCoefficients = kappaThreeOne
        covarianceCoefficients = kappaThreeOne
        pairMoments = [Double](repeating: 0, count: units * units * Self.pairOrders.count)
    }

    deinit {
        cubicActions.deallocate()
        pairScratch.deallocate()
        moments.deallocate()
        smoothedWeights.deallocate()
    }

    /// E[g^(i)(a_k) g^(o)(a_m)] for any orders, from whichever ordered pair stores it (inner >= outer).
    private func pairMoment(_ k: Int, _ m: Int, _ inner: Int, _ outer: Int) -> Double {
        let stride = Self.pairOrders.count, limit = Self.orderLimit
        return inner >= outer ? pairMoments[(k * units + m) * stride + Self.momentIndex[inner * limit + outer]]
            : pairMoments[(m * units + k) * stride + Self.momentIndex[outer * limit + inner]]
    }

    /// sum_(a,b,c,d in {k, m}) kappa_abcd E_G[d^4 (g^(p)_k g^(q)_m) / dlambda_a..d] (§5, eq. (S)): with the orderings
    /// 1, 4, 6, 4, 1 of (k,k,k,k), (k,k,k,m), (k,k,m,m), (k,m,m,m), (m,m,m,m),
    ///   kappa_kkkk E[4+p, q] + 4 kappa_kkkm E[3+p, 1+q] + 6 kappa_kkmm E[2+p, 2+q] + 4 kappa_kmmm E[1+p, 3+q] + kappa_mmmm E[p, 4+q],
    /// E[i, o] = E[g^(i)_k g^(o)_m]. (p, q) = (0, 0): readout and loss; (1, 0): bias; (2, 0), (1, 1): the weights' eq. (E).
    private func pairFourthOrderSum(_ k: Int, _ m: Int, inner p: Int, outer q: Int) -> Double {
        pairFourthOrderSum(k, m, inner: p, outer: q) { pairMoment(k, m, $0, $1) }
    }

    /// The same with E[g^(i)_k g^(o)_m] = moment(i, o).
    private func pairFourthOrderSum(_ k: Int, _ m: Int, inner p: Int, outer q: Int, moment: (Int, Int) -> Double) -> Double {
        let kkkm = kappaThreeOne[k * units + m], kmmm = kappaThreeOne[m * units + k], kkmm = kappaTwoTwo[k * units + m]
        return kappa4[k] * moment(4 + p, q) + 4 * kkkm * moment(3 + p, 1 + q) + 6 * kkmm * moment(2 + p, 2 + q)
            + 4 * kmmm * moment(1 + p, 3 + q) + kappa4[m] * moment(p, 4 + q)
    }

    /// The `orders` (a prefix of pairOrders) of every ordered pair of units, at the overlaps of the last gaussian call.
    private func computePairMoments(_ b: UnsafePointer<Double>, orders: [(inner: Int, outer: Int)]) {
        let overlap = gaussian.overlap, stride = Self.pairOrders.count
        for k in 0..<units {
            for m in 0..<units where m != k {
                pairMoments.withUnsafeMutableBufferPointer { stored in
                    gaussian.pairs.derivativePairMoments(
                        orders: orders, meanA: b[k], meanB: b[m], varianceA: overlap[k * units + k],
                        varianceB: overlap[m * units + m], covariance: overlap[k * units + m],
                        into: stored.baseAddress! + (k * units + m) * stride)
                }
            }
        }
    }

    /// T(w_k), kappa_kkkk and kappa_kkkm = w_m.T(w_k) / D^2 for every unit and pair.
    private func cubicOrder(_ w: UnsafePointer<Double>, _ cumulant: FourthCumulant) {
        let d2 = Double(size) * Double(size)
        for k in 0..<units {
            cumulant.action(w + k * size, into: cubicActions + k * size, workspace: workspace!)
        }
        for k in 0..<units {
            for m in 0..<units { kappaThreeOne[k * units + m] = dot(w + m * size, cubicActions + k * size, size) / d2 }
            kappa4[k] = kappaThreeOne[k * units + k]
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
        if fused { fusedCumulants(w, cumulant, smoothed: smoothedWeights) } else { cubicOrder(w, cumulant) }
        let overlap = gaussian.overlap
        let kinks = activation.kinks, transitions = activation.transitions
        for i in 0..<(units * units) {
            cubicCoefficients[i] = 0
            covarianceCoefficients[i] = 0
        }
        computePairMoments(b, orders: biasDrift == nil ? Self.driftPairOrders : Self.pairOrders)
        if !fused {
            for k in 0..<units {
                for m in (k + 1)..<units { addPairTerms(k, m, w, v, out, cumulant) }
            }
        }
        for k in 0..<units {
            gaussian.expectation.derivativeMoments(of: gaussian.ownSignal(k, v, b), breakpoints: kinks.map { $0 - b[k] },
                                                   transitions: transitions.map { $0 - b[k] },
                                                   variance: overlap[k * units + k], into: moments)
            addCoefficients(k, v)
            // §5, eq. (S): f_k = v_k s_k - sum_m v_k v_m g'_k g_m, (y - yhat) g_k = l_k - sum_m v_m g_k g_m.
            if let biasDrift {
                biasDrift[k] += v[k] * kappa4[k] / 24 * moments[4]
                var pairs = 0.0
                for m in 0..<units where m != k { pairs -= v[k] * v[m] * pairFourthOrderSum(k, m, inner: 1, outer: 0) }
                biasDrift[k] += pairs / 24
            }
            if let readoutDrift {
                let readout = v[k], y = gaussian.target, g = activation
                readoutDrift[k] += kappa4[k] / 24 * ownFourthMoment(k, b) { a in (y - readout * g.value(a)) * g.value(a) }
                var pairs = 0.0
                for m in 0..<units where m != k { pairs -= v[m] * pairFourthOrderSum(k, m, inner: 0, outer: 0) }
                readoutDrift[k] += pairs / 24
            }
        }
        for k in 0..<units {
            for l in 0..<units { axpy(covarianceCoefficients[k * units + l], gaussian.covarianceTimesW + l * size, out + k * size, size) }
        }
        if fused {
            addFusedCubicTerms(w, v, cumulant, smoothed: smoothedWeights, out)
            return
        }
        let scale = 1 / (6 * Double(size))
        for k in 0..<units {
            for l in 0..<units { axpy(scale * cubicCoefficients[k * units + l], cubicActions + l * size, out + k * size, size) }
        }
    }

    /// Row k's coefficients of T(w_k) (eq. (T): E[d^3 f_k / dlambda_k^3]) and of C w_l (eq. (E)), `moments`
    /// holding E_G[s_k^(n)], n <= 5:
    ///   C w_k: (1/24)[kappa_kkkk v_k E[s_k^(5)] - v_k v_m sum_m (k_kkkk E60 + 4 k_kkkm E51 + 6 k_kkmm E42 + 4 k_kmmm E33 + k_mmmm E24)],
    ///   C w_m: -(v_k v_m / 24)(k_kkkk E51 + 4 k_kkkm E42 + 6 k_kkmm E33 + 4 k_kmmm E24 + k_mmmm E15),
    /// Ejn = E[g^(j)_k g^(n)_m]: the pair sums of eq. (S) with (p, q) = (2, 0) and (1, 1).
    private func addCoefficients(_ k: Int, _ v: UnsafePointer<Double>) {
        var ownThird = v[k] * moments[3], pairFifth = 0.0
        let ownFifth = v[k] * moments[5]
        for m in 0..<units where m != k {
            let product = -v[k] * v[m]
            ownThird += product * pairMoment(k, m, 4, 0)
            pairFifth += product * pairFourthOrderSum(k, m, inner: 2, outer: 0)
            covarianceCoefficients[k * units + m] += product / 24 * pairFourthOrderSum(k, m, inner: 1, outer: 1)
        }
        cubicCoefficients[k * units + k] += ownThird
        covarianceCoefficients[k * units + k] += (kappa4[k] * ownFifth + pairFifth) / 24
    }

    /// The pair {k, m}'s T terms of rows k and m (§5, eq. (P)): with P = T(w_k + w_m), M = T(w_k - w_m),
    ///   T(w_k, w_k, w_m) = (P - M - 2 T(w_m)) / 6,   T(w_k, w_m, w_m) = (P + M - 2 T(w_k)) / 6,
    /// row k gains (3 alpha_km T(kkm) + 3 beta T(kmm) + gamma_km T(mmm)) / (6 D), alpha_km = -v_k v_m E[g'''_k g'_m],
    /// beta = -v_k v_m E[g''_k g''_m], gamma_km = -v_k v_m E[g'_k g'''_m]; row m the same with k and m swapped.
    /// Also kappa_kkmm = w_k.T(w_k, w_m, w_m) / D^2.
    private func addPairTerms(_ k: Int, _ m: Int, _ w: UnsafePointer<Double>, _ v: UnsafePointer<Double>,
                              _ out: UnsafeMutablePointer<Double>, _ cumulant: FourthCumulant) {
        let (plus, minus) = polarisePair(k, m, w, cumulant)
        let product = -v[k] * v[m]
        let alphaK = product * pairMoment(k, m, 3, 1), alphaM = product * pairMoment(m, k, 3, 1)
        let beta = product * pairMoment(k, m, 2, 2)
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

    /// P = T(w_k + w_m) and M = T(w_k - w_m) into the pair scratch (eq. (P)), and kappa_kkmm = w_k.(P + M - 2 T(w_k)) / (6 D^2),
    /// `cubicActions` and kappa4 holding the units' own (cubicOrder).
    private func polarisePair(_ k: Int, _ m: Int, _ w: UnsafePointer<Double>, _ cumulant: FourthCumulant)
        -> (plus: UnsafeMutablePointer<Double>, minus: UnsafeMutablePointer<Double>) {
        let sum = pairScratch, difference = pairScratch + size, plus = pairScratch + 2 * size, minus = pairScratch + 3 * size
        let wk = w + k * size, wm = w + m * size
        for i in 0..<size {
            sum[i] = wk[i] + wm[i]
            difference[i] = wk[i] - wm[i]
        }
        cumulant.action(sum, into: plus, workspace: workspace!)
        cumulant.action(difference, into: minus, workspace: workspace!)
        let d2 = Double(size) * Double(size)
        let twoTwo = (dot(wk, plus, size) + dot(wk, minus, size) - 2 * kappa4[k] * d2) / (6 * d2)
        kappaTwoTwo[k * units + m] = twoTwo
        kappaTwoTwo[m * units + k] = twoTwo
        return (plus, minus)
    }

    // MARK: the fused leading diagram (§5, eq. (F))

    /// y_k = rho w_k for every unit, and kappa_kkkm, kappa_kkmm from them by dot products:
    ///   kappa_kkkm = P [w_m.y_k^3 + 3 y_m.(w_k y_k^2)] / D^2,   kappa_kkmm = 2 P [w_k.(y_k y_m^2) + w_m.(y_k^2 y_m)] / D^2.
    private func fusedCumulants(_ w: UnsafePointer<Double>, _ cumulant: FourthCumulant, smoothed y: UnsafeMutablePointer<Double>) {
        let n = size, prefactor = cumulant.leadingPrefactor / (Double(n) * Double(n))
        for k in 0..<units { cumulant.correlation.apply(w + k * n, y + k * n, workspace: workspace!.spectrum) }
        for k in 0..<units {
            let wk = w + k * n, yk = y + k * n
            for m in 0..<units {
                let wm = w + m * n, ym = y + m * n
                var threeOne = 0.0, twoTwo = 0.0
                for i in 0..<n {
                    let square = yk[i] * yk[i]
                    threeOne += wm[i] * square * yk[i] + 3 * ym[i] * wk[i] * square
                    twoTwo += wk[i] * yk[i] * ym[i] * ym[i] + wm[i] * square * ym[i]
                }
                kappaThreeOne[k * units + m] = prefactor * threeOne
                kappaTwoTwo[k * units + m] = 2 * prefactor * twoTwo
            }
            kappa4[k] = kappaThreeOne[k * units + k]
        }
    }

    /// Row k's T terms, c_kkk T(kkk) + sum_m (3 alpha_km T(kkm) + 3 beta_km T(kmm) + gamma_km T(mmm)), all over 6 D,
    /// with the symmetric trilinear leading diagram T(u, v, w) = P [y_u y_v y_w + rho(u y_v y_w + v y_u y_w + w y_u y_v)]:
    /// one pointwise sum and one convolution per row instead of K cubic actions (eq. (F)).
    private func addFusedCubicTerms(_ w: UnsafePointer<Double>, _ v: UnsafePointer<Double>, _ cumulant: FourthCumulant,
                                    smoothed y: UnsafeMutablePointer<Double>, _ out: UnsafeMutablePointer<Double>) {
        let n = size, pointwise = pairScratch, inner = pairScratch + n
        let scale = cumulant.leadingPrefactor / (6 * Double(n))
        for k in 0..<units {
            let wk = w + k * n, yk = y + k * n, own = cubicCoefficients[k * units + k]
            for i in 0..<n {
                let square = yk[i] * yk[i]
                pointwise[i] = own * square * yk[i]
                inner[i] = 3 * own * wk[i] * square
            }
            for m in 0..<units where m != k {
                let product = -v[k] * v[m]
                let kkm = 3 * product * pairMoment(k, m, 3, 1), kmm = 3 * product * pairMoment(k, m, 2, 2), mmm = product * pairMoment(m, k, 3, 1)
                let wm = w + m * n, ym = y + m * n
                for i in 0..<n {
                    let a = yk[i], b = ym[i]
                    pointwise[i] += kkm * a * a * b + kmm * a * b * b + mmm * b * b * b
                    inner[i] += kkm * (2 * wk[i] * a * b + wm[i] * a * a) + kmm * (wk[i] * b * b + 2 * wm[i] * a * b) + 3 * mmm * wm[i] * b * b
                }
            }
            cumulant.correlation.apply(inner, inner, workspace: workspace!.spectrum)
            let row = out + k * n
            for i in 0..<n { row[i] += scale * (pointwise[i] + inner[i]) }
        }
    }

    /// The gaussian loss plus (1/24) sum_abcd kappa_abcd E_G[d^4 F / dlambda_a..d] (§5, eq. (S)): each unit's own
    /// kappa_kkkk E[l_k''''], l_k = (y - v_k g_k)^2 / 2, and the pair sums of v_k v_m g_k g_m. Evaluated at saves only,
    /// so the cumulants come by polarisation, which serves every cumulant (and at K = 1 is the neuron's w.T(w)).
    public func loss(weights w: UnsafePointer<Double>, readouts v: UnsafePointer<Double>, biases b: UnsafePointer<Double>) -> Double {
        var total = gaussian.loss(weights: w, readouts: v, biases: b)
        guard let cumulant else { return total }
        cubicOrder(w, cumulant)
        for k in 0..<units {
            for m in (k + 1)..<units { _ = polarisePair(k, m, w, cumulant) }
        }
        let overlap = gaussian.overlap
        let fourthOrder = UnsafeMutablePointer<Double>.allocate(capacity: Self.lossPairOrders.count)
        defer { fourthOrder.deallocate() }
        for k in 0..<units {
            let readout = v[k], y = gaussian.target, g = activation
            total += kappa4[k] / 24 * ownFourthMoment(k, b) { a in
                let error = y - readout * g.value(a)
                return 0.5 * error * error
            }
            for m in (k + 1)..<units {
                gaussian.pairs.derivativePairMoments(orders: Self.lossPairOrders, meanA: b[k], meanB: b[m], varianceA: overlap[k * units + k],
                                                     varianceB: overlap[m * units + m], covariance: overlap[k * units + m], into: fourthOrder)
                total += v[k] * v[m] * pairFourthOrderSum(k, m, inner: 0, outer: 0) { _, outer in fourthOrder[outer] } / 24
            }
        }
        return total
    }
}

extension CommitteePairExpectations {
    /// G_n(mu, s^2) = d^n/dmu^n G_0 = E[g^(n)(a)], a ~ N(mu, s^2), n = 0 ... 6 (derivations/committee-closures.md §5, eq. (G6)):
    /// relu G_n = (-1)^n He_(n-2)(z) phi(z) / s^(n-1) (n >= 2), erf G_n = G_1 (-1)^(n-1) He_(n-1)(mu/sqrt S) / S^((n-1)/2).
    func conditionalDerivatives(mean mu: Double, variance s2: Double, into g: UnsafeMutablePointer<Double>) {
        let low = conditionalMoments(mean: mu, variance: s2)
        g[0] = low.0; g[1] = low.1; g[2] = low.2
        for n in 3...6 { g[n] = 0 }
        switch activation.kind {
        case .erf:
            let spread = 1 + s2, z = mu / spread.squareRoot(), step = 1 / spread.squareRoot()
            var previous = 1.0, current = z, scale = step
            for n in 2...6 {
                // current = He_(n-1)(z), previous = He_(n-2)(z); scale = S^(-(n-1)/2).
                g[n] = (n % 2 == 0 ? -1 : 1) * low.1 * current * scale
                (previous, current) = (current, z * current - Double(n - 1) * previous)
                scale *= step
            }
        case .relu:
            guard s2 > 0 else { return }
            let s = s2.squareRoot(), z = mu / s
            var previous = 0.0, current = 1.0, factor = low.2 / s
            for n in 3...6 {
                // He_(n-2)(z) from He_(n-3): He_(m+1) = z He_m - m He_(m-1).
                (previous, current) = (current, z * current - Double(n - 3) * previous)
                g[n] = (n % 2 == 0 ? 1 : -1) * current * factor
                factor /= s
            }
        default:
            return
        }
    }

    /// E[g^(j)(a) g^(n)(b)] for each (j, n) of `orders` (j + i <= 6 for i < n), one pass over b. For n >= 2 the
    /// outer derivatives move onto the conditional moments by parts in b (no derivative of relu's kink):
    ///   E[H(b) g^(n)(b)] = E[g'(b) sum_(i<n) C(n-1, i) (-1)^i H^(i)(b) He_(n-1-i)(u) / sigma^(n-1-i)],
    /// H = G_j(mu(b)), H^(i) = (Q_ab/Q_bb)^i G_(j+i), u = (b - mu_b)/sigma. A degenerate b (Q_bb = 0) gives 0 for
    /// n >= 2 (its terms carry a cumulant of w_b = 0).
    public func derivativePairMoments(orders: [(inner: Int, outer: Int)], meanA: Double, meanB: Double,
                                      varianceA: Double, varianceB: Double, covariance: Double) -> [Double] {
        [Double](unsafeUninitializedCapacity: orders.count) { buffer, count in
            derivativePairMoments(orders: orders, meanA: meanA, meanB: meanB, varianceA: varianceA, varianceB: varianceB,
                                  covariance: covariance, into: buffer.baseAddress!)
            count = orders.count
        }
    }

    /// Allocation-free form for right-hand sides: `result` has one entry per order.
    func derivativePairMoments(orders: [(inner: Int, outer: Int)], meanA: Double, meanB: Double, varianceA: Double,
                               varianceB: Double, covariance: Double, into result: UnsafeMutablePointer<Double>) {
        precondition(orders.allSatisfy { order in order.inner >= 0 && order.outer >= 0 && order.inner <= 6 && order.outer <= 6 && order.inner + order.outer <= 7 },
                     "derivativePairMoments: orders up to G_6")
        let g = activation
        result.update(repeating: 0, count: orders.count)
        let slope = varianceB > 0 ? covariance / varianceB : 0, inverseVariance = varianceB > 0 ? 1 / varianceB : 0
        orders.withUnsafeBufferPointer { orders in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 14) { buffer in
                // conditional[n] = G_n(mu(b)); scaled[r] = He_r(u) / sigma^r, by the recurrence in t = u / sigma.
                let conditional = buffer.baseAddress!, scaled = conditional + 7
                integrateOverOuter(meanA: meanA, meanB: meanB, varianceA: varianceA, varianceB: varianceB, covariance: covariance) { weight, b, mean, variance in
                    conditionalDerivatives(mean: mean, variance: variance, into: conditional)
                    let t = (b - meanB) * inverseVariance
                    scaled[0] = 1; scaled[1] = t
                    for m in 1..<6 { scaled[m + 1] = t * scaled[m] - Double(m) * inverseVariance * scaled[m - 1] }
                    let value = g.value(b), slope1 = g.derivative(b)
                    for index in 0..<orders.count {
                        let (inner, outer) = orders[index]
                        if outer == 0 { result[index] += weight * conditional[inner] * value; continue }
                        if outer >= 2 && varianceB == 0 { continue }
                        let r = outer - 1
                        var sum = 0.0, coefficient = 1.0
                        for i in 0...r {
                            sum += coefficient * conditional[inner + i] * scaled[r - i]
                            coefficient *= -slope * Double(r - i) / Double(i + 1)
                        }
                        result[index] += weight * slope1 * sum
                    }
                }
            }
        }
    }
}
