import ConvEmerge
import Foundation
import XCTest

/// A user's audit of the K-unit commands (solve / simulate / compare / analyze / instability with
/// --model committee|twolayer): nothing left behind by refused or interrupted runs, clear refusals
/// of runs that cannot be compared, divergence reported as for one neuron, help that documents
/// every output column.
final class CLICommitteeAuditTests: CLITestCase {
    private let small = ["--L", "16", "--gain", "2", "--activation", "erf", "--quiet"]

    /// Entries of `workspace`, recursively.
    private func contents(_ workspace: URL) -> [String] {
        (FileManager.default.enumerator(atPath: workspace.path)?.allObjects as? [String] ?? []).sorted()
    }

    private func workspace(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        return url
    }

    /// A kernel that is not positive semidefinite is found only once the inputs are built, after
    /// --out was opened: the refusal must still leave no `a/b` behind (neuron and K units alike).
    func testARunRefusedAfterOpeningAFreshNestedOutLeavesNoParents() throws {
        let refused = ["--L", "16", "--xi", "3", "--task", "clone", "--t-max", "1", "--out", "a/b/run"]
        for (k, command) in [["solve", "--quiet"], ["solve", "--model", "committee", "--K", "2", "--quiet"],
                             ["simulate", "--model", "committee", "--K", "2"]].enumerated() {
            let place = try workspace("refused-\(k)")
            let outcome = try CLI.run(command + refused, in: place, timeout: 60)
            XCTAssertEqual(outcome.status, 2, outcome.stderr)
            XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
            XCTAssertTrue(outcome.stderr.hasPrefix("error: --xi: "), outcome.stderr)
            XCTAssertEqual(contents(place), [], "\(command.joined(separator: " ")) left directories behind")
        }
        // A run that succeeds keeps the parents it made.
        let place = try workspace("completed")
        XCTAssertEqual(try CLI.run(["solve", "--model", "committee", "--K", "2", "--t-max", "0.5", "--out", "a/b/run"] + small,
                                   in: place, timeout: 60).status, 0)
        XCTAssertTrue(contents(place).contains("a/b/run/manifest.json"))
    }

    /// SIGINT in the middle of a K-unit solve into a fresh a/b/run: nothing at all remains.
    func testSIGINTDuringACommitteeSolveIntoAFreshNestedOutLeavesNothing() throws {
        let place = try workspace("interrupted")
        let run = try CLI.start(["solve", "--model", "committee", "--K", "8", "--L", "100", "--closure", "cumulant",
                                 "--t-max", "1000", "--out", "a/b/run"], in: place)
        let staged = eventually(within: 30) {
            ((try? FileManager.default.contentsOfDirectory(atPath: place.appendingPathComponent("a/b").path)) ?? [])
                .contains { $0.contains(".partial-") }
        }
        XCTAssertTrue(staged, "the solve never staged its output")
        run.send(SIGINT)
        let outcome = run.wait(timeout: 60)
        XCTAssertEqual(outcome.status, 128 + SIGINT, outcome.stderr)
        XCTAssertTrue(outcome.stderr.contains("interrupted by SIGINT"), outcome.stderr)
        XCTAssertEqual(contents(place), [])
    }

    /// A theory run on a 6 x 6 torus and a simulation on a ring of 36 sites have the same D: the
    /// refusal names --sim and both lattices.
    func testCompareNamesTheLatticesOfRunsOfEqualDimension() throws {
        let common = ["--model", "committee", "--K", "2", "--xi0", "0.5", "--xi1", "1.5", "--t-max", "1", "--saves", "3", "--quiet"]
        try runOK(["solve", "--dim", "2", "--L", "6", "--xi", "1", "--out", path("torus")] + common)
        try runOK(["simulate", "--L", "36", "--seeds", "1", "--out", path("ring")] + common)
        let outcome = try CLI.run(["compare", "--theory", path("torus"), "--sim", path("ring")])
        XCTAssertEqual(outcome.status, 2, outcome.stderr)
        XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
        XCTAssertTrue(outcome.stderr.hasPrefix("error: --sim: "), outcome.stderr)
        XCTAssertTrue(outcome.stderr.contains("ring of L = 36") && outcome.stderr.contains("6 x 6 torus"), outcome.stderr)
    }

