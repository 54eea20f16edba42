import Foundation

/// Progress on stderr for anything that may run longer than a second or two: a bar redrawn in
/// place on a terminal, plain lines in a file or a pipe (so that logs stay readable and a long
/// run never goes silent in one), both with an estimate of the time left. stdout is never touched.
final class ProgressLine {
    private var meter: ProgressMeter
    private let clock: () -> Double

    init(label: String, interactive: Bool = isatty(STDERR_FILENO) != 0,
         clock: @escaping () -> Double = { ProcessInfo.processInfo.systemUptime }) {
        self.clock = clock
        meter = ProgressMeter(label: label, interactive: interactive, start: clock())
    }

    func update(_ fraction: Double) { write(meter.update(fraction, now: clock())) }

    /// A new stage of the work: its fraction starts again from 0, and `estimate` (seconds) is
    /// announced for a stage whose progress cannot be observed (a dense GSL factorisation).
    func stage(_ name: String, estimate: Double? = nil) { write(meter.stage(name, estimate: estimate, now: clock())) }

    func finish() { write(meter.finish(now: clock())) }

    private func write(_ text: String?) {
        guard let text else { return }
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// What `ProgressLine` writes and when, as a pure function of the fractions it is given and
/// the times they arrive (tests drive it with their own clock).
public struct ProgressMeter {
    public let label: String
    /// A terminal: one line redrawn with "\r". Otherwise whole lines, appended.
    public let interactive: Bool
    /// Nothing is shown before a command, or the fraction of a stage before the stage, has run
    /// this long: quick commands keep a clean stderr, and a first second says little about a rate.
    public static let grace = 1.0
    /// Redraws of the terminal bar are at least this far apart.
    public static let redrawInterval = 0.2
    /// A log gets a line per quarter, and one at least this often while the quarter stays the same.
    public static let logInterval = 10.0
    /// A stage expected to take this long is announced even at the start of a command.
    public static let announcedEstimate = 1.0

    private let start: Double
    private var stageName: String?
    private var stageStart: Double
    /// Of the current stage; nil until the stage reports one (a dense factorisation never does).
    private var fraction: Double?
    private var lastDraw = -Double.infinity
    private var lastQuarter = -1
    /// Log: the fraction of the last line, so that `finish` does not repeat it.
    private var lastLogged: Double?
    /// Terminal: a bar is on the current line and must be ended before any other line.
    private var barShown = false
    private var anythingShown = false

    public init(label: String, interactive: Bool, start: Double) {
        self.label = label
        self.interactive = interactive
        self.start = start
        stageStart = start
    }

    /// The text to write once `fraction` (of the current stage) is reached at time `now`, or nil.
    public mutating func update(_ fraction: Double, now: Double) -> String? {
        let f = min(max(fraction.isNaN ? 0 : fraction, 0), 1)
        self.fraction = f
        // A stage never starts before the command, so this is also the command's grace; a stage
        // shorter than it shows its announcement (if any) and nothing more.
        guard now - stageStart >= ProgressMeter.grace else { return nil }
        if interactive {
            guard now - lastDraw >= ProgressMeter.redrawInterval else { return nil }
            return bar(f, now: now)
        }
        let quarter = Int(f * 4)
        guard quarter > lastQuarter || now - lastDraw >= ProgressMeter.logInterval else { return nil }
        lastQuarter = quarter
        lastDraw = now
        lastLogged = f
        anythingShown = true
        return "\(title): \(ProgressMeter.percent(f)) after \(ProgressMeter.duration(now - stageStart))\(eta(f, now: now))\n"
    }

    /// Starts stage `name`; `estimate` (seconds) is announced for a stage whose progress cannot be observed.
    public mutating func stage(_ name: String, estimate: Double?, now: Double) -> String? {
        let ended = barShown ? "\n" : ""
        barShown = false
        stageName = name
        stageStart = now
        fraction = nil
        lastLogged = nil
        lastQuarter = -1
        lastDraw = -Double.infinity
        guard (estimate ?? 0) >= ProgressMeter.announcedEstimate || now - start >= ProgressMeter.grace else {
            return ended.isEmpty ? nil : ended
        }
        anythingShown = true
        return ended + title + (estimate.map { ": about \(ProgressMeter.duration($0))" } ?? "") + "\n"
    }

    /// The closing text, when anything was shown: the bar's final state and its newline, or a last log line.
    public mutating func finish(now: Double) -> String? {
        guard anythingShown else { return nil }
        if interactive {
            guard barShown, let fraction else { return nil }
            barShown = false
            return bar(fraction, now: now) + "\n"
        }
        guard fraction == nil || fraction != lastLogged else { return nil }
        let elapsed = ProgressMeter.duration(now - stageStart)
        return title + (fraction.map { ": \(ProgressMeter.percent($0)) after \(elapsed)" } ?? " took \(elapsed)") + "\n"
    }

    /// elapsed (1 - f) / f, once f > 0 and `grace` has passed; nil before, and once done.
    public static func remaining(elapsed: Double, fraction f: Double) -> Double? {
        guard f > 0, f < 1, elapsed >= grace else { return nil }
        return elapsed * (1 - f) / f
    }

    /// "42s", "1m23s", "2h05m", "3d04h".
    public static func duration(_ seconds: Double) -> String {
        guard seconds < 1e15 else { return "forever" }
        let s = max(Int(seconds.rounded()), 0)
        switch s {
        case ..<60: return "\(s)s"
        case ..<3600: return String(format: "%dm%02ds", s / 60, s % 60)
        case ..<86_400: return String(format: "%dh%02dm", s / 3600, s % 3600 / 60)
        default: return String(format: "%dd%02dh", s / 86_400, s % 86_400 / 3600)
        }
    }

    static func percent(_ fraction: Double) -> String { String(format: "%.1f%%", 100 * fraction) }

    private var title: String { stageName.map { "\(label): \($0)" } ?? label }

    private func eta(_ f: Double, now: Double) -> String {
        ProgressMeter.remaining(elapsed: now - stageStart, fraction: f).map { " ETA \(ProgressMeter.duration($0))" } ?? ""
    }

    private mutating func bar(_ f: Double, now: Double) -> String {
        lastDraw = now
        barShown = true
        anythingShown = true
        let width = 30
        let filled = Int((f * Double(width)).rounded())
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        // ESC[K clears what a longer previous line left behind.
        return "\r\(title) [\(bar)] \(String(format: "%5.1f%%", 100 * f))\(eta(f, now: now))\u{1B}[K"
    }
}
