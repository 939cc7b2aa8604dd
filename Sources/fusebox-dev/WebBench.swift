import Foundation
import FuseboxCommandLine
import FuseboxController
import FuseboxCore
import FuseboxServer
import FuseboxSimulation
import FuseboxSoak
import Logging
import ServiceLifecycle

/// `fusebox-dev bench --only web`: the controller on 100 simulated chargers (in a
/// process of their own) at a 100 ms period, with the web server; wrk (Debian)
/// loads the status endpoint, then the page, with 200 connections. Reported:
/// requests per second, and the cycle's work p99 in each phase beside a phase
/// with no web load, all in one run.
///
/// `fusebox-dev bench --only scale` is the same run at 799 chargers (with the meter,
/// the most connections one controller takes: SiteAssembly) on 10 circuits,
/// a 1 s period, without the page phase, with the process's memory.
struct WebBench {
    var chargers = 100
    var period = 0.1
    var seconds = 15.0
    /// Sub-distributions, each with an equal share of the chargers (0: none).
    var circuits = 0
    var page = true
    /// Seconds before measuring: connecting to every charger, each driver's init.
    var warmUp = 3.0

    func run() async throws -> [String: Any] {
        let (sim, controller) = try BenchSite.start(chargers: chargers, period: period, fuse: 10 + 5 * chargers, circuits: circuits)
        defer { sim.stop() }
        let assembly = SiteAssembly(config: controller)
        let built = try assembly.build()
        let total = Int((seconds * 3 + warmUp) / period) + 40
        var quiet = Logger(label: "bench")
        quiet.logLevel = .error
        let runner = CycleRunner(cycle: built.cycle, period: period, limit: total, logger: quiet)
        let timings = runner.subscribe(label: "bench", buffer: total + 8)
        let scripts = ScriptManager(cycle: built.cycle, policies: assembly.policies, drivers: assembly.drivers, policyDirectory: nil, driverDirectory: nil)
        let feed = SiteFeed(name: "bench", cycle: built.cycle, runner: runner, history: nil, scripts: scripts)
        let accounts = Accounts(user: "admin", passwordHash: nil, serial: "bench", tokenFile: nil)
        let (session, _) = try await accounts.login(user: "admin", password: "bench", from: "bench")
        let port = PortBox()
        let app = try WebServer.application(feed: feed, accounts: accounts, settings: WebServerSettings(listen: "127.0.0.1:0", serial: "bench"),
                                        logger: quiet) { p in port.set(p) }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: feed), .init(service: runner, successTerminationBehavior: .gracefullyShutdownGroup)],
            logger: quiet))
        let running = Task { try await group.run() }

        // Phases on the wall clock: warm-up, no load, the status endpoint, the page.
        while port.value == 0 { try await Task.sleep(for: .milliseconds(20)) }
        let base = "http://127.0.0.1:\(port.value)"
        try await Task.sleep(for: .seconds(warmUp))   // connections to every charger, drivers' init: not measured
        let quietFrom = Date().timeIntervalSince1970
        try await Task.sleep(for: .seconds(seconds))
        let statusFrom = Date().timeIntervalSince1970
        let statusLoad = try wrk(base + "/api/status", cookie: session)
        let pageFrom = Date().timeIntervalSince1970
        let pageLoad = page ? try wrk(base + "/", cookie: session) : [:]
        let pageTo = Date().timeIntervalSince1970
        let statusBytes = feed.statusJSON?.readableBytes ?? 0
        let residentMB = FuseboxSoak.Soak.residentMB()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        await group.triggerGracefulShutdown()
        _ = try? await running.value

        var works: [(Double, Double)] = []
        // Measured cycles must be of a site that answers: a dead simulator polls fast.
        var errors = 0, unavailable = 0, measured = 0
        for await p in timings {
            works.append((p.timing.started, p.timing.work))
            guard p.timing.started >= quietFrom else { continue }
            measured += 1
            errors += p.record.errors.count
            unavailable += p.record.snapshot.chargers.filter { $0.status == .unavailable }.count
        }
        func window(_ a: Double, _ b: Double) -> [String: Any] {
            let w = works.filter { $0.0 >= a && $0.0 < b }.map(\.1).sorted()
            guard !w.isEmpty else { return ["cycles": 0] }
            let q = { (x: Double) in (CycleStats.quantile(w, x) * 100_000).rounded() / 100 }
            return ["cycles": w.count, "median_work_ms": q(0.5), "p99_work_ms": q(0.99), "max_work_ms": q(1)]
        }
        var result: [String: Any] = [
            "chargers": chargers, "circuits": circuits, "period_ms": Int(period * 1000), "connections": 200,
            "no_web_load": window(quietFrom, statusFrom),
            "status_endpoint": window(statusFrom, pageFrom).merging(statusLoad) { a, _ in a },
            "status_bytes": statusBytes,
            "overruns": runner.statistics.overruns,
            "device_errors_per_cycle": measured > 0 ? Double(errors) / Double(measured) : 0,
            "chargers_unavailable_per_cycle": measured > 0 ? Double(unavailable) / Double(measured) : 0,
            // The controller and the web server together, as `fusebox run` is.
            "resident_mb": (residentMB * 10).rounded() / 10,
            "peak_resident_mb": (Double(usage.ru_maxrss) / 1024 * 10).rounded() / 10,
        ]
        if page { result["page"] = window(pageFrom, pageTo).merging(pageLoad) { a, _ in a } }
        return result
    }

    /// wrk with 200 connections for `seconds`; its requests per second and latencies.
    func wrk(_ url: String, cookie: String) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        process.arguments = ["-t2", "-c200", "-d\(Int(seconds))s", "--latency", "-H", "Cookie: fusebox_session=\(cookie)", url]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        var result: [String: Any] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if words.first == "Requests/sec:", let v = Double(words[1]) { result["requests_per_second"] = v }
            if words.first == "99%" { result["latency_p99"] = String(words[1]) }
            if words.first == "50%" { result["latency_median"] = String(words[1]) }
            if line.contains("Non-2xx") { result["non_2xx"] = Int(words.last ?? "") ?? -1 }
            if words.count >= 3, words[1] == "requests", words[2] == "in" { result["requests"] = Int(words[0]) ?? 0 }
        }
        if result["requests_per_second"] == nil { throw Failure(message: "wrk printed no figures for \(url): \(text)") }
        return result
    }
}

// Unchecked: its one variable is read and written under `lock`.
final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var port = 0
    var value: Int { lock.withLock { port } }
    func set(_ p: Int) { lock.withLock { port = p } }
}
