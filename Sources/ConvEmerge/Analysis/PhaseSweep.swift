import Foundation

/// The parameters a phase diagram can sweep, by their CLI names (SPEC §5).
public enum PhaseParameter: String, Codable, CaseIterable, Sendable {
    case gain, xi, xi0, xi1, L, lr, bias, p1, jitter
    case initScale = "init-scale"
    case tMax = "t-max"
    /// xi1 / xi0 at fixed xi0 (SPEC §5 names the ratio as a sweep axis).
    case xiRatio = "xi-ratio"
}

/// One axis of the grid: `count` evenly spaced values from `lower` to `upper` (both included).
public struct PhaseAxis: Codable, Hashable, Sendable {
    public let parameter: PhaseParameter
    public let lower: Double
    public let upper: Double
    public let count: Int

    public init(parameter: PhaseParameter, lower: Double, upper: Double, count: Int) throws {
        try require(lower.isFinite && upper.isFinite, flag: "--x/--y", "bounds must be finite, got \(lower):\(upper)")
        try require(count >= 1 && count <= 10_000, flag: "--x/--y", "needs 1 ... 10000 values, got \(count)")
        try require(count == 1 || upper != lower, flag: "--x/--y", "a:b:n with n > 1 needs a != b")
        self.parameter = parameter
        self.lower = lower
        self.upper = upper
        self.count = count
    }

    /// "NAME=a:b:n", e.g. "gain=0.5:3:16".
    public init(parsing text: String, flag: String) throws {
        let pieces = text.split(separator: "=", maxSplits: 1).map(String.init)
        let names = PhaseParameter.allCases.map(\.rawValue).joined(separator: ", ")
        guard pieces.count == 2, let parameter = PhaseParameter(rawValue: pieces[0]) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "must be NAME=a:b:n with NAME one of \(names), got '\(text)'")
        }
        let range = pieces[1].split(separator: ":").map { Double($0) }
        guard range.count == 3, let a = range[0], let b = range[1], let n = range[2], n == n.rounded(), n >= 1 else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "must be NAME=a:b:n (n >= 1 an integer), got '\(text)'")
        }
        try self.init(parameter: parameter, lower: a, upper: b, count: Int(n))
    }

    public func value(_ k: Int) -> Double {
        count == 1 ? lower : lower + (upper - lower) * Double(k) / Double(count - 1)
    }
}

/// What each cell computes.
public enum PhaseMeasure: String, Codable, CaseIterable, Sendable {
    /// Final IPR of the ODE.
    case ipr
    /// Growth rate of the leading localising mode of the extended state (`instability`).
    case growth
}

/// Every fixed knob of a sweep, in CLI units: one value written into sweep.json, so that a
/// resumed or merged sweep is checked to be the same sweep.
public struct PhaseBase: Codable, Hashable, Sendable {
    public var dimension: Int
    public var length: Int
    public var kernel: KernelShape
    public var xi: Double
    public var gain: Double
    public var jitter: Double
    public var task: TaskKind
    public var xi0: Double
    public var xi1: Double
    public var gaussianControl: Bool
    public var prior1: Double
    public var targets: [Double]
    public var activation: ActivationKind
    public var bias: Double
    public var closure: ClosureSpec
    public var integrator: IntegratorSpec
    public var learningRate: Double
    public var initScale: Double
    public var seed: UInt64

    public init(dimension: Int, length: Int, kernel: KernelShape, xi: Double, gain: Double, jitter: Double, task: TaskKind,
                xi0: Double, xi1: Double, gaussianControl: Bool, prior1: Double, targets: [Double], activation: ActivationKind,
                bias: Double, closure: ClosureSpec, integrator: IntegratorSpec, learningRate: Double, initScale: Double, seed: UInt64) {
        self.dimension = dimension
        self.length = length
        self.kernel = kernel
        self.xi = xi
        self.gain = gain
        self.jitter = jitter
        self.task = task
        self.xi0 = xi0
        self.xi1 = xi1
        self.gaussianControl = gaussianControl
        self.prior1 = prior1
        self.targets = targets
        self.activation = activation
        self.bias = bias
        self.closure = closure
        self.integrator = integrator
        self.learningRate = learningRate
        self.initScale = initScale
        self.seed = seed
    }

