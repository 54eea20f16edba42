import ArgumentParser
import ConvEmerge
import Foundation

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Exact second- and fourth-order statistics of the input model.")
    @OptionGroup var input: InputOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let distribution = try InputDistribution(input.spec())
        print(distribution.covariance.firstRow[0..<min(5, distribution.size)])
    }
}
struct Sample: ParsableCommand {}
struct Cumulant: ParsableCommand {}
struct Bench: ParsableCommand {}