    /// Log-spaced saves to t = 2 and to t = 3 share only t = 0, where both runs hold the same w0 (a
    /// distance of 0 by construction): refused, naming --sim. The same schedule is compared.
    func testCompareRefusesRunsThatShareOnlyTheInitialTime() throws {
        let common = ["--model", "committee", "--K", "2", "--saves", "5", "--quiet"] + small
        try runOK(["solve", "--t-max", "2", "--out", path("ode")] + common)
        try runOK(["simulate", "--t-max", "3", "--seeds", "1", "--out", path("later")] + common)
        try runOK(["simulate", "--t-max", "2", "--seeds", "1", "--out", path("same")] + common)
        let outcome = try CLI.run(["compare", "--theory", path("ode"), "--sim", path("later")])
        XCTAssertEqual(outcome.status, 2, outcome.stderr)
        XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
        XCTAssertTrue(outcome.stderr.hasPrefix("error: --sim: ") && outcome.stderr.contains("after t = 0"), outcome.stderr)
        // Swapped directories are named as such.
        for (theory, simulation, flag) in [("same", "ode", "--theory"), ("ode", "ode", "--sim")] {
            let swapped = try CLI.run(["compare", "--theory", path(theory), "--sim", path(simulation)])
            XCTAssertEqual(swapped.status, 2, swapped.stderr)
            XCTAssertTrue(swapped.stderr.hasPrefix("error: \(flag): ") && swapped.stderr.contains("run, not a"), swapped.stderr)
        }
        let report = try runOK(["compare", "--theory", path("ode"), "--sim", path("same"), "--json"]).json()
        let curve = try XCTUnwrap(report["curve"] as? [[String: Any]])
        XCTAssertEqual(try XCTUnwrap(double(curve.last?["t"])), 2, accuracy: 1e-9)
    }

