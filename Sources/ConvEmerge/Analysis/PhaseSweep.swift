import Foundation

/// The parameters a phase diagram can sweep, by their CLI names (SPEC §5).
public enum PhaseParameter: String, Codable, CaseIterable, Sendable {
    case gain, xi, xi0, xi1, L, lr, bias, p1, jitter
    case initScale = "init-scale"
    case tMax = "t-max"
    /// xi1 / xi0 at fixed xi0 (SPEC §5 names the ratio as a sweep axis).
    case xiRatio = "xi-ratio"
    /// 0: the task's classes as given; 1: both replaced by their Gaussian clones (the --gaussian
    /// control), so that one sweep holds a network's curve on NLGP and on its clone.
    case gaussian

    /// A lattice has a whole number of sites: a grid point between two is not a cell to round.
    var takesWholeValues: Bool { self == .L || self == .gaussian }

    /// The flags the library names when this parameter is out of range: xi0, xi1 and the ratio
    /// reach the kernel, which speaks of --xi, and the ratio is applied to xi1.
    var ownFlags: Set<String> {
        switch self {
        case .xi0, .xi1: return ["--\(rawValue)", "--xi"]
        case .xiRatio: return ["--xi1", "--xi"]
        default: return ["--\(rawValue)"]
        }
    }
}

/// One axis of the grid: `count` evenly spaced values from `lower` to `upper` (both included).
public struct PhaseAxis: Codable, Hashable, Sendable {
    /// Cells in a whole grid: each is a file in DIR/cells, and a sweep of 10^8 of them would
    /// exhaust the file system's inodes long before it finished.
    public static let maximumCells = 100_000

    public let parameter: PhaseParameter
    public let lower: Double
    public let upper: Double
    public let count: Int

    /// `flag` (--x or --y) is the flag every error names: the user typed it, not the parameter's own flag.
    public init(parameter: PhaseParameter, lower: Double, upper: Double, count: Int, flag: String) throws {
        self.parameter = parameter
        self.lower = lower
        self.upper = upper
        self.count = count
        let name = parameter.rawValue
        try require(lower.isFinite && upper.isFinite, flag: flag, "\(name)=a:b:n needs finite a and b, got \(text)")
        try require(count >= 1 && count <= Self.maximumCells, flag: flag, "n must be in 1 ... \(Self.maximumCells), got \(count)")
        try require(count > 1 || upper == lower, flag: flag, "n = 1 is the single value a, so b must equal a, got \(text)")
        try require(count == 1 || upper != lower, flag: flag, "n > 1 values need a != b, got \(text)")
        try require(parameter != .gaussian || (Set([lower, upper]).isSubset(of: [0, 1]) && count <= 2), flag: flag,
                    "gaussian takes 0 (the --inputs family) and/or 1 (its Gaussian clone), e.g. gaussian=0:1:2, got \(text)")
        // Beyond 2^53 a Double is whole but no longer a lattice size that converts to Int.
        if parameter.takesWholeValues,
           let k = (0..<count).first(where: { value($0) != value($0).rounded() || value($0).magnitude >= 0x1p53 }) {
            throw ConvEmergeError.invalidInput(flag: flag, message: "\(name) takes whole values, but \(text) gives \(name) = \(PhaseAxis.format(value(k))): "
                                               + "choose whole a and b with (b - a)/(n - 1) whole")
        }
    }

