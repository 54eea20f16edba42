import ConvEmerge
import Foundation
import XCTest

/// `analyze`, `plot` and the chance levels of `tensor --compare-with`
/// (derivations/tiling-statistics.md): runs whose receptive fields are placed by hand, so that
/// the answer is known.
final class CLIAnalyzeTests: CLITestCase {
    static let length = 40

    /// A real K-unit committee run (manifest and layout) whose weights are then replaced by `fields`
    /// (one per unit, the same at every save).
    func committeeRun(named name: String, fields: [[Double]]) throws -> String {
        try runOK(["simulate", "--L", "\(Self.length)", "--model", "committee", "--K", "\(fields.count)", "--t-max", "1",
                   "--saves", "2", "--seeds", "1", "--out", path(name), "--quiet"])
        let values = (0..<2).flatMap { _ in fields.flatMap { $0 } }
        let file = path("\(name)/weights.npy")
        try FileManager.default.removeItem(atPath: file)
        try NpyArray(shape: [1, 2, fields.count, Self.length], values: values).write(to: file)
        return path(name)
    }

    func bumps(at centres: [Double]) throws -> [[Double]] {
        let ring = try Lattice(dimension: 1, length: Self.length)
        return centres.map { ChanceLevel.bump(width: 1.5, centre: [$0], lattice: ring) }
    }

    func testEvenlyPlacedRFsAreMoreEvenThanRandomAndClusteredOnesAreFlagged() throws {
        let even = try committeeRun(named: "even", fields: bumps(at: (0..<8).map { 5 * Double($0) + 0.5 }))
        let report = try runOK(["analyze", even, "--json", "--null-samples", "4000"]).json()
        XCTAssertEqual((report["units"] as? [Any])?.count, 8)
        XCTAssertEqual(report["localised_counts"] as? [Int], [8])
        let spacing = try XCTUnwrap(report["nearest_neighbour"] as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(double(spacing["observed"])), 5, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(double(report["even_spacing"])), 5, accuracy: 1e-12)
        XCTAssertLessThan(try XCTUnwrap(double(spacing["p_even"])), 0.01)
        XCTAssertGreaterThan(try XCTUnwrap(double(spacing["p_clustered"])), 0.99)

        let clustered = try committeeRun(named: "clustered", fields: bumps(at: (0..<8).map { 20 + 0.5 * Double($0) }))
        let tight = try XCTUnwrap(try runOK(["analyze", clustered, "--json", "--null-samples", "4000"]).json()["nearest_neighbour"] as? [String: Any])
        XCTAssertLessThan(try XCTUnwrap(double(tight["p_clustered"])), 0.01)
        XCTAssertTrue(try runOK(["analyze", clustered]).stdout.contains("p_clustered"))
    }

    func testCNNFiltersCutFromTheRFsAlignPerfectlyAboveChance() throws {
        let kernel = 6
        try runOK(["simulate", "--L", "\(Self.length)", "--model", "cnn", "--K", "4", "--kernel-size", "\(kernel)", "--t-max", "1",
                   "--saves", "2", "--seeds", "1", "--out", path("cnn"), "--quiet"])
        // The committee's RFs: each filter of the CNN, zero-padded and shifted.
        let filters = try NpyArray.read(from: path("cnn/weights.npy"), flag: "test").values.suffix(4 * kernel)
        let fields = (0..<4).map { unit -> [Double] in
            var field = [Double](repeating: 0, count: Self.length)
            for j in 0..<kernel { field[(7 * unit + 3 + j) % Self.length] = filters[filters.startIndex + unit * kernel + j] }
            return field
        }
        let committee = try committeeRun(named: "committee", fields: fields)
        let report = try runOK(["analyze", path("cnn"), "--match", committee, "--json"]).json()
        let alignment = try XCTUnwrap(report["alignment"] as? [String: Any])
        for cosine in doubles(alignment["cosines"]) { XCTAssertEqual(cosine, 1, accuracy: 1e-9) }
        // A random filter matches a window of an RF exactly with probability 0: its best cosine,
        // and so the chance level, stays below the perfect alignment.
        let chance = try XCTUnwrap(double(alignment["chance_mean"])), sd = try XCTUnwrap(double(alignment["chance_sd"]))
        XCTAssertLessThan(chance, 1 - 1e-6)
        XCTAssertGreaterThan(sd, 0, "4 independent random filters cannot all score the same")
    }