    /// Quadratic units at eta = 1000 from weights of scale 10 overflow at once: the K-unit solve
    /// stops as the neuron's does (exit 3, a warning, status diverged, the saves so far kept), and
    /// analyze says that the weights it reads are not those of --t-max.
    func testADivergingCommitteeSolveStopsLikeTheNeuronAndAnalyzeSaysSo() throws {
        let blowUp = ["--L", "12", "--activation", "quadratic", "--lr", "1000", "--init-scale", "10", "--t-max", "100", "--saves", "5"]
        for (name, model) in [("neuron", [String]()), ("committee", ["--model", "committee", "--K", "3"]),
                              ("twolayer", ["--model", "twolayer", "--K", "3"])] {
            let outcome = try CLI.run(["solve", "--out", path(name)] + model + blowUp)
            XCTAssertEqual(outcome.status, 3, "\(name): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains("warning: "), outcome.stderr)
            let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path(name + "/manifest.json")))) as? [String: Any])
            XCTAssertEqual(manifest["status"] as? String, "diverged", name)
            let times = try NpyArray.read(from: path(name + "/times.npy"), flag: "test")
            let weights = try NpyArray.read(from: path(name + "/weights.npy"), flag: "test")
            XCTAssertGreaterThanOrEqual(times.shape[0], 1)
            XCTAssertLessThan(times.values.last!, 100, "\(name) claims to have reached t-max")
            XCTAssertEqual(weights.shape.first, times.shape[0])
            XCTAssertTrue(weights.values.allSatisfy(\.isFinite), "\(name) saved non-finite weights")
            let analysis = try CLI.run(["analyze", path(name)])
            XCTAssertEqual(analysis.status, 0, analysis.stderr)
            XCTAssertTrue(analysis.stderr.hasPrefix("warning: RUN: ") && analysis.stderr.contains("diverged"), "\(name): \(analysis.stderr)")
        }
    }

    /// instability shares the K-unit model checks: its refusals must not speak of solve.
    func testInstabilityRefusalsOfTheKUnitModelNameNoOtherCommand() throws {
        for bad in [["--heads", "2"], ["--loss", "ce"]] {
            let outcome = try CLI.run(["instability", "--model", "committee", "--K", "2"] + bad + small)
            XCTAssertEqual(outcome.status, 2, outcome.stderr)
            XCTAssertEqual(outcome.stderrLines.count, 1, outcome.stderr)
            XCTAssertTrue(outcome.stderr.hasPrefix("error: \(bad[0]): "), outcome.stderr)
            XCTAssertFalse(outcome.stderr.contains("solve"), outcome.stderr)
        }
    }

    /// K = 1 is the neuron (issue 12, item 5), so it continues a neuron run: from the neuron's last
    /// save, the K = 1 gaussian flow and the neuron's own continuation agree to round-off while the
    /// weights move by O(1e-2). --threads, unused by K units, says so.
    func testOneUnitCommitteeContinuesANeuronRunToRoundOff() throws {
        let flow = ["--closure", "gaussian", "--t-max", "1", "--saves", "3"] + small
        try runOK(["solve", "--out", path("first")] + flow)
        let start = path("first/weights.npy")
        try runOK(["solve", "--init", start, "--out", path("neuron")] + flow)
        let outcome = try runOK(["solve", "--model", "committee", "--K", "1", "--init", start, "--threads", "2", "--out", path("unit")] + flow)
        XCTAssertTrue(outcome.stderr.contains("note: --threads: "), outcome.stderr)
        let neuron = try NpyArray.read(from: path("neuron/weights.npy"), flag: "test")
        let unit = try NpyArray.read(from: path("unit/weights.npy"), flag: "test")
        XCTAssertEqual(unit.shape, [3, 1, 16])
        let d = 16, scale = neuron.values.map(abs).max()!
        let moved = zip(neuron.values.prefix(d), neuron.values.suffix(d)).map { abs($0 - $1) }.max()!
        let difference = zip(neuron.values, unit.values).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(moved, 1e-3 * scale, "the continuation did not move")
        XCTAssertLessThanOrEqual(difference, 1e-10 * scale)
    }

    /// Every observables.csv column of a two-layer run with trained biases on the torus is
    /// documented in `help solve` (per-unit columns as NAME_k).
    func testSolveHelpDocumentsEveryKUnitObservablesColumn() throws {
        try runOK(["solve", "--model", "twolayer", "--K", "2", "--train-bias", "--dim", "2", "--L", "6", "--xi", "1",
                   "--xi0", "0.5", "--xi1", "1.5", "--t-max", "0.5", "--saves", "2", "--quiet", "--out", path("torus")])
        let header = try String(contentsOfFile: path("torus/observables.csv"), encoding: .utf8).split(separator: "\n")[0]
        let help = try runOK(["help", "solve"]).stdout
        let names = Set(header.split(separator: ",").map { column in
            column.replacingOccurrences(of: "_[0-9]+$", with: "_k", options: .regularExpression)
        })
        XCTAssertTrue(names.contains("center_col_k") && names.contains("v_k") && names.contains("b_k"), "\(names)")
        for name in names.sorted() {
            XCTAssertNotNil(help.range(of: "\\b\(name)\\b", options: .regularExpression), "help solve does not document \(name)")
        }
    }

    /// One stepper step of K units costs up to 13 right-hand sides of O(K^2 D) each (minutes at
    /// K ~ 500, D = 100), so the K-unit solve reports its progress after every evaluation, not only
    /// between steps: at least one report per evaluation, monotone in [0, 1], ending at 1, and the
    /// trajectory is that of the run without progress, bit for bit.
    func testCommitteeSolveReportsProgressAfterEveryRightHandSide() throws {
        let lattice = try Lattice(dimension: 1, length: 16)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 2), gain: 2)
        var parameters = SolveParameters(
            task: try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1]),
            neuron: try NeuronSpec(activation: .erf, bias: 0), closure: try ClosureSpec(kind: .gaussian),
            integrator: try IntegratorSpec.suited(to: .gaussian, tMax: 2, saves: 4, logSpacedSaves: true),
            learningRate: 1, initialization: .random(scale: 0.3, seed: 2))
        parameters.model = .committee
        parameters.hiddenUnits = 3
        parameters.network = .standard
        var fractions: [Double] = []
        let reported = try CommitteeSolveJob.run(parameters) { fractions.append($0) }
        let silent = try CommitteeSolveJob.run(parameters)
        XCTAssertEqual(reported.trajectory.weights, silent.trajectory.weights)
        XCTAssertGreaterThanOrEqual(fractions.count, reported.trajectory.evaluations)
        XCTAssertEqual(fractions.last, 1)
        XCTAssertTrue(zip(fractions, fractions.dropFirst()).allSatisfy { $0 <= $1 } && fractions.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    /// observables.csv as columns by name.
    private func columns(_ file: String) throws -> [String: [Double]] {
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        let names = lines[0].split(separator: ",").map(String.init)
        var table: [String: [Double]] = [:]
        for line in lines.dropFirst() {
            for (name, value) in zip(names, line.split(separator: ",")) { table[name, default: []].append(Double(value)!) }
        }
        return table
    }

    /// derivations/observables.md §5: in both solve's and simulate's K-unit rows, ipr and
    /// participation_ratio are unit means and norm is sqrt(mean_k |w_k|^2), computed here from each
    /// run's weights.npy at every save; at t = 0 both runs hold simulate's w0, so there the columns
    /// of theory and simulation agree to round-off.
    func testSolveAndSimulateAggregateTheUnitsAlike() throws {
        let k = 3, d = 16
        let common = ["--model", "committee", "--K", "\(k)", "--t-max", "1", "--saves", "3", "--init-scale", "0.4", "--seed", "5"] + small
        try runOK(["solve", "--out", path("ode")] + common)
        try runOK(["simulate", "--seeds", "1", "--out", path("sgd")] + common)
        var firstRows: [[String: Double]] = []
        for (run, table) in [("ode", "observables.csv"), ("sgd", "observables_seed0.csv")] {
            let weights = try NpyArray.read(from: path(run + "/weights.npy"), flag: "test").values
            let observed = try columns(path(run + "/" + table))
            let saves = try XCTUnwrap(observed["t"]).count
            XCTAssertEqual(weights.count, saves * k * d, run)
            for save in 0..<saves {
                let units = (0..<k).map { unit in Array(weights[((save * k + unit) * d)..<((save * k + unit + 1) * d)]) }
                let expected = [
                    "ipr": units.map(Observables.inverseParticipationRatio).reduce(0, +) / Double(k),
                    "participation_ratio": units.map(Observables.participationRatio).reduce(0, +) / Double(k),
                    "norm": (units.map { $0.reduce(0) { $0 + $1 * $1 } }.reduce(0, +) / Double(k)).squareRoot(),
                ]
                for (name, value) in expected {
                    XCTAssertEqual(try XCTUnwrap(observed[name])[save], value, accuracy: 1e-12 * value, "\(run) \(name) at save \(save)")
                }
                if save == 0 { firstRows.append(expected.merging(["csv_norm": observed["norm"]![0]]) { $1 }) }
            }
        }
        XCTAssertEqual(firstRows[0]["csv_norm"]!, firstRows[1]["csv_norm"]!, accuracy: 1e-12 * firstRows[1]["csv_norm"]!)
    }

    /// --l1 makes the right-hand side jump where a weight crosses 0; with a bias, rk8pd at its default
    /// 1e-8 crawled there for minutes (t ~ 0.2 of 2). Unless a stepper is chosen, the K-unit solve
    /// takes rk2 at 1e-3 / 1e-4, says so, and finishes; the L1 term is in the flow (the final weights
    /// differ from those without it by far more than the tolerance).
    func testL1DecayDefaultsToALowOrderStepperAndFinishes() throws {
        let base = ["solve", "--model", "committee", "--K", "1", "--L", "16", "--closure", "gaussian", "--bias", "0.3",
                    "--t-max", "2", "--saves", "3"]
        let outcome = try CLI.run(base + ["--l1", "0.05", "--out", path("l1")], timeout: 60)
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertTrue(outcome.stderr.contains("note: --l1: "), outcome.stderr)
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("l1/manifest.json")))) as? [String: Any])
        let integrator = try XCTUnwrap((manifest["parameters"] as? [String: Any])?["integrator"] as? [String: Any])
        XCTAssertEqual(integrator["stepper"] as? String, "rk2")
        XCTAssertEqual(manifest["status"] as? String, "completed")
        try runOK(base + ["--stepper", "rk2", "--rtol", "1e-3", "--atol", "1e-4", "--quiet", "--out", path("plain")])
        let decayed = try NpyArray.read(from: path("l1/weights.npy"), flag: "test").values.suffix(16)
        let plain = try NpyArray.read(from: path("plain/weights.npy"), flag: "test").values.suffix(16)
        let difference = zip(decayed, plain).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(difference, 1e-2 * plain.map(abs).max()!)
    }
}
