import Foundation

/// How the fourth-cumulant action T(w) is evaluated (SPEC §1).
public enum CumulantMethod: String, Codable, CaseIterable, Sendable {
    /// The leading Hermite diagram (one He3 vertex, three He1): two circulant convolutions.
    case leading
    /// The exact cumulant, tabulated once per distribution by the Plackett integral.
    case full
}

/// The action T(w)_i = sum_jkl K_ijkl w_j w_k w_l of the fourth cumulant of one input
/// class, never forming the D^4 tensor. Derivation: derivations/fourth-cumulant.md.
///
/// `leading`: the tree diagrams, T = 6 c1^3 c3 [ (rho w)^3 + 3 rho(w * (rho w)^2) ]
/// + 24 c1^2 c2^2 [ rho(w * rho(w * rho w)) + (rho w) * rho(w * rho w) ], rho = Sigma/s, O(D log D);
/// the second (chain) part only for marginals that are not odd (derivations/copula-inputs.md).
/// Elliptical families: T = 3 (kappa - 1)(Sigma w)(w.Sigma w) exactly, whichever the method
/// (derivations/elliptical-inputs.md).
/// `full` (NLGP marginals only, which have the Plackett four-point function): K_{i,i+a,i+b,i+c} = K0(a, b, c) tabulated over unordered triples of displacements
/// whose four points are linked by correlations >= `windowThreshold` (the rest is below
/// `tolerance` by cluster decomposition), then contracted in O(D * tableEntryCount).
public final class FourthCumulant: @unchecked Sendable {
    public let method: CumulantMethod
    public let distribution: InputDistribution
    /// Bound on the error of each tabulated cumulant entry (quadrature plus window).
    public let tolerance: Double
    /// 6 c1^3 c3, the weight of the leading star diagram; 0 for Gaussian inputs.
    public let leadingPrefactor: Double
    /// 4 c1^2 c2^2, the weight of one chain diagram (He1-He2-He2-He1); 0 for odd marginals.
    public let chainPrefactor: Double
    /// Correlations |Sigma_ij|/s below this do not link two points of the window (full only).
    public private(set) var windowThreshold: Double = 0
    /// Unordered displacement triples kept in the table (full only).
    public var tableEntryCount: Int { values.count }

    /// True for the Gaussian clone and at gain 0: every cumulant of order > 2 vanishes.
    public let vanishes: Bool
    /// kappa - 1 for an elliptical family, whose cumulant is exactly
    /// (kappa - 1)(Sigma_ij Sigma_kl + 2 perms) for both methods; nil otherwise.
    public let ellipticalExcess: Double?
    /// rho = Sigma / s, the latent correlation (leading diagram edges).
    let correlation: CirculantOperator
    /// Per table entry: the three displacements as offsets into the periodically extended
    /// field of the workspace, and K0 times the number of orderings of the triple.
    private var offsets: [Int32] = []
    private var values: [Double] = []

    /// Memory limit of the full table: larger sizes are refused rather than exhausting memory.
    public static let tableByteLimit = 1 << 30
    private static let bytesPerEntry = 3 * MemoryLayout<Int32>.size + MemoryLayout<Double>.size

    public init(_ distribution: InputDistribution, method: CumulantMethod, tolerance: Double = 1e-10) throws {
        try require(tolerance.isFinite && tolerance > 0, flag: "--cumulant", "tolerance must be finite and > 0, got \(tolerance)")
        self.distribution = distribution
        self.method = method
        self.tolerance = tolerance
        vanishes = distribution.isGaussian
        let s = distribution.spec.kernel.variance
        correlation = CirculantOperator(lattice: distribution.lattice, firstRow: distribution.baseCovariance.firstRow.map { $0 / s })
        if !vanishes, let elliptical = distribution.marginal as? EllipticalMarginal {
            ellipticalExcess = elliptical.kurtosisRatio - 1
        } else {
            ellipticalExcess = nil
        }
        if vanishes || ellipticalExcess != nil {
            leadingPrefactor = 0
            chainPrefactor = 0
        } else {
            let c = distribution.marginal.hermiteCoefficients(maxOrder: 3)
            leadingPrefactor = 6 * c[1] * c[1] * c[1] * c[3]
            chainPrefactor = 4 * c[1] * c[1] * c[2] * c[2]
        }
        if method == .full && !vanishes && ellipticalExcess == nil {
            try require(distribution.gainFunction != nil, flag: "--cumulant",
                        "full (exact) needs the Plackett four-point function of the erf marginal (nlgp, copula:erf, copula:sign); use --cumulant leading for \(distribution.spec.family)")
            try tabulate()
        }
    }

