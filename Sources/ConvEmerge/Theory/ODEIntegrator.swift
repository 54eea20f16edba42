import CGSL
import Foundation

/// GSL's odeiv2 steppers (SPEC §3).
public enum Stepper: String, Codable, CaseIterable, Sendable {
    case rk8pd, rkf45, rkck, rk4, rk2, msadams, msbdf

    var gslType: UnsafePointer<gsl_odeiv2_step_type> {
        switch self {
        case .rk8pd: return convemerge_step_rk8pd()
        case .rkf45: return convemerge_step_rkf45()
        case .rkck: return convemerge_step_rkck()
        case .rk4: return convemerge_step_rk4()
        case .rk2: return convemerge_step_rk2()
        case .msadams: return convemerge_step_msadams()
        case .msbdf: return convemerge_step_msbdf()
        }
    }

    /// msbdf is implicit and asks for the Jacobian.
    var needsJacobian: Bool { self == .msbdf }
}

/// How to integrate: stepper, tolerances, horizon and save times.
public struct IntegratorSpec: Codable, Hashable, Sendable {
    public var stepper: Stepper
    public var relativeTolerance: Double
    public var absoluteTolerance: Double
    public var tMax: Double
    public var saves: Int
    public var logSpacedSaves: Bool
    /// A trajectory whose norm exceeds this multiple of max(1, |w0|) is declared blown up.
    public var blowUpFactor: Double
    /// The same threshold for ODE and SGD runs unless a caller chooses another.
    public static let defaultBlowUpFactor = 1e8
    /// The error estimate of a step carries round-off of a few ulps (2.2e-16) of |w|; below
    /// ~1e-13 GSL shrinks the step to a single ulp of t and then crawls (`--rtol 1e-300` sat at
    /// 0% for ever), so a tighter relative tolerance is refused rather than attempted.
    public static let tightestRelativeTolerance = 1e-13
    /// Below this an absolute tolerance is subnormal and means nothing next to rtol |w|.
    public static let tightestAbsoluteTolerance = 1e-300
    /// Past its transient the flow sits at a fixed point where an explicit stepper is held to a
    /// constant step by the fastest decaying mode, so the cost grows as t: D = 100 and the default
    /// gaussian closure needed 3.2e6 right-hand sides (90 s) for t = 1e6, a day for 1e9. `simulate`
    /// shares this bound (and t-max x D <= 1e12 SGD steps).
    public static let longestTime = 1e9

    public init(stepper: Stepper = .rk8pd, relativeTolerance: Double = 1e-8, absoluteTolerance: Double = 1e-10,
                tMax: Double = 150, saves: Int = 100, logSpacedSaves: Bool = true,
                blowUpFactor: Double = IntegratorSpec.defaultBlowUpFactor) throws {
        try require(relativeTolerance >= IntegratorSpec.tightestRelativeTolerance && relativeTolerance < 1, flag: "--rtol",
                    "must be in [1e-13, 1), got \(relativeTolerance) (a double resolves 2.2e-16 relative: no stepper meets a tighter tolerance)")
        // Weights are O(1) per site (|w|^2 ~ D at most): an absolute error above 1 controls nothing.
        try require(absoluteTolerance >= IntegratorSpec.tightestAbsoluteTolerance && absoluteTolerance <= 1, flag: "--atol",
                    "must be in [1e-300, 1], got \(absoluteTolerance)")
        try require(tMax > 0 && tMax <= IntegratorSpec.longestTime, flag: "--t-max", "must be in (0, 1e9], got \(tMax)")
        try require(saves >= 2 && saves <= 1_000_000, flag: "--saves", "must be in 2 ... 1000000, got \(saves)")
        self.stepper = stepper
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance
        self.tMax = tMax
        self.saves = saves
        self.logSpacedSaves = logSpacedSaves
        self.blowUpFactor = blowUpFactor
    }

