import Foundation
import FuseboxController
import FuseboxCore
import FuseboxSimulation
import FuseboxSimulator
import FuseboxTesting
import FuseboxYAML
import Synchronization
import Testing

/// A configuration changed while the cycles run on the wall clock, against a
/// simulated site over loopback Modbus: saved, refused, restored, with the
/// file and its versions on disk.
@Suite("The configuration, changed live", .serialized)
struct SiteSetupTests {
    @Test("config/site.yaml written out as a tree and read back is the same configuration")
    func roundTrip() throws {
        let root = Expectation.repositoryRoot(from: #filePath)
        let (original, _) = try SiteConfig.read(file: root + "/config/site.yaml")
        let text = try ConfigYAML.dump(original.tree)
        let again = try SiteConfig(yaml: text)
        #expect(SiteConfig.changes(from: original, to: again) == "nothing changed", "\(text)")
        #expect(original.period == again.period && original.history == again.history && original.control == again.control)
        #expect(original.rippleInputs == again.rippleInputs && original.ripple == again.ripple)
        #expect(original.policyDirectory == again.policyDirectory && original.driverDirectory == again.driverDirectory)
    }

    /// Three ABB stations with cars behind a 32 A fuse, its file written by hand.
    func site() throws -> (SimulatedRun, SiteSetup, String) {
        let sim = try SimConfig(yaml: """
            site: { noise: 0 }
            chargers: [ { id: p01, make: abb_terra }, { id: p02, make: abb_terra }, { id: p03, make: abb_terra } ]
            cars: [ { charger: p01, arrive: 0s }, { charger: p02, arrive: 0s }, { charger: p03, arrive: 0s } ]
            """)
        var controller = SiteConfig()
        controller.limits = SiteLimits(current: PhaseValues(all: 32), margin: 2)
        controller.control.restartPause = 0
        let run = try SimulatedRun(sim: sim, controller: controller)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-setup-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let file = folder + "/site.yaml"
        let handWritten = "# Fuse agreed with the utility on 2026-11-02: keep 32 A.\n" + (try ConfigYAML.dump(run.addressedConfig.tree))
        try handWritten.write(toFile: file, atomically: true, encoding: .utf8)
        let (config, tree) = try SiteConfig.read(file: file)
        let setup = SiteSetup(file: file, config: config, tree: tree,
                              built: SiteAssembly.Built(cycle: run.cycle, summary: run.summary, devices: run.devices),
                              pool: run.pool, assembly: run.assembly)
        return (run, setup, handWritten)
    }

    static func json(_ setup: SiteSetup, _ change: (inout [String: Any]) -> Void) async throws -> Data {
        var tree = try #require(try JSONSerialization.jsonObject(with: await setup.document()) as? [String: Any])
        change(&tree)
        return try JSONSerialization.data(withJSONObject: tree)
    }

    @Test("saved while cycles run: it takes over at the next cycle with none missed; a bad one is refused and the one in force stays; an earlier version comes back whole")
    func liveChanges() async throws {
        let (run, setup, handWritten) = try site()
        defer { run.stop() }
        let runner = CycleRunner(cycle: run.cycle, period: 0.5)
        let published = runner.subscribe(label: "test", buffer: 1000)
        let running = Task { try await runner.run() }

        // The fuse lowered and p03 removed.
        let lowered = try await Self.json(setup) { tree in
            var site = tree["site"] as? [String: Any] ?? [:]
            site["limit"] = ["current": 20, "margin": 2]
            tree["site"] = site
            tree["chargers"] = (tree["chargers"] as? [[String: Any]] ?? []).filter { $0["id"] as? String != "p03" }
        }
        let saved = await setup.save(json: lowered, by: "installer")
        #expect(saved.status == 200, "\(saved.problems)")
        let appliedAt = try #require(saved.applied)
        #expect(saved.change == "site.limit.current 32/32/32 A -> 20/20/20 A; p03 removed, by installer", "\(saved.change)")
        let fileAfterSave = try String(contentsOfFile: setup.file, encoding: .utf8)
        #expect(fileAfterSave.contains("current: 20"))

        // Out of range: refused with the key and the message `fusebox check` gives; nothing changes.
        let tooMuch = try await Self.json(setup) { tree in
            var chargers = tree["chargers"] as? [[String: Any]] ?? []
            chargers[0]["max"] = 100
            tree["chargers"] = chargers
        }
        let refused = await setup.save(json: tooMuch, by: "installer")
        #expect(refused.status == 422)
        #expect(refused.problems == ["chargers[0].max: expected a number from 0.0 to 80.0, got 100"], "\(refused.problems)")

        // A wrong port: the device is read first and does not answer; nothing changes.
        let wrongPort = try await Self.json(setup) { tree in
            var chargers = tree["chargers"] as? [[String: Any]] ?? []
            chargers[1]["port"] = 1
            tree["chargers"] = chargers
        }
        let silent = await setup.save(json: wrongPort, by: "installer")
        #expect(silent.status == 409)
        #expect(silent.problems.first?.hasPrefix("chargers[1].port: ") == true, "\(silent.problems)")
        #expect(silent.tests.first?.likelyCause == "port")
        #expect(try String(contentsOfFile: setup.file, encoding: .utf8) == fileAfterSave, "a refused configuration is not written")
        #expect(await setup.inForce.limits.current == PhaseValues(all: 20))

        // The hand-written first version back, comments and all.
        let versions = setup.versions.list()
        #expect(versions.map(\.number) == [1, 2])
        #expect(try setup.versions.text(of: 1) == handWritten)
        let restored = await setup.restore(1, by: "installer")
        #expect(restored.status == 200, "\(restored.problems)")
        let restoredAt = try #require(restored.applied)
        #expect(try String(contentsOfFile: setup.file, encoding: .utf8) == handWritten)
        #expect(setup.versions.list().map(\.number) == [1, 2, 3])

        // A few cycles more, then stop and look at every one.
        let last = restoredAt + 1
        var records: [PublishedCycle] = []
        for await p in published {
            records.append(p)
            if p.record.time >= last { break }
        }
        running.cancel()
        _ = try? await running.value
        #expect(records.map(\.number) == Array(1...records.count), "no cycle missing")
        #expect(runner.statistics.overruns == 0)
        for p in records {
            #expect(p.record.invariantViolations.isEmpty, "cycle \(p.number): \(p.record.invariantViolations)")
            let ids = p.record.snapshot.chargers.map(\.id)
            let fuse = p.record.snapshot.limits.current.l1
            if p.record.time < appliedAt {
                #expect(ids == ["p01", "p02", "p03"] && fuse == 32)
            } else if p.record.time < restoredAt {
                #expect(ids == ["p01", "p02"] && fuse == 20, "cycle \(p.number) at \(p.record.time): \(ids), \(fuse) A")
                #expect(p.record.allocation.reduce(0, +) <= 18 * 1.0001, "within the lowered fuse: \(p.record.allocation)")
            } else {
                #expect(ids == ["p01", "p02", "p03"] && fuse == 32)
            }
        }
        let applied = records.first { $0.record.time == appliedAt }
        #expect(applied?.record.events.contains { $0.kind == .configChanged && $0.message.contains("by installer") } == true)
    }

    @Test("SIGHUP's path: the file changed by hand is read again; a broken one is refused and the one in force stays")
    func reloadFile() async throws {
        let (run, setup, handWritten) = try site()
        defer { run.stop() }
        let runner = CycleRunner(cycle: run.cycle, period: 0.5)
        let running = Task { try await runner.run() }
        defer { running.cancel() }

        try handWritten.replacingOccurrences(of: "current: 32", with: "current: -5").write(toFile: setup.file, atomically: true, encoding: .utf8)
        let broken = await setup.reloadFile(by: "SIGHUP")
        #expect(broken.status == 422)
        #expect(broken.problems.contains { $0.hasPrefix("site.limit.current: expected") }, "\(broken.problems)")
        #expect(await setup.inForce.limits.current == PhaseValues(all: 32))

        // A SIGHUP with the file as it runs: nothing to take over, no event.
        try handWritten.write(toFile: setup.file, atomically: true, encoding: .utf8)
        let same = await setup.reloadFile(by: "SIGHUP")
        #expect(same.status == 200 && same.change == "nothing changed" && same.applied == nil, "\(same.change)")

        try handWritten.replacingOccurrences(of: "current: 32", with: "current: 25").write(toFile: setup.file, atomically: true, encoding: .utf8)
        let reloaded = await setup.reloadFile(by: "SIGHUP")
        #expect(reloaded.status == 200, "\(reloaded.problems)")
        #expect(reloaded.change.hasPrefix("site.limit.current 32/32/32 A -> 25/25/25 A"), "\(reloaded.change)")
        #expect(await setup.inForce.limits.current == PhaseValues(all: 25))
    }
}
