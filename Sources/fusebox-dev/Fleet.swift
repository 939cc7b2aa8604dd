import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxSimulation
import FuseboxSimulator
import FuseboxUplink
import Logging

/// `fusebox-dev fleet`: many sites' uplinks publishing to one broker, for the
/// fleet figures of docs/performance.md (`make fleet` runs it beside Debian's
/// mosquitto and an independent subscriber). One simulated site is stepped
/// once a second on the wall clock and each cycle goes to every uplink, each
/// with its own serial, history file and connection: what is measured is what
/// the uplinks add, the simulated site's own cost measured first and taken off.
struct Fleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run many sites' uplinks against one MQTT broker and print what they cost, as JSON.")

    @Option(help: "The broker's port on 127.0.0.1.")
    var port: Int

    @Option(help: "How many sites.")
    var sites: Int = 100

    @Option(help: "Seconds to publish (one cycle a second).")
    var seconds: Int = 60

    @Option(help: "Seconds of the simulated site alone, measured first.")
    var baseline: Int = 10

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-fleet-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let sim = try SimConfig(yaml: """
            site: { noise: 0.5, base_load: [10, 8, 9], start: "12:00", pv: { peak: 8000, port: 1503 } }
            chargers: [ { id: p01, make: abb_terra }, { id: p02, make: abb_terra }, { id: p03, make: abb_terra }, { id: p04, make: abb_terra } ]
            cars: [ { charger: p01, arrive: 0s }, { charger: p02, arrive: 0s }, { charger: p03, arrive: 20s } ]
            """)
        var controller = SiteConfig()
        controller.limits = SiteLimits(current: PhaseValues(all: 63), margin: 2)
        let run = try SimulatedRun(sim: sim, controller: controller)
        defer { run.stop() }
        // The history files exist on any site: opened before the baseline, so that they are not counted as the uplinks'.
        let stores = try (0..<sites).map { try HistoryStore(path: folder + String(format: "/site-%03d.db", $0)) }

        var number = 0
        func cycle() async -> PublishedCycle {
            let r = await run.step()
            number += 1
            return PublishedCycle(record: r, timing: CycleTiming(started: r.time, work: 0, overrun: false), number: number)
        }
        /// Steps once a second for `n` seconds, handing each cycle to `uplinks`; the CPU seconds used.
        func paced(_ n: Int, _ uplinks: [Uplink]) async throws -> Double {
            let cpu = Self.cpuSeconds()
            let start = ContinuousClock.now
            for k in 1...n {
                let p = await cycle()
                for u in uplinks { await u.take(p) }
                try await Task.sleep(until: start + .seconds(k), clock: .continuous)
            }
            return Self.cpuSeconds() - cpu
        }

        let baselineCPU = try await paced(baseline, [])
        let baselineRSS = Self.residentBytes()

        var uplinks: [Uplink] = []
        for (n, store) in stores.enumerated() {
            var site = run.config
            site.serial = String(format: "site-%03d", n)
            var mqtt = SiteConfig.MQTT()
            mqtt.host = "127.0.0.1"
            mqtt.port = port
            uplinks.append(try Uplink(site: site, settings: mqtt, cycle: run.cycle, store: store))
        }
        let tasks = uplinks.map { u in Task { try await u.run() } }
        for u in uplinks where !(await u.client.wait(upTo: 30) { $0.isConnected }) {
            throw ValidationError("\(u.topics.prefix): not connected to 127.0.0.1:\(port): \(u.client.lastError ?? "no answer")")
        }
        let fleetCPU = try await paced(seconds, uplinks)
        let fleetRSS = Self.residentBytes()
        for u in uplinks { await u.drain(within: 30) }
        let sent = try stores.reduce(Int64(0)) { $0 + (try $1.lastSequence()) }
        let waiting = uplinks.reduce(0) { $0 + $1.state().waiting }
        for t in tasks { t.cancel() }
        for t in tasks { _ = try? await t.value }

        let perSiteCPU = (fleetCPU / Double(seconds) - baselineCPU / Double(baseline)) / Double(sites)
        let report: [String: Any] = [
            "sites": sites, "seconds": seconds, "messages": sent, "messages_per_second": Double(sent) / Double(seconds),
            "waiting_after_drain": waiting,
            "baseline_cpu_percent": 100 * baselineCPU / Double(baseline), "fleet_cpu_percent": 100 * fleetCPU / Double(seconds),
            "uplink_cpu_percent_per_site": 100 * perSiteCPU,
            "rss_baseline_mb": Double(baselineRSS) / 1_048_576, "rss_fleet_mb": Double(fleetRSS) / 1_048_576,
            "uplink_rss_kb_per_site": Double(fleetRSS - baselineRSS) / 1024 / Double(sites),
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
        say(String(decoding: data, as: UTF8.self))
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// VmRSS of /proc/self/status, in bytes.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb * 1024
    }
}
