import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxSimulation
import FuseboxSimulator
import FuseboxTesting
import FuseboxUplink
import Testing

/// On the wall clock, so `make test` runs it in its second pass, alone (WALL_CLOCK in the Makefile).
@Suite("The cycle's timing with the uplink's broker blocked", .serialized)
struct UplinkTimingTests {
    @Test("the broker stops reading mid-run (SIGSTOP): no cycle overruns, the uplink keeps up with the stream, the outbox keeps what waits")
    func blockedBroker() async throws {
        let broker = try await Broker()
        try await broker.start()
        let chargers = (1...10).map { String(format: "{ id: p%02d, make: abb_terra }", $0) }.joined(separator: ", ")
        let cars = (1...10).map { String(format: "{ charger: p%02d, arrive: 0s }", $0) }.joined(separator: ", ")
        let sim = try SimConfig(yaml: "site: { noise: 0.3 }\nchargers: [ \(chargers) ]\ncars: [ \(cars) ]\n")
        var controller = SiteConfig()
        controller.serial = "T-BLOCK"
        controller.limits = SiteLimits(current: PhaseValues(all: 125), margin: 2)
        let run = try SimulatedRun(sim: sim, controller: controller)
        defer { run.stop() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-uplink-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try HistoryStore(path: folder + "/history.db")
        var mqtt = SiteConfig.MQTT()
        mqtt.host = "127.0.0.1"
        mqtt.port = broker.port
        // 12 messages a cycle, 10 cycles a second: the window (500) fills within five seconds of the broker stopping.
        let runner = CycleRunner(cycle: run.cycle, period: 0.1, deadline: 0.1, limit: 150)
        var site = run.config
        site.mqtt = mqtt
        let service = UplinkService(site: site, cycle: run.cycle, store: store, runner: runner)
        let uplink = try #require(service.uplink, "made with the service")
        let task = Task { try await service.run() }
        #expect(await uplink.client.wait(upTo: 20) { $0.isConnected }, "\(uplink.client.lastError ?? "")")
        let cycles = Task { try await runner.run() }
        try await Task.sleep(for: .seconds(3))
        broker.pause()
        try await cycles.value
        let stats = runner.statistics
        let state = uplink.state()
        let inFlight = uplink.client.inFlight
        broker.resume()
        task.cancel()   // outside a service group, the service waits for a shutdown that never comes
        _ = try? await task.value
        await broker.stop()

        print("blocked broker: \(stats.cycles) cycles of 100 ms, \(stats.overruns) overruns, cycle work p50 \(String(format: "%.1f", stats.quantile(0.5) * 1000)) ms, "
              + "p99 \(String(format: "%.1f", stats.quantile(0.99) * 1000)) ms; \(state.waiting) messages waiting in the outbox, \(inFlight) in flight")
        #expect(stats.cycles == 150)
        #expect(stats.overruns == 0, "p99 \(stats.quantile(0.99))")
        #expect(stats.dropped["uplink"] == nil, "the uplink fell behind the stream: \(stats.dropped)")
        #expect(inFlight <= Uplink.window + 100, "the client's queue is bounded: \(inFlight)")
        #expect(state.waiting > 500, "what the blocked broker did not take waits in the outbox: \(state)")
    }
}