    public func setting(_ parameter: PhaseParameter, to value: Double) throws -> PhaseBase {
        var copy = self
        switch parameter {
        case .gain: copy.gain = value
        case .xi: copy.xi = value
        case .xi0: copy.xi0 = value
        case .xi1: copy.xi1 = value
        case .L: copy.length = Int(value.rounded())
        case .lr: copy.learningRate = value
        case .bias: copy.bias = value
        case .p1: copy.prior1 = value
        case .jitter: copy.jitter = value
        case .initScale: copy.initScale = value
        case .xiRatio: copy.xi1 = value * xi0
        case .tMax:
            copy.integrator = try IntegratorSpec(stepper: integrator.stepper, relativeTolerance: integrator.relativeTolerance,
                                                 absoluteTolerance: integrator.absoluteTolerance, tMax: value, saves: integrator.saves,
                                                 logSpacedSaves: integrator.logSpacedSaves, blowUpFactor: integrator.blowUpFactor)
        }
        return copy
    }

    /// The `solve` parameters of this point (validated like the CLI's).
    public func solveParameters() throws -> SolveParameters {
        let lattice = try Lattice(dimension: dimension, length: length)
        let input = try InputSpec(lattice: lattice, kernel: Kernel(shape: kernel, correlationLength: xi, jitter: jitter), gain: gain)
        let taskSpec: TaskSpec
        switch task {
        case .xi:
            taskSpec = try TaskSpec.xi(base: input, xi0: xi0, xi1: xi1, gaussianControl: gaussianControl, prior1: prior1, targets: targets)
        case .clone:
            taskSpec = try TaskSpec.clone(base: input, prior1: prior1, targets: targets)
        }
        try requirePositive(learningRate, flag: "--lr", atMost: ParameterBound.learningRate)
        return SolveParameters(task: taskSpec, neuron: try NeuronSpec(activation: activation, bias: bias), closure: closure,
                               integrator: integrator, learningRate: learningRate,
                               initialization: .random(scale: initScale, seed: seed))
    }
}

/// The whole grid: written to DIR/sweep.json.
public struct PhaseSweepSpec: Codable, Hashable, Sendable {
    public var command = "phase"
    public var version = ConvEmergeVersion.string
    public let base: PhaseBase
    public let x: PhaseAxis
    public let y: PhaseAxis
    public let measures: [PhaseMeasure]

    public init(base: PhaseBase, x: PhaseAxis, y: PhaseAxis, measures: [PhaseMeasure]) throws {
        try require(x.parameter != y.parameter, flag: "--y", "must sweep another parameter than --x (\(x.parameter.rawValue))")
        try require(!measures.isEmpty, flag: "--measure", "needs at least one of ipr, growth")
        // The ratio is applied to xi0 as it stands when its axis is set: sweeping xi0 or xi1
        // on the other axis would make the order of the axes matter.
        let pair = Set([x.parameter, y.parameter])
        try require(!pair.contains(.xiRatio) || pair.isDisjoint(with: [.xi0, .xi1]), flag: "--y",
                    "xi-ratio cannot be swept together with xi0 or xi1 (fix xi0 with --xi0)")
        self.base = base
        self.x = x
        self.y = y
        self.measures = measures
        // Fail before the sweep starts if a corner of the grid is invalid.
        for (i, j) in [(0, 0), (x.count - 1, y.count - 1), (0, y.count - 1), (x.count - 1, 0)] {
            _ = try base.setting(x.parameter, to: x.value(i)).setting(y.parameter, to: y.value(j)).solveParameters()
        }
    }

    /// The same grid of the same problem (the version that wrote it does not matter).
    public func describesSameSweep(as other: PhaseSweepSpec) -> Bool {
        base == other.base && x == other.x && y == other.y && measures == other.measures
    }

    /// Cells in row-major order over (y, x): index = j * nx + i.
    public var cellCount: Int { x.count * y.count }

    public func coordinates(of cell: Int) -> (x: Double, y: Double) {
        (x.value(cell % x.count), y.value(cell / x.count))
    }

    public var header: String {
        "cell,\(x.parameter.rawValue),\(y.parameter.rawValue),final_ipr,growth_rate,leading_mode_ipr,status"
    }
}

/// One finished cell.
public struct PhaseCellResult: Sendable, Equatable {
    public var cell: Int
    public var x: Double
    public var y: Double
    public var finalIPR: Double
    public var growthRate: Double
    public var leadingModeIPR: Double
    /// The ODE's RunStatus (or `completed` when only growth was measured), `no_extended_state`,
    /// or `invalid_input`.
    public var status: String

    /// The cell's CSV line: the same bytes whichever process, thread or shard computed it.
    public var csvLine: String {
        let number = { (v: Double) in v.isNaN ? "nan" : String(format: "%.10g", v) }
        return [String(cell), number(x), number(y), number(finalIPR), number(growthRate), number(leadingModeIPR), status]
            .joined(separator: ",")
    }
}

