import Foundation
import FuseboxTesting
import Testing

/// `fusebox run` with OCPP stations behind a simulated site's grid meter
/// (`OCPPRunSite`): independent stations of the `ocpp` package (Tests/Support/
/// ocpp_*.py) as real ones behave, `fusebox sim`'s stations, a billing backend
/// behind the proxy, and a station asking to join, accepted in a browser.
@Suite("An OCPP station driven by fusebox run", .serialized)
struct OCPPRunTests {
    static let root = Expectation.repositoryRoot(from: #filePath)

    @Test("the limit as a profile (in watts where a station takes only watts), lowered at a load step, and again after a reconnect")
    func limits() async throws {
        let site = try await OCPPRunSite(name: "OCPP run", serial: "E2E-OCPP", fuse: 50, stations: """
            chargers: [ { id: cp1, driver: ocpp, max: 16 }, { id: cp2, driver: ocpp, max: 16 } ]
            ocpp: { listen: "127.0.0.1:0" }
            """)
        defer { site.stop() }
        let (box, port, url) = (site.box, site.port, site.url)

        let station = try ChildProcess(["python3", Self.root + "/Tests/Support/ocpp_limits.py", "ws://127.0.0.1:\(port)", "cp1", "90"])
        // cp2 takes only watts.
        let wattsOnly = try ChildProcess(["python3", Self.root + "/Tests/Support/ocpp_limits.py", "ws://127.0.0.1:\(port)", "cp2", "90", "--watts"])
        #expect(await station.line(prefix: "READY", within: 60) != nil, "\(station.output) \(station.errorOutput.suffix(2000)) \(box.output.suffix(20))")
        #expect(await wattsOnly.line(prefix: "READY", within: 60) != nil, "\(wattsOnly.output) \(wattsOnly.errorOutput.suffix(2000))")
        // A load step: the site's limit falls to 4 A, below what the building alone draws: the station is cut.
        let api = try ChildProcess(["python3", Self.root + "/Tests/Support/api_call.py", url, "admin", "E2E-OCPP", "PUT", "/api/site/limit",
                                    #"{"amps": 4, "ttl": 600}"#])
        #expect(await api.exit(within: 30) == 0, "\(api.output) \(api.errorOutput)")
        #expect(await station.exit(within: 90) == 0, "\(station.output.joined(separator: "\n"))\n\(station.errorOutput.suffix(2000))\n\(box.output.suffix(20).joined(separator: "\n"))")
        #expect(await wattsOnly.exit(within: 90) == 0, "\(wattsOnly.output.joined(separator: "\n"))\n\(wattsOnly.errorOutput.suffix(2000))")
        let watts = wattsOnly.output.filter { $0.hasPrefix("LIMIT ") }
        #expect(!watts.isEmpty && watts.allSatisfy { $0.contains(" W connector") }, "\(wattsOnly.output)")
        // 230 V x 3 phases x at most 16 A.
        #expect(watts.compactMap { Double($0.split(separator: " ")[1]) }.allSatisfy { $0 <= 11_040 }, "\(watts)")
        #expect(wattsOnly.output.filter { $0.hasPrefix("REFUSED ") }.count == 2, "amperes tried at stack levels 1 and 0, then watts: \(wattsOnly.output)")
        let limits = station.output.filter { $0.hasPrefix("LIMIT ") }
        #expect(limits.allSatisfy { $0.contains("TxDefaultProfile 1 A connector 0") }, "\(limits)")
        let amps = limits.compactMap { Double($0.split(separator: " ")[1]) }
        #expect(amps.allSatisfy { $0 <= 16 }, "never above the station's max: \(amps)")
        #expect(station.output.contains("LOWERED") && station.output.contains("AGAIN"), "\(station.output)")
        // The station has gone: from the next cycle on, the cycle counts it as a charger that does not answer.
        var body: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(15)
        repeat {
            let status = try ChildProcess(["python3", Self.root + "/Tests/Support/api_call.py", url, "admin", "E2E-OCPP", "GET", "/api/chargers/cp1"])
            #expect(await status.exit(within: 30) == 0)
            body = (try? JSONSerialization.jsonObject(with: Data(status.output.dropFirst().joined(separator: "\n").utf8)) as? [String: Any]) ?? [:]
            if body["responding"] as? Bool == false { break }
            try await Task.sleep(for: .milliseconds(500))
        } while ContinuousClock.now < deadline
        #expect(body["responding"] as? Bool == false, "\(body)")
    }

    @Test("stations as found in the field: one that refuses stack level 1, one that never answers, one that ignores its limit, one that drops off mid-transaction, a whole transaction recorded as a session, one started remotely")
    func quirks() async throws {
        let site = try await OCPPRunSite(name: "OCPP quirks", serial: "E2E-QUIRKS", fuse: 90, stations: """
            chargers:
              - { id: cp1, driver: ocpp, max: 16 }
              - { id: cp2, driver: ocpp, max: 16 }
              - { id: cp3, driver: ocpp, max: 16 }
              - { id: cp4, driver: ocpp, max: 32 }
              - { id: cp5, driver: ocpp_abb_terra_ac, max: 16 }
              - { id: cp6, driver: ocpp, max: 16, settings: { remote_start: FREE-VEND, availability: true } }
              - { id: cp7, driver: ocpp, max: 16 }
            ocpp: { listen: "127.0.0.1:0", timeout: 2 }
            """)
        defer { site.stop() }
        let (port, url) = (site.port, site.url)
        func station(_ id: String, _ mode: String) throws -> ChildProcess {
            try ChildProcess(["python3", Self.root + "/Tests/Support/ocpp_quirks.py", "ws://127.0.0.1:\(port)", id, mode, "20"])
        }
        func get(_ path: String) async throws -> Any? { try await site.json(path) }
        let stack0 = try station("cp1", "stack0"), silent = try station("cp2", "silent")
        let ignore = try station("cp3", "ignore"), drop = try station("cp4", "drop"), session = try station("cp5", "session")
        let freeVend = try station("cp6", "freevend"), flood = try station("cp7", "flood")

        // A car plugged in at a station that waits for an authorization: Fusebox starts the transaction with the site's tag;
        // switched off, the station's transaction is stopped and it is made Inoperative; switched on, Operative again.
        #expect(await freeVend.line(prefix: "TRANSACTION ", within: 30) != nil, "\(freeVend.output) \(freeVend.errorOutput.suffix(2000))")
        #expect(freeVend.output.contains("REMOTE START FREE-VEND"), "\(freeVend.output)")
        let off = try ChildProcess(["python3", Self.root + "/Tests/Support/api_call.py", url, "admin", "E2E-QUIRKS", "PUT", "/api/chargers/cp6/enabled", #"{"enabled": false}"#])
        #expect(await off.exit(within: 30) == 0, "\(off.output)")
        #expect(await freeVend.line(prefix: "AVAILABILITY Inoperative", within: 15) != nil, "\(freeVend.output)")
        #expect(freeVend.output.contains { $0.hasPrefix("REMOTE STOP ") }, "\(freeVend.output)")
        let on = try ChildProcess(["python3", Self.root + "/Tests/Support/api_call.py", url, "admin", "E2E-QUIRKS", "PUT", "/api/chargers/cp6/enabled", #"{"enabled": true}"#])
        #expect(await on.exit(within: 30) == 0, "\(on.output)")
        #expect(await freeVend.line(prefix: "AVAILABILITY Operative", within: 15) != nil, "\(freeVend.output)")

        // Drops off mid-transaction: from then on it is not answering, and the limit it had stays reserved for it.
        #expect(await drop.line(prefix: "DROPPED", within: 60) != nil, "\(drop.output) \(drop.errorOutput.suffix(2000))")
        let lastLimit = try #require(drop.output.last { $0.hasPrefix("DROPPED at ") }.flatMap { Double($0.split(separator: " ")[2]) })
        // Below its max, so that what is kept for it is its limit, not its max.
        #expect(lastLimit > 0 && lastLimit < 32, "\(drop.output)")
        var cp4: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(15)
        repeat {
            cp4 = try await get("/api/chargers/cp4") as? [String: Any] ?? [:]
            if cp4["responding"] as? Bool == false { break }
            try await Task.sleep(for: .milliseconds(500))
        } while ContinuousClock.now < deadline
        #expect(cp4["responding"] as? Bool == false, "\(cp4)")
        #expect(abs((cp4["reserved"] as? Double ?? -1) - lastLimit) < 0.05, "its last limit, \(lastLimit) A, stays reserved: \(cp4)")

        // A transaction from start to stop: a session in the history, with the energy the station counted.
        #expect(await session.line(prefix: "STOPPED", within: 60) != nil, "\(session.output) \(session.errorOutput.suffix(2000))")
        var sessions: [[String: Any]] = []
        let recorded = ContinuousClock.now + .seconds(20)
        repeat {
            sessions = try await get("/api/sessions?from=0&to=4000000000&charger=cp5") as? [[String: Any]] ?? []
            if sessions.contains(where: { $0["end"] is Double }) { break }
            try await Task.sleep(for: .milliseconds(500))
        } while ContinuousClock.now < recorded
        let closed = sessions.filter { $0["end"] is Double }
        #expect(closed.count == 1 && abs((closed.first?["energy"] as? Double ?? 0) - 3.5) < 1e-6, "\(sessions)")
        // ABB Terra AC's driver: stack level 0 from the start, never refused.
        #expect(session.output.contains { $0.hasPrefix("LIMIT ") } && !session.output.contains { $0.hasPrefix("REFUSED ") }
                && session.output.filter { $0.hasPrefix("LIMIT ") }.allSatisfy { $0.hasSuffix("stack 0") }, "\(session.output)")

        // 1,000 calls at once from one station: each answered, while the others go on (their checks below).
        #expect(await flood.exit(within: 60) == 0 && flood.output.contains { $0.hasPrefix("FLOOD answered 1000 of 1000") },
                "\(flood.output) \(flood.errorOutput.suffix(2000))")
        for p in [stack0, silent, ignore, session, freeVend] { #expect(await p.exit(within: 60) == 0, "\(p.output) \(p.errorOutput.suffix(2000))") }
        // Refused stack level 1 once, then took every limit at 0; told what to measure, and asked for its status.
        #expect(stack0.output.filter { $0.hasPrefix("REFUSED ") }.count == 1, "\(stack0.output)")
        let taken = stack0.output.filter { $0.hasPrefix("LIMIT ") }
        #expect(!taken.isEmpty && taken.allSatisfy { $0.hasSuffix(" A stack 0") }, "\(stack0.output)")
        #expect(stack0.output.contains("CONFIG MeterValuesSampledData=Current.Import,Energy.Active.Import.Register"), "\(stack0.output)")
        #expect(stack0.output.contains("CONFIG MeterValueSampleInterval=10") && stack0.output.contains("TRIGGER StatusNotification"), "\(stack0.output)")
        #expect(stack0.output.contains("SCHEDULE"), "the station's schedule asked after a profile: \(stack0.output)")
        // An earlier central system's default profiles cleared before Fusebox's first; its configuration read.
        let clear = stack0.output.firstIndex(of: "CLEAR TxDefaultProfile")
        let first = stack0.output.firstIndex { $0.hasPrefix("LIMIT ") || $0.hasPrefix("REFUSED ") }
        #expect(clear != nil && first != nil && clear! < first!, "\(stack0.output)")
        #expect(stack0.output.contains { $0.hasPrefix("GETCONFIG ") && $0.contains("ChargeProfileMaxStackLevel") }, "\(stack0.output)")
        // Never answers: its calls went out and were dropped.
        #expect(silent.output.contains("IGNORED SetChargingProfile"), "\(silent.output)")

        let listed = try await get("/api/ocpp/stations") as? [[String: Any]] ?? []
        let cp1 = listed.first { $0["id"] as? String == "cp1" }
        #expect((cp1?["configuration"] as? [String: String])?["ChargeProfileMaxStackLevel"] == "8" && cp1?["vendor"] as? String == "Test",
                "\(listed)")
        let events = try await get("/api/events?limit=500") as? [[String: Any]] ?? []
        func said(_ id: String, _ text: String) -> Bool {
            events.contains { ($0["subject"] as? String) == id && (($0["message"] as? String) ?? "").contains(text) }
        }
        // Its limit's call outlasts the cycle's wait: it counts as not answering while the call runs.
        #expect(said("cp2", "no answer to SetChargingProfile within 2 s") || said("cp2", "still busy with a call of an earlier cycle"), "\(events.filter { ($0["subject"] as? String) == "cp2" })")
        #expect(said("cp3", "its schedule says 16 A: it has not applied it") || said("cp3", "given 0 until it follows"),
                "\(events.filter { ($0["subject"] as? String) == "cp3" })")
        // Gone with a call of ours in flight, it first counts as busy with it, then as not connected.
        #expect(said("cp4", "not connected (OCPP)") || said("cp4", "still busy with a call of an earlier cycle"), "\(events.filter { ($0["subject"] as? String) == "cp4" })")
    }

    @Test("fusebox sim's OCPP stations connect to fusebox run like real ones: limited by profiles, their cars charge within their limits")
    func simulatedStations() async throws {
        // One simulator holds the site (its meter sees the stations' cars): its stations connect to the
        // controller's endpoint on a port chosen here, and retry each second until it is up.
        let ocppPort = freeTCPPort()
        let site = try await OCPPRunSite(name: "OCPP sim", serial: "E2E-OSIM", fuse: 40, stations: """
            chargers:
              - { id: o1, driver: ocpp, max: 16 }
              - { id: o2, driver: ocpp, max: 16, phases: [2] }
              - { id: o3, driver: ocpp_alfen, max: 32, phases: [3, 1, 2], settings: { auth_key: k-o3 } }
            ocpp: { listen: "127.0.0.1:\(ocppPort)" }
            """, sim: """
            site: { noise: 0, base_load: [8, 8, 8] }
            chargers:
              - { id: o1, make: ocpp, phases: [1, 2, 3], max: 16 }
              - { id: o2, make: ocpp_abb_terra_ac, phases: [2, 3, 1], max: 16 }
              - { id: o3, make: ocpp_alfen, phases: [3, 1, 2], max: 32, key: k-o3 }
            cars:
              - { charger: o1, arrive: 0s, phases: 3, max: 16, wanted: 40 }
              - { charger: o2, arrive: 0s, phases: 1, max: 16, wanted: 40 }
              - { charger: o3, arrive: 0s, phases: 3, max: 32, wanted: 40 }
            ocpp: { interval: 2 }
            """, simArguments: ["--ocpp", "ws://127.0.0.1:\(ocppPort)"], statusEvery: 5)
        defer { site.stop() }
        let (sim, box, url) = (site.sim, site.box, site.url)
        #expect(site.served.contains { $0.contains("o1    ocpp station connecting to ws://127.0.0.1:\(ocppPort)/o1") }, "\(site.served)")

        var chargers: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(40)
        repeat {
            let call = try ChildProcess(["python3", Self.root + "/Tests/Support/api_call.py", url, "admin", "E2E-OSIM", "GET", "/api/chargers"])
            #expect(await call.exit(within: 30) == 0)
            chargers = (try? JSONSerialization.jsonObject(with: Data(call.output.dropFirst().joined(separator: "\n").utf8))) as? [[String: Any]] ?? []
            // Charging, and drawing what it was given: a car starts at the station's max until its first limit takes effect.
            let following = chargers.filter {
                let current = ($0["current"] as? [Double])?.max() ?? 0
                return $0["responding"] as? Bool == true && $0["status"] as? String == "charging" && current > 1
                    && current <= ($0["limit"] as? Double ?? 0) + 1
            }
            if following.count == 3 { break }
            try await Task.sleep(for: .milliseconds(500))
        } while ContinuousClock.now < deadline
        for c in chargers {
            let current = (c["current"] as? [Double])?.max() ?? 0, limit = c["limit"] as? Double ?? 0
            #expect(c["responding"] as? Bool == true && c["status"] as? String == "charging" && current > 1,
                    "\(c)\n\(box.output.suffix(40).joined(separator: "\n"))\n\(sim.output.suffix(10).joined(separator: "\n"))")
            #expect(current <= limit + 1, "\(c)")
        }
        #expect(chargers.count == 3, "\(chargers)")
    }

    @Test("a proxy in front of a billing backend (the ocpp package both sides): messages unchanged and in order, the lower limit in force, queued while the backend is away")
    func proxy() async throws {
        let backend = freeTCPPort()
        let site = try await OCPPRunSite(name: "OCPP proxy", serial: "E2E-PROXY", fuse: 40, stations: """
            chargers: [ { id: px1, driver: ocpp, max: 12, settings: { upstream: "ws://127.0.0.1:\(backend)/ocpp" } } ]
            ocpp: { listen: "127.0.0.1:0", timeout: 3 }
            """)
        defer { site.stop() }
        let (box, port) = (site.box, site.port)
        let both = try ChildProcess(["python3", Self.root + "/Tests/Support/ocpp_proxy.py", "ws://127.0.0.1:\(port)", "\(backend)", "px1"])
        #expect(await both.exit(within: 150) == 0,
                "\(both.output.joined(separator: "\n"))\n\(both.errorOutput.suffix(3000))\n\(box.output.suffix(30).joined(separator: "\n"))")
        #expect(both.output.filter { $0.hasPrefix("OK ") }.count == 6, "\(both.output)")
    }

    @Test("a station the site does not know asks to join: Pending, on the endpoint's list for the installer; added through the Setup, it is accepted and limited")
    func selfRegistration() async throws {
        let site = try await OCPPRunSite(name: "OCPP join", serial: "E2E-JOIN", fuse: 40, stations: """
            chargers: [ { id: cp1, driver: ocpp, max: 16 } ]
            ocpp: { listen: "127.0.0.1:0", self_registration: true }
            """)
        defer { site.stop() }
        let (port, url) = (site.port, site.url)
        func api(_ method: String, _ path: String, _ body: String? = nil) async throws -> (Int, Data) { try await site.api(method, path, body) }

        let joiner = try ChildProcess(["python3", Self.root + "/Tests/Support/ocpp_register.py", "ws://127.0.0.1:\(port)", "newcomer", "60"])
        #expect(await joiner.line(prefix: "PENDING", within: 30) != nil, "\(joiner.output) \(joiner.errorOutput.suffix(2000))")
        // On the endpoint's list, for the installer: not configured, Pending, with what it said of itself.
        let (listed, listBody) = try await api("GET", "/api/ocpp/stations")
        let stations = (try? JSONSerialization.jsonObject(with: listBody)) as? [[String: Any]] ?? []
        let entry = stations.first { $0["id"] as? String == "newcomer" }
        #expect(listed == 200 && entry?["configured"] as? Bool == false && entry?["registration"] as? String == "Pending"
                && entry?["vendor"] as? String == "Joiner" && entry?["firmware"] as? String == "1.2.3", "\(stations)")
        // The installer adds it on the page, in a real browser: listed under "asking to join", "Add as newcomer", saved.
        let browser = try ChildProcess(["python3", Self.root + "/Tests/Support/ocpp_join_browser.py", url, "E2E-JOIN",
                                        Self.root + "/test-artifacts/browser", "newcomer"])
        #expect(await browser.exit(within: 120) == 0, "\(browser.output.joined(separator: "\n"))\n\(browser.errorOutput.suffix(2000))")
        #expect(browser.output.filter { $0.hasPrefix("OK ") }.count == 4, "\(browser.output)")
        // Asked to boot again at once, it is accepted, and gets its limit.
        #expect(await joiner.exit(within: 60) == 0, "\(joiner.output) \(joiner.errorOutput.suffix(2000))")
        #expect(joiner.output.contains("TRIGGER BootNotification") && joiner.output.contains("ACCEPTED"), "\(joiner.output)")
        #expect(joiner.output.contains { $0.hasPrefix("LIMIT ") }, "\(joiner.output)")
        let (_, afterBody) = try await api("GET", "/api/ocpp/stations")
        let after = (try? JSONSerialization.jsonObject(with: afterBody)) as? [[String: Any]] ?? []
        #expect(after.first { $0["id"] as? String == "newcomer" }?["configured"] as? Bool == true, "\(after)")
    }
}
