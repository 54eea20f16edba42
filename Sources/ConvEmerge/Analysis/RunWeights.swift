import Foundation

/// The final receptive fields of a `solve` run (one or K units) or a `simulate` run (replicas x units),
/// read from its manifest.json and weights.npy, for analysis after the fact.
public struct RunWeights: Sendable {
    public var directory: String
    /// "solve" or "simulate".
    public var command: String
    /// "ode" for a solve run, else the simulated model (neuron, committee, twolayer, cnn, ...).
    public var model: String
    public var lattice: Lattice
    /// [replica][unit] -> weights at the last save: D values, or s for a CNN filter.
    public var finalWeights: [[[Double]]]

    public var isFilterRun: Bool { model == "cnn" }

    /// Only what analysis needs, so that manifests with more parameters still read.
    private struct Header: Decodable {
        struct Parameters: Decodable {
            var task: TaskSpec
            var model: String?
        }
        var command: String
        var parameters: Parameters
    }

    /// `flag` names the argument that gave the directory in errors.
    public static func load(_ directory: String, flag: String) throws -> RunWeights {
        var isDirectory: ObjCBool = false
        try require(FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue, flag: flag,
                    "'\(directory)' is not a directory; give a run directory written by solve or simulate")
        let header = try RunDirectory.readManifest(Header.self, in: directory, flag: flag)
        try require(header.command == "solve" || header.command == "simulate", flag: flag,
                    "'\(directory)' is a '\(header.command)' run; only solve and simulate runs hold receptive fields")
        let file = URL(fileURLWithPath: directory).appendingPathComponent("weights.npy").path
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
        try require(size != nil, flag: flag, "'\(directory)' has no weights.npy (the run wrote no weights)")
        // The file's bytes and the decoded values are held at once.
        try MemoryBudget.require(MemoryBudget.product(size!, 3), flag: flag, for: "reading '\(file)'")
        let array = try NpyArray.read(from: file, flag: flag)
        let lattice = header.parameters.task.lattice
        let model = header.command == "solve" ? "ode" : header.parameters.model ?? "neuron"
        let shape = array.shape
        // solve: (saves, D) or (saves, K, D) for K units; simulate: (seeds, saves, D) or (seeds, saves, K, s).
        let (replicas, saves, units): (Int, Int, Int)
        switch (header.command, shape.count) {
        case ("solve", 2): (replicas, saves, units) = (1, shape[0], 1)
        case ("solve", 3): (replicas, saves, units) = (1, shape[0], shape[1])
        case ("simulate", 3): (replicas, saves, units) = (shape[0], shape[1], 1)
        case ("simulate", 4): (replicas, saves, units) = (shape[0], shape[1], shape[2])
        default: throw ConvEmergeError.invalidInput(flag: flag, message: "'\(file)' has shape \(shape), not that of a \(header.command) run's weights")
        }
        let unitSize = shape.last!
        try require(saves >= 1 && replicas >= 1 && units >= 1, flag: flag, "'\(file)' holds no saved weights")
        try require(model == "cnn" ? unitSize <= lattice.size : unitSize == lattice.size, flag: flag,
                    "'\(file)' holds units of \(unitSize) weights, but the run's lattice has D = \(lattice.size) sites")
        let values = array.values
        let final = (0..<replicas).map { replica in
            (0..<units).map { unit in
                let start = ((replica * saves + saves - 1) * units + unit) * unitSize
                return Array(values[start..<(start + unitSize)])
            }
        }
        return RunWeights(directory: directory, command: header.command, model: model, lattice: lattice, finalWeights: final)
    }
}
