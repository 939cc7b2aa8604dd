import ArgumentParser
import Foundation
import FuseboxController
import FuseboxCore
import FuseboxDevices
import FuseboxHistory
import FuseboxLua
import FuseboxModbus
import FuseboxSimulation
import FuseboxSimulator

/// The main job on an embedded default: the simulated site of config/sim.yaml
/// (a meter, PV, six chargers of six makes) on loopback Modbus TCP, and the
/// control cycle driving it through the shipped drivers and policies. Every
/// cycle is checked against the invariants, and the seconds the real grid spent
/// over the fuse (while cars follow a new limit) are counted. (The web page on
/// :4000 joins with issue 5; history and fail-safe tuning with issue 4.)
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The controller driving a simulated site, with a status line as it goes.")

    @Option(help: "The simulated site.")
    var config: String = "config/sim.yaml"

    @Option(help: "Cycles to run (0: until stopped with Ctrl-C).")
    var cycles: Int = 0

    @Option(help: "Simulated seconds per real second (one cycle is one simulated second).")
    var speed: Double = 5

    @Option(help: "The grid connection's fuse, A per phase.")
    var fuse: Double = 63

    @Option(help: "The policy chain, comma-separated.")
    var chain: String = "ripple,fair_share"

    @Flag(help: "Take free ports instead of those in the file.")
    var anyPort = false

    func run() async throws {
        let parsed: SimConfig
        do { parsed = try SimConfig.load(file: config) } catch { throw Failure(message: error.description) }
        var controller = SiteConfig()
        controller.name = "demo"
        controller.limits = SiteLimits(current: PhaseValues(all: fuse), margin: 2)
        controller.chain = chain.split(separator: ",").map(String.init)
        let run: SimulatedRun
        do { run = try SimulatedRun(sim: parsed, controller: controller, anyPort: anyPort) } catch { throw Failure(message: "\(error)") }
        defer { run.stop() }
        let model = run.model

        say("fusebox demo: the controller driving \(config): \(parsed.chargers.count) chargers behind a \(Int(fuse)) A fuse (2 A margin)")
        say("  policies \(controller.chain.joined(separator: " -> ")), one cycle per simulated second, \(speed)x real time")
        for line in run.summary { say("  " + line) }
        say("  (the web page on :4000 comes with the server; this is the console view)")
        say("time      grid A (L1 L2 L3)     PV W   " + parsed.chargers.map { $0.id.padding(toLength: 6, withPad: " ", startingAt: 0) }.joined())

        let historyPath = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-demo-\(getpid()).db").path
        let store = try HistoryStore(path: historyPath)
        try store.saveChargers(run.config.chargers.map {
            ChargerSettingsRecord(id: $0.id, phases: $0.phases, min: $0.min, max: $0.max, priority: $0.priority)
        })
        say("  history: \(historyPath) (fusebox history export --history \(historyPath) --what sessions)")
        var batch: [HistoryCycle] = []
        var events: [SiteEvent] = []

        var violations = 0
        var done = 0
        var reported = Set<String>()   // each device error once
        var overFuse = 0              // seconds the real grid was over the fuse (reaction time of the cars)
        while cycles == 0 || done < cycles {
            let record = await run.step()
            violations += record.invariantViolations.count
            if model.gridCurrent.array.max()! > fuse { overFuse += 1 }
            for v in record.invariantViolations { say("  invariant broken: \(v)") }
            for e in record.events { say("  event: \(e)") }
            for e in record.errors where !reported.contains(e) {
                reported.insert(e)
                say("  \(e)")
            }
            done += 1
            batch.append(HistoryCycle(record))
            events += record.events
            if batch.count >= 30 {
                try await store.write(batch, events: events)
                batch.removeAll()
                events.removeAll()
            }
            if done % 10 == 1 { say(statusLine(model: model, record: record)) }
            if speed > 0 { try await Task.sleep(for: .milliseconds(Int(1000 / speed))) }   // the pace of the show
        }
        try await store.write(batch, events: events)
        say("invariant violations: \(violations) in \(done) cycles; the grid was over the \(Int(fuse)) A fuse for \(overFuse) s"
            + " (cars follow a new limit after their reaction delay)")
        if violations > 0 { throw Failure(message: "the demo saw \(violations) invariant violations") }
    }

    private func statusLine(model: SiteModel, record: ControlCycle.Record) -> String {
        let t = Int(model.time) % 86_400
        let clock = String(format: "%02d:%02d:%02d", t / 3600, t / 60 % 60, t % 60)
        let grid = model.gridCurrent.array.map { String(format: "%5.1f", $0) }.joined(separator: " ")
        var cars = ""
        for (i, c) in record.snapshot.chargers.enumerated() {
            let tag = c.status == .charging ? "C" : c.status == .occupied ? "B" : c.status == .free ? "-" : "x"
            cars += (tag + String(format: "%4.1f", record.allocation[i])).padding(toLength: 6, withPad: " ", startingAt: 0)
        }
        return "\(clock)  \(grid)   \(String(format: "%5.0f", model.pvPower))   \(cars)"
    }
}
