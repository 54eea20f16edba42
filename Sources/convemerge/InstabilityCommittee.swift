import ArgumentParser
import ConvEmerge
import Foundation

/// `instability --model committee|twolayer --K K` (derivations/committee-stability.md): the
/// symmetric extended state of K identical units, its Jacobian and permutation sectors; for K >= 2 relu units the
/// spread state and its cyclic sectors (§5).
extension Instability {
    /// The K-unit network, read like `solve --model committee|twolayer` (nil for the neuron).
    func committeeNetwork() throws -> CommitteeNetwork? {
        guard let committee = try committeeModel.network(defaultUnits: 2) else { return nil }
        try require(scanGain == nil, flag: "--scan-gain", "applies to --model neuron only")
        let neuron = try taskOptions.neuronSpec()
        try require(committee.options.biasInit == nil || neuron.bias == 0, flag: "--bias-init",
                    "replaces --bias; give one of them, got --bias \(neuron.bias)")
        return CommitteeNetwork(units: committee.units, neuron: neuron, options: committee.options)
    }

    func runCommittee(_ network: CommitteeNetwork) throws {
        try requirePositive(lr, flag: "--lr", atMost: ParameterBound.learningRate)
        let closureSpec = try closureOptions.committeeSpec()
        let analysis = try CommitteeStabilityAnalysis(task: taskOptions.taskSpec(input: input), network: network,
                                                      closure: closureSpec, learningRate: lr)
        let progress = quiet ? nil : ProgressLine(label: "instability K=\(network.units)")
        let report = try analysis.analyse(stage: progress?.stage, progress: progress?.update)
        progress?.finish()
        let closure = closureSpec.kind.rawValue
        if json {
            try Report.printJSON(committeeJSON(report, closure: closure))
        } else {
            print(committeeTable(report, closure: closure))
        }
    }

    private func sectorJSON(_ sector: SectorSpectrum) -> [String: Any] {
        [
            "growth_rate": Report.json(sector.leading.rate), "frequency": Report.json(sector.leading.frequency),
            "ipr": Report.json(sector.leading.ipr), "multiplicity": sector.multiplicity, "full_multiplicity": sector.fullMultiplicity,
            "pattern_centers": sector.patternCenters.map(Report.json), "pattern_iprs": Report.json(sector.patternIPRs),
            "eigenvalues": Report.json(sector.modes.prefix(8).map(\.rate)),
        ]
    }

    private func modeJSON(_ mode: CommitteeMode) -> [String: Any] {
        [
            "rate": Report.json(mode.mode.rate), "frequency": Report.json(mode.mode.frequency), "ipr": Report.json(mode.mode.ipr),
            "symmetric_fraction": Report.json(mode.symmetricFraction),
            "unit_weights": Report.json(mode.units.map(\.weight)), "unit_centers": mode.units.map { Report.json($0.center) },
            "unit_iprs": Report.json(mode.units.map(\.ipr)),
            "cyclic_sector": mode.cyclicSector ?? NSNull() as Any, "cyclic_weight": mode.cyclicWeight.map { Report.json($0) } ?? NSNull(),
        ]
    }

    private func spreadJSON(_ spread: SpreadState) -> [String: Any] {
        [
            "phases": Report.json(spread.phases), "start_phases": Report.json(spread.startPhases),
            "max_unit_correlation": Report.json(spread.maximumCorrelation),
            "replaces_self_conjugate_pair": spread.replacesSelfConjugatePair,
            "closure_residual_at_gaussian_state": Report.json(spread.closureResidualAtGaussianState),
            "off_plane_fraction": Report.json(spread.offPlaneFraction),
        ]
    }

    private func wavevectorJSON(_ k: [Int]) -> Any { k.count == 1 ? k[0] as Any : k }

