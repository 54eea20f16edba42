import ConvEmerge
import Foundation

/// How commands talk to the user: results on stdout (JSON or a table),
/// progress on stderr so that it never mixes with machine-readable output.
enum Report {
    /// A JSON value for a Double: JSON has no infinities or NaN, so those become
    /// the strings "inf", "-inf", "nan" (e.g. `"gain": "inf"` for sign inputs).
    static func json(_ x: Double) -> Any {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        return x
    }

    static func json(_ xs: [Double]) -> [Any] { xs.map { json($0) } }

    /// One JSON object on stdout, keys sorted, followed by a newline.
    static func printJSON(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static func progress(_ message: String) {
        FileHandle.standardError.write(Data("convemerge: \(message)\n".utf8))
    }

    /// Rows of cells as left-aligned columns separated by two spaces.
    static func table(_ rows: [[String]]) -> String {
        let widths = rows.reduce(into: [Int]()) { widths, row in
            for (k, cell) in row.enumerated() {
                if k == widths.count { widths.append(0) }
                widths[k] = max(widths[k], cell.count)
            }
        }
        return rows.map { row in
            row.enumerated().map { k, cell in
                k == row.count - 1 ? cell : cell.padding(toLength: widths[k], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// A number for a table: 6 significant digits.
    static func format(_ x: Double) -> String {
        x.isFinite ? String(format: "%.6g", x) : (x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf"))
    }

    /// One line describing the input model, for table headers.
    static func describe(_ spec: InputSpec) -> String {
        let lattice = spec.lattice.dimension == 1
            ? "ring of L = \(spec.lattice.length)"
            : "\(spec.lattice.length) x \(spec.lattice.length) torus"
        let family = spec.family.isNLGP ? "NLGP" : "\(spec.family) inputs"
        let model = spec.isGaussianClone ? "Gaussian clone of \(family)" : family
        let parameter = spec.family.isNLGP ? ", gain g = \(format(spec.gain))" : ""
        return "\(model) on a \(lattice) (D = \(spec.lattice.size)), \(spec.kernel.shape.rawValue) kernel xi = \(format(spec.kernel.correlationLength)), jitter = \(format(spec.kernel.jitter))\(parameter)"
    }
}
