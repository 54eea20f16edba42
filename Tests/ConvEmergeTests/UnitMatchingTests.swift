import ConvEmerge
import Foundation
import XCTest

/// Matching K-unit networks by permutation and common shift (derivations/tiling-statistics.md §9-10),
/// and `compare` of K-unit runs.
final class UnitMatchingTests: ScratchDirectoryTestCase {

    private func randomNetwork(units: Int, size: Int, rng: inout Xoshiro256) -> [[Double]] {
        (0..<units).map { _ in (0..<size).map { _ in rng.nextGaussian() } }
    }

    /// theory unit i = simulation unit permutation[i] translated back by `shiftSite`, so that the
    /// theory translated by `shiftSite` is the simulation.
    private func relabelledShiftedCopy(of network: [[Double]], permutation: [Int], shiftSite: Int, lattice: Lattice) -> [[Double]] {
        permutation.map { unit in
            var back = [Double](repeating: 0, count: lattice.size)
            for site in 0..<lattice.size { back[site] = network[unit][lattice.translate(site, by: shiftSite)] }
            return back
        }
    }

    private func allPermutations(_ n: Int) -> [[Int]] {
        guard n > 0 else { return [[]] }
        return allPermutations(n - 1).flatMap { p in (0...p.count).map { position in
            var q = p
            q.insert(n - 1, at: position)
            return q
        } }
    }

    /// The Hungarian assignment reaches the minimum total cost found by enumerating all K!
    /// permutations, on random matrices (uniform and with many ties) for K = 1 ... 6.
    func testHungarianAgreesWithBruteForce() throws {
        var rng = Xoshiro256(seed: 12)
        for k in 1...6 {
            let permutations = allPermutations(k)
            XCTAssertEqual(permutations.count, (1...k).reduce(1, *))
            for trial in 0..<20 {
                let cost = (0..<k).map { _ in (0..<k).map { _ in
                    trial % 2 == 0 ? rng.nextGaussian() : Double(Int(rng.next() % 3))  // odd trials: ties
                } }
                let assignment = UnitMatching.minimumCostAssignment(cost)
                XCTAssertEqual(Set(assignment), Set(0..<k), "not a permutation")
                let total = { (p: [Int]) in (0..<k).reduce(0.0) { $0 + cost[$1][p[$1]] } }
                let minimum = permutations.map(total).min()!
                XCTAssertEqual(total(assignment), minimum, accuracy: 1e-12, "K = \(k), trial \(trial)")
            }
        }
    }

    /// A relabelled and translated copy of random networks is matched back exactly, on the ring and
    /// on the torus (both axes): the permutation and the shift that made it, distance 0; without the
    /// shift search, the distance is that of random vectors (~sqrt 2).
    func testRelabelledShiftedCopyIsMatchedBack() throws {
        var rng = Xoshiro256(seed: 5)
        for (lattice, shiftSite) in [(try Lattice(dimension: 1, length: 12), 7), (try Lattice(dimension: 2, length: 6), 2 * 6 + 5)] {
            let simulation = randomNetwork(units: 5, size: lattice.size, rng: &rng)
            let permutation = [3, 0, 4, 1, 2]
            let theory = relabelledShiftedCopy(of: simulation, permutation: permutation, shiftSite: shiftSite, lattice: lattice)
            let match = UnitMatching.bestMatch(theory: theory, simulation: simulation, lattice: lattice, searchShifts: true)
            XCTAssertEqual(match.permutation, permutation)
            XCTAssertEqual(match.shiftSite, shiftSite)
            XCTAssertEqual(match.meanDistance, 0, accuracy: 1e-14)
            let direct = UnitMatching.distances(theory: theory, simulation: simulation, permutation: match.permutation,
                                                shiftSite: match.shiftSite, lattice: lattice)
            for distance in direct { XCTAssertEqual(distance, 0, accuracy: 1e-14) }
            let unshifted = UnitMatching.bestMatch(theory: theory, simulation: simulation, lattice: lattice, searchShifts: false)
            XCTAssertEqual(unshifted.shiftSite, 0)
            XCTAssertGreaterThan(unshifted.meanDistance, 0.5)
        }
        let torus = try Lattice(dimension: 2, length: 6)
        XCTAssertEqual(UnitMatching.displacement(ofSite: 2 * 6 + 5, lattice: torus), [2, -1])
    }

