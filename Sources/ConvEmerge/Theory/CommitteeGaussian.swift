import Foundation

/// The `gaussian` closure of K units: multivariate Stein's lemma on x ~ N(0, C),
///   sqrt(D) E[x f_k(lambda)] = sum_l C w_l E[d f_k / d lambda_l],
/// with lambda ~ N(0, Q), Q_kl = w_k.C w_l / D, and f_k = v_k g'_k (y - yhat). Its expectations
/// are one-dimensional (the unit's own terms, by GaussianExpectation as for one neuron, so that
/// K = 1 is the single-neuron closure) or pairs (CommitteePairExpectations):
///   E[d f_k/d lambda_k] = v_k E[((y - v_k g_k) g'_k)'] - v_k sum_(m != k) v_m E[g''_k g_m],
///   E[d f_k/d lambda_l] = -v_k v_l E[g'_k g'_l]   (l != k).
/// Cost per call: K covariance products by FFT, K^2 D for Q and the combination, and K^2 pair
/// integrals independent of D. Derivation: derivations/committee-closures.md §1, §3.
public final class CommitteeGaussianClosure: CommitteeClassExpectation {
    let distribution: InputDistribution
    let target: Double
    let units: Int
    let activation: Activation
    let pairs: CommitteePairExpectations
    let expectation = GaussianExpectation()
    private let size: Int
    /// C w_k for each unit (K x D).
    let covarianceTimesW: UnsafeMutablePointer<Double>
    private var fftWorkspace: [Double]
    /// Q (K x K) and the coefficients E[d f_k / d lambda_l] (K x K), reused by every call.
    private(set) var overlap: [Double]
    private var coefficients: [Double]
    private let moments = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2)

    public init(distribution: InputDistribution, target: Double, network: CommitteeNetwork) {
        self.distribution = distribution
        self.target = target
        units = network.units
        activation = network.activation
        pairs = CommitteePairExpectations(activation: network.activation)
        size = distribution.size
        covarianceTimesW = .allocate(capacity: units * size)
        fftWorkspace = distribution.covariance.makeWorkspace()
        overlap = [Double](repeating: 0, count: units * units)
        coefficients = overlap
    }

    deinit {
        covarianceTimesW.deallocate()
        moments.deallocate()
    }

    /// C w_k by FFT and Q_kl = w_k.C w_l / D.
    private func secondOrder(_ w: UnsafePointer<Double>) {
        fftWorkspace.withUnsafeMutableBufferPointer { workspace in
            for k in 0..<units {
                distribution.applyCovariance(w + k * size, into: covarianceTimesW + k * size, workspace: workspace.baseAddress!)
            }
        }
        let d = Double(size)
        for k in 0..<units {
            for l in k..<units {
                let q = dot(w + k * size, covarianceTimesW + l * size, size) / d
                overlap[k * units + l] = q
                overlap[l * units + k] = q
            }
        }
    }

    /// The pair moments of units k (inner) and m (outer), a_k = lambda_k + b_k.
    private func pairMoments(_ k: Int, _ m: Int, _ b: UnsafePointer<Double>) -> CommitteePairExpectations.Moments {
        pairs.moments(meanA: b[k], meanB: b[m], varianceA: overlap[k * units + k], varianceB: overlap[m * units + m],
                      covariance: overlap[k * units + m])
    }

    /// The unit's own function of lambda_k, evaluated as the single neuron's error signal is.
    func ownSignal(_ k: Int, _ v: UnsafePointer<Double>, _ b: UnsafePointer<Double>) -> (Double) -> Double {
        let g = activation, y = target, readout = v[k], bias = b[k]
        return { lambda in
            let a = lambda + bias
            return (y - readout * g.value(a)) * g.derivative(a)
        }
    }

    public func drift(weights w: UnsafePointer<Double>, readouts v: UnsafePointer<Double>, biases b: UnsafePointer<Double>,
                      weightDrift out: UnsafeMutablePointer<Double>, readoutDrift: UnsafeMutablePointer<Double>?,
                      biasDrift: UnsafeMutablePointer<Double>?) {
        secondOrder(w)
        let kinks = activation.kinks, transitions = activation.transitions
        for k in 0..<units {
            expectation.derivativeMoments(of: ownSignal(k, v, b), breakpoints: kinks.map { $0 - b[k] },
                                          transitions: transitions.map { $0 - b[k] }, variance: overlap[k * units + k], into: moments)
            coefficients[k * units + k] = v[k] * moments[1]
            biasDrift?[k] = v[k] * moments[0]
        }
        for k in 0..<units {
            if let readoutDrift {
                let readout = v[k], y = target, g = activation
                readoutDrift[k] = ownMean(k, b) { a in (y - readout * g.value(a)) * g.value(a) }
            }
            for m in 0..<units where m != k {
                // One pass over a_m gives every pair moment this (k, m) needs.
                let pair = pairMoments(k, m, b)
                coefficients[k * units + k] -= v[k] * v[m] * pair.curvatureValue
                // E[g'_k g'_m] is symmetric: taken from the pass with k < m.
                if m > k {
                    coefficients[k * units + m] = -v[k] * v[m] * pair.slopeSlope
                    coefficients[m * units + k] = -v[k] * v[m] * pair.slopeSlope
                }
                biasDrift?[k] -= v[k] * v[m] * pair.slopeValue
                readoutDrift?[k] -= v[m] * pair.valueValue
            }
        }
        for k in 0..<units {
            let row = out + k * size
            let own = coefficients[k * units + k]
            let cw = covarianceTimesW + k * size
            for i in 0..<size { row[i] = own * cw[i] }
            for l in 0..<units where l != k { axpy(coefficients[k * units + l], covarianceTimesW + l * size, row, size) }
        }
    }

    /// E[f(lambda_k + b_k)] for a function of unit k alone.
    private func ownMean(_ k: Int, _ b: UnsafePointer<Double>, _ f: @escaping (Double) -> Double) -> Double {
        let bias = b[k]
        return expectation.smoothedMean(of: { f($0 + bias) }, breakpoints: activation.kinks.map { $0 - bias },
                                        transitions: activation.transitions.map { $0 - bias }, mean: 0, variance: overlap[k * units + k])
    }

    /// (1/2) E[(y - yhat)^2] = (1 - K) y^2 / 2 + sum_k E[(y - v_k g_k)^2] / 2 + sum_(k != m) v_k v_m E[g_k g_m] / 2.
    public func loss(weights w: UnsafePointer<Double>, readouts v: UnsafePointer<Double>, biases b: UnsafePointer<Double>) -> Double {
        secondOrder(w)
        let g = activation, y = target
        var total = 0.5 * Double(1 - units) * y * y
        for k in 0..<units {
            let readout = v[k]
            total += ownMean(k, b) { a in
                let error = y - readout * g.value(a)
                return 0.5 * error * error
            }
            for m in (k + 1)..<units { total += v[k] * v[m] * pairMoments(k, m, b).valueValue }
        }
        return total
    }
}