/// A phase diagram over two parameters (SPEC §5): each cell solves the ODE and/or the linear
/// stability problem; cells run on `threads` threads, each finished cell is written atomically to
/// DIR/cells/NNNNNN.csv, so a killed sweep resumes without recomputing, and shards (cells with
/// index % N == i) merge into the same phase.csv as a single run.
public enum PhaseSweep {
    public static func compute(_ spec: PhaseSweepSpec, cell: Int) -> PhaseCellResult {
        let (xValue, yValue) = spec.coordinates(of: cell)
        var result = PhaseCellResult(cell: cell, x: xValue, y: yValue, finalIPR: .nan, growthRate: .nan, leadingModeIPR: .nan,
                                     status: "completed")
        let parameters: SolveParameters
        do {
            parameters = try spec.base.setting(spec.x.parameter, to: xValue).setting(spec.y.parameter, to: yValue).solveParameters()
        } catch {
            result.status = "invalid_input"
            return result
        }
        // One flow for both measures: its inputs (and a `full` cumulant table) are built once.
        let flow: GradientFlow
        do {
            flow = try GradientFlow(task: parameters.task, neuron: parameters.neuron, closure: parameters.closure,
                                    learningRate: parameters.learningRate)
        } catch {
            result.status = "invalid_input"
            return result
        }
        if spec.measures.contains(.ipr) {
            do {
                let solution = try SolveJob.run(parameters, flow: flow)
                result.finalIPR = solution.finalIPR ?? .nan
                result.status = solution.trajectory.status.rawValue
            } catch {
                result.status = "invalid_input"
                return result
            }
        }
        if spec.measures.contains(.growth) {
            do {
                let analysis = try InstabilityAnalysis(task: parameters.task, neuron: parameters.neuron, closure: parameters.closure,
                                                       learningRate: parameters.learningRate, flow: flow)
                let report = try analysis.analyse(initialScale: spec.base.initScale)
                result.growthRate = report.growthRate
                result.leadingModeIPR = report.leading.ipr
            } catch {
                if result.status == "completed" { result.status = "no_extended_state" }
            }
        }
        return result
    }

    public static func cellsDirectory(_ directory: String) -> String { (directory as NSString).appendingPathComponent("cells") }
    static func specPath(_ directory: String) -> String { (directory as NSString).appendingPathComponent("sweep.json") }
    public static func csvPath(_ directory: String) -> String { (directory as NSString).appendingPathComponent("phase.csv") }
    static func cellPath(_ directory: String, _ cell: Int) -> String {
        (cellsDirectory(directory) as NSString).appendingPathComponent(String(format: "%07d.csv", cell))
    }

    /// Checks --threads and --shard; called before anything is written.
    public static func validateExecution(threads: Int, shard: (index: Int, count: Int)) throws {
        try require(threads >= 1 && threads <= 1024, flag: "--threads", "must be in 1 ... 1024, got \(threads)")
        try require(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count, flag: "--shard",
                    "must be i/N with 0 <= i < N, got \(shard.index)/\(shard.count)")
    }

    /// Creates or reopens DIR for `spec`. An existing DIR must hold the same sweep, and finished
    /// cells are only accepted with `resume`.
    public static func prepare(_ directory: String, spec: PhaseSweepSpec, resume: Bool) throws {
        let manager = FileManager.default
        if manager.fileExists(atPath: specPath(directory)) {
            let existing = try readSpec(directory)
            try require(existing.describesSameSweep(as: spec), flag: "--out", "'\(directory)' holds a different sweep (sweep.json); choose another --out")
            try require(resume || finishedCells(directory).isEmpty, flag: "--resume",
                        "'\(directory)' already holds finished cells: pass --resume to continue that sweep, or choose another --out")
        } else {
            var isDirectory: ObjCBool = false
            if manager.fileExists(atPath: directory, isDirectory: &isDirectory) {
                let contents = (try? manager.contentsOfDirectory(atPath: directory)) ?? []
                try require(isDirectory.boolValue && contents.isEmpty, flag: "--out",
                            "'\(directory)' exists and is not a phase sweep directory; choose another path")
            }
            do {
                try manager.createDirectory(atPath: cellsDirectory(directory), withIntermediateDirectories: true)
            } catch {
                throw ConvEmergeError.io(path: directory, reason: "cannot create: \(error.localizedDescription)")
            }
            try AtomicFile.write(RunDirectory.encoder.encode(spec), to: specPath(directory))
        }
        try? manager.createDirectory(atPath: cellsDirectory(directory), withIntermediateDirectories: true)
    }

