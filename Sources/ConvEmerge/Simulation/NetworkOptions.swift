import Foundation

/// Second-layer scaling of a committee (derivations/network-options.md §1), the `--model`
/// modes of the published code (sgoldt/conv_emerge, network.py lines 42-47, 83).
public enum ReadoutKind: String, Codable, CaseIterable, Sendable {
    /// v_k = 1/K, first-layer rate eta K (published `mf`).
    case mf
    /// v_k = 1/sqrt K, first-layer rate eta sqrt K (published `lazy`).
    case lazy
    /// v_k = 1, first-layer rate eta (published `conv`).
    case conv
    /// v_k trained at eta / D from 1/K, first-layer rate eta K: today's `--model twolayer`.
    case trained
}

/// Loss of the output heads (derivations/network-options.md §2).
public enum LossKind: String, Codable, CaseIterable, Sendable {
    /// 1/(2H) sum_c (t_c - y_c)^2.
    case mse
    /// Cross-entropy of the heads' softmax (H = 2) or of a sigmoid of the one head (H = 1).
    case ce
}

/// The published network options of issue 10 for the fully-connected models. The default value
/// is today's network: one head, mse, fixed biases, no weight decay.
public struct NetworkOptions: Codable, Hashable, Sendable {
    public var readout: ReadoutKind
    /// Biases learned at rate (first-layer rate) / D.
    public var trainBias: Bool
    /// Initial (or fixed) biases: nil for the neuron's alternating +-b; "halves" for +1 on the
    /// first floor(K/2) units and -1 on the rest; or one number for every unit.
    public var biasInit: String?
    /// Output heads H: 1, or 2 with one-hot targets.
    public var heads: Int
    public var loss: LossKind
    /// Per step, w <- w - (l2/D) w and w <- w - (l1/D) sign(w) on the first layer.
    public var l1: Double
    public var l2: Double

    public init(readout: ReadoutKind = .mf, trainBias: Bool = false, biasInit: String? = nil, heads: Int = 1,
                loss: LossKind = .mse, l1: Double = 0, l2: Double = 0) throws {
        try require(heads == 1 || heads == 2, flag: "--heads", "must be 1 or 2, got \(heads)")
        for (flag, value) in [("--l1", l1), ("--l2", l2)] {
            try require(value.isFinite && value >= 0 && value <= 1e3, flag: flag, "must be in [0, 1000], got \(value)")
        }
        if let biasInit, biasInit != "halves" {
            guard let value = Double(biasInit), value.isFinite, abs(value) <= ParameterBound.magnitude else {
                throw ConvEmergeError.invalidInput(flag: "--bias-init", message: "must be halves or a number with |value| <= 1000000, got \(biasInit)")
            }
        }
        self.readout = readout
        self.trainBias = trainBias
        self.biasInit = biasInit
        self.heads = heads
        self.loss = loss
        self.l1 = l1
        self.l2 = l2
    }

    public static let standard = try! NetworkOptions()

    /// Whether a run with these options goes through today's code path unchanged.
    public var isStandard: Bool { self == Self.standard }

    /// The fixed readout |v_k| of K units (derivations/network-options.md §1); `trained` starts at 1/K.
    public func readoutMagnitude(units: Int) -> Double {
        switch readout {
        case .mf, .trained: return 1 / Double(units)
        case .lazy: return 1 / Double(units).squareRoot()
        case .conv: return 1
        }
    }

    /// The first-layer learning rate over eta: K for mf and trained, sqrt K for lazy, 1 for conv
    /// (conv_emerge_online.py lines 237-240), so that each unit moves at rate eta.
    public func weightRateFactor(units: Int) -> Double {
        switch readout {
        case .mf, .trained: return Double(units)
        case .lazy: return Double(units).squareRoot()
        case .conv: return 1
        }
    }

    /// Readout of unit k and head c: head 1 has the opposite sign (network.py line 185,
    /// conv_emerge_online.py line 207), so the heads see the units with opposite votes.
    public func initialReadout(units: Int) -> [Double] {
        let magnitude = readoutMagnitude(units: units)
        return (0..<units).flatMap { _ in (0..<heads).map { c in c == 0 ? magnitude : -magnitude } }
    }

    /// Bias of unit k of K: the published halves (conv_emerge_online.py lines 216-217),
    /// a common value, or nil for the neuron's alternating +-b.
    public func initialBias(ofUnit k: Int, units: Int) -> Double? {
        guard let biasInit else { return nil }
        if biasInit == "halves" { return k < units / 2 ? 1 : -1 }
        return Double(biasInit)!
    }

    /// Targets t_c of head c for class `label`: the task's y_label for one head; for two heads
    /// the one-hot vector, mapped to +-1 for the odd activations erf and tanh as published
    /// (conv_emerge_online.py lines 64-70).
    public func headTargets(label: Int, taskTargets: [Double], activation: ActivationKind) -> [Double] {
        if heads == 1 { return [taskTargets[label]] }
        let odd = activation == .erf || activation == .tanh
        return (0..<2).map { c in c == label ? 1 : (odd ? -1 : 0) }
    }
}

/// The loss of H heads: its value and the descent signal delta_c = -dL/dy_c
/// (derivations/network-options.md §2).
public struct HeadLoss: Sendable {
    public let kind: LossKind
    public let heads: Int

    public init(kind: LossKind, heads: Int) {
        self.kind = kind
        self.heads = heads
    }

    /// Writes delta_c = -dL/dy_c for outputs y, class `label` and head targets t; returns L.
    @discardableResult
    @inline(__always)
    public func descent(outputs y: UnsafePointer<Double>, label: Int, targets t: [Double],
                        into delta: UnsafeMutablePointer<Double>) -> Double {
        switch kind {
        case .mse:
            var loss = 0.0
            for c in 0..<heads {
                let error = t[c] - y[c]
                delta[c] = error / Double(heads)
                loss += error * error
            }
            return loss / Double(2 * heads)
        case .ce:
            if heads == 1 {
                // L = -[c log p + (1 - c) log(1 - p)], p = 1 / (1 + e^-y): delta = c - p.
                let p = Activation(.sigmoid).value(y[0])
                delta[0] = Double(label) - p
                return softplus(label == 1 ? -y[0] : y[0])
            }
            // L = -log softmax(y)_label: delta_c = [c = label] - p_c.
            let top = max(y[0], y[1])
            let e0 = exp(y[0] - top), e1 = exp(y[1] - top)
            delta[0] = (label == 0 ? 1 : 0) - e0 / (e0 + e1)
            delta[1] = (label == 1 ? 1 : 0) - e1 / (e0 + e1)
            return top + log(e0 + e1) - y[label]
        }
    }

    /// Whether outputs y classify `label` correctly: the larger head, or for one head the
    /// sigmoid's side (ce) or the nearer task target (mse).
    public func isCorrect(outputs y: [Double], label: Int, taskTargets: [Double]) -> Bool {
        if heads == 2 { return (y[1] > y[0] ? 1 : 0) == label }
        if kind == .ce { return (y[0] > 0 ? 1 : 0) == label }
        return abs(y[0] - taskTargets[label]) < abs(y[0] - taskTargets[1 - label])
    }
}

/// log(1 + e^x) without overflow.
@inline(__always)
func softplus(_ x: Double) -> Double { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }
