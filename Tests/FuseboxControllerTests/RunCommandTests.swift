import Foundation
import Synchronization
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxSimulator
import FuseboxTesting
import Testing

/// `fusebox run` as a device runs it: a child process with a site.yaml, driving
/// the simulated site (served in this process) over loopback Modbus TCP.
@Suite("fusebox run and fusebox check", .serialized)
struct RunCommandTests {
    static let root = Expectation.repositoryRoot(from: #filePath)
    let binary = Expectation.fuseboxBinary(from: #filePath)

    /// The default simulated site on free ports, and a site.yaml for it in a fresh folder.
    func site(phases override: [String: String] = [:], sim simYAML: String? = nil, http: String = "listen: 127.0.0.1:0") async throws -> (SimulatedSite, URL) {
        let sim = try simYAML.map { try SimConfig(yaml: $0) } ?? SimConfig.load(file: Self.root + "/config/sim.yaml")
        let site = try SimulatedSite(config: sim, anyPort: true)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("policies"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.root + "/policies/fair_share.lua",
                                         toPath: folder.appendingPathComponent("policies/fair_share.lua").path)
        let chargers: String = sim.chargers.map { c -> String in
            let phases = override[c.id] ?? "[" + c.charger.phases.map { String($0.rawValue) }.joined(separator: ", ") + "]"
            let address = SimConfig.cloudMakes.contains(c.make)
                ? "api: http://127.0.0.1:\(site.port(of: c.id)!), settings: { charger_id: \(c.id), username: u, password: p }"
                : "host: 127.0.0.1, port: \(site.port(of: c.id)!), unit: \(c.unit)"
            return "  - { id: \(c.id), driver: \(c.make), \(address), max: \(c.charger.maxCurrent), phases: \(phases) }"
        }.joined(separator: "\n")
        let yaml = """
            site: { name: test site, serial: T1, period: 200ms, limit: { current: 63, margin: 2 }, failsafe: { meter_timeout: 5s, current: 6 } }
            meters:
              grid: { driver: sdm630, host: 127.0.0.1, port: \(site.port(of: "grid")!), unit: 1 }
            chargers:
            \(chargers)
            policy: { chain: [ripple, fair_share] }
            scripts: { policies: \(folder.path)/policies }
            history: { path: \(folder.path)/fusebox.db }
            http: { \(http) }
            """
        try yaml.write(to: folder.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        return (site, folder)
    }

    @Test("runs the cycles it is asked for, then leaves every charger at the fail-safe current")
    func runsAndStandsDown() async throws {
        let (site, folder) = try await site()
        defer { site.stop(); try? FileManager.default.removeItem(at: folder) }
        let child = try ChildProcess([binary, "run", "--config", folder.appendingPathComponent("site.yaml").path,
                                      "--cycles", "10", "--status-every", "1"])
        #expect(await child.exit(within: 60) == 0, "\(child.output.suffix(20)) \(child.errorOutput.suffix(2000))")
        let out = child.output
        #expect(out.filter { $0.hasPrefix("cycle ") }.count == 10, "\(out)")
        #expect(out.contains { $0.contains("stopped after 10 cycles") })
        #expect(!out.contains { $0.hasPrefix("error:") }, "\(out.filter { $0.hasPrefix("error:") })")
        // The writes of the last cycles and of stopping reach the model on the next tick.
        site.tick(0)
        for c in site.model.chargers { #expect(c.commanded == 6, "\(c.id): left at \(String(describing: c.commanded)) A") }
    }

    @Test("with every descriptor below 1100 taken, the controller still reads and writes its chargers (libmodbus's select() aborted there)")
    func highDescriptors() async throws {
        let (site, folder) = try await site()
        defer { site.stop(); try? FileManager.default.removeItem(at: folder) }
        // bash opens 3..1100 and execs the controller, which inherits them: every
        // socket it opens is above 1100, as on a site with 1000 chargers.
        let command = "for fd in $(seq 3 1100); do eval \"exec $fd</dev/null\"; done; exec \"$0\" \"$@\""
        let child = try ChildProcess(["bash", "-c", command, binary, "run", "--config", folder.appendingPathComponent("site.yaml").path,
                                      "--cycles", "10", "--status-every", "1"])
        #expect(await child.exit(within: 60) == 0, "\(child.output.suffix(20)) \(child.errorOutput.suffix(2000))")
        #expect(child.output.filter { $0.hasPrefix("cycle ") }.count == 10)
        #expect(!child.output.contains { $0.hasPrefix("error:") || $0.contains("device_error") }, "\(child.output.suffix(20))")
        site.tick(0)
        for c in site.model.chargers { #expect(c.commanded == 6, "\(c.id): left at \(String(describing: c.commanded)) A") }
    }

    @Test("1,000 half-sent requests: each refused at once over the connection limit or closed by the header timeout, while the cycle and its devices go on (issue 16, finding 4)")
    func halfSentFlood() async throws {
        let (site, folder) = try await site(http: "listen: 127.0.0.1:0, header_timeout: 1s")
        defer { site.stop(); try? FileManager.default.removeItem(at: folder) }
        let child = try ChildProcess([binary, "run", "--config", folder.appendingPathComponent("site.yaml").path, "--status-every", "1"])
        defer { child.signal(SIGTERM); _ = child.waitForExit(timeout: 30) }
        let page = await child.line(containing: "web page: http://", within: 30) ?? ""
        let port = page.split(separator: ":").last.flatMap { Int($0.prefix(while: \.isNumber)) } ?? 0
        #expect(port > 0, "no web page in \(child.output) \(child.errorOutput)")
        #expect(await child.line(prefix: "cycle ", within: 30) != nil)
        let before = child.output.filter { $0.hasPrefix("cycle ") }.count

        // The clients are another process: this one keeps its descriptors (its simulated devices use select()).
        let flood = try ChildProcess(["python3", Self.root + "/Tests/Support/half_sent.py", String(port), "1000", "5"])
        #expect(await flood.exit(within: 120) == 0, "\(flood.errorOutput.suffix(2000))")
        let line = flood.output.last ?? ""
        let report = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        #expect(!report.isEmpty, "no report from the flood: \(flood.output) \(flood.errorOutput)")
        let closed = report["closed"] as? Int ?? 0, refused = report["refused"] as? Int ?? 0
        let seconds = report["seconds"] as? Double ?? .infinity
        #expect(report["opened"] as? Int == 1000, "\(report)")
        #expect(closed == 1000, "every one closed: \(report)")
        // At most http.max_connections (128) were admitted; the rest were answered 503 at once.
        #expect(refused >= 1000 - 128 && refused < 1000, "\(report)")
        #expect(seconds < 3, "the last closed \(seconds) s after the last was opened, with a header timeout of 1 s: \(report)")

        // The cycle went on meanwhile (a period of 200 ms), its devices answering.
        let during = child.output.filter { $0.hasPrefix("cycle ") }.count - before
        #expect(during >= 5, "\(during) cycles during the flood")
        #expect(!child.output.contains { $0.hasPrefix("error:") || $0.contains("device_error") }, "\(child.output.suffix(20))")
        // And a whole request is answered after it.
        let health = try ChildProcess(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\\n", "http://127.0.0.1:\(port)/api/health"])
        let status = await health.exit(within: 30)
        let code = health.output.joined()
        #expect(status == 0 && code == "200", "\(code)")
    }

    @Test("a script file that changes is reloaded; a broken one is refused and the old one runs on; SIGTERM stops it cleanly")
    func hotReloadAndStop() async throws {
        let (site, folder) = try await site()
        defer { site.stop(); try? FileManager.default.removeItem(at: folder) }
        let policy = folder.appendingPathComponent("policies/fair_share.lua")
        let good = try String(contentsOf: policy, encoding: .utf8)
        let child = try ChildProcess([binary, "run", "--config", folder.appendingPathComponent("site.yaml").path, "--status-every", "0"])
        #expect(await child.line(containing: "controller started", within: 30) != nil, "\(child.output) \(child.errorOutput)")

        try "return { name = 'fair_share', allocate = function(site) return { p01 = } end }".write(to: policy, atomically: true, encoding: .utf8)
        let refused = await child.line(containing: "refused", within: 20)
        #expect(refused?.contains("fair_share") == true, "\(child.output.suffix(10))")

        try (good + "\n-- touched\n").write(to: policy, atomically: true, encoding: .utf8)
        #expect(await child.line(containing: "policy fair_share now runs", within: 20) != nil, "\(child.output.suffix(10))")

        child.signal(SIGHUP)
        #expect(await child.line(containing: "driver abb_terra reloaded", within: 20) != nil, "\(child.output.suffix(10))")

        child.signal(SIGTERM)
        #expect(await child.exit(within: 30) == 0, "\(child.errorOutput.suffix(2000))")
        #expect(child.output.contains { $0.contains("controller stopped") })
        #expect(!child.output.contains { $0.contains("policy_fallback") }, "the running policy never failed")
    }

    @Test("killed with kill -9 and started again: the history file is intact, the open session goes on, control resumes")
    func killAndRestart() async throws {
        let (site, folder) = try await site()
        defer { site.stop(); try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("site.yaml").path
        let db = folder.appendingPathComponent("fusebox.db").path
        let first = try ChildProcess([binary, "run", "--config", config, "--status-every", "1"])
        // 40 cycles of 200 ms: the recorder has written at least one batch (30 cycles or 5 s, whichever comes first).
        #expect(await first.line(prefix: "cycle 40:", within: 60) != nil, "\(first.output.suffix(5)) \(first.errorOutput)")
        first.signal(SIGKILL)
        _ = await first.exit(within: 30)

        let afterKill = try HistoryStore(path: db)
        #expect(try afterKill.integrityCheck() == "ok")
        let samples = try afterKill.samples(from: 0, to: 1e12, resolution: 0.01).count   // one per 200 ms cycle
        #expect(samples >= 25, "\(samples) samples after 40 cycles")
        let sessions = try afterKill.sessions(from: 0, to: 1e12)
        #expect(sessions.map(\.charger) == ["p01"] && sessions.first?.end == nil, "\(sessions)")

        let second = try ChildProcess([binary, "run", "--config", config, "--cycles", "10", "--status-every", "1"])
        #expect(await second.exit(within: 60) == 0, "\(second.output.suffix(5)) \(second.errorOutput)")
        #expect(second.output.filter { $0.hasPrefix("cycle ") }.count == 10)
        let after = try HistoryStore(path: db)
        #expect(try after.samples(from: 0, to: 1e12, resolution: 0.01).count >= samples + 10)
        #expect(try after.sessions(from: 0, to: 1e12).count == 1, "the car never left: still one session")
        let events = try after.events(from: 0, to: 1e12)
        #expect(events.filter { $0.kind == .started }.count == 2 && events.filter { $0.kind == .stopped }.count == 1, "\(events)")
    }

    /// A call to the running controller's API through Tests/Support/api_call.py
    /// (Python's urllib, not our stack); returns the status and the body.
    func api(_ base: String, _ method: String, _ path: String, _ body: String) async throws -> (Int, String) {
        let call = try ChildProcess(["python3", Self.root + "/Tests/Support/api_call.py", base, "admin", "T1", method, path, body])
        #expect(await call.exit(within: 30) == 0, "\(call.errorOutput)")
        let lines = call.output
        return (Int(lines.first ?? "") ?? 0, lines.dropFirst().joined(separator: "\n"))
    }

    @Test("commands from the API survive a restart until their time to live: a ripple reduction, a site limit, a charger switched off; one that ran out does not come back")
    func commandsSurviveRestart() async throws {
        let (site, folder) = try await site()
        defer { site.stop(); try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("site.yaml").path
        let first = try ChildProcess([binary, "run", "--config", config, "--status-every", "1"])
        defer { first.signal(SIGKILL) }
        let page = try #require(await first.line(containing: "web page: http://", within: 60), "\(first.errorOutput)")
        let base = String(try #require(page.split(separator: " ").first { $0.hasPrefix("http://") }))
        #expect(await first.line(prefix: "cycle 3:", within: 60) != nil)
        // p01 has the one car of the site: switched off, it gets 0 even though
        // `reduced` leaves it room.
        for (method, path, body) in [("PUT", "/api/ripple", #"{"mode": "reduced", "ttl": 600}"#),
                                     ("PUT", "/api/site/limit", #"{"amps": 40, "ttl": 600}"#),
                                     ("PUT", "/api/chargers/p01/enabled", #"{"enabled": false}"#),
                                     ("PUT", "/api/chargers/p03/limit", #"{"amps": 8, "ttl": 1}"#)] {
            let (status, answer) = try await api(base, method, path, body)
            #expect(status == 200, "\(method) \(path): \(status) \(answer)")
        }
        // The next cycle carries the commands to the recorder, which keeps them
        // at once; p03's limit runs out while this run goes on.
        #expect(await first.line(containing: "p03: remote limit expired", within: 30) != nil, "\(first.output.suffix(10))")
        let seen = first.output.filter { $0.hasPrefix("cycle ") }.count
        #expect(await first.line(prefix: "cycle \(seen + 2):", within: 30) != nil)
        let before = first.output.last { $0.hasPrefix("cycle ") } ?? ""
        #expect(before.contains("ripple reduced") && before.contains("p01 0.0"), "\(before)")
        first.signal(SIGTERM)
        #expect(await first.exit(within: 30) == 0, "\(first.errorOutput.suffix(2000))")

        let second = try ChildProcess([binary, "run", "--config", config, "--cycles", "5", "--status-every", "1"])
        #expect(await second.exit(within: 60) == 0, "\(second.output.suffix(5)) \(second.errorOutput.suffix(2000))")
        let out = second.output
        #expect(out.contains { $0.contains("restored: ripple reduced for ") }, "\(out.prefix(20))")
        #expect(out.contains { $0.contains("restored: site limit 40.0 A for ") }, "\(out.prefix(20))")
        #expect(out.contains { $0.contains("restored: p01 disabled") }, "\(out.prefix(20))")
        #expect(out.contains { $0.contains("not restored: p03 limit 8.0 A: ran out while stopped") }, "\(out.prefix(20))")
        let cycles = out.filter { $0.hasPrefix("cycle ") }
        #expect(cycles.count == 5)
        for line in cycles {
            #expect(line.contains("ripple reduced"), "the reduction holds from the first cycle after the restart: \(line)")
            #expect(line.contains("p01 0.0"), "p01 stays off: \(line)")
        }
        let events = try HistoryStore(path: folder.appendingPathComponent("fusebox.db").path).events(from: 0, to: 1e12)
        #expect(events.contains { $0.subject == "restart" && $0.message.contains("restored: ripple reduced") }, "\(events.suffix(10))")
    }

    @Test("check --live: a charger wired to other phases than configured is found from the readings")
    func checkLive() async throws {
        // The simulated p02 is on building phases [2, 3, 1]; the file says [1, 2, 3].
        // Only its car moves: a one-phase car at 30 s of simulated time, 1.5 s
        // after the check begins to watch, on a quiet building. (At 5 s, 250 ms
        // in, a loaded CI machine once gave the check its first reading only
        // after the car had started: no step to see.)
        let (site, folder) = try await site(phases: ["p02": "[1, 2, 3]"], sim: """
            site: { base_load: 10, noise: 0.1 }
            chargers:
              - { id: p01, make: abb_terra, phases: [1, 2, 3] }
              - { id: p02, make: abb_terra, phases: [2, 3, 1] }
            cars: [ { charger: p02, arrive: 30s, phases: 1, max: 16 } ]
            """)
        defer { site.stop(); try? FileManager.default.removeItem(at: folder) }
        let child = try ChildProcess([binary, "check", "--live", "--seconds", "6", "--config", folder.appendingPathComponent("site.yaml").path])
        // Once the check watches, the site lives on by itself: a simulated second
        // every 50 ms, on a thread of its own (a busy cooperative pool once held
        // a task-based ticker back until the check had ended).
        #expect(await child.line(containing: "watching for", within: 60) != nil, "\(child.output)")
        let stop = Mutex(false), ended = DispatchSemaphore(value: 0)
        let ticker = Thread {
            while !stop.withLock({ $0 }) {
                site.tick(1)
                Thread.sleep(forTimeInterval: 0.05)
            }
            ended.signal()
        }
        ticker.start()
        #expect(await child.exit(within: 60) == 1)
        let warnings = child.output.filter { $0.hasPrefix("warning:") }
        #expect(warnings.count == 1, "\(child.output)")
        #expect(warnings.first?.contains("p02") == true && warnings.first?.contains("showed on L2") == true
                && warnings.first?.contains("says L1") == true, "\(warnings)")
        #expect(child.output.contains("0 device error(s), 1 wiring warning(s)"), "\(child.output.suffix(3))")
        stop.withLock { $0 = true }
        ended.wait()   // at most one tick: the site is not stopped under it
        #expect(site.model.chargers.allSatisfy { $0.written.isEmpty }, "check --live writes nothing")
    }

    @Test("check: the example configuration and its scripts are fine")
    func checkExample() async throws {
        let child = try ChildProcess([binary, "check", "--config", Self.root + "/config/site.yaml"], directory: Self.root)
        #expect(await child.exit(within: 30) == 0, "\(child.output)")
        #expect(child.output.first?.contains("OK") == true)
    }

    @Test("check: every problem at once, the file's and the scripts'")
    func checkProblems() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bad = folder.appendingPathComponent("bad.yaml")
        try """
            site: { limit: { current: 63 } }
            meters: { grid: { driver: no_such_meter, port: 1502 } }
            chargers: [ { id: p01, driver: abb_terra, port: 1510 } ]
            policy: { chain: [ripple, fair_sahre] }
            """.write(to: bad, atomically: true, encoding: .utf8)
        let child = try ChildProcess([binary, "check", "--config", bad.path], directory: Self.root)
        #expect(await child.exit(within: 30) == 1)
        let out = child.output.joined(separator: "\n")
        #expect(out.contains("meters.grid.driver") && out.contains("no driver named 'no_such_meter'"), "\(out)")
        #expect(out.contains("policy.chain[1]") && out.contains("fair_sahre"), "\(out)")
        #expect(out.contains("2 problem(s)"), "\(out)")
    }
}
