import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxController
import FuseboxCore
import FuseboxDevices
import FuseboxHistory
import FuseboxLua
import FuseboxOCPP
import FuseboxServer
import FuseboxUplink
import Logging
import ServiceLifecycle

/// `fusebox run --config site.yaml`: the controller for a real site, until
/// SIGTERM or SIGINT (then every charger is left at the fail-safe current).
/// SIGHUP reloads the configuration file and every script; a changed script
/// file is reloaded by itself; the page's Setup changes the configuration live.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the controller for the site a configuration describes.")

    @Option(help: "The site's configuration (YAML).")
    var config: String

    @Option(help: ArgumentHelp("Stop after this many cycles (for tests).", visibility: .hidden))
    var cycles: Int?

    @Option(help: "Print a status line every this many cycles (0: events only).")
    var statusEvery: Int = 60

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardOutput(label: $0) }
        let logger = Logger(label: "fusebox")
        let site: SiteConfig, tree: [String: Any]
        do { (site, tree) = try SiteConfig.read(file: config) } catch {
            for m in error.messages { say(m) }
            throw ExitCode(2)
        }
        let pool = ConnectionPool()
        // The stations' endpoint, when the site has OCPP stations (docs/ocpp.md); it follows the configuration's ids.
        let ocpp = site.ocpp.map { settings in
            let stations = OCPPStations(allowed: OCPPStations.ids(of: site), keys: OCPPStations.keys(of: site),
                                        upstreams: OCPPStations.upstreams(of: site), timeout: settings.timeout)
            stations.selfRegistration = settings.selfRegistration
            stations.idTags = settings.idTags.map(Set.init)
            return stations
        }
        var assembly = SiteAssembly(config: site)
        assembly.pool = pool
        assembly.ocpp = ocpp
        let built: SiteAssembly.Built
        do { built = try assembly.build() } catch {
            for m in error.messages { say("\(config): \(m)") }
            throw ExitCode(2)
        }
        if !site.isSetUp { say("fusebox run: \(config) has no meter and no charger yet: set the site up on the web page") }
        say("fusebox run: \(site.name), \(site.chargers.count) chargers behind \(site.limits.current) A (margin \(site.limits.margin) A), a cycle every \(site.period) s")
        for line in built.summary { say("  " + line) }

        let runner = CycleRunner(cycle: built.cycle, period: site.period, deadline: site.control.deadline, limit: cycles, logger: logger)
        let store: HistoryStore
        do {
            store = try HistoryStore(path: site.history.path,
                                     retention: Retention(raw: site.history.rawRetention, minute: site.history.minuteRetention),
                                     maxBytes: site.history.maxBytes)
        } catch {
            say("\(config): history.path: cannot open \(site.history.path): \(error)")
            throw ExitCode(2)
        }
        say("  history: \(site.history.path)")
        // What the page or the API had set before a restart holds again, unless it ran out meanwhile.
        do {
            if let (saved, _) = try store.loadCommands() {
                for line in await built.cycle.restore(saved, at: Date().timeIntervalSince1970) { say("  " + line) }
            }
        } catch {
            say("  \(error); starting without the commands set before")
        }
        let recorder = HistoryRecorder(store: store, runner: runner, logger: logger)
        let scripts = ScriptManager(cycle: built.cycle, policies: assembly.policies, drivers: assembly.drivers,
                                    policyDirectory: site.policyDirectory, driverDirectory: site.driverDirectory)
        let setup = SiteSetup(file: config, config: site, tree: tree, built: built, pool: pool) { next in
            var a = SiteAssembly(config: next)
            a.ocpp = ocpp
            return a
        }
        // Always there, so that the page's Setup can add the uplink to a running box.
        let uplink = UplinkService(site: site, cycle: built.cycle, store: store, runner: runner, logger: logger)
        let feed = SiteFeed(name: site.name, cycle: built.cycle, runner: runner, history: store, scripts: scripts, setup: setup,
                            uplink: { uplink.report() }, ocpp: ocpp)
        var web = WebServerSettings(listen: site.http.listen, user: site.http.user, passwordHash: site.http.passwordHash, serial: site.serial,
                                    tokenFile: ((site.history.path as NSString).deletingLastPathComponent.isEmpty ? "."
                                                : (site.history.path as NSString).deletingLastPathComponent) + "/tokens.json")
        web.trustedProxies = site.http.trustedProxies
        if let certificate = site.http.tlsCertificate, let key = site.http.tlsKey { web.tls = (certificate, key) }
        web.connections = site.http.connections
        web.viewers = site.http.viewers.map { ($0.user, $0.passwordHash) }
        let accounts = Accounts(user: web.user, passwordHash: web.passwordHash, serial: web.serial, tokenFile: web.tokenFile,
                                viewers: web.viewers)
        let shown = (scheme: web.tls == nil ? "http" : "https", host: web.host == "0.0.0.0" ? "127.0.0.1" : web.host, user: web.user)
        let http = try WebServer.application(feed: feed, accounts: accounts, settings: web, logger: logger) { port in
            say("  web page: \(shown.scheme)://\(shown.host):\(port)/ (user \(shown.user))")
        }
        let console = ConsoleReporter(runner: runner, every: statusEvery)
        let watcher = ScriptWatcher(scripts: scripts, setup: setup, logger: logger)
        await setup.onApplied { next in
            uplink.reconfigure(next)
            ocpp?.allowed = OCPPStations.ids(of: next)
            ocpp?.keys = OCPPStations.keys(of: next)
            ocpp?.upstreams = OCPPStations.upstreams(of: next)
            ocpp?.selfRegistration = next.ocpp?.selfRegistration ?? false
            ocpp?.idTags = next.ocpp?.idTags.map(Set.init)
        }
        var stationEndpoint: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let ocpp, let settings = site.ocpp {
            let shownHost = settings.host == "0.0.0.0" || settings.host.isEmpty ? "<this box>" : settings.host
            let tls = try settings.tlsCertificate.flatMap { certificate in
                try settings.tlsKey.map { try WebServer.tlsConfiguration(certificate: certificate, key: $0, section: "ocpp.tls") }
            }
            stationEndpoint.append(.init(service: try OCPPServer.application(stations: ocpp, host: settings.host.isEmpty ? "0.0.0.0" : settings.host,
                                                                             port: settings.port, tls: tls, logger: logger) { port in
                say("  OCPP stations: \(tls == nil ? "ws" : "wss")://\(shownHost):\(port)/<station id>, subprotocol ocpp1.6")
            }, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        if let mqtt = site.mqtt {
            say("  uplink: \(mqtt.broker), topics under \(mqtt.topicPrefix(serial: site.serial))"
                + (mqtt.discovery ? ", Home Assistant discovery on" : ""))
        }
        let group = ServiceGroup(configuration: .init(
            // Shut down in reverse order: the runner first (it leaves the chargers
            // at the fail-safe current and ends the stream), its readers after it.
            services: stationEndpoint + [
                // Like the page: a broker out of reach or refused settings must not stop the chargers being looked after.
                .init(service: uplink, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore),
                .init(service: recorder),
                .init(service: feed),
                // The controller goes on without its page: a port already taken
                // must not stop the chargers being looked after.
                .init(service: http, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore),
                .init(service: console),
                .init(service: watcher),
                .init(service: runner, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        let stats = runner.statistics
        say(String(format: "stopped after %d cycles: %d over the deadline, cycle work median %.1f ms, p99 %.1f ms",
                   stats.cycles, stats.overruns, stats.quantile(0.5) * 1000, stats.quantile(0.99) * 1000)
            + (stats.dropped.isEmpty ? "" : "; readers that fell behind lost " + stats.dropped.map { "\($0.value) (\($0.key))" }.joined(separator: ", ")))
    }
}

/// Prints each event and each new device error as it happens, and a status
/// line now and then; reads the runner's stream, so it never holds a cycle up.
// Unchecked: every property is immutable; `run` is called once.
final class ConsoleReporter: Service, @unchecked Sendable {
    let stream: AsyncStream<PublishedCycle>
    let runner: CycleRunner
    let every: Int

    init(runner: CycleRunner, every: Int) {
        self.runner = runner
        stream = runner.subscribe(label: "console", buffer: 256)
        self.every = every
    }

    func run() async throws {
        var known = Set<String>()
        for await published in stream {
            let r = published.record
            for e in r.events { say("event: \(e)") }
            for e in r.errors where known.insert(e).inserted { say("error: \(e)") }
            if every > 0, published.number % every == 1 || every == 1 {
                let grid = r.snapshot.grid.current.array.map { String(format: "%.1f", $0) }.joined(separator: "/")
                let limits = zip(r.snapshot.chargers, r.allocation).map { "\($0.id) \(String(format: "%.1f", $1))" }.joined(separator: ", ")
                say("cycle \(published.number): grid \(grid) A, ripple \(r.snapshot.ripple.rawValue), limits \(limits) (\(String(format: "%.1f", published.timing.work * 1000)) ms)")
            }
        }
        for e in runner.finalEvents { say("event: \(e)") }
        try? await gracefulShutdown()   // the stream ends first; the group stops us in turn
    }
}