    public static func readSpec(_ directory: String) throws -> PhaseSweepSpec {
        let path = specPath(directory)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConvEmergeError.io(path: path, reason: "missing: not a phase sweep directory")
        }
        do {
            return try RunDirectory.decoder.decode(PhaseSweepSpec.self, from: data)
        } catch {
            throw ConvEmergeError.io(path: path, reason: "unreadable sweep description: \(error.localizedDescription)")
        }
    }

    /// Finished cell index -> its CSV line.
    public static func finishedCells(_ directory: String) throws -> [Int: String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cellsDirectory(directory))) ?? []
        var cells: [Int: String] = [:]
        for name in names where name.hasSuffix(".csv") && !name.hasPrefix(".") {
            guard let index = Int(name.dropLast(4)),
                  let text = try? String(contentsOfFile: (cellsDirectory(directory) as NSString).appendingPathComponent(name), encoding: .utf8)
            else { continue }
            cells[index] = text.trimmingCharacters(in: .newlines)
        }
        return cells
    }

    /// Runs the cells of shard `shard.index` of `shard.count` not yet in DIR on `threads` threads;
    /// `progress(done, total)` is called (serialised) after each cell. Returns the cells computed now.
    @discardableResult
    public static func run(_ spec: PhaseSweepSpec, directory: String, threads: Int, shard: (index: Int, count: Int) = (0, 1),
                           progress: ((Int, Int) -> Void)? = nil) throws -> Int {
        try validateExecution(threads: threads, shard: shard)
        let finished = try finishedCells(directory)
        let mine = (0..<spec.cellCount).filter { $0 % shard.count == shard.index }
        let todo = mine.filter { finished[$0] == nil }
        let queue = CellQueue(cells: todo, done: mine.count - todo.count, total: mine.count, progress: progress)
        DispatchQueue.concurrentPerform(iterations: min(threads, max(todo.count, 1))) { _ in
            while let cell = queue.take() {
                let line = compute(spec, cell: cell).csvLine
                do {
                    try AtomicFile.write(line + "\n", to: cellPath(directory, cell))
                    queue.finished()
                } catch {
                    queue.fail(error)
                }
            }
        }
        if let failure = queue.failure { throw failure }
        return todo.count
    }

    /// phase.csv from the cells of `directories` (one run, or the shards of one sweep), sorted by
    /// cell index; nil while cells are missing. Throws if the directories hold different sweeps.
    public static func table(of directories: [String]) throws -> (spec: PhaseSweepSpec, text: String?, missing: Int) {
        try require(!directories.isEmpty, flag: "phase merge", "needs at least one directory")
        let spec = try readSpec(directories[0])
        var cells: [Int: String] = [:]
        for directory in directories {
            let other = try readSpec(directory)
            try require(other.describesSameSweep(as: spec), flag: "phase merge", "'\(directory)' holds a different sweep than '\(directories[0])'")
            cells.merge(try finishedCells(directory)) { first, _ in first }
        }
        let missing = (0..<spec.cellCount).filter { cells[$0] == nil }.count
        guard missing == 0 else { return (spec, nil, missing) }
        let lines = (0..<spec.cellCount).map { cells[$0]! }
        return (spec, ([spec.header] + lines).joined(separator: "\n") + "\n", 0)
    }

    /// Merges shard directories into `output` (a new or empty directory, or one of the inputs):
    /// sweep.json, every cell file and phase.csv, byte-identical to a single run's.
    public static func merge(_ directories: [String], into output: String) throws -> PhaseSweepSpec {
        let (spec, text, missing) = try table(of: directories)
        guard let text else {
            throw ConvEmergeError.invalidInput(flag: "phase merge", message: "\(missing) of \(spec.cellCount) cells are missing from \(directories)")
        }
        let isInput = directories.contains { URL(fileURLWithPath: $0).standardizedFileURL == URL(fileURLWithPath: output).standardizedFileURL }
        if !isInput { try prepare(output, spec: spec, resume: true) }
        for directory in directories {
            for (cell, line) in try finishedCells(directory) where !FileManager.default.fileExists(atPath: cellPath(output, cell)) {
                try AtomicFile.write(line + "\n", to: cellPath(output, cell))
            }
        }
        try AtomicFile.write(text, to: csvPath(output))
        return spec
    }
}

/// The cells still to compute, handed out to worker threads under a lock; progress is reported
/// under the same lock, so the callback never runs concurrently.
private final class CellQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let cells: [Int]
    private var next = 0
    private var done: Int
    private let total: Int
    private let progress: ((Int, Int) -> Void)?
    private(set) var failure: Error?

    init(cells: [Int], done: Int, total: Int, progress: ((Int, Int) -> Void)?) {
        self.cells = cells
        self.done = done
        self.total = total
        self.progress = progress
        progress?(done, total)
    }

    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < cells.count, failure == nil else { return nil }
        next += 1
        return cells[next - 1]
    }

    func finished() {
        lock.lock(); defer { lock.unlock() }
        done += 1
        progress?(done, total)
    }

    func fail(_ error: Error) {
        lock.lock(); defer { lock.unlock() }
        if failure == nil { failure = error }
    }
}
