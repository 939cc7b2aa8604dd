import Foundation
import FuseboxController
import FuseboxCore
import FuseboxSimulation
import FuseboxSimulator
@testable import FuseboxUplink
import Testing

@Suite("What the uplink publishes, cycle by cycle, on a simulated site")
struct UplinkSamplerTests {
    /// The messages of `cycles` cycles of a two-station site whose first car leaves after a minute.
    func messages(cycles: Int, _ configure: (inout SiteConfig.MQTT) -> Void) async throws -> [UplinkSampler.Message] {
        let sim = try SimConfig(yaml: """
            site: { noise: 0.5, base_load: [8, 8, 8] }
            chargers: [ { id: p01, make: abb_terra }, { id: p02, make: abb_terra } ]
            cars: [ { charger: p01, arrive: 0s, leave: 60s, phases: 3, max: 16, wanted: 50 } ]
            """)
        var controller = SiteConfig()
        controller.limits = SiteLimits(current: PhaseValues(all: 63), margin: 2)
        let run = try SimulatedRun(sim: sim, controller: controller)
        defer { run.stop() }
        var settings = SiteConfig.MQTT()
        configure(&settings)
        var sampler = UplinkSampler(topics: UplinkTopics(prefix: "s/"), settings: settings)
        var out: [UplinkSampler.Message] = []
        for _ in 0..<cycles {
            let r = await run.step()
            out += sampler.messages(for: r, overrides: await run.cycle.overrides())
        }
        return out
    }

    @Test("every cycle by default: grid, ripple and each station once a cycle, in that order, events as they come")
    func everyCycle() async throws {
        let m = try await messages(cycles: 10) { _ in }
        #expect(m.filter { $0.topic == "s/grid" }.count == 10)
        #expect(m.filter { $0.topic == "s/stations/p02" }.count == 10)
        #expect(m.filter { $0.topic == "s/ripple" }.count == 10)
        let sample = try #require(m.first { $0.topic == "s/grid" })
        let grid = try #require(try JSONSerialization.jsonObject(with: sample.payload) as? [String: Any])
        #expect(Set(grid.keys).isSuperset(of: ["time", "current_a", "voltage_v", "budget_a", "limit_a", "margin_a", "failsafe"]), "\(grid.keys)")
        #expect(m.map(\.time) == m.map(\.time).sorted(), "in time order")
    }

    @Test("an interval of 5 s: one sample in five cycles")
    func interval() async throws {
        let m = try await messages(cycles: 20) { $0.interval = 5 }
        #expect(m.filter { $0.topic == "s/grid" }.count == 4)
    }

    @Test("a deadband wider than any change: a sample only at the start and when the heartbeat is due; a status change goes at once")
    func deadband() async throws {
        let m = try await messages(cycles: 75) { $0.deadband = 100; $0.heartbeat = 30 }
        let grid = m.filter { $0.topic == "s/grid" }
        #expect(grid.count == 3, "at 0, 30 and 60 s: \(grid.count)")
        // p01's car leaves at 60 s: its status changes, and that goes at once whatever the deadband.
        let p01 = m.filter { $0.topic == "s/stations/p01" }.compactMap { try? JSONSerialization.jsonObject(with: $0.payload) as? [String: Any] }
        #expect(p01.contains { $0["status"] as? String == "free" }, "\(p01.map { $0["status"] ?? "" })")
    }

    @Test("a car that leaves is a finished session, with its energy, before the station's free sample")
    func session() async throws {
        let m = try await messages(cycles: 75) { _ in }
        let sessions = m.filter { $0.topic == "s/sessions" }
        #expect(sessions.count == 1)
        let first = try #require(sessions.first)
        let s = try #require(try JSONSerialization.jsonObject(with: first.payload) as? [String: Any])
        #expect(s["station"] as? String == "p01")
        #expect((s["energy_kwh"] as? Double ?? 0) > 0.05, "\(s)")
        #expect(((s["end"] as? Double ?? 0) - (s["start"] as? Double ?? 0)) >= 55, "\(s)")
    }
}
