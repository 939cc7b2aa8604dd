import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxSimulation
import FuseboxSoak
import FuseboxSimulator

/// `fusebox-dev soak`: the demo site for days of simulated time, as fast as the
/// machine goes, with the checks of docs/reliability.md. Progress goes to
/// stderr every simulated hour; the report is one JSON document on stdout.
struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the simulated site for days at full speed and check that nothing drifts.",
        discussion: """
            Every day: cars arrive and leave, PV (every third day cloudy), the ripple
            signal reduces at 11:00 and locks at 17:30, the meter is silent for a minute
            at 02:00, and a driver is hot-reloaded every hour. Exits non-zero when a check
            fails: an invariant broken, an overrun, a fail-safe missed, a reload refused,
            history beyond its retention.
            """)

    @Option(help: "The simulated site.")
    var config: String = "config/sim.yaml"

    @Option(help: "Simulated days.")
    var days: Double = 7

    @Option(help: "The controller's period, seconds of simulated time.")
    var period: Double = 1

    @Option(help: "Hours of raw samples the history keeps.")
    var retentionHours: Double = 24

    @Option(help: "The history file (default: a fresh file in the temporary folder, removed after).")
    var history: String?

    @Option(help: "Seed of the cars' comings and goings.")
    var seed: UInt64 = 1

    @Option(help: "Minutes of simulated time between two driver hot-reloads (0: none).")
    var reloadMinutes: Double = 60

    func run() async throws {
        let sim: SimConfig
        do { sim = try SimConfig.load(file: config) } catch { throw Failure(message: error.description) }
        let path = history ?? FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-soak-\(getpid()).db").path
        defer {
            if history == nil { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        }
        var settings = FuseboxSoak.Soak.Settings(historyPath: path)
        settings.days = days
        settings.period = period
        settings.retention = retentionHours * 3600
        settings.seed = seed
        settings.reloadEvery = reloadMinutes * 60
        settings.progress = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let report = try await FuseboxSoak.Soak(sim: sim, settings: settings).run()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try StandardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        if !report.failures.isEmpty { throw Failure(message: "soak failed:\n" + report.failures.joined(separator: "\n")) }
    }
}
