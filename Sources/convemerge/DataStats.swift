import ArgumentParser
import ConvEmerge
import Foundation

/// `stats --inputs data:FILE.npy`: the empirical statistics of a data set (derivations/data-inputs.md).
/// `--stationarity` and `--symmetrise` belong to InputOptions, shared with solve and simulate.
enum DataStats {
    /// The table or JSON of the data set's statistics.
    static func report(path: String, input: InputOptions, json: Bool) throws {
        let lattice = try input.lattice
        let data = try EmpiricalInputs.read(from: path, lattice: lattice, stationarity: input.stationarity ?? .raw,
                                            symmetriseSign: input.signSymmetrised)
        let (matrix, circulantRow, distance) = data.covariance()
        let d = lattice.size
        let row = circulantRow ?? Array(matrix[0..<d])
        let spectrum = circulantRow.map { CirculantOperator(lattice: lattice, firstRow: $0).eigenvalues }
        let moments = data.marginalMoments()
        // A localised probe of |w|^2 = D at site 0: the strength of the cumulants a learned RF would see.
        let bump = (0..<d).map { exp(-lattice.distanceFromOrigin($0) * lattice.distanceFromOrigin($0) / 4) }
        let probe = bump.map { $0 * (Double(d) / dot(bump, bump)).squareRoot() }
        let third = data.thirdCumulantAction(probe), fourth = data.fourthCumulantAction(probe)
        if json {
            var object: [String: Any] = [
                "D": d, "N": data.rowCount, "inputs": "data:\(path)", "stationarity": data.stationarity.rawValue,
                "symmetrise": data.signSymmetrised ? "sign" : "none",
                "variance": Report.json(row[0]), "covariance_row": Report.json(row),
                "distance_from_circulant": Report.json(distance),
                "skewness": Report.json(moments.skewness), "excess_kurtosis": Report.json(moments.excessKurtosis),
                "third_cumulant_probe": Report.json(third.value), "third_cumulant_probe_se": Report.json(third.standardError),
                "fourth_cumulant_probe": Report.json(fourth.value), "fourth_cumulant_probe_se": Report.json(fourth.standardError),
            ]
            if let spectrum { object["spectrum"] = Report.json(spectrum) }
            try Report.printJSON(object)
            return
        }
        let f = Report.format
        print("data set '\(path)': N = \(data.rowCount) rows\(data.signSymmetrised ? " (with their sign flips)" : "") of D = \(d), "
              + "\(data.stationarity.rawValue) covariance")
        print(Report.table([
            ["variance", f(row[0])],
            ["distance from circulant", "\(f(distance)) (|C - P(C)|_F / |C|_F)"],
            ["skewness (pooled)", f(moments.skewness)],
            ["excess kurtosis (pooled)", f(moments.excessKurtosis)],
            ["|S(w)| at a bump", "\(f(euclideanNorm(third.value))) +- \(f(euclideanNorm(third.standardError)))"],
            ["|T(w)| at a bump", "\(f(euclideanNorm(fourth.value))) +- \(f(euclideanNorm(fourth.standardError)))"],
        ]))
        let shown = min(d, 8)
        print("\n\(circulantRow == nil ? "First row of C" : "Circulant projection of C") (sites 0..\(shown - 1)):")
        print(Report.table([["site"] + (0..<shown).map(String.init), ["C_0j"] + row[0..<shown].map(f)]))
    }
}
