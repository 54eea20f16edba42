import ArgumentParser
import ConvEmerge

/// Flags shared by every command that describes the inputs (SPEC §1).
struct InputOptions: ParsableArguments {
    @Option(name: .customLong("dim"), help: "Lattice dimension: 1 (ring, D = L) or 2 (torus, D = L^2).")
    var dimension: Int = 1

    @Option(name: .customLong("L"), help: "Sites per side of the lattice (>= 4 and >= 2*xi; D = L^dim <= 2^24, memory permitting).")
    var length: Int = 100

    @Option(help: "Base kernel of the latent field: gaussian exp(-d^2/xi^2) or exponential exp(-d/xi).")
    var kernel: KernelShape = .gaussian

    @Option(help: "Correlation length xi of the base kernel, in (0, L/2].")
    var xi: Double = 2

    @Option(help: ArgumentHelp("Input family: nlgp (erf(g z/sqrt 2) with --gain), a Gaussian copula copula:MARGINAL[:PARAM], elliptical:RADIAL[:PARAM] (x = r z / sqrt(E r^2)), or data:FILE.npy[,FILE.npy].",
                               discussion: "Allowed: \(InputFamily.allowedForms). Every command takes every model family; data:FILE.npy[,FILE.npy] ((N, D) float64, C order) is read by stats, solve, closure-error, simulate and criterion (README, Your own data). --closure cumulant adds the third cumulant for marginals that are not odd (copula:exponential, copula:tabulated; derivations/third-cumulant-closure.md), --cumulant full refuses every copula but erf and sign, --closure conditional every elliptical family (derivations/copula-inputs.md, derivations/elliptical-inputs.md).",
                               valueName: "spec"))
    var inputs: String = "nlgp"

    @Option(help: "Gain g of the nonlinearity erf(g z/sqrt 2) of --inputs nlgp (>= 0, default 3; 0 is Gaussian, inf gives sign inputs).")
    var gain: Double?

    /// --gain when given; optional only so that a gain given with a copula can be refused.
    var gainValue: Double { gain ?? 3 }

    @Option(help: "Diagonal jitter added to the base kernel, in [0, 1e6].")
    var jitter: Double = 0

    @Option(help: "For --inputs data:FILE.npy: raw (the covariance as estimated: dense products) or circulant (averaged over lattice translations, for periodic data: FFTs). Default raw.")
    var stationarity: EmpiricalInputs.Stationarity?

    @Option(help: "For --inputs data:FILE.npy: none, or sign (every row also enters as -x: odd cumulants vanish). Default none.")
    var symmetrise: Symmetrisation?

    enum Symmetrisation: String, ExpressibleByArgument, CaseIterable { case none, sign }

    @Option(help: "For --inputs data:FILE.npy: translate (each drawn row rolled by a uniformly random lattice translation: the rows of the montecarlo closure once, each SGD draw afresh; implies --stationarity circulant). Off by default: rolling a crop that is not periodic creates a seam.")
    var augment: DataAugmentation?

    /// The parsed `--inputs` (a model family; `data:` files go through `dataFiles()`).
    func family() throws -> InputFamily {
        try require(augment == nil, flag: "--augment", "applies to --inputs data:FILE.npy only")
        try require(stationarity == nil, flag: "--stationarity", "applies to --inputs data:FILE.npy only")
        try require(symmetrise == nil, flag: "--symmetrise", "applies to --inputs data:FILE.npy only")
        return try InputFamily(parsing: inputs)
    }

    var lattice: Lattice { get throws { try Lattice(dimension: dimension, length: length) } }

    /// The lattice, with the memory of an input model on it checked: a few dozen D-vectors
    /// (spectra, FFT workspaces, samplers).
    func checkedLattice() throws -> Lattice {
        let lattice = try self.lattice
        try MemoryBudget.require(MemoryBudget.product(32, lattice.size, 8), flag: "--L",
                                 for: "the input model on D = \(lattice.size) sites")
        return lattice
    }

    /// The files of `--inputs data:FILE.npy[,FILE.npy]`, nil for the model families. The model
    /// flags (--gain, --xi, --kernel, --jitter) do not apply to data and are refused when set.
    func dataFiles(maximum: Int = 2) throws -> [String]? {
        guard inputs.hasPrefix("data:") else { return nil }
        let files = inputs.dropFirst("data:".count).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        try require(files.count <= maximum && files.allSatisfy { !$0.isEmpty }, flag: "--inputs",
                    maximum == 1 ? "this command reads one file: data:FILE.npy, got '\(inputs)'"
                                 : "expected data:FILE.npy (clone task) or data:A.npy,B.npy (two classes), got '\(inputs)'")
        let modelFlags: [(String, Bool)] = [("--gain", gain != nil), ("--xi", xi != 2), ("--kernel", kernel != .gaussian), ("--jitter", jitter != 0)]
        for (flag, given) in modelFlags {
            try require(!given, flag: flag, "does not apply to --inputs data:FILE.npy (a data set carries its own covariance)")
        }
        return files
    }

    /// `--symmetrise sign`.
    var signSymmetrised: Bool { symmetrise == .sign }

    /// The data files, read and checked, as the manifest records them.
    func dataReferences() throws -> [DataSetReference]? {
        guard let files = try dataFiles() else { return nil }
        let lattice = try checkedLattice()
        return try files.map {
            try DataSetReference.inspect(path: $0, lattice: lattice, stationarity: stationarity ?? (augment == nil ? .raw : .circulant),
                                         signSymmetrised: signSymmetrised, augmentation: augment)
        }
    }

    /// A lattice-only base spec for the data tasks (the kernel is the default, never read).
    func dataBaseSpec() throws -> InputSpec {
        try InputSpec(lattice: lattice, kernel: Kernel(shape: kernel, correlationLength: xi, jitter: jitter), gain: 0, family: .data)
    }

    /// The validated input description; `xi` overrides the correlation length.
    func spec(xi override: Double? = nil, clone: Bool = false) throws -> InputSpec {
        let family = try self.family()
        if !family.isNLGP, let gain {
            throw ConvEmergeError.invalidInput(flag: "--gain", message: "applies to --inputs nlgp only, not to \(family) (copula:erf:g carries its own gain), got \(gain)")
        }
        let lattice = try checkedLattice()
        let kernel = try Kernel(shape: self.kernel, correlationLength: override ?? xi, jitter: jitter)
        return try InputSpec(lattice: lattice, kernel: kernel, gain: gainValue, isGaussianClone: clone, family: family)
    }
}

extension KernelShape: ExpressibleByArgument {}
extension EmpiricalInputs.Stationarity: ExpressibleByArgument {}
extension DataAugmentation: ExpressibleByArgument {}
