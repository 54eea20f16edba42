import CGSL
import Foundation

/// GSL's odeiv2 steppers (SPEC §3).
public enum Stepper: String, Codable, CaseIterable, Sendable {
    case rk8pd, rkf45, rkck, rk4, msadams, msbdf

    var gslType: UnsafePointer<gsl_odeiv2_step_type> {
        switch self {
        case .rk8pd: return convemerge_step_rk8pd()
        case .rkf45: return convemerge_step_rkf45()
        case .rkck: return convemerge_step_rkck()
        case .rk4: return convemerge_step_rk4()
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

    public init(stepper: Stepper = .rk8pd, relativeTolerance: Double = 1e-8, absoluteTolerance: Double = 1e-10,
                tMax: Double = 150, saves: Int = 100, logSpacedSaves: Bool = true,
                blowUpFactor: Double = IntegratorSpec.defaultBlowUpFactor) throws {
        try require(relativeTolerance.isFinite && relativeTolerance > 0 && relativeTolerance < 1, flag: "--rtol",
                    "must be in (0, 1), got \(relativeTolerance)")
        try require(absoluteTolerance.isFinite && absoluteTolerance > 0, flag: "--atol", "must be finite and > 0, got \(absoluteTolerance)")
        try require(tMax.isFinite && tMax > 0, flag: "--t-max", "must be finite and > 0, got \(tMax)")
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
    /// same final IPR to 4 digits). Smooth closures keep rk8pd and tight tolerances.
    public static func defaults(for closure: ClosureKind) -> (stepper: Stepper, relativeTolerance: Double, absoluteTolerance: Double) {
        closure == .montecarlo ? (.rkf45, 1e-5, 1e-6) : (.rk8pd, 1e-8, 1e-10)
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
        let first = tMax * 1e-3
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
    /// One row of D weights per saved time.
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

    public static func integrate(_ flow: VelocityField, from initial: [Double], settings: IntegratorSpec,
                                 progress: ((Double) -> Void)? = nil) -> Trajectory {
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
        var trajectory = Trajectory(times: [0], weights: [initial], status: .completed, message: "", evaluations: 0)
        let norm0 = euclideanNorm(initial)
        let blowUp = settings.blowUpFactor * max(1, norm0)
        for target in times.dropFirst() {
            let status = w.withUnsafeMutableBufferPointer { gsl_odeiv2_driver_apply(driver, &t, target, $0.baseAddress!) }
            trajectory.evaluations = context.evaluations
            if status != GSL_SUCCESS {
                if context.nonFinite {
                    trajectory.status = .diverged
                    trajectory.message = "the right-hand side became non-finite near t = \(t)"
                } else {
                    trajectory.status = .stepperFailed
                    trajectory.message = "GSL \(settings.stepper.rawValue) stopped at t = \(t): \(String(cString: gsl_strerror(status)))"
                }
                return trajectory
            }
            trajectory.times.append(t)
            trajectory.weights.append(w)
            let norm = euclideanNorm(w)
            if !norm.isFinite || norm > blowUp {
                trajectory.status = norm.isFinite ? .blewUp : .diverged
                trajectory.message = "|w| = \(norm) exceeded \(blowUp) at t = \(t)"
                return trajectory
            }
            progress?(t / settings.tMax)
        }
        return trajectory
    }
}