    /// Units of different fixed biases are never matched: a swapped copy of a +b and a -b unit is
    /// matched as labelled (distance that of two random vectors) once the groups say so, and back
    /// exactly without them.
    func testGroupsForbidMatchingUnitsOfDifferentBiases() throws {
        var rng = Xoshiro256(seed: 21)
        let lattice = try Lattice(dimension: 1, length: 16)
        let simulation = randomNetwork(units: 2, size: 16, rng: &rng)
        let swapped = [simulation[1], simulation[0]]
        let free = UnitMatching.bestMatch(theory: swapped, simulation: simulation, lattice: lattice, searchShifts: true)
        XCTAssertEqual(free.permutation, [1, 0])
        XCTAssertEqual(free.meanDistance, 0, accuracy: 1e-14)
        let grouped = UnitMatching.bestMatch(theory: swapped, simulation: simulation, lattice: lattice, searchShifts: true, groups: [0, 1])
        XCTAssertEqual(grouped.permutation, [0, 1])
        XCTAssertGreaterThan(grouped.meanDistance, 0.5)
    }

    /// A one-neuron committee compared as K = 1 units without shifts gives the single-neuron
    /// comparison's distances (the identity is the only permutation, and the metric is the same).
    func testOneUnitReducesToSingleNeuronComparison() throws {
        var rng = Xoshiro256(seed: 8)
        let lattice = try Lattice(dimension: 1, length: 10)
        let times = [0.0, 1, 2]
        let theory = (0..<3).map { _ in randomNetwork(units: 1, size: 10, rng: &rng) }
        let seeds = (0..<3).map { _ in (0..<3).map { _ in randomNetwork(units: 1, size: 10, rng: &rng) } }
        let units = try UnitTheoryVersusSimulation.compare(lattice: lattice, theoryTimes: times, theoryWeights: theory,
                                                           simulationTimes: times, simulationWeights: seeds, searchShifts: false)
        let neuron = try TheoryVersusSimulation.compare(lattice: lattice, theoryTimes: times, theoryWeights: theory.map { $0[0] },
                                                        simulationTimes: times, simulationWeights: seeds.map { $0.map { $0[0] } })
        for (a, b) in zip(units.curve, neuron.curve) {
            XCTAssertEqual(a.distance, b.distance, accuracy: 1e-13)
            for (x, y) in zip(a.seedDistances, b.seedDistances) { XCTAssertEqual(x, y, accuracy: 1e-13) }
            XCTAssertEqual(a.iprOfSeedMean[0], b.iprOfSeedMean, accuracy: 1e-13)
        }
    }

    // MARK: - Run directories

    private func task(length: Int) throws -> TaskSpec {
        let lattice = try Lattice(dimension: 1, length: length)
        let base = try InputSpec(lattice: lattice, kernel: Kernel(shape: .gaussian, correlationLength: 1), gain: 3)
        return try TaskSpec.xi(base: base, xi0: 0.5, xi1: 2, gaussianControl: false, prior1: 0.5, targets: [0, 1])
    }

    private func committeeRun(length: Int, units: Int, name: String) throws -> String {
        let p = try SimulationParameters(task: task(length: length), neuron: NeuronSpec(activation: .relu, bias: 0), model: .committee,
                                         hiddenUnits: units, learningRate: 0.5, seeds: 2, seed: 1, tMax: 4, saves: 5,
                                         initialization: .random(scale: 0.3, seed: 2), testSamples: 50)
        let path = scratch.appendingPathComponent(name).path
        try SimulationJob.save(try SimulationJob.run(p), to: RunDirectory(path: path))
        return path
    }

