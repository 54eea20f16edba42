import XCTest
import convemerge

/// What the progress display writes, driven by a clock the test sets.
final class ProgressMeterTests: XCTestCase {
    func testDurations() {
        XCTAssertEqual(ProgressMeter.duration(0.4), "0s")
        XCTAssertEqual(ProgressMeter.duration(42), "42s")
        XCTAssertEqual(ProgressMeter.duration(83), "1m23s")
        XCTAssertEqual(ProgressMeter.duration(3600 + 5 * 60 + 20), "1h05m")
        XCTAssertEqual(ProgressMeter.duration(3 * 86_400 + 4 * 3600), "3d04h")
        XCTAssertEqual(ProgressMeter.duration(.infinity), "forever")
    }

    func testRemainingTime() {
        XCTAssertNil(ProgressMeter.remaining(elapsed: 10, fraction: 0))
        XCTAssertNil(ProgressMeter.remaining(elapsed: 0.5, fraction: 0.5), "an estimate after half a second")
        XCTAssertNil(ProgressMeter.remaining(elapsed: 10, fraction: 1))
        XCTAssertEqual(ProgressMeter.remaining(elapsed: 10, fraction: 0.25), 30)
    }

    /// A log: nothing in the first second, then a line per quarter, and one every `logInterval`
    /// while the quarter does not change; the closing line does not repeat the last.
    func testLogLinesPerQuarterAndHeartbeat() {
        var meter = ProgressMeter(label: "solve", interactive: false, start: 0)
        XCTAssertNil(meter.update(0.1, now: 0.5))
        XCTAssertEqual(meter.update(0.1, now: 1), "solve: 10.0% after 1s ETA 9s\n")
        XCTAssertNil(meter.update(0.2, now: 2))
        XCTAssertEqual(meter.update(0.25, now: 3), "solve: 25.0% after 3s ETA 9s\n")
        XCTAssertNil(meter.update(0.3, now: 12.9))
        XCTAssertEqual(meter.update(0.3, now: 13), "solve: 30.0% after 13s ETA 30s\n")
        XCTAssertNil(meter.update(0.31, now: 14))
        XCTAssertEqual(meter.update(1, now: 40), "solve: 100.0% after 40s\n")
        XCTAssertNil(meter.finish(now: 41))
        var stopped = ProgressMeter(label: "solve", interactive: false, start: 0)
        _ = stopped.update(0.5, now: 2)
        XCTAssertNil(stopped.update(0.6, now: 3))
        XCTAssertEqual(stopped.finish(now: 4), "solve: 60.0% after 4s\n")
        var quick = ProgressMeter(label: "solve", interactive: false, start: 0)
        XCTAssertNil(quick.update(1, now: 0.2))
        XCTAssertNil(quick.finish(now: 0.3))
    }

    /// A terminal: the bar is redrawn at most every `redrawInterval`, and ended by `finish`.
    func testTerminalRedrawIsThrottled() throws {
        var meter = ProgressMeter(label: "simulate", interactive: true, start: 0)
        XCTAssertNil(meter.update(0.1, now: 0.9))
        let first = try XCTUnwrap(meter.update(0.5, now: 2))
        XCTAssertTrue(first.hasPrefix("\rsimulate [###############...............]  50.0% ETA 2s"), first)
        XCTAssertFalse(first.contains("\n"))
        XCTAssertNil(meter.update(0.6, now: 2.1))
        XCTAssertNotNil(meter.update(0.7, now: 2.2))
        let last = try XCTUnwrap(meter.finish(now: 2.3))
        XCTAssertTrue(last.hasPrefix("\rsimulate [#####################.........]  70.0%"), last)
        XCTAssertTrue(last.hasSuffix("\n"))
    }

    /// Stages: announced with their estimate when that is long (or once the command is), each
    /// with its own clock for the estimate of the time left; a bar on screen is ended first.
    func testStages() {
        var meter = ProgressMeter(label: "instability", interactive: false, start: 0)
        XCTAssertNil(meter.stage("extended state", estimate: nil, now: 0))
        XCTAssertNil(meter.stage("Jacobian", estimate: 0.01, now: 0.1))
        XCTAssertEqual(meter.stage("eigenpairs", estimate: 300, now: 0.2), "instability: eigenpairs: about 5m00s\n")
        XCTAssertEqual(meter.finish(now: 125.2), "instability: eigenpairs took 2m05s\n")
        XCTAssertEqual(meter.stage("gain scan", estimate: nil, now: 130), "instability: gain scan\n")
        XCTAssertNil(meter.update(0.5, now: 130.5), "no fraction in a stage's first second")
        XCTAssertEqual(meter.update(0.5, now: 132), "instability: gain scan: 50.0% after 2s ETA 2s\n")
        var terminal = ProgressMeter(label: "instability", interactive: true, start: 0)
        _ = terminal.update(0.5, now: 2)
        XCTAssertEqual(terminal.stage("eigenpairs", estimate: 60, now: 3), "\ninstability: eigenpairs: about 1m00s\n")
    }
}