    /// Defaults that suit the closure. The Monte Carlo right-hand side of a relu
    /// neuron jumps by O(1/M) each time a sample's preactivation crosses the kink,
    /// so high-order adaptive steppers with tight tolerances waste their steps on
    /// the jumps (measured, D = 40, M = 2000, t = 150: rk8pd at rtol 1e-6 and
    /// atol 1e-8 needs 4.3e5 evaluations, rkf45 at 1e-5 / 1e-6 needs 8e3 for the
    /// same final IPR to 4 digits). The low-order rk2 (Heun with a third-order error
    /// estimate) at 1e-3 / 1e-4 needs 6.7x fewer again than rkf45 at 1e-5 / 1e-6 on the
    /// default demo, for an integration error far below the sample's own Monte Carlo noise
    /// (derivations/monte-carlo-closure.md, "Tolerance"). Smooth closures keep rk8pd and
    /// tight tolerances.
    public static func defaults(for closure: ClosureKind) -> (stepper: Stepper, relativeTolerance: Double, absoluteTolerance: Double) {
        closure == .montecarlo ? (.rk2, 1e-3, 1e-4) : (.rk8pd, 1e-8, 1e-10)
    }

    /// A spec with the closure's defaults (`defaults(for:)`) for whatever the caller leaves nil.
    public static func suited(to closure: ClosureKind, stepper: Stepper? = nil, relativeTolerance: Double? = nil,
                              absoluteTolerance: Double? = nil, tMax: Double, saves: Int = 100,
                              logSpacedSaves: Bool = true) throws -> IntegratorSpec {
        let defaults = defaults(for: closure)
        return try IntegratorSpec(stepper: stepper ?? defaults.stepper,
                                  relativeTolerance: relativeTolerance ?? defaults.relativeTolerance,
                                  absoluteTolerance: absoluteTolerance ?? defaults.absoluteTolerance,
                                  tMax: tMax, saves: saves, logSpacedSaves: logSpacedSaves)
    }

    /// 0 then, log-spaced, tMax * 1e-3 ... tMax (or evenly spaced from 0).
    public var saveTimes: [Double] {
        if !logSpacedSaves {
            return (0..<saves).map { tMax * Double($0) / Double(saves - 1) }
        }
        let first = firstSave
        let intervals = Double(max(saves - 2, 1))
        let logSpaced: [Double] = (0..<(saves - 1)).map { k in
            k == saves - 2 ? tMax : first * pow(tMax / first, Double(k) / intervals)
        }
        return [0] + logSpaced
    }
}

/// How a run ended; written into the manifest's `status`.
public enum RunStatus: String, Codable, Sendable {
    case completed
    /// The right-hand side produced NaN or infinity.
    case diverged
    /// |w| exceeded the blow-up threshold.
    case blewUp = "blew_up"
    /// The stepper could not make progress (GSL error).
    case stepperFailed = "stepper_failed"
}

/// Saved states of a run: what was computed before it stopped, and why it stopped.
public struct Trajectory: Sendable {
    public var times: [Double]
    /// One row of D weights per saved time (none when they were handed to a `saving` closure).
    public var weights: [[Double]]
    public var status: RunStatus
    public var message: String
    /// Right-hand-side evaluations used.
    public var evaluations: Int
}

/// What the integrator needs of a dynamical system dw/dt = f(w): the gradient flow
/// of any closure, or (in tests) a field with a known solution or a known failure.
public protocol VelocityField: AnyObject {
    var dimension: Int { get }
    /// f(w) into `out`.
    func velocity(_ w: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>)
    /// df/dw, row-major D x D (asked for by the implicit steppers only).
    func jacobian(at w: [Double], relativeStep: Double) -> [Double]
}

extension GradientFlow: VelocityField {}

/// Integrates a velocity field (a gradient flow) with GSL's gsl_odeiv2 driver.
public enum ODEIntegrator {
    /// Context passed to the C callbacks through `params`.
    private final class Context {
        let flow: VelocityField
        var evaluations = 0
        var nonFinite = false
        init(_ flow: VelocityField) { self.flow = flow }
    }

