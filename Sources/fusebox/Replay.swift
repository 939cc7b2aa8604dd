import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxController
import FuseboxHistory
import FuseboxLua

/// `fusebox replay --history fusebox.db --policy NAME|FILE`: what a policy
/// (or a chain, comma-separated) would have done over the recorded history.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a policy over recorded history: peaks against the limit, energy per charger, fairness, violations.")

    @Option(help: "The history file.")
    var history: String = "fusebox.db"

    @Option(help: "A policy name or file, or a chain: ripple,fair_share.")
    var policy: String

    @OptionGroup var range: TimeRangeOptions

    @Option(help: "List at most this many violations.")
    var maxViolations: Int = 20

    func run() async throws {
        let store = try openHistory(history)
        let (start, end) = try range.resolve(store)
        let library = PolicyLibrary.shipped()
        let scripts: [PolicyScript]
        do { scripts = try policy.split(separator: ",").map { try library.load(String($0)) } } catch {
            throw ValidationError("--policy: \(error)")
        }
        let cycles = try store.cycles(from: start, to: end)
        guard !cycles.isEmpty else { throw ValidationError("no samples in \(history) between \(HistoryCSV.time(start)) and \(HistoryCSV.time(end))") }
        var report = PolicyReplay.run(cycles: cycles, chargers: try store.chargers(), chain: PolicyChain(scripts: scripts))
        let total = report.violations.count
        report.violations = Array(report.violations.prefix(maxViolations))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try StandardOutput.write(try encoder.encode(report))
        say("")
        say("\(report.cycles) cycles replayed; \(total) violation(s)\(total > maxViolations ? ", the first \(maxViolations) listed" : "")")
    }
}