    func committeeJSON(_ report: CommitteeStabilityReport, closure: String) -> [String: Any] {
        [
            "model": committeeModel.model.rawValue, "K": report.units, "closure": closure,
            "k_star": wavevectorJSON(report.wavevector), "pair": wavevectorJSON(report.spread?.wavevector ?? report.wavevector),
            "state_kind": report.spread == nil ? "identical" : "spread", "spread": report.spread.map(spreadJSON) ?? NSNull(),
            "leading_unit_separation": report.leadingUnitSeparation.map { Report.json($0) } ?? NSNull(),
            "amplitude": Report.json(report.amplitude), "single_neuron_amplitude": Report.json(report.singleNeuronAmplitude),
            "state_refined": report.refined, "state_residual": Report.json(report.stateResidual),
            "symmetry_deviation": Report.json(report.symmetryDeviation),
            "growth_rate": Report.json(report.leading.mode.rate),
            "leading_sector": report.leadingSector,
            "symmetric_sector": report.symmetric.map(sectorJSON) ?? NSNull(),
            "difference_sector": report.difference.map(sectorJSON) ?? NSNull(),
            "tiled_overlap": report.tiledOverlap.map { Report.json($0) } ?? NSNull(),
            "tiles_linearly": report.tilesLinearly, "verdict": report.verdict,
            "leading_modes": report.modes.prefix(4).map(modeJSON), "leading_mode": Report.json(report.leading.mode.vector),
            "translation_mode_rates": Report.json(report.translationModes.map(\.rate)),
        ]
    }

    func committeeTable(_ report: CommitteeStabilityReport, closure: String) -> String {
        let f = Report.format
        let centers = { (centers: [[Double]]) in centers.map { $0.map(f).joined(separator: ",") }.joined(separator: "; ") }
        let list = { (values: [Double]) in "[" + values.map(f).joined(separator: ", ") + "]" }
        var rows: [[String]] = [
            ["k*", "\(report.wavevector)", "|w_k| = \(f(report.amplitude)) (single neuron \(f(report.singleNeuronAmplitude)))"],
        ]
        if let spread = report.spread {
            rows.append(["spread pair", "\(spread.wavevector)",
                         (spread.replacesSelfConjugatePair ? "(k* has no sin: best two-dimensional pair) " : "")
                         + "phases \(list(spread.phases)), max |rho| \(f(spread.maximumCorrelation))"])
            rows.append(["\(closure) state", report.refined ? "fixed point" : "not converged",
                         "residual \(f(report.stateResidual)) (at the Gaussian state \(f(spread.closureResidualAtGaussianState))), "
                         + "cyclic symmetry deviation \(f(report.symmetryDeviation))"])
        } else {
            rows.append(["\(closure) state", report.refined ? "fixed point" : "not converged",
                         "residual \(f(report.stateResidual)), block symmetry deviation \(f(report.symmetryDeviation))"])
            rows.append(["sector", "growth rate", "multiplicity (full), pattern centres, IPR"])
        }
        for (name, sector) in [("symmetric A+(K-1)B", report.symmetric), ("difference A-B", report.difference)] {
            guard let sector else { continue }
            rows.append([name, f(sector.leading.rate), "\(sector.multiplicity) (\(sector.fullMultiplicity)), [\(centers(sector.patternCenters))], \(f(sector.leading.ipr))"])
        }
        rows.append(["leading sector", report.leadingSector, report.spread != nil
            ? "localised units \(report.leadingUnitSeparation.map { f($0) + " sites apart" } ?? "fewer than two"), localised above IPR \(f(report.localisedIPR))"
            : report.tiledOverlap.map { "tiled overlap \(f($0)), localised above IPR \(f(report.localisedIPR))" } ?? ""])
        for (rank, mode) in report.modes.prefix(4).enumerated() {
            rows.append(["mode \(rank + 1)", f(mode.mode.rate),
                         (mode.cyclicSector.map { "cyclic m = \($0) (\(f(mode.cyclicWeight!))), " } ?? "")
                         + "symmetric fraction \(f(mode.symmetricFraction)), unit weights \(list(mode.units.map(\.weight))), unit centres [\(centers(mode.units.map(\.center)))], unit IPRs \(list(mode.units.map(\.ipr)))"])
        }
        return "instability (\(committeeModel.model.rawValue), K = \(report.units), \(closure)):\n" + Report.table(rows) + "\n" + report.verdict
    }
}