    func testBadRunsAndFlagsEndInOneLineNamingThem() throws {
        let run = try committeeRun(named: "run", fields: bumps(at: [3, 13]))
        try FileManager.default.createDirectory(atPath: path("foreign"), withIntermediateDirectories: false)
        try runOK(["simulate", "--L", "16", "--t-max", "1", "--saves", "2", "--out", path("noweights"), "--quiet"])
        try FileManager.default.removeItem(atPath: path("noweights/weights.npy"))
        let cases: [([String], String, String)] = [
            (["analyze", path("missing")], "RUN", "not a directory"),
            (["analyze", path("foreign")], "RUN", "no manifest.json"),
            (["analyze", path("noweights")], "RUN", "no weights.npy"),
            (["analyze", run, "--null-samples", "5"], "--null-samples", "100 ... 1000000"),
            (["analyze", run, "--threshold", "-1"], "--threshold", "[0, 1000]"),
            (["analyze", run, "--match", run], "--match", "cnn"),
            (["analyze"], "RUN", "required"),
            (["plot"], "RUN", "one run directory"),
            (["plot", run, run, run], "RUN", "one run directory"),
            (["plot", "--compare", run], "--compare", "two run directories"),
            (["plot", run, "--out", path("figure.txt")], "--out", ".png"),
            (["plot", path("foreign")], "RUN", "no manifest.json"),
        ]
        for (arguments, flag, phrase) in cases {
            let outcome = try CLI.run(arguments)
            XCTAssertEqual(outcome.status, 2, "\(arguments)")
            XCTAssertEqual(outcome.stderrLines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.hasPrefix("error: \(flag): ") && outcome.stderr.contains(phrase), "\(arguments): \(outcome.stderr)")
        }
        XCTAssertFalse(fileExists("figure.txt"))
    }

    /// The overlap with a Gaussian bump of the eigenvector's own width: the random-bump chance
    /// level is ~1 (only the sub-site offset of the random centre differs) and above the random-vector one.
    func testTensorChanceLevelsOfABumpOfTheEigenvectorsWidth() throws {
        let arguments = ["tensor", "--L", "\(Self.length)", "--xi", "2", "--gain", "3", "--restarts", "2", "--quiet", "--json"]
        let first = try runOK(arguments).json()
        let eigenvector = try XCTUnwrap((first["eigenvector"] as? [Any])?.first.map(doubles))
        let ring = try Lattice(dimension: 1, length: Self.length)
        let width = Observables.width(eigenvector, lattice: ring)
        try FileManager.default.createDirectory(atPath: path("bump"), withIntermediateDirectories: false)
        try NpyArray(shape: [Self.length], values: ChanceLevel.bump(width: width, centre: [11], lattice: ring)).write(to: path("bump/weights.npy"))
        let report = try runOK(arguments + ["--compare-with", path("bump")]).json()
        let bump = try XCTUnwrap((report["chance_random_bump"] as? [[String: Any]])?.first)
        let vector = try XCTUnwrap(report["chance_random_vector"] as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(double(bump["mean"])), 0.97)
        XCTAssertLessThan(try XCTUnwrap(double(vector["mean"])) + 4 * (try XCTUnwrap(double(vector["sd"]))), try XCTUnwrap(double(bump["mean"])))
    }

    func testPlotWritesAPNGForOneRunAndForTheoryAgainstSimulation() throws {
        // `make test` needs no Python packages: drawing is checked where the project's venv exists.
        guard CLI.projectVenvReady else { throw XCTSkip("no project .venv (make venv): plot's drawing is not part of make test") }
        try runOK(["solve", "--L", "16", "--closure", "gaussian", "--t-max", "5", "--out", path("ode")])
        try runOK(["simulate", "--L", "16", "--t-max", "5", "--seeds", "2", "--out", path("sim"), "--quiet"])
        try runOK(["plot", path("sim")])
        try runOK(["plot", path("ode"), path("sim"), "--out", path("both.png")])
        for file in ["sim/plot.png", "both.png"] {
            let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path(file)), file)
            XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "\(file) is not a PNG")
        }
    }
}

extension CLI {
    /// The project's .venv is installed (`make venv` finished): `plot` draws without installing.
    static let projectVenvReady: Bool = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return FileManager.default.fileExists(atPath: root.appendingPathComponent(".venv/.ready").path)
    }()
}
