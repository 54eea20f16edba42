import CKernels

/// The instruction-set variants of the C erf pass (Sources/CKernels): Swift builds for baseline
/// x86-64 (SSE2, no FMA), the C target compiles the pass also for AVX2 + FMA and AVX-512F and
/// the sampler takes the widest this CPU runs, decided once per process, so the same binary on
/// the same machine always draws the same inputs. The fused variants may change the last bit of
/// an erf value; the error bound holds for each (derivations/sgd-noise-scaling.md §5,
/// "Instruction sets").
public enum KernelVariant: UInt32, CaseIterable, Sendable {
    /// Plain C without FMA: `FastErf.evaluate` bit for bit.
    case portable = 0
    case avx2FMA = 1
    case avx512F = 2

    /// The variants this CPU and operating system can run (cpuid and xgetbv).
    public static let supported: [KernelVariant] = allCases.filter { convemerge_isa_supported($0.isa) != 0 }

    /// The widest supported variant: the one the tuned sampler uses.
    public static let best = KernelVariant(rawValue: convemerge_isa_best().rawValue)!

    /// "default", "avx2+fma" or "avx512f", as `bench` prints it.
    public var name: String { String(cString: convemerge_isa_name(isa)) }

    var isa: convemerge_isa { convemerge_isa(rawValue: rawValue) }
}

extension FastErf {
    /// `evaluate(_:into:count:argumentScale:outputScale:table:)` by the C pass of `variant`, which
    /// must be supported. `table` is `FastErf.shared.coefficients` (interval-major, 8 a point).
    public static func evaluate(_ z: UnsafePointer<Double>, into x: UnsafeMutablePointer<Double>, count: Int,
                                argumentScale: Double, outputScale: Double, table: UnsafePointer<Double>,
                                variant: KernelVariant) {
        precondition(KernelVariant.supported.contains(variant), "FastErf: \(variant.name) is not supported on this CPU")
        convemerge_erf_table(variant.isa, z, x, count, argumentScale, outputScale, table)
    }

    /// The C pass without the support check, for the sampler's loop (its variant is `best`).
    static func evaluateUnchecked(_ z: UnsafePointer<Double>, into x: UnsafeMutablePointer<Double>, count: Int,
                                  argumentScale: Double, outputScale: Double, table: UnsafePointer<Double>,
                                  variant: KernelVariant) {
        convemerge_erf_table(variant.isa, z, x, count, argumentScale, outputScale, table)
    }
}

extension Xoshiro256 {
    /// `fillZigguratGaussian` compiled by C (the same algorithm, table and stream: the same
    /// normals bit for bit and the same final state), which keeps the generator in registers
    /// where Swift spills it.
    public mutating func fillZigguratGaussianNative(_ buffer: UnsafeMutablePointer<Double>, count: Int) {
        withUnsafeMutablePointer(to: &s) { state in
            state.withMemoryRebound(to: UInt64.self, capacity: 4) {
                convemerge_fill_ziggurat($0, buffer, count, Ziggurat.storage)
            }
        }
    }
}

/// The montecarlo closure's one pass for relu in C (derivations/monte-carlo-closure.md,
/// "C kernel"): `accumulator` = sum over the `count` rows x of x h(w.x * preactivationScale),
/// h the relu error signal with `bias` and `target`, by the pass of `variant` (which must be
/// supported; `MonteCarloClosure` uses `KernelVariant.best`).
public enum MonteCarloNativePass {
    public static func reluPass(_ rows: UnsafePointer<Double>, count: Int, dimension: Int, w: UnsafePointer<Double>,
                                preactivationScale: Double, bias: Double, target: Double,
                                into accumulator: UnsafeMutablePointer<Double>, variant: KernelVariant) {
        precondition(KernelVariant.supported.contains(variant), "MonteCarloNativePass: \(variant.name) is not supported on this CPU")
        convemerge_mc_relu_pass_double(variant.isa, rows, count, dimension, w, preactivationScale, bias, target, accumulator)
    }

    public static func reluPass(_ rows: UnsafePointer<Float>, count: Int, dimension: Int, w: UnsafePointer<Double>,
                                preactivationScale: Double, bias: Double, target: Double,
                                into accumulator: UnsafeMutablePointer<Double>, variant: KernelVariant) {
        precondition(KernelVariant.supported.contains(variant), "MonteCarloNativePass: \(variant.name) is not supported on this CPU")
        convemerge_mc_relu_pass_float(variant.isa, rows, count, dimension, w, preactivationScale, bias, target, accumulator)
    }

    /// The plainest one-pass C loop (the reference: scalar dot, relu signal, scalar axpy),
    /// for the benchmark only.
    public static func plainReluPass(_ rows: UnsafePointer<Double>, count: Int, dimension: Int, w: UnsafePointer<Double>,
                                     preactivationScale: Double, bias: Double, target: Double,
                                     into accumulator: UnsafeMutablePointer<Double>) {
        convemerge_mc_relu_plain_double(rows, count, dimension, w, preactivationScale, bias, target, accumulator)
    }
}
