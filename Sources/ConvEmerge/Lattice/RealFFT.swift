import CFFTW
import Foundation

/// FFTW real-to-complex / complex-to-real plans for one lattice shape, made once
/// and shared. The planner is not thread-safe, so plans are created under a lock;
/// execution goes through FFTW's new-array functions, which are thread-safe, on
/// caller-owned buffers (plans are made FFTW_UNALIGNED so any buffer will do). The hot
/// loops that own their buffers use `backwardAligned` instead: FFTW_UNALIGNED rules out
/// FFTW's SIMD codelets, which cost the c2r of D = 400 a factor ~2.4 (0.98 vs 0.41 us).
public final class RealFFT: @unchecked Sendable {
    public let shape: [Int]
    /// Number of real values (D).
    public let realCount: Int
    /// Number of complex values of the half spectrum: L/2+1 (ring), L*(L/2+1) (torus).
    public let complexCount: Int
    private let forwardPlan: fftw_plan
    private let backwardPlan: fftw_plan
    /// The c2r plan for buffers from `allocateAligned` (SIMD codelets allowed). FFTW_ESTIMATE
    /// like the others, so the plan, and with it every rounding, is the same in every run.
    private let alignedBackwardPlan: fftw_plan

    private static let plannerLock = NSLock()
    nonisolated(unsafe) private static var cache: [[Int]: RealFFT] = [:]

    /// The shared plans for `shape` (created on first use).
    public static func plans(for shape: [Int]) -> RealFFT {
        plannerLock.lock(); defer { plannerLock.unlock() }
        if let plans = cache[shape] { return plans }
        let plans = RealFFT(shape: shape)
        cache[shape] = plans
        return plans
    }

    public static func plans(for lattice: Lattice) -> RealFFT { plans(for: lattice.shape) }

    private init(shape: [Int]) {
        self.shape = shape
        realCount = shape.reduce(1, *)
        complexCount = realCount / shape.last! * (shape.last! / 2 + 1)
        let n = shape.map { Int32($0) }
        let real = fftw_alloc_real(realCount)!
        let complex = fftw_alloc_complex(complexCount)!
        defer { fftw_free(real); fftw_free(complex) }
        let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_UNALIGNED)
        forwardPlan = fftw_plan_dft_r2c(Int32(n.count), n, real, complex, flags)
        backwardPlan = fftw_plan_dft_c2r(Int32(n.count), n, complex, real, flags)
        alignedBackwardPlan = fftw_plan_dft_c2r(Int32(n.count), n, complex, real, UInt32(FFTW_ESTIMATE))
    }

    deinit {
        fftw_destroy_plan(forwardPlan)
        fftw_destroy_plan(backwardPlan)
        fftw_destroy_plan(alignedBackwardPlan)
    }

    /// `count` doubles aligned as FFTW's SIMD codelets need (fftw_malloc); free with `deallocateAligned`.
    public static func allocateAligned(_ count: Int) -> UnsafeMutablePointer<Double> { fftw_alloc_real(count)! }

    public static func deallocateAligned(_ buffer: UnsafeMutablePointer<Double>) { fftw_free(buffer) }

    /// Unnormalised forward transform: `spectrum` holds `complexCount` interleaved
    /// (re, im) pairs, i.e. 2 * complexCount doubles.
    @inline(__always)
    public func forward(_ input: UnsafePointer<Double>, _ spectrum: UnsafeMutablePointer<Double>) {
        spectrum.withMemoryRebound(to: fftw_complex.self, capacity: complexCount) { out in
            fftw_execute_dft_r2c(forwardPlan, UnsafeMutablePointer(mutating: input), out)
        }
    }

    /// Unnormalised backward transform (the result is D times the inverse DFT).
    /// Destroys `spectrum`.
    @inline(__always)
    public func backward(_ spectrum: UnsafeMutablePointer<Double>, _ output: UnsafeMutablePointer<Double>) {
        spectrum.withMemoryRebound(to: fftw_complex.self, capacity: complexCount) { inp in
            fftw_execute_dft_c2r(backwardPlan, inp, output)
        }
    }

    /// `backward` for buffers from `allocateAligned` (both), with FFTW's SIMD codelets.
    @inline(__always)
    public func backwardAligned(_ spectrum: UnsafeMutablePointer<Double>, _ output: UnsafeMutablePointer<Double>) {
        spectrum.withMemoryRebound(to: fftw_complex.self, capacity: complexCount) { inp in
            fftw_execute_dft_c2r(alignedBackwardPlan, inp, output)
        }
    }
}
