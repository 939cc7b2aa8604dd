import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxController
import FuseboxCore
import FuseboxDevices
import FuseboxHistory
import FuseboxServer
import Logging
import ServiceLifecycle
import FuseboxLua
import FuseboxModbus
import FuseboxSimulation
import FuseboxSimulator
import FuseboxUplink
import FuseboxYAML

/// The main job on an embedded default: the simulated site of config/sim.yaml
/// (a meter, PV, seven chargers of seven makes, one through a stand-in for its
/// vendor's cloud) on loopback Modbus TCP and HTTP, and the
/// control cycle driving it through the shipped drivers and policies. Every
/// cycle is checked against the invariants, and the seconds the real grid spent
/// over the fuse (while cars follow a new limit) are counted; the page is on
/// :4000 and the history is kept.
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

    @Flag(help: "Take free ports instead of those in the file (the web page's too, unless --port is given).")
    var anyPort = false

    @Option(help: "The web page's port (0: any free port).")
    var port: Int?

    @Option(help: "The web page's password (user admin).")
    var password = "demo"

    @Flag(inversion: .prefixedNo, help: "Add an OCPP 1.6J station (o08) to the site: it connects to the demo's OCPP endpoint over a WebSocket, as a real one would.")
    var ocppStation = true

    @Option(help: "An MQTT broker for the uplink (mqtt://127.0.0.1:1883), topics under fusebox/DEMO-0001/ (docs/mqtt.md).")
    var mqtt: String?

    func run() async throws {
        var parsed: SimConfig
        do { parsed = try SimConfig.load(file: config) } catch { throw Failure(message: error.description) }
        // Today's date at the configured time of day, so that the page's clock and history make sense.
        parsed.start += (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400
        if ocppStation, !parsed.chargers.contains(where: { $0.id == "o08" }) {
            // One station of the kind most car parks have: OCPP only, limited by charging profiles.
            parsed.chargers.append(.init(id: "o08", make: "ocpp", port: nil, unit: 1,
                                         charger: SiteModel.Charger(id: "o08", phases: [.l2, .l3, .l1], maxCurrent: 16), fault: .none))
            parsed.visits.append(.init(charger: "o08", arrive: 45, leave: 7 * 3600,
                                       car: .init(id: "car o08", phases: 3, maxCurrent: 16, wanted: 30)))
        }
        var controller = SiteConfig()
        controller.name = "Fusebox demo"
        controller.serial = "DEMO-0001"
        controller.limits = SiteLimits(current: PhaseValues(all: fuse), margin: 2)
        controller.chain = chain.split(separator: ",").map(String.init)
        let run: SimulatedRun
        do { run = try SimulatedRun(sim: parsed, controller: controller, anyPort: anyPort) } catch { throw Failure(message: "\(error)") }
        defer { run.stop() }

        let historyPath = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-demo-\(getpid()).db").path
        let store = try HistoryStore(path: historyPath)
        try store.saveChargers(run.config.chargers.map {
            ChargerSettingsRecord(id: $0.id, phases: $0.phases, min: $0.min, max: $0.max, priority: $0.priority)
        })
        // The site's own script folders, beside the history: the page's uploads go there, as on a box.
        let siteScripts = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-demo-\(getpid())-scripts").path
        let scripts = ScriptManager(cycle: run.cycle, policies: .shipped(siteDirectory: siteScripts + "/policies"),
                                    drivers: .shipped(siteDirectory: siteScripts + "/drivers"),
                                    policyDirectory: siteScripts + "/policies", driverDirectory: siteScripts + "/drivers")
        // The demo's configuration as a file beside the history, for the page's Setup to change live.
        let siteFile = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-demo-\(getpid())-site.yaml").path
        try ConfigYAML.dump(run.addressedConfig.tree, header: "The demo's site: the page's Setup changes it.").write(toFile: siteFile, atomically: true, encoding: .utf8)
        let setup = SiteSetup(file: siteFile, config: run.addressedConfig, tree: ConfigYAML.plain(run.addressedConfig.tree) as? [String: Any] ?? [:],
                              built: SiteAssembly.Built(cycle: run.cycle, summary: run.summary, devices: run.devices), pool: run.pool,
                              assembly: run.assembly)
        let feed = SiteFeed(name: controller.name, cycle: run.cycle, runner: nil, history: store, scripts: scripts, setup: setup, ocpp: run.ocpp)
        let web = WebServerSettings(listen: "0.0.0.0:\(port ?? (anyPort ? 0 : 4000))", user: "admin", serial: password)
        let accounts = Accounts(user: web.user, passwordHash: nil, serial: password, tokenFile: nil)
        var quiet = Logger(label: "fusebox.http")
        quiet.logLevel = .warning

        say("fusebox demo: the controller driving \(config): \(parsed.chargers.count) chargers behind a \(Int(fuse)) A fuse (2 A margin)")
        say("  policies \(controller.chain.joined(separator: " -> ")), one cycle per simulated second, \(speed)x real time")
        for line in run.summary { say("  " + line) }
        say("  history: \(historyPath) (fusebox history export --history \(historyPath) --what sessions)")
        say("  configuration: \(siteFile) (the page's Setup changes it; earlier versions in \(siteFile).versions/)")
        let http = try WebServer.application(feed: feed, accounts: accounts, settings: web, logger: quiet) { port in
            say("  web page: http://127.0.0.1:\(port)/  user admin, password \(password)")
        }
        var uplink: Uplink?
        if let mqtt {
            guard var settings = SiteConfig.MQTT(broker: mqtt) else {
                throw Failure(message: "--mqtt: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], got \(mqtt)")
            }
            settings.discovery = true
            do { uplink = try Uplink(site: run.config, settings: settings, cycle: run.cycle, store: store, logger: quiet) } catch {
                throw Failure(message: "--mqtt: \(error)")
            }
            say("  uplink: \(mqtt), topics under \(uplink?.topics.prefix ?? ""), Home Assistant discovery on (docs/mqtt.md)")
        }
        var stations: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let ocpp = run.ocpp {
            let site = run.site
            let endpoint = try OCPPServer.application(stations: ocpp, host: "127.0.0.1", port: 0, logger: quiet) { port in
                say("  OCPP stations: ws://127.0.0.1:\(port)/<station id> (the simulated ones connect there)")
                site.connectOCPP(to: "ws://127.0.0.1:\(port)")
            }
            stations.append(.init(service: endpoint, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        let show = Show(run: run, feed: feed, store: store, uplink: uplink, cycles: cycles, speed: speed, fuse: fuse, chargers: parsed.chargers.map(\.id))
        let group = ServiceGroup(configuration: .init(
            services: stations + [.init(service: http), .init(service: show, successTerminationBehavior: .gracefullyShutdownGroup)]
                + (uplink.map { [.init(service: $0, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore)] } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        try await group.run()
        if show.violations > 0 { throw Failure(message: "the demo saw \(show.violations) invariant violations") }
    }
}

/// The demo's own loop: one cycle per simulated second at `speed` x real time,
/// a status line every ten cycles, every event, the history, the page's feed.
// Unchecked: every property is immutable; `run` is called once.
final class Show: Service, @unchecked Sendable {
    let run: SimulatedRun
    let feed: SiteFeed
    let store: HistoryStore
    let uplink: Uplink?
    let cycles: Int
    let speed: Double
    let fuse: Double
    let chargers: [String]
    private(set) var violations = 0

    init(run: SimulatedRun, feed: SiteFeed, store: HistoryStore, uplink: Uplink?, cycles: Int, speed: Double, fuse: Double, chargers: [String]) {
        self.run = run
        self.feed = feed
        self.store = store
        self.uplink = uplink
        self.cycles = cycles
        self.speed = speed
        self.fuse = fuse
        self.chargers = chargers
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.loop() }
    }

    private func loop() async {
        let model = run.model
        say("time      grid A (L1 L2 L3)     PV W   " + chargers.map { $0.padding(toLength: 6, withPad: " ", startingAt: 0) }.joined())
        var batch: [HistoryCycle] = []
        var events: [SiteEvent] = []
        var done = 0
        var reported = Set<String>()   // each device error once
        var overFuse = 0              // seconds the real grid was over the fuse (reaction time of the cars)
        while !Task.isCancelled, cycles == 0 || done < cycles {
            let record = await run.step()
            violations += record.invariantViolations.count
            if model.gridCurrent.array.max() ?? 0 > fuse { overFuse += 1 }
            for v in record.invariantViolations { say("  invariant broken: \(v)") }
            for e in record.events { say("  event: \(e)") }
            for e in record.errors where !reported.contains(e) {
                reported.insert(e)
                say("  \(e)")
            }
            done += 1
            let published = PublishedCycle(record: record, timing: CycleTiming(started: record.time, work: 0, overrun: false), number: done)
            await feed.take(published)
            await uplink?.take(published)
            batch.append(HistoryCycle(record))
            events += record.events
            if batch.count >= 30 {
                try? await store.write(batch, events: events)
                batch.removeAll()
                events.removeAll()
            }
            if done % 10 == 1 { say(Self.statusLine(model: model, record: record)) }
            if speed > 0 { try? await Task.sleep(for: .milliseconds(Int(1000 / speed))) }   // the pace of the show
        }
        try? await store.write(batch, events: events)
        say("invariant violations: \(violations) in \(done) cycles; the grid was over the \(Int(fuse)) A fuse for \(overFuse) s"
            + " (cars follow a new limit after their reaction delay)")
    }

    static func statusLine(model: SiteModel, record: ControlCycle.Record) -> String {
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
