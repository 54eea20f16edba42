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