    /// Integrates `flow` from `initial` and saves it at `settings.saveTimes`. `progress` receives
    /// the fraction done (`IntegratorSpec.progressFraction`), monotone in [0, 1] and 1 on
    /// completion, after each save and between saves once `progressInterval` seconds of `clock`
    /// have passed since the last report (a clock read per step: cheap next to a step).
    public static func integrate(_ flow: VelocityField, from initial: [Double], settings: IntegratorSpec,
                                 progress: ((Double) -> Void)? = nil,
                                 clock: () -> Double = { ProcessInfo.processInfo.systemUptime }) -> Trajectory {
        var weights: [[Double]] = []
        let outcome = integrate(flow, from: initial, settings: settings, progress: progress, clock: clock, saving: { _, w in weights.append(w) })
        return Trajectory(times: outcome.times, weights: weights, status: outcome.status, message: outcome.message,
                          evaluations: outcome.evaluations)
    }

    /// The same, handing each saved state to `save` (time, weights) as soon as it is reached
    /// instead of keeping it: `solve` writes it out and keeps nothing. The outcome has the saved
    /// times and no weights. An error thrown by `save` ends the run and is rethrown.
    public static func integrate(_ flow: VelocityField, from initial: [Double], settings: IntegratorSpec,
                                 progress: ((Double) -> Void)? = nil,
                                 clock: () -> Double = { ProcessInfo.processInfo.systemUptime },
                                 saving save: (Double, [Double]) throws -> Void) rethrows -> Trajectory {
        GSL.initialize()
        let d = flow.dimension
        precondition(initial.count == d)
        let context = Context(flow)
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }

        var system = gsl_odeiv2_system(
            function: { _, y, dydt, params in
                let context = Unmanaged<Context>.fromOpaque(params!).takeUnretainedValue()
                context.evaluations += 1
                context.flow.velocity(y!, into: dydt!)
                let d = context.flow.dimension
                for i in 0..<d where !dydt![i].isFinite {
                    context.nonFinite = true
                    return Int32(GSL_EBADFUNC)
                }
                return Int32(GSL_SUCCESS)
            },
            jacobian: { _, y, dfdy, dfdt, params in
                let context = Unmanaged<Context>.fromOpaque(params!).takeUnretainedValue()
                let d = context.flow.dimension
                let w = Array(UnsafeBufferPointer(start: y!, count: d))
                let matrix = context.flow.jacobian(at: w, relativeStep: 1e-6)
                context.evaluations += 2 * d
                for k in 0..<(d * d) {
                    guard matrix[k].isFinite else { context.nonFinite = true; return Int32(GSL_EBADFUNC) }
                    dfdy![k] = matrix[k]
                }
                for i in 0..<d { dfdt![i] = 0 }  // autonomous
                return Int32(GSL_SUCCESS)
            },
            dimension: d,
            params: unmanaged.toOpaque())

        let times = settings.saveTimes
        let initialStep = min(1e-3, times.count > 1 ? max(times[1], 1e-9) : 1e-3)
        guard let driver = gsl_odeiv2_driver_alloc_y_new(&system, settings.stepper.gslType, initialStep,
                                                         settings.absoluteTolerance, settings.relativeTolerance) else {
            return Trajectory(times: [], weights: [], status: .stepperFailed,
                              message: "could not allocate the GSL driver", evaluations: 0)
        }
        defer { gsl_odeiv2_driver_free(driver) }
        gsl_odeiv2_driver_set_nmax(driver, 50_000_000)

