import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxCore
import FuseboxHistory

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read the recorded history.",
        subcommands: [HistoryExport.self])
}

/// `fusebox history export`: CSV of samples, sessions or events, to standard output.
struct HistoryExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Write samples, sessions or events as CSV.")

    @Option(help: "The history file.")
    var history: String = "fusebox.db"

    @Option(help: "samples, chargers, sessions or events.")
    var what: String = "samples"

    @OptionGroup var range: TimeRangeOptions

    @Option(help: "Seconds per row for samples (1-minute aggregates from 60 on).")
    var resolution: Double = 60

    func validate() throws {
        guard HistoryStore.resolutionRange.contains(resolution) else {
            throw ValidationError("--resolution: expected seconds from \(HistoryStore.resolutionRange.lowerBound) to \(Int(HistoryStore.resolutionRange.upperBound)), got \(resolution)")
        }
    }

    func run() async throws {
        let store = try openHistory(history)
        let (start, end) = try range.resolve(store)
        var out = ""
        switch what {
        case "samples":
            out = HistoryCSV.samples(try store.samples(from: start, to: end, resolution: resolution))
        case "chargers":
            out = HistoryCSV.chargerSamplesHeader
            for c in try store.chargers() {
                out += HistoryCSV.chargerSamples(c.id, try store.chargerSamples(c.id, from: start, to: end, resolution: resolution))
            }
        case "sessions":
            out = HistoryCSV.sessions(try store.sessions(from: start, to: end))
        case "events":
            out = HistoryCSV.events(try store.events(from: start, to: end, limit: 1_000_000).reversed())
        default:
            throw ValidationError("--what: expected samples, chargers, sessions or events, got \(what)")
        }
        try StandardOutput.write(out)
    }
}

/// A history file to read: opened read-only, so that reading never changes
/// it, and refused with its name when it is not a Fusebox history.
func openHistory(_ path: String) throws -> HistoryStore {
    guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("--history: no such file: \(path)") }
    do { return try HistoryStore(readingOnly: path) } catch { throw Failure(message: "--history: \(error)") }
}

/// `--from`/`--to`: a date, a date and time (UTC unless it says otherwise), or seconds since 1970.
func parseTime(_ text: String, option: String) throws -> Double {
    if let seconds = Double(text) {
        guard HistoryStore.times.contains(seconds) else {
            throw ValidationError("\(option): expected \(HistoryStore.timesExpected), got \(text)")
        }
        return seconds
    }
    let iso = ISO8601DateFormatter()
    if let d = iso.date(from: text) { return d.timeIntervalSince1970 }
    iso.formatOptions = [.withFullDate]
    if let d = iso.date(from: text) { return d.timeIntervalSince1970 }
    throw ValidationError("\(option): expected a date such as 2026-11-25 or 2026-11-25T08:00:00Z, or seconds since 1970, got \(text)")
}

/// `--from` and `--to` of the commands that read history.
struct TimeRangeOptions: ParsableArguments {
    @Option(help: "From (2026-11-25, 2026-11-25T08:00:00Z, or seconds since 1970); default: the first sample.")
    var from: String?

    @Option(help: "To, as --from; default: after the last sample.")
    var to: String?

    func resolve(_ store: HistoryStore) throws -> (Double, Double) {
        let span = try store.span()
        let start = try from.map { try parseTime($0, option: "--from") } ?? span?.first ?? 0
        let end = try to.map { try parseTime($0, option: "--to") } ?? max(Date().timeIntervalSince1970, (span?.last ?? 0) + 1)
        return (start, end)
    }
}