    public var size: Int { distribution.size }
    public var lattice: Lattice { distribution.lattice }

    // MARK: - Action

    /// T(w)_i = sum_jkl K_ijkl w_j w_k w_l; the zero vector for a Gaussian clone (or gain 0).
    public func action(_ w: [Double]) -> [Double] { action(w, workspace: makeWorkspace()) }

    /// T(w) reusing a workspace, for loops of many actions.
    public func action(_ w: [Double], workspace: CumulantWorkspace) -> [Double] {
        precondition(w.count == size, "w must have D entries")
        var out = [Double](repeating: 0, count: size)
        w.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { action(input.baseAddress!, into: $0.baseAddress!, workspace: workspace) }
        }
        return out
    }

    /// Allocation-free T(w) for ODE right-hand sides; `workspace` from `makeWorkspace()`,
    /// one per thread. `w` and `out` must not alias.
    public func action(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, workspace: CumulantWorkspace) {
        if vanishes {
            out.update(repeating: 0, count: size)
            return
        }
        if let ellipticalExcess {
            ellipticalAction(w, excess: ellipticalExcess, into: out, workspace: workspace)
            return
        }
        switch method {
        case .leading: leadingAction(w, into: out, workspace: workspace)
        case .full: tableAction(w, into: out, workspace: workspace)
        }
    }

    public func makeWorkspace() -> CumulantWorkspace {
        CumulantWorkspace(size: size, extendedSize: extendedSize, spectrumSize: correlation.makeWorkspace().count)
    }

    /// T_lead = 6 c1^3 c3 [ (rho w)^3 + 3 rho(w * (rho w)^2) ]: the He3 vertex at i (first
    /// term) or at one of j, k, l (second term, three ways). derivations/fourth-cumulant.md.
    /// Plus, when c2 != 0, the twelve chains: i at an end, rho(w * rho(w * rho w)), or next to
    /// one, (rho w) * rho(w * rho w), six of each (derivations/copula-inputs.md, "Leading cumulant").
    private func leadingAction(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, workspace: CumulantWorkspace) {
        let smoothed = workspace.first, star = workspace.second
        correlation.apply(w, smoothed, workspace: workspace.spectrum)
        for i in 0..<size { star[i] = w[i] * smoothed[i] * smoothed[i] }
        correlation.apply(star, star, workspace: workspace.spectrum)
        let prefactor = leadingPrefactor
        if chainPrefactor != 0 {
            let inner = workspace.third
            for i in 0..<size { inner[i] = w[i] * smoothed[i] }
            correlation.apply(inner, inner, workspace: workspace.spectrum)
            for i in 0..<size { out[i] = w[i] * inner[i] }
            correlation.apply(out, out, workspace: workspace.spectrum)
            let chains = 6 * chainPrefactor
            for i in 0..<size {
                let y = smoothed[i]
                out[i] = prefactor * (y * y * y + 3 * star[i]) + chains * (out[i] + y * inner[i])
            }
            return
        }
        for i in 0..<size {
            let y = smoothed[i]
            out[i] = prefactor * (y * y * y + 3 * star[i])
        }
    }

    /// T = 3 (kappa - 1) (Sigma w)(w.Sigma w): parallel to the Gaussian term, one convolution
    /// (derivations/elliptical-inputs.md, "Fourth cumulant").
    private func ellipticalAction(_ w: UnsafePointer<Double>, excess: Double, into out: UnsafeMutablePointer<Double>,
                                  workspace: CumulantWorkspace) {
        distribution.baseCovariance.apply(w, out, workspace: workspace.spectrum)
        var quadratic = 0.0
        for i in 0..<size { quadratic += w[i] * out[i] }
        let scale = 3 * excess * quadratic
        for i in 0..<size { out[i] *= scale }
    }

    /// Row length of the periodically extended field: 2L on both lattices.
    private var extendedWidth: Int { 2 * lattice.length }
    private var extendedRows: Int { lattice.dimension == 1 ? 1 : 2 * lattice.length }
    private var extendedSize: Int { extendedWidth * extendedRows }

    /// T_i = sum over table entries of m K0(a,b,c) w_{i+a} w_{i+b} w_{i+c}. The field is copied
    /// into a (2L)^dim periodic extension so that i + a is a plain offset and the inner loop
    /// over the sites of one lattice row is contiguous.
    private func tableAction(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, workspace: CumulantWorkspace) {
        let L = lattice.length, width = extendedWidth, rows = lattice.dimension == 1 ? 1 : L
        let extended = workspace.extended
        for r in 0..<extendedRows {
            let source = w + (r % rows) * L
            let target = extended + r * width
            for c in 0..<width { target[c] = source[c < L ? c : c - L] }
        }
        out.update(repeating: 0, count: size)
        offsets.withUnsafeBufferPointer { offset in
            values.withUnsafeBufferPointer { value in
                for entry in 0..<value.count {
                    let v = value[entry]
                    let oa = Int(offset[3 * entry]), ob = Int(offset[3 * entry + 1]), oc = Int(offset[3 * entry + 2])
                    for r in 0..<rows {
                        let row = extended + r * width
                        let a = row + oa, b = row + ob, c = row + oc
                        let target = out + r * L
                        for x in 0..<L { target[x] += v * a[x] * b[x] * c[x] }
                    }
                }
            }
        }
    }

    // MARK: - Single entries

    /// K_ijkl by this object's method, evaluated directly (not from the table): the exact
    /// Plackett value for `full`, the leading star diagrams for `leading`.
    public func cumulant(_ i: Int, _ j: Int, _ k: Int, _ l: Int) throws -> Double {
        if vanishes { return 0 }
        if let ellipticalExcess {
            // derivations/elliptical-inputs.md, "Fourth cumulant".
            let sigma = { (p: Int, q: Int) in self.distribution.baseCovariance.element(p, q) }
            return ellipticalExcess * (sigma(i, j) * sigma(k, l) + sigma(i, k) * sigma(j, l) + sigma(i, l) * sigma(j, k))
        }
        let sites = [i, j, k, l]
        switch method {
        case .leading:
            // One He3 vertex at each of the four sites, its three legs to the others.
            let rho = { (p: Int, q: Int) in self.correlation.element(sites[p], sites[q]) }
            var stars = 0.0
            for centre in 0..<4 {
                var legs = 1.0
                for other in 0..<4 where other != centre { legs *= rho(centre, other) }
                stars += legs
            }
            // The chains p-q-r-t: each of the 12 paths once (a permutation and its reverse).
            var chains = 0.0
            if chainPrefactor != 0 {
                for p in 0..<4 { for q in 0..<4 where q != p { for r in 0..<4 where r != p && r != q {
                    let t = 6 - p - q - r
                    if p < t { chains += rho(p, q) * rho(q, r) * rho(r, t) }
                } } }
            }
            return leadingPrefactor * stars + chainPrefactor * chains
        case .full:
            let integrator = PlackettIntegrator()
            return try exactCumulant(sites: sites, integrator: integrator, absoluteTolerance: 0.1 * tolerance)
        }
    }

    /// K = E[x x x x] - (C_ab C_cd + C_ac C_bd + C_ad C_bc), the moment by Plackett.
    /// derivations/fourth-cumulant.md.
    private func exactCumulant(sites: [Int], integrator: PlackettIntegrator, absoluteTolerance: Double) throws -> Double {
        let rho = correlation, C = distribution.covariance
        let latent = SymmetricFour { a, b in rho.element(sites[a], sites[b]) }
        // `full` is refused at init unless gainFunction is set, so psi exists here.
        let moment = try integrator.moment(correlation: latent, latentVariance: distribution.spec.kernel.variance,
                                           psi: distribution.psi, absoluteTolerance: absoluteTolerance)
        let c = { (a: Int, b: Int) in C.element(sites[a], sites[b]) }
        return moment - (c(0, 1) * c(2, 3) + c(0, 2) * c(1, 3) + c(0, 3) * c(1, 2))
    }

    // MARK: - Tabulation (full)

    /// Coefficient A with |K| <= A * delta for every configuration that splits into two groups
    /// whose cross correlations |Sigma_pq|/s are all < delta (cluster decomposition plus a
    /// Price-theorem bound on dK/d(cross)); the window threshold is tolerance / A.
    /// derivations/fourth-cumulant.md, "Window".
    static func correlationWindow(psi: GainFunction, latentVariance s: Double, inputVariance cMax: Double, tolerance: Double) -> Double {
        let gamma = psi.gamma
        // Latent path: |dE/dSigma_pq| and |dC_pq C_rs/dSigma_pq| <= M^2 C_max, M = sup|psi'|.
        let derivativeSquared = psi.isSign ? Double.infinity : 2 / Double.pi * psi.gain * psi.gain / gamma
        let latentCoefficient = 8 * derivativeSquared * cMax * s
        // Sign path: |dE4/dR_pq| <= (2/pi)/sqrt(1 - R^2), R_pq = kappa rho_pq.
        let kappa = psi.kappa(latentVariance: s)
        func signCoefficient(_ delta: Double) -> Double {
            let r = min(kappa * delta, 0.5)
            return 4 * 2 / Double.pi * (1 / (gamma * gamma) + cMax / gamma) * kappa / (1 - r * r).squareRoot()
        }
        // The sign-path coefficient grows with delta: one fixed-point step keeps the bound valid.
        let first = min(tolerance / min(latentCoefficient, signCoefficient(0)), 0.5)
        return min(tolerance / min(latentCoefficient, signCoefficient(first)), 0.5)
    }

    private func tabulate() throws {
        let D = size, lattice = self.lattice
        let s = distribution.spec.kernel.variance
        let delta = FourthCumulant.correlationWindow(psi: distribution.psi, latentVariance: s,
                                                   inputVariance: distribution.covariance.firstRow[0], tolerance: 0.5 * tolerance)
        windowThreshold = delta
        let rho = correlation.firstRow
        let links = rho.map { abs($0) >= delta }  // links[0] is true: coincident points are linked
        let neighbours = (0..<D).filter { links[$0] }

        // Sites within three links of the origin: every connected 4-point configuration lies there.
        var reachable = links
        for _ in 0..<2 {
            var next = reachable
            for x in 0..<D where reachable[x] { for n in neighbours { next[lattice.translate(x, by: n)] = true } }
            reachable = next
        }
        let window = (0..<D).filter { reachable[$0] }
        let n = Double(window.count)
        let boundBytes = n * (n + 1) * (n + 2) / 6 * Double(FourthCumulant.bytesPerEntry)
        try require(boundBytes <= Double(FourthCumulant.tableByteLimit), flag: "--cumulant",
                    "the full fourth-cumulant table for D = \(D) (\(window.count) sites within the correlation window, xi = \(distribution.spec.kernel.correlationLength)) could need up to \(String(format: "%.1f", boundBytes / 1e9)) GB (limit 1 GB); use --cumulant leading or a smaller lattice")

        // Unordered triples a <= b <= c whose points {0, a, b, c} are linked.
        func displacement(_ p: Int, _ q: Int) -> Int { lattice.translate(q, by: lattice.negate(p)) }
        func isConnected(_ points: [Int]) -> Bool {
            var inCluster = [true, false, false, false]
            var grew = true
            while grew {
                grew = false
                for p in 0..<4 where inCluster[p] {
                    for q in 0..<4 where !inCluster[q] && links[displacement(points[p], points[q])] {
                        inCluster[q] = true
                        grew = true
                    }
                }
            }
            return !inCluster.contains(false)
        }
        var connected: [(Int, Int, Int)] = []
        for ia in 0..<window.count {
            for ib in ia..<window.count {
                for ic in ib..<window.count {
                    let (a, b, c) = (window[ia], window[ib], window[ic])
                    if isConnected([0, a, b, c]) { connected.append((a, b, c)) }
                }
            }
        }

        let triples = connected
        let width = extendedWidth
        func extendedOffset(_ site: Int) -> Int32 {
            let position = lattice.coordinates(of: site)
            return Int32(position.row * width + position.column)
        }
        offsets = triples.flatMap { [extendedOffset($0.0), extendedOffset($0.1), extendedOffset($0.2)] }

        // Quadratures in parallel, each worker with its own GSL workspace; interleaved
        // assignment balances the cheap (far) and expensive (near) configurations.
        var table = [Double](repeating: 0, count: triples.count)
        let workers = max(1, min(triples.count, 8 * ProcessInfo.processInfo.activeProcessorCount))
        let failure = FirstError()
        let entryTolerance = 0.5 * tolerance
        table.withUnsafeMutableBufferPointer { buffer in
            let output = SharedBuffer(buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let integrator = PlackettIntegrator()
                var entry = worker
                while entry < triples.count && !failure.isSet {
                    let (a, b, c) = triples[entry]
                    do {
                        let k0 = try exactCumulant(sites: [0, a, b, c], integrator: integrator, absoluteTolerance: entryTolerance)
                        let orderings: Double = (a == b && b == c) ? 1 : (a == b || b == c) ? 3 : 6
                        output.pointer[entry] = orderings * k0
                    } catch {
                        failure.record(error)
                    }
                    entry += workers
                }
            }
        }
        if let error = failure.error { throw error }
        values = table
    }

    // MARK: - Monte Carlo reference

    /// Monte Carlo estimate of T(w) with per-component standard errors from n samples:
    /// the mean of x_i [(w.x)^3 - 3 q (w.x)], q = w.Cw (exact C). Its expectation is
    /// E[x_i (w.x)^3] - 3 (Cw)_i (w.Cw) = T(w)_i; the Hermite form He3 has a smaller variance
    /// than (w.x)^3 alone. Deterministic for a given seed (fixed streams, any thread count).
    public static func monteCarloAction(_ distribution: InputDistribution, w: [Double], samples n: Int, seed: UInt64)
        -> (mean: [Double], standardError: [Double]) {
        let q = distribution.covariance.quadraticForm(w)
        return monteCarloProjection(distribution, w: w, samples: n, seed: seed) { p in p * p * p - 3 * q * p }
    }
}