        var w = initial
        var t = 0.0
        var trajectory = Trajectory(times: [0], weights: [], status: .completed, message: "", evaluations: 0)
        try save(0, initial)
        let norm0 = euclideanNorm(initial)
        let blowUp = settings.blowUpFactor * max(1, norm0)
        var nextReport = progress == nil ? Double.infinity : clock() + progressInterval
        func reportIfDue(_ t: Double) {
            guard let progress else { return }
            let now = clock()
            guard now >= nextReport else { return }
            nextReport = now + progressInterval
            progress(settings.progressFraction(at: t))
        }
        for target in times.dropFirst() {
            let outcome = w.withUnsafeMutableBufferPointer {
                advance(driver, t: &t, to: target, y: $0.baseAddress!, stallScale: settings.firstSave, afterStep: reportIfDue)
            }
            trajectory.evaluations = context.evaluations
            switch outcome {
            case .reached: break
            case let .failed(status):
                if context.nonFinite {
                    trajectory.status = .diverged
                    trajectory.message = "the right-hand side became non-finite near t = \(t)"
                } else {
                    trajectory.status = .stepperFailed
                    trajectory.message = "GSL \(settings.stepper.rawValue) stopped at t = \(t): \(String(cString: gsl_strerror(status)))"
                }
                return trajectory
            case let .stalled(step):
                trajectory.status = .stepperFailed
                trajectory.message = "GSL \(settings.stepper.rawValue) stalled at t = \(t) with |w| = \(euclideanNorm(w)): its step \(step) "
                    + "fell below \(stallRatio) max(t, first save), so it could not reach t-max (a tolerance double precision "
                    + "cannot meet, or a right-hand side that is not smooth)"
                return trajectory
            }
            trajectory.times.append(t)
            try save(t, w)
            let norm = euclideanNorm(w)
            if !norm.isFinite || norm > blowUp {
                trajectory.status = norm.isFinite ? .blewUp : .diverged
                trajectory.message = "|w| = \(norm) exceeded \(blowUp) at t = \(t)"
                return trajectory
            }
            progress?(settings.progressFraction(at: t))
        }
        return trajectory
    }

    /// Longest silence of `progress` during a run (in seconds of its clock).
    public static let progressInterval = 0.2

    /// A step size below this fraction of max(|t|, first save) is one that t resolves to only
    /// ~45 ulps, or (near t = 0, where |t| sets no scale) one that needs 1e14 steps to reach the
    /// first save: either way the run cannot finish, so it stops instead of crawling on.
    public static let stallRatio = 1e-14

    private enum Advance { case reached, failed(Int32), stalled(step: Double) }

    /// gsl_odeiv2_driver_apply opened up: the same loop of gsl_odeiv2_evolve_apply on the driver's
    /// own evolve, control and step objects, with the same step budget (nmax) and hmin/hmax rules,
    /// so the steps and the trajectory are the driver's to the bit; between steps it reports
    /// progress and gives up on a stalled step size, which the driver would let crawl.
    private static func advance(_ driver: UnsafeMutablePointer<gsl_odeiv2_driver>, t: inout Double, to target: Double,
                                y: UnsafeMutablePointer<Double>, stallScale: Double, afterStep: (Double) -> Void) -> Advance {
        let d = driver.pointee
        driver.pointee.n = 0
        while t < target {
            let status = gsl_odeiv2_evolve_apply(d.e, d.c, d.s, d.sys, &t, target, &driver.pointee.h, y)
            guard status == GSL_SUCCESS else { return .failed(status) }
            if driver.pointee.nmax > 0 && driver.pointee.n > driver.pointee.nmax { return .failed(Int32(GSL_EMAXITER)) }
            if abs(driver.pointee.h) > abs(d.hmax) { driver.pointee.h = d.hmax }
            if abs(driver.pointee.h) < abs(d.hmin) { return .failed(Int32(GSL_ENOPROG)) }
            if abs(driver.pointee.h) < stallRatio * max(abs(t), stallScale) { return .stalled(step: driver.pointee.h) }
            driver.pointee.n += 1
            afterStep(t)
        }
        return .reached
    }
}

extension IntegratorSpec {
    /// saveTimes[1], without building the schedule.
    public var firstSave: Double {
        guard logSpacedSaves else { return tMax / Double(saves - 1) }
        return saves > 2 ? tMax * 1e-3 : tMax
    }

    /// How far a run at time t is, for a progress display: t / tMax, with linear and log-spaced
    /// saves alike (reported from inside the loop, it moves long before the first log-spaced save
    /// at tMax/1000). The display turns it into a time left assuming the rest advances in t as fast
    /// as the run so far, which is what long runs do: past its transient the flow sits at a fixed
    /// point where an explicit stepper is held to a constant step by the fastest decaying mode
    /// (D = 100, gaussian: 3.2e4, 3.2e5, 3.2e6 right-hand sides for t-max 1e4, 1e5, 1e6). Log-time,
    /// log(1 + t/t1) / log(1 + tMax/t1), claimed 83% one second into a 3 s run to t-max 1e5, and a
    /// run to 1e9 would have promised seconds for a day. While the learning transient dominates
    /// (montecarlo, t-max 150: half the wall time by t = 15) t / tMax is pessimistic instead.
    public func progressFraction(at t: Double) -> Double { min(max(t / tMax, 0), 1) }
}
