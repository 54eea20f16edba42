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

    @Option(help: ArgumentHelp("Input family: nlgp (erf(g z/sqrt 2) with --gain), a Gaussian copula copula:MARGINAL[:PARAM], or elliptical:RADIAL[:PARAM] (x = r z / sqrt(E r^2)).",
                               discussion: "Allowed: \(InputFamily.allowedForms). Every command takes every family; --closure cumulant adds the third cumulant for marginals that are not odd (copula:exponential, copula:tabulated; derivations/third-cumulant-closure.md), --cumulant full refuses every copula but erf and sign, --closure conditional every elliptical family (derivations/copula-inputs.md, derivations/elliptical-inputs.md).",
                               valueName: "spec"))
    var inputs: String = "nlgp"

    @Option(help: "Gain g of the nonlinearity erf(g z/sqrt 2) of --inputs nlgp (>= 0, default 3; 0 is Gaussian, inf gives sign inputs).")
    var gain: Double?

    /// --gain when given; optional only so that a gain given with a copula can be refused.
    var gainValue: Double { gain ?? 3 }

    @Option(help: "Diagonal jitter added to the base kernel, in [0, 1e6].")
    var jitter: Double = 0

    /// The parsed `--inputs`.
    func family() throws -> InputFamily { try InputFamily(parsing: inputs) }

    /// The validated input description; `xi` overrides the correlation length.
    func spec(xi override: Double? = nil, clone: Bool = false) throws -> InputSpec {
        let family = try self.family()
        if !family.isNLGP, let gain {
            throw ConvEmergeError.invalidInput(flag: "--gain", message: "applies to --inputs nlgp only, not to \(family) (copula:erf:g carries its own gain), got \(gain)")
        }
        let lattice = try Lattice(dimension: dimension, length: length)
        // The input model keeps a few dozen D-vectors (spectra, FFT workspaces, samplers).
        try MemoryBudget.require(MemoryBudget.product(32, lattice.size, 8), flag: "--L",
                                 for: "the input model on D = \(lattice.size) sites")
        let kernel = try Kernel(shape: self.kernel, correlationLength: override ?? xi, jitter: jitter)
        return try InputSpec(lattice: lattice, kernel: kernel, gain: gainValue, isGaussianClone: clone, family: family)
    }
}

extension KernelShape: ExpressibleByArgument {}
