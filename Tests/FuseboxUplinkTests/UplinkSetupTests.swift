import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxSimulation
import FuseboxSimulator
import FuseboxTesting
import FuseboxUplink
import FuseboxYAML
import Testing

/// Checks `condition` every 20 ms until it holds or `seconds` pass: for a change that happens on another task.
func eventually(within seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

@Suite("The uplink set up from the page's Setup, on a running box", .serialized)
struct UplinkSetupTests {
    @Test("an mqtt section saved while cycles run starts the uplink with no restart; a changed one replaces it; removed, it says offline and stops")
    func addedChangedRemoved() async throws {
        let broker = try await Broker()
        try await broker.start()
        let sim = try SimConfig(yaml: """
            site: { noise: 0 }
            chargers: [ { id: p01, make: abb_terra } ]
            cars: [ { charger: p01, arrive: 0s } ]
            """)
        var controller = SiteConfig()
        controller.serial = "T-LIVE"
        controller.limits = SiteLimits(current: PhaseValues(all: 32), margin: 2)
        let run = try SimulatedRun(sim: sim, controller: controller)
        defer { run.stop() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-uplink-setup-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try ConfigYAML.dump(run.addressedConfig.tree).write(toFile: folder + "/site.yaml", atomically: true, encoding: .utf8)
        let (config, tree) = try SiteConfig.read(file: folder + "/site.yaml")
        let setup = SiteSetup(file: folder + "/site.yaml", config: config, tree: tree,
                              built: SiteAssembly.Built(cycle: run.cycle, summary: run.summary, devices: run.devices),
                              pool: run.pool, assembly: run.assembly)
        let store = try HistoryStore(path: folder + "/history.db")
        let runner = CycleRunner(cycle: run.cycle, period: 0.2)
        let service = UplinkService(site: config, cycle: run.cycle, store: store, runner: runner)
        await setup.onApplied { service.reconfigure($0) }
        #expect(service.uplink == nil && service.report() == nil, "no section, no uplink")
        let cycles = Task { try await runner.run() }
        let uplinkTask = Task { try await service.run() }

        func save(_ mqtt: [String: Any]?) async throws -> SiteSetup.Outcome {
            var tree = try #require(try JSONSerialization.jsonObject(with: await setup.document()) as? [String: Any])
            if let mqtt { tree["mqtt"] = mqtt } else { tree.removeValue(forKey: "mqtt") }
            return await setup.save(json: try JSONSerialization.data(withJSONObject: tree), by: "installer")
        }

        let added = try await save(["broker": "mqtt://127.0.0.1:\(broker.port)"])
        #expect(added.status == 200 && added.restartNeeded.isEmpty, "\(added.problems) \(added.restartNeeded)")
        #expect(added.change.contains("uplink mqtt://127.0.0.1:\(broker.port) added"), "\(added.change)")
        #expect(await eventually(within: 10) { service.report()?.connected == true }, "\(String(describing: service.report()))")
        #expect(await eventually(within: 10) { (try? store.lastSequence()) ?? 0 > 5 }, "samples flow")
        let first = try #require(service.uplink)

        let changed = try await save(["broker": "mqtt://127.0.0.1:\(broker.port)", "prefix": "fleet/live-1", "interval": 1])
        #expect(changed.status == 200 && changed.change.contains("uplink mqtt://127.0.0.1:\(broker.port) changed"), "\(changed.change)")
        #expect(await eventually(within: 10) { service.uplink !== first && service.report()?.connected == true })
        #expect(service.report()?.prefix == "fleet/live-1/")
        #expect(!first.client.isConnected, "the replaced connection is closed")

        let removed = try await save(nil)
        #expect(removed.status == 200 && removed.change.contains("uplink removed"), "\(removed.change)")
        #expect(await eventually(within: 10) { service.uplink == nil })
        #expect(service.report() == nil)

        cycles.cancel()
        _ = try? await cycles.value
        uplinkTask.cancel()   // outside a service group, the service waits for a shutdown that never comes
        _ = try? await uplinkTask.value
        await broker.stop()
    }
}
