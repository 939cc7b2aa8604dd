import Foundation
import FuseboxTesting
import Testing

/// `fusebox run` beside `fusebox sim`, its uplink on Debian's mosquitto over
/// TLS (a CA the test made), and Tests/Support/mqtt_e2e.py (paho-mqtt, MQTT 5)
/// as the portal and Home Assistant: what is published, discovery, commands
/// and answers, bad commands, the last will when the process is killed, and
/// retained commands after the restart.
@Suite("The uplink end to end: fusebox run, mosquitto with TLS, paho-mqtt", .serialized)
struct UplinkEndToEndTests {
    static let root = Expectation.repositoryRoot(from: #filePath)

    @Test("topics and payloads, discovery, commands and answers, bad commands, the last will, retained commands after a restart")
    func portal() async throws {
        let broker = try await Broker(tls: true)
        try await broker.start()
        let folder = broker.folder
        try """
            site: { noise: 0.2, base_load: [8, 7, 8], start: "12:00", pv: { peak: 6000, port: 1503 } }
            chargers: [ { id: p01, make: abb_terra, max: 16 }, { id: p02, make: alfen_eve, max: 16 } ]
            cars: [ { charger: p01, arrive: 0s, phases: 3, max: 16, wanted: 60 }, { charger: p02, arrive: 0s, phases: 3, max: 16, wanted: 60 } ]
            """.write(toFile: folder + "/sim.yaml", atomically: true, encoding: .utf8)
        let binary = Expectation.fuseboxBinary(from: #filePath)
        let sim = try ChildProcess([binary, "sim", "--config", folder + "/sim.yaml", "--any-port", "--status", "600"], directory: Self.root)
        defer { sim.signal(SIGTERM); _ = sim.waitForExit(timeout: 20) }
        let served = try #require(await sim.lines(through: "ready", within: 60), "fusebox sim: \(sim.errorOutput.suffix(2000))")
        var ports: [String: Int] = [:]
        for line in served {
            let words = line.split(separator: " ")
            guard let name = words.first, let at = words.first(where: { $0.hasPrefix("127.0.0.1:") }),
                  let port = Int(at.dropFirst("127.0.0.1:".count)) else { continue }
            ports[String(name)] = port
        }
        let grid = try #require(ports["grid"]), pv = try #require(ports["pv"]), p01 = try #require(ports["p01"]), p02 = try #require(ports["p02"])
        try """
            site: { name: Uplink e2e, serial: E2E-MQTT, limit: { current: 40, margin: 2 } }
            meters:
              grid: { driver: sdm630, host: 127.0.0.1, port: \(grid), unit: 1 }
              pv: { driver: sunspec, host: 127.0.0.1, port: \(pv), unit: 1 }
            chargers:
              - { id: p01, driver: abb_terra, host: 127.0.0.1, port: \(p01), unit: 1, max: 16 }
              - { id: p02, driver: alfen_eve, host: 127.0.0.1, port: \(p02), unit: 1, max: 16 }
            http: { listen: "127.0.0.1:0" }
            history: { path: \(folder)/history.db }
            mqtt:
              broker: mqtts://127.0.0.1:\(broker.tlsPort ?? 0)
              tls: { ca: \(broker.ca) }
              version: 5
              keepalive: 5s
              discovery: true
            """.write(toFile: folder + "/site.yaml", atomically: true, encoding: .utf8)
        func startBox() async throws -> ChildProcess {
            let box = try ChildProcess([binary, "run", "--config", folder + "/site.yaml", "--status-every", "0"], directory: Self.root)
            #expect(await box.line(containing: "uplink: mqtts://127.0.0.1", within: 60) != nil, "\(box.output) \(box.errorOutput.suffix(2000))")
            return box
        }
        var box = try await startBox()
        let restarted = folder + "/restarted"
        let portal = try ChildProcess(["python3", Self.root + "/Tests/Support/mqtt_e2e.py", "127.0.0.1", String(broker.tlsPort ?? 0), broker.ca,
                                       "fusebox/E2E-MQTT/", "p01,p02", restarted])
        #expect(await portal.line(prefix: "KILL", within: 120) != nil, "\(portal.output) \(portal.errorOutput.suffix(2000)) \(box.output.suffix(20))")
        box.signal(SIGKILL)
        _ = await box.exit(within: 20)
        box = try await startBox()
        _ = FileManager.default.createFile(atPath: restarted, contents: nil)
        let status = await portal.exit(within: 180)
        // The page's status says how the uplink stands (the Overview's Uplink card shows it).
        let line = try #require(await box.line(containing: "web page: http://", within: 30))
        let url = String(line.split(separator: " ").first { $0.hasPrefix("http://") } ?? "")
        let api = try ChildProcess(["python3", Self.root + "/Tests/Support/api_call.py", url, "admin", "E2E-MQTT", "GET", "/api/status"])
        #expect(await api.exit(within: 30) == 0, "\(api.errorOutput)")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(api.output.dropFirst().joined(separator: "\n").utf8)) as? [String: Any])
        let uplink = try #require(body["uplink"] as? [String: Any], "\(body.keys)")
        #expect(uplink["connected"] as? Bool == true && uplink["broker"] as? String == "mqtts://127.0.0.1:\(broker.tlsPort ?? 0)", "\(uplink)")
        #expect(uplink["prefix"] as? String == "fusebox/E2E-MQTT/")
        box.signal(SIGTERM)
        _ = await box.exit(within: 30)
        #expect(status == 0, "\(portal.output.joined(separator: "\n"))\n\(portal.errorOutput.suffix(3000))\n\(box.output.suffix(30).joined(separator: "\n"))")
        #expect(portal.output.filter { $0.hasPrefix("OK ") }.count == 12, "\(portal.output)")
        await broker.stop()
    }
}