    /// A theory-like run of `solve --model committee --K K`'s contract: the manifest of a solve run
    /// of the same task with the model and K added, weights (saves, K, D), times (saves).
    private func theoryRun(copying simulation: String, permutation: [Int], shiftSite: Int) throws -> String {
        let sim = try RunDirectory.readManifest(SimulationManifest.self, in: simulation, flag: "--sim")
        let p = sim.parameters
        let solve = try SolveJob.run(SolveParameters(task: p.task, neuron: p.neuron, closure: ClosureSpec(kind: .gaussian),
                                                     integrator: IntegratorSpec(tMax: 0.5, saves: 2), learningRate: p.learningRate,
                                                     initialization: p.initialization))
        let path = scratch.appendingPathComponent("theory").path
        try SolveJob.save(solve, to: RunDirectory(path: path))
        let manifestPath = path + "/manifest.json"
        var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any])
        var parameters = try XCTUnwrap(manifest["parameters"] as? [String: Any])
        parameters["model"] = "committee"
        parameters["hidden_units"] = p.hiddenUnits
        manifest["parameters"] = parameters
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath))
        let mean = try NpyArray.read(from: simulation + "/weights_mean.npy", flag: "--sim")
        let (saves, k, d) = (mean.shape[0], mean.shape[1], mean.shape[2])
        let values = (0..<saves).flatMap { save in
            relabelledShiftedCopy(of: (0..<k).map { Array(mean.values[(save * k + $0) * d..<(save * k + $0 + 1) * d]) },
                                  permutation: permutation, shiftSite: shiftSite, lattice: p.task.lattice).joined()
        }
        try NpyArray(shape: [saves, k, d], values: values).write(to: path + "/weights.npy")
        try FileManager.default.removeItem(atPath: path + "/times.npy")
        try FileManager.default.copyItem(atPath: simulation + "/times.npy", toPath: path + "/times.npy")
        return path
    }

    /// Through run directories: a relabelled, shifted copy of a committee's replica mean is matched
    /// back at every saved time (distance 0, IPRs equal), and `analyze`'s reader takes its K units.
    func testRelabelledShiftedTheoryRunIsMatchedBack() throws {
        let simulation = try committeeRun(length: 16, units: 4, name: "sim")
        let theory = try theoryRun(copying: simulation, permutation: [2, 0, 3, 1], shiftSite: 11)
        guard case let .units(comparison) = try RunComparison.load(theory: theory, simulation: simulation, searchShifts: true) else {
            return XCTFail("a K-unit theory must give a K-unit comparison")
        }
        XCTAssertEqual(comparison.units, 4)
        XCTAssertEqual(comparison.seedMean.permutation, [2, 0, 3, 1])
        XCTAssertEqual(comparison.seedMean.shift, [-5])  // 11 on a ring of 16, minimum image
        let saves = try NpyArray.read(from: simulation + "/times.npy", flag: "--sim").values.count
        XCTAssertEqual(comparison.curve.count, saves)
        for point in comparison.curve {
            XCTAssertEqual(point.distance, 0, accuracy: 1e-14)
            XCTAssertEqual(try XCTUnwrap(point.bestDistance), 0, accuracy: 1e-14)
            for (a, b) in zip(point.iprTheory, point.iprOfSeedMean) { XCTAssertEqual(a, b, accuracy: 1e-14) }
        }
        XCTAssertEqual(comparison.csv.rows.count, saves)
        let weights = try RunWeights.load(theory, flag: "RUN")
        XCTAssertEqual(weights.finalWeights.count, 1)
        XCTAssertEqual(weights.finalWeights[0].count, 4)
    }

    /// Another K or another D in the simulation is refused in one line naming --sim.
    func testMismatchedUnitsOrDimensionIsRefused() throws {
        let simulation = try committeeRun(length: 16, units: 4, name: "sim")
        let theory = try theoryRun(copying: simulation, permutation: [0, 1, 2, 3], shiftSite: 0)
        for (other, expected) in [(try committeeRun(length: 16, units: 3, name: "k3"), "K = 3"),
                                  (try committeeRun(length: 12, units: 4, name: "d12"), "D = 12")] {
            XCTAssertThrowsError(try RunComparison.load(theory: theory, simulation: other, searchShifts: true)) { error in
                guard case let ConvEmergeError.invalidInput(flag, message) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(flag, "--sim")
                XCTAssertTrue(message.contains(expected), message)
                XCTAssertFalse(message.contains("\n"))
            }
        }
    }
}