    /// "NAME=a:b:n", e.g. "gain=0.5:3:16".
    public init(parsing text: String, flag: String) throws {
        let pieces = text.split(separator: "=", maxSplits: 1).map(String.init)
        let names = PhaseParameter.allCases.map(\.rawValue).joined(separator: ", ")
        guard pieces.count == 2, let parameter = PhaseParameter(rawValue: pieces[0]) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "must be NAME=a:b:n with NAME one of \(names), got '\(text)'")
        }
        let range = pieces[1].split(separator: ":", omittingEmptySubsequences: false).map { Double($0) }
        guard range.count == 3, let a = range[0], let b = range[1], let n = range[2] else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "must be NAME=a:b:n (n >= 1 a whole number), got '\(text)'")
        }
        // Checked before Int(n), which traps beyond Int's range.
        guard n == n.rounded(), n >= 1, n <= Double(Self.maximumCells) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "n must be a whole number in 1 ... \(Self.maximumCells), got '\(text)'")
        }
        try self.init(parameter: parameter, lower: a, upper: b, count: Int(n), flag: flag)
    }

    public func value(_ k: Int) -> Double {
        count == 1 ? lower : lower + (upper - lower) * Double(k) / Double(count - 1)
    }

    /// NAME=a:b:n as the user writes it.
    public var text: String { "\(parameter.rawValue)=\(PhaseAxis.format(lower)):\(PhaseAxis.format(upper)):\(count)" }

    /// The number format of phase.csv, also used in messages.
    static func format(_ value: Double) -> String { value.isNaN ? "nan" : String(format: "%.10g", value) }
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
    /// The `--inputs` family; nil for nlgp, so that NLGP sweep.json files (and those written
    /// before families existed) read and compare as before.
    public var inputs: InputFamily?

    public var family: InputFamily { inputs ?? .nlgp }

    public init(dimension: Int, length: Int, kernel: KernelShape, xi: Double, gain: Double, jitter: Double, task: TaskKind,
                xi0: Double, xi1: Double, gaussianControl: Bool, prior1: Double, targets: [Double], activation: ActivationKind,
                bias: Double, closure: ClosureSpec, integrator: IntegratorSpec, learningRate: Double, initScale: Double, seed: UInt64,
                family: InputFamily = .nlgp) {
        inputs = family.isNLGP ? nil : family
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
        case .gaussian: copy.gaussianControl = value == 1
        case .tMax:
            copy.integrator = try IntegratorSpec(stepper: integrator.stepper, relativeTolerance: integrator.relativeTolerance,
                                                 absoluteTolerance: integrator.absoluteTolerance, tMax: value, saves: integrator.saves,
                                                 logSpacedSaves: integrator.logSpacedSaves, blowUpFactor: integrator.blowUpFactor)
        }
        return copy
    }

    /// The `solve` parameters of this point (validated like the CLI's).
    public func solveParameters() throws -> SolveParameters {
        let taskSpec = try self.taskSpec()
        try closure.requireApplicable(to: taskSpec)
        try requirePositive(learningRate, flag: "--lr", atMost: ParameterBound.learningRate)
        return SolveParameters(task: taskSpec, neuron: try NeuronSpec(activation: activation, bias: bias), closure: closure,
                               integrator: integrator, learningRate: learningRate,
                               initialization: .random(scale: initScale, seed: seed))
    }

    /// The task of this point, shared by the ODE and the SGD engine.
    public func taskSpec() throws -> TaskSpec {
        let lattice = try Lattice(dimension: dimension, length: length)
        let input = try InputSpec(lattice: lattice, kernel: Kernel(shape: kernel, correlationLength: xi, jitter: jitter), gain: gain,
                                  family: family)
        let taskSpec: TaskSpec
        switch task {
        case .xi:
            taskSpec = try TaskSpec.xi(base: input, xi0: xi0, xi1: xi1, gaussianControl: gaussianControl, prior1: prior1, targets: targets)
        case .clone:
            try require(!gaussianControl, flag: "--gaussian", "applies to --task xi only")
            taskSpec = try TaskSpec.clone(base: input, prior1: prior1, targets: targets)
        case .data:
            throw ConvEmergeError.invalidInput(flag: "--task", message: "data is the task of --inputs data:A.npy,B.npy, which phase does not read; use xi or clone")
        }
        return taskSpec
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
    /// nil in sweep.json files written before the SGD engine: those are ODE sweeps.
    public let engine: PhaseEngine?
    /// The network of the sgd engine; nil for the ODE.
    public let simulation: PhaseSimulationSettings?

    public var effectiveEngine: PhaseEngine { engine ?? .ode }

    /// `simulation` given: every cell trains networks by online SGD instead of solving the ODE.
    public init(base: PhaseBase, x: PhaseAxis, y: PhaseAxis, measures: [PhaseMeasure],
                simulation: PhaseSimulationSettings? = nil) throws {
        try require(x.parameter != y.parameter, flag: "--y", "must sweep another parameter than --x (\(x.parameter.rawValue))")
        try require(!measures.isEmpty, flag: "--measure", "needs at least one of ipr, growth")
        // The axis with more values is the one to shorten.
        try require(x.count * y.count <= PhaseAxis.maximumCells, flag: x.count > y.count ? "--x" : "--y",
                    "the grid would have \(x.count) x \(y.count) = \(x.count * y.count) cells; at most \(PhaseAxis.maximumCells) (one file each): use fewer values")
        // The ratio is applied to xi0 as it stands when its axis is set: sweeping xi0 or xi1
        // on the other axis would make the order of the axes matter.
        let pair = Set([x.parameter, y.parameter])
        try require(base.family.isNLGP || !pair.contains(.gain), flag: x.parameter == .gain ? "--x" : "--y",
                    "gain applies to --inputs nlgp only, not to \(base.family) (copula:erf:g carries its own gain)")
        try require(!pair.contains(.xiRatio) || pair.isDisjoint(with: [.xi0, .xi1]), flag: "--y",
                    "xi-ratio cannot be swept together with xi0 or xi1 (fix xi0 with --xi0)")
        try require(simulation == nil || measures == [.ipr], flag: "--measure",
                    "--engine sgd measures ipr (with the accuracy and the tiling); growth is the ODE's, got \(measures.map(\.rawValue).joined(separator: ","))")
        if measures.contains(.growth) {
            try InstabilityAnalysis.requireJacobian(closure: base.closure.kind, activation: base.activation)
        }
        self.base = base
        self.x = x
        self.y = y
        // One order whatever the user typed, so that sweep.json compares equal.
        self.measures = PhaseMeasure.allCases.filter(measures.contains)
        self.engine = simulation == nil ? .ode : .sgd
        self.simulation = simulation
        try validateCorners()
    }

    /// The `solve` parameters at grid point (x, y).
    public func parameters(x xValue: Double, y yValue: Double) throws -> SolveParameters {
        try base.setting(x.parameter, to: xValue).setting(y.parameter, to: yValue).solveParameters()
    }

    /// Fails before the sweep starts if a corner of the grid is out of range. The error names
    /// --x or --y, the flag the user typed, rather than the swept parameter's own flag (which
    /// the user may not have typed at all); an error about a fixed flag is put on the axis whose
    /// other end is valid, and left on the fixed flag when no corner is valid (e.g. --lr -1).
    private func validateCorners() throws {
        let corners = [(0, 0), (x.count - 1, y.count - 1), (0, y.count - 1), (x.count - 1, 0)]
        func failure(_ i: Int, _ j: Int) throws -> (flag: String, message: String)? {
            do {
                if simulation != nil {
                    _ = try simulationParameters(x: x.value(i), y: y.value(j))
                } else {
                    _ = try parameters(x: x.value(i), y: y.value(j))
                }
                return nil
            } catch let ConvEmergeError.invalidInput(flag, message) {
                return (flag, message)
            }
        }
        for (i, j) in corners {
            guard let error = try failure(i, j) else { continue }
            let onX: Bool
            if x.parameter.ownFlags.contains(error.flag) {
                onX = true
            } else if y.parameter.ownFlags.contains(error.flag) {
                onX = false
            } else if try corners.allSatisfy({ try failure($0.0, $0.1) != nil }) {
                throw ConvEmergeError.invalidInput(flag: error.flag, message: error.message)
            } else {
                onX = try failure(x.count - 1 - i, j) == nil
            }
            let (axis, value) = onX ? (x, x.value(i)) : (y, y.value(j))
            var reason = " (\(error.flag): \(error.message))"
            if error.flag == "--\(axis.parameter.rawValue)" {
                // "must be >= 4, got 2": the value is already at the head of the line.
                reason = ": " + (error.message.range(of: ", got ", options: .backwards).map { String(error.message[..<$0.lowerBound]) } ?? error.message)
            }
            throw ConvEmergeError.invalidInput(flag: onX ? "--x" : "--y",
                                               message: "\(axis.parameter.rawValue) = \(PhaseAxis.format(value)) is out of range\(reason)")
        }
    }

    /// The same grid of the same problem (the version that wrote it does not matter).
    public func describesSameSweep(as other: PhaseSweepSpec) -> Bool {
        base == other.base && x == other.x && y == other.y && Set(measures) == Set(other.measures)
            && effectiveEngine == other.effectiveEngine && simulation == other.simulation
    }

    /// How `other` differs, for the message refusing to mix two sweeps in one directory.
    func difference(from other: PhaseSweepSpec) -> String {
        if effectiveEngine != other.effectiveEngine { return "--engine \(other.effectiveEngine.rawValue)" }
        if simulation != other.simulation { return "other --engine sgd network flags, see its sweep.json" }
        if x != other.x || y != other.y { return "--x \(other.x.text) --y \(other.y.text)" }
        if Set(measures) != Set(other.measures) { return "--measure \(other.measures.map(\.rawValue).joined(separator: ","))" }
        return "the same axes with other fixed flags, see its sweep.json"
    }

    /// Cells in row-major order over (y, x): index = j * nx + i.
    public var cellCount: Int { x.count * y.count }

    public func coordinates(of cell: Int) -> (x: Double, y: Double) {
        (x.value(cell % x.count), y.value(cell / x.count))
    }

    public var header: String {
        if simulation != nil { return "cell,\(x.parameter.rawValue),\(y.parameter.rawValue)," + PhaseSimulation.columns.joined(separator: ",") }
        return "cell,\(x.parameter.rawValue),\(y.parameter.rawValue),final_ipr,growth_rate,leading_mode_ipr,status"
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
        let number = PhaseAxis.format
        return [String(cell), number(x), number(y), number(finalIPR), number(growthRate), number(leadingModeIPR), status]
            .joined(separator: ",")
    }
}

