import CGSL

/// Errors the library reports as values. `invalidInput` names the command-line
/// flag at fault so the CLI can print one line and exit with status 2.
public enum ConvEmergeError: Error, CustomStringConvertible, Equatable {
    /// A user-supplied value out of its allowed range. `flag` is the CLI flag
    /// (e.g. "--xi"); `message` states the allowed range and what was given.
    case invalidInput(flag: String, message: String)
    /// A GSL routine returned a non-success status.
    case gsl(routine: String, status: Int32, reason: String)
    /// Reading or writing a file failed.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidInput(flag, message): return "\(flag): \(message)"
        case let .gsl(routine, status, reason): return "GSL \(routine) failed (status \(status)): \(reason)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}

/// Throws `invalidInput` unless `condition` holds.
@inlinable
public func require(_ condition: Bool, flag: String, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConvEmergeError.invalidInput(flag: flag, message: message()) }
}

/// Documented upper bounds of the scale parameters (README "Safety", each flag's --help):
/// beyond them a run is certain to overflow or to take longer than anyone would wait.
public enum ParameterBound {
    /// --lr: eta * t sets the ODE time; 1000 is past any stable learning rate of these models.
    public static let learningRate = 1e3
    /// --init-scale: initial weights of a standard deviation of 1000 already saturate every activation.
    public static let initScale = 1e3
    /// --bias, --targets, --jitter: values of order 1 are natural; 1e6 keeps every product finite.
    public static let magnitude = 1e6
}

/// Throws unless `x` is finite, > 0 and <= `upper`.
public func requirePositive(_ x: Double, flag: String, atMost upper: Double) throws {
    try require(x.isFinite && x > 0 && x <= upper, flag: flag, "must be in (0, \(formatBound(upper))], got \(x)")
}

/// Throws unless `x` is finite and |x| <= `bound`.
public func requireMagnitude(_ x: Double, flag: String, atMost bound: Double = ParameterBound.magnitude) throws {
    try require(x.isFinite && abs(x) <= bound, flag: flag, "must be finite with |value| <= \(formatBound(bound)), got \(x)")
}

func formatBound(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e7 ? String(Int(x)) : "\(x)" }

/// Runs `body`, reporting its errors about `flag` as errors about `newFlag`: a value that
/// reached a shared validator through another option (--xi0 through the kernel's --xi check)
/// is blamed on the option the user typed.
public func attributing<T>(_ flag: String, to newFlag: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch ConvEmergeError.invalidInput(flag, let message) {
        throw ConvEmergeError.invalidInput(flag: newFlag, message: message)
    }
}

/// GSL's default error handler calls abort(); the library must never abort the
/// process, so every entry point that touches GSL first switches it off and
/// checks return codes instead (ARCHITECTURE.md: "errors are values").
public enum GSL {
    private static let handlerDisabled: Bool = {
        gsl_set_error_handler_off()
        return true
    }()

    /// Idempotent; cheap after the first call.
    @inline(__always) public static func initialize() { _ = handlerDisabled }

    /// Maps a GSL status code to a Swift error.
    public static func check(_ status: Int32, _ routine: String) throws {
        guard status != GSL_SUCCESS else { return }
        let reason = String(cString: gsl_strerror(status))
        throw ConvEmergeError.gsl(routine: routine, status: status, reason: reason)
    }
}
