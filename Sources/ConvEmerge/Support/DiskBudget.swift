import Foundation

/// An upper bound on the bytes a run writes into its directory, split into what every save adds
/// and what does not grow with the saves, so that a refusal can say how many saves would fit.
///
/// The bound: each .npy array is 8 bytes per value; each observables.csv cell at most
/// `csvCellBytes` (the longest shortest-round-trip Double, "-2.2250738585072014e-308", and its
/// separator); each file at most `fileOverhead` more (the .npy header, the CSV header row and
/// the partly filled last block of the file system); the manifest at most `manifestBytes`.
public struct OutputSize: Sendable {
    /// Bytes each save adds (nil: overflowed Int).
    public var perSave: Int?
    /// Bytes that do not grow with the saves (nil: overflowed Int).
    public var fixed: Int?
    public var saves: Int
    /// The flag that sets the size of one save (--L, --K, --seeds): named when even the fewest
    /// saves (`minimumSaves`) do not fit, or when it multiplies the saves (`blamesSizeFlag`).
    public var sizeFlag: String
    /// What one save holds, for the message ("K x D = 8 x 100").
    public var saveShape: String
    public var blamesSizeFlag = false

    public static let csvCellBytes = 25
    public static let fileOverhead = 8192
    public static let manifestBytes = 65536
    public static let minimumSaves = 2

    /// `arrayValuesPerSave`: the float64 values of all arrays per save; `csvCellsPerSave`: the
    /// observables cells per save (all tables); `files`: the number of files the run writes.
    public init(saves: Int, arrayValuesPerSave: Int, csvCellsPerSave: Int, files: Int, sizeFlag: String, saveShape: String) {
        self.saves = saves
        self.sizeFlag = sizeFlag
        self.saveShape = saveShape
        perSave = MemoryBudget.sum(MemoryBudget.product(arrayValuesPerSave, 8), MemoryBudget.product(csvCellsPerSave, Self.csvCellBytes))
        fixed = MemoryBudget.sum(MemoryBudget.product(files, Self.fileOverhead), Self.manifestBytes)
    }

    /// The bound of several runs written side by side at the same number of saves (`demo`):
    /// the flag to change is `sizeFlag`, as the saves are not the user's to choose.
    public static func together(_ sizes: [OutputSize], sizeFlag: String, saveShape: String) -> OutputSize {
        var total = OutputSize(saves: sizes.map(\.saves).max() ?? 0, arrayValuesPerSave: 0, csvCellsPerSave: 0, files: 0,
                               sizeFlag: sizeFlag, saveShape: saveShape)
        total.perSave = sizes.reduce(Int?(0)) { MemoryBudget.sum($0, $1.perSave) }
        total.fixed = sizes.reduce(Int?(0)) { MemoryBudget.sum($0, $1.fixed) }
        total.blamesSizeFlag = true
        return total
    }

    /// The bound for `saves` saves (nil: overflowed Int).
    public func bytes(saves: Int) -> Int? { MemoryBudget.sum(fixed, MemoryBudget.product(saves, perSave ?? -1)) }
    public var total: Int? { bytes(saves: saves) }
}

/// The disk twin of `MemoryBudget`: a run whose output cannot fit on the file system of --out is
/// refused before it starts, instead of failing when the disk fills after hours of compute.
public enum DiskBudget {
    /// Refuse above this fraction of the free space: other writers share the disk.
    public static let usableFraction = 0.9

    /// Bytes an unprivileged process may still write on the file system that will hold `path`:
    /// f_bavail x f_frsize of the nearest existing ancestor of its parent (the staging sibling
    /// lives in `path`'s parent, on the same file system, for rename(2)). nil if statvfs fails.
    public static func freeBytes(forOutputAt path: String) -> Int? {
        freeBytes(inDirectory: URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path)
    }

    /// f_bavail x f_frsize of `path`, or of its nearest existing ancestor if it is still to be made.
    public static func freeBytes(inDirectory path: String) -> Int? {
        var directory = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        while !(FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) && isDirectory.boolValue)
                && directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        var info = statvfs()
        guard statvfs(directory.path, &info) == 0 else { return nil }
        return MemoryBudget.product(Int(info.f_bavail), Int(info.f_frsize)) ?? Int.max
    }

    /// Throws one line naming the flag to change, unless `size` fits in `usableFraction` of the
    /// free space of `path`'s file system: --saves with the largest number of saves that fits,
    /// or the size flag when even `OutputSize.minimumSaves` do not fit.
    /// `intoDirectory`: `path` is a directory that receives several runs (`demo --out`), whose
    /// staging siblings live in it rather than next to it.
    public static func require(_ size: OutputSize, writingTo path: String, flag outFlag: String = "--out", intoDirectory: Bool = false) throws {
        guard let free = intoDirectory ? freeBytes(inDirectory: path) : freeBytes(forOutputAt: path) else { return }
        let usable = usableFraction * Double(free)
        if let total = size.total, Double(total) <= usable { return }
        let needed = size.total.map(MemoryBudget.format) ?? "more than 2^63 bytes"
        let situation = "the run would write \(needed) to '\(path)', which has \(MemoryBudget.format(free)) free"
        let allowedSaves: Int = {
            guard let perSave = size.perSave, perSave > 0, let fixed = size.fixed, Double(fixed) < usable else { return 0 }
            return Int((usable - Double(fixed)) / Double(perSave))
        }()
        if allowedSaves >= OutputSize.minimumSaves && !size.blamesSizeFlag {
            throw ConvEmergeError.invalidInput(flag: "--saves", message: "\(situation); allowed: saves <= \(allowedSaves) at \(size.saveShape)")
        }
        // Saves the user cannot choose (demo's) are no advice; only the size flag is.
        let advice = allowedSaves >= OutputSize.minimumSaves ? "" : "; not even \(OutputSize.minimumSaves) saves of \(size.saveShape) fit"
        throw ConvEmergeError.invalidInput(flag: size.sizeFlag, message: "\(situation)\(advice): choose a smaller \(size.sizeFlag) or another \(outFlag)")
    }
}