/// Buffers for the allocation-free action; one per thread.
public final class CumulantWorkspace: @unchecked Sendable {
    let first: UnsafeMutablePointer<Double>
    let second: UnsafeMutablePointer<Double>
    let third: UnsafeMutablePointer<Double>
    let spectrum: UnsafeMutablePointer<Double>
    let extended: UnsafeMutablePointer<Double>

    init(size: Int, extendedSize: Int, spectrumSize: Int) {
        first = .allocate(capacity: size)
        second = .allocate(capacity: size)
        third = .allocate(capacity: size)
        spectrum = .allocate(capacity: spectrumSize)
        extended = .allocate(capacity: extendedSize)
    }

    deinit {
        first.deallocate()
        second.deallocate()
        third.deallocate()
        spectrum.deallocate()
        extended.deallocate()
    }
}

extension FourthCumulant {
    /// dT_i/dw_j = 3 K(i, j, w, w), row-major D x D. T is a cubic form, so the central
    /// difference with step h is exact once its h^2 T(e_j) term is removed, and T(e_j) is
    /// T(e_0) translated (derivations/closure-jacobians.md eq. (5)). Costs 2D + 1 actions.
    public func gradient(at w: [Double]) -> [Double] {
        let d = size
        let h = max(euclideanNorm(w), 1e-300) / Double(d).squareRoot()
        var unit = [Double](repeating: 0, count: d)
        unit[0] = 1
        let workspace = makeWorkspace()
        let originResponse = action(unit, workspace: workspace)
        var matrix = centralDifferenceJacobian(at: w, step: h) { action($0, workspace: workspace) }
        for j in 0..<d {
            let back = lattice.negate(j)
            for i in 0..<d { matrix[i * d + j] -= h * h * originResponse[lattice.translate(i, by: back)] }
        }
        return matrix
    }
}
