import ConvEmerge
import Foundation

/// The project's Python (.venv with numpy and matplotlib, `make venv`) that draws figures with the
/// scripts in notebooks-export/. Found in the working directory, else in the repository the
/// binary was built in (.build*/<triple>/release/convemerge).
enum ProjectPython {
    struct Interpreter {
        var python: String
        var script: String
    }

    static let venv = ".venv"
    /// What `make venv` installs; its marker file says the install finished.
    static let packages = ["numpy", "matplotlib"]

    static func candidateRoots() -> [String] {
        // argv[0] is a bare name when the binary was found on the PATH; /proc/self/exe is its real path.
        let executable = FileManager.default.fileExists(atPath: "/proc/self/exe")
            ? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            : URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var roots = [FileManager.default.currentDirectoryPath]
        var ancestor = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            ancestor = ancestor.deletingLastPathComponent()
            roots.append(ancestor.path)
        }
        return roots
    }

    /// The venv's python and `script` (a path relative to the repository root), if both exist.
    static func existing(for script: String) -> Interpreter? {
        candidateRoots().first { FileManager.default.isExecutableFile(atPath: "\($0)/\(venv)/bin/python")
                                 && FileManager.default.fileExists(atPath: "\($0)/\(script)") }
            .map { Interpreter(python: "\($0)/\(venv)/bin/python", script: "\($0)/\(script)") }
    }

    /// The same, creating the venv next to the script first when it is missing or unfinished
    /// (as `make venv` does); one line naming what is missing when that is impossible.
    static func ensure(for script: String, flag: String) throws -> Interpreter {
        guard let root = candidateRoots().first(where: { FileManager.default.fileExists(atPath: "\($0)/\(script)") }) else {
            throw ConvEmergeError.invalidInput(flag: flag, message: "cannot find \(script): run convemerge from the repository (or its build)")
        }
        let python = "\(root)/\(venv)/bin/python", marker = "\(root)/\(venv)/.ready"
        if !FileManager.default.fileExists(atPath: marker) {
            try require(run("/usr/bin/env", ["python3", "--version"], silent: true) == 0, flag: flag,
                        "python3 is not installed; install it (with its venv module) to draw figures")
            Report.progress("creating \(root)/\(venv) with \(packages.joined(separator: " and ")) (once; `make venv` does the same)")
            if !FileManager.default.isExecutableFile(atPath: python) {
                try require(run("/usr/bin/env", ["python3", "-m", "venv", "\(root)/\(venv)"], silent: true) == 0, flag: flag,
                            "python3 cannot create a venv (install python3-venv, or run `make venv`)")
            }
            try require(run(python, ["-m", "pip", "install", "-q"] + packages) == 0, flag: flag,
                        "pip could not install \(packages.joined(separator: " and ")) into \(root)/\(venv) (network?); `make venv` retries")
            FileManager.default.createFile(atPath: marker, contents: Data())
        }
        return Interpreter(python: python, script: "\(root)/\(script)")
    }

    /// Runs `executable` with `arguments` and returns its exit status (-1: it could not start).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], silent: Bool = false) -> Int32 {
        let process = Process()
        if silent {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