/// A phase diagram over two parameters (SPEC §5): each cell solves the ODE and/or the linear
/// stability problem; cells run on `threads` threads, each finished cell is written atomically to
/// DIR/cells/NNNNNNN.csv, so a killed sweep resumes without recomputing, and shards (cells with
/// index % N == i), in one DIR or merged from several, give the same phase.csv as a single run.
/// The directory side (locking, resume, merge) is in PhaseSweepDirectory.swift.
public enum PhaseSweep {
    public static func compute(_ spec: PhaseSweepSpec, cell: Int) -> PhaseCellResult {
        let (xValue, yValue) = spec.coordinates(of: cell)
        var result = PhaseCellResult(cell: cell, x: xValue, y: yValue, finalIPR: .nan, growthRate: .nan, leadingModeIPR: .nan,
                                     status: "completed")
        let parameters: SolveParameters
        do {
            parameters = try spec.parameters(x: xValue, y: yValue)
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

    /// Checks --threads and --shard; called before anything is written.
    public static func validateExecution(threads: Int, shard: (index: Int, count: Int)) throws {
        try require(threads >= 1 && threads <= 1024, flag: "--threads", "must be in 1 ... 1024, got \(threads)")
        try require(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count, flag: "--shard",
                    "must be i/N with 0 <= i < N, got \(shard.index)/\(shard.count)")
    }

    /// Runs the cells of shard `shard.index` of `shard.count` not yet in DIR (opened by `prepare`)
    /// on `threads` threads; `progress(done, total)` is called (serialised) after each cell.
    /// Returns the cells computed now.
    @discardableResult
    public static func run(_ spec: PhaseSweepSpec, directory: String, threads: Int, shard: (index: Int, count: Int) = (0, 1),
                           progress: ((Int, Int) -> Void)? = nil) throws -> Int {
        try validateExecution(threads: threads, shard: shard)
        let finished = finishedCellIndices(directory)
        let mine = (0..<spec.cellCount).filter { $0 % shard.count == shard.index }
        let todo = mine.filter { !finished.contains($0) }
        let queue = CellQueue(cells: todo, done: mine.count - todo.count, total: mine.count, progress: progress)
        DispatchQueue.concurrentPerform(iterations: min(threads, max(todo.count, 1))) { _ in
            while let cell = queue.take() {
                let path = cellPath(directory, cell)
                // Another run of the same cells in DIR (the same command started twice) may have
                // finished this one meanwhile: one stat instead of a recomputation.
                if access(path, F_OK) == 0 {
                    queue.finished(computed: false)
                    continue
                }
                let line = spec.simulation == nil ? compute(spec, cell: cell).csvLine : PhaseSimulation.compute(spec, cell: cell)
                do {
                    // `prepare` swept the stale staging of DIR/cells once; a scan per cell would
                    // make a sweep quadratic in its cells.
                    try AtomicFile.write(line + "\n", to: path, sweepingStale: false)
                    queue.finished(computed: true)
                } catch {
                    queue.fail(error)
                }
            }
        }
        if let failure = queue.failure { throw failure }
        return queue.computed
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
    private(set) var computed = 0

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

    func finished(computed: Bool) {
        lock.lock(); defer { lock.unlock() }
        done += 1
        if computed { self.computed += 1 }
        progress?(done, total)
    }

    func fail(_ error: Error) {
        lock.lock(); defer { lock.unlock() }
        if failure == nil { failure = error }
    }
}
