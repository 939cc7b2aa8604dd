import Foundation
import FuseboxController
import FuseboxCore
import FuseboxDevices
import FuseboxSimulation
import FuseboxSimulator
import FuseboxTesting
import Testing

@Suite("The cycle on the wall clock")
struct CycleRunnerTests {
    func tinySite() throws -> SimulatedRun {
        let sim = try SimConfig(yaml: """
            site: { noise: 0 }
            chargers: [ { id: p01, make: abb_terra } ]
            cars: [ { charger: p01, arrive: 0s } ]
            """)
        var controller = SiteConfig()
        controller.limits = SiteLimits(current: PhaseValues(all: 32), margin: 2)
        return try SimulatedRun(sim: sim, controller: controller)
    }

    @Test("a reader that falls behind loses the oldest cycles, counted; overruns are counted and reported as an event, not queued")
    func dropsAndOverruns() async throws {
        let run = try tinySite()
        defer { run.stop() }
        // A deadline no cycle can meet, and a reader that reads nothing until the end.
        let runner = CycleRunner(cycle: run.cycle, period: 0.02, deadline: 0.000_001, limit: 12)
        let slow = runner.subscribe(label: "slow", buffer: 2)
        let all = runner.subscribe(label: "all", buffer: 100)
        try await runner.run()
        let stats = runner.statistics
        #expect(stats.cycles == 12 && stats.overruns == 12)
        #expect(stats.dropped["slow"] == 10, "\(stats.dropped)")
        #expect(stats.dropped["all"] == nil)
        var kept: [Int] = []
        for await p in slow { kept.append(p.number) }
        #expect(kept == [11, 12], "the newest are kept")
        var overrunEvents = 0
        var numbers: [Int] = []
        for await p in all {
            numbers.append(p.number)
            overrunEvents += p.record.events.filter { $0.kind == .overrun }.count
        }
        #expect(numbers == Array(1...12))
        // The first overrun is reported at once (in the next cycle's record); the rest of the minute is counted silently.
        #expect(overrunEvents == 1)
        #expect(runner.finalEvents.contains { $0.kind == .stopped })
    }

    /// Three ABB chargers with cars; p02 runs `driver` from a site folder of its own.
    func siteWithDriver(_ name: String, source: String, deadline: Double?, slowAnswers: Bool = false) throws -> (SimulatedRun, String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-drivers-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try source.write(toFile: folder + "/\(name).lua", atomically: true, encoding: .utf8)
        let sim = try SimConfig(yaml: """
            site: { noise: 0 }
            chargers: [ { id: p01, make: abb_terra }, { id: p02, make: abb_terra\(slowAnswers ? ", fault: slow, answer_delay: 150ms" : "") }, { id: p03, make: abb_terra } ]
            cars: [ { charger: p01, arrive: 0s }, { charger: p02, arrive: 0s }, { charger: p03, arrive: 0s } ]
            """)
        var controller = SiteConfig()
        controller.limits = SiteLimits(current: PhaseValues(all: 63), margin: 2)
        controller.driverDirectory = folder
        controller.control.deviceDeadline = deadline
        controller.control.restartPause = 0
        controller.chargers = sim.chargers.map { c in
            SiteConfig.Charger(device: .init(id: c.id, driver: c.id == "p02" ? name : "abb_terra", address: .none, unit: c.unit),
                               max: 16, phases: c.charger.phases)
        }
        return (try SimulatedRun(sim: sim, controller: controller), folder)
    }

    /// Six cycles of `run` on the wall clock (a 1 s period unless given), and what each published.
    static func sixCycles(_ run: SimulatedRun, period: Double = 1) async throws -> (CycleRunner, [PublishedCycle]) {
        let runner = CycleRunner(cycle: run.cycle, period: period, limit: 6)
        let all = runner.subscribe(label: "all", buffer: 100)
        try await runner.run()
        var published: [PublishedCycle] = []
        for await p in all { published.append(p) }
        return (runner, published)
    }

    static let abbTerra = (try? String(contentsOfFile: Expectation.repositoryRoot(from: #filePath) + "/drivers/abb_terra.lua", encoding: .utf8)) ?? ""

    @Test("a driver that takes its whole 5 s budget on every poll: the other stations are regulated every cycle at a 1 s period (issue 16, finding 3)")
    func slowDriverDoesNotHoldTheCycle() async throws {
        // A station that answers each read 150 ms late, and a driver that reads
        // it again and again until the sandbox stops it: 5 s of every poll
        // (with little CPU, so that the rest of the suite runs on).
        let slow = Self.abbTerra.replacingOccurrences(of: "name = \"abb_terra\"", with: "name = \"slow_abb\"")
            .replacingOccurrences(of: "  poll = function(dev)\n", with: "  poll = function(dev)\n    while true do dev:read_holding(0x400A, 4) end\n")
        #expect(slow.contains("while true do"), "the driver was not made slow")
        let (run, folder) = try siteWithDriver("slow_abb", source: slow, deadline: 0.4, slowAnswers: true)
        defer { run.stop(); try? FileManager.default.removeItem(atPath: folder) }
        let (runner, published) = try await Self.sixCycles(run)

        #expect(published.count == 6)
        // Waiting for the slow poll, each cycle took 5 s: six overruns of a 1 s period.
        #expect(runner.statistics.overruns == 0)
        for p in published {
            let byID = Dictionary(uniqueKeysWithValues: p.record.snapshot.chargers.map { ($0.id, $0) })
            #expect(byID["p01"]?.responding == true && byID["p03"]?.responding == true, "cycle \(p.number): \(p.record.errors)")
            #expect(byID["p02"]?.responding == false, "cycle \(p.number): the slow charger answered")
            #expect(p.timing.work < 1, "cycle \(p.number) took \(p.timing.work) s")
        }
        // Regulated: the answering chargers got their limits written (a setpoint) from the first cycle on.
        for p in published.dropFirst() {
            let written = p.record.snapshot.chargers.filter { $0.id != "p02" }.map(\.setpoint)
            #expect(written.allSatisfy { $0 != nil }, "cycle \(p.number): \(written)")
        }
        let named = published.flatMap(\.record.events).filter { $0.kind == .deviceError && $0.subject == "p02" }
        #expect(named.contains { $0.message.contains("deadline") }, "\(named)")
    }

    @Test("a driver's dry run writes nothing to the live station, and a refused one leaves it as it was (issue 16, finding 3)")
    func dryRunWritesNothing() async throws {
        let (run, folder) = try siteWithDriver("abb_copy", source: Self.abbTerra.replacingOccurrences(of: "name = \"abb_terra\"", with: "name = \"abb_copy\""),
                                               deadline: nil)
        defer { run.stop(); try? FileManager.default.removeItem(atPath: folder) }
        for _ in 0..<3 { _ = await run.step() }
        let before = run.site.chargers.first { $0.id == "p02" }?.device.limit
        // An init that writes 7 A to the limit register, then a poll that fails: refused.
        let hostile = """
            return { name = "abb_copy", kind = "charger",
              init = function(dev) dev:write_registers(0x4100, fusebox.encode(7000, "uint32")) end,
              poll = function(dev) return nil, "refuse me" end,
              apply = function(dev, amps) return true end }
            """
        let results = await run.cycle.reloadDriver("abb_copy") { try DriverScript(source: hostile, origin: "hostile.lua") }
        guard case .failure(let e)? = results["p02"] else { Issue.record("the reload was taken: \(results)"); return }
        #expect(e.description.contains("refuse me"))
        let after = run.site.chargers.first { $0.id == "p02" }?.device.limit
        #expect(after == before && after != 7, "the dry run wrote \(String(describing: after)) A (before: \(String(describing: before)))")
        // A good new version is taken; its init then runs for real, with its writes, before the next poll.
        let good = """
            return { name = "abb_copy", kind = "charger",
              init = function(dev) dev:write_registers(0x4100, fusebox.encode(7000, "uint32")) end,
              poll = function(dev) return { status = "charging", current = { 0, 0, 0 } } end,
              apply = function(dev, amps) return true end }
            """
        let taken = await run.cycle.reloadDriver("abb_copy") { try DriverScript(source: good, origin: "good.lua") }
        guard case .success? = taken["p02"] else { Issue.record("the good version was refused: \(taken)"); return }
        #expect(run.site.chargers.first { $0.id == "p02" }?.device.limit != 7, "the dry run of the good version wrote")
        _ = await run.step()
        #expect(run.site.chargers.first { $0.id == "p02" }?.device.limit == 7, "its init did not run for real after it was taken")
    }

    @Test("a driver upload whose dry run takes its whole 5 s budget does not hold the cycle: no overrun, the others regulated (issue 16, finding 3)")
    func driverDryRunBesideTheCycle() async throws {
        let (run, folder) = try siteWithDriver("abb_copy", source: Self.abbTerra.replacingOccurrences(of: "name = \"abb_terra\"", with: "name = \"abb_copy\""),
                                               deadline: 0.4, slowAnswers: true)
        defer { run.stop(); try? FileManager.default.removeItem(atPath: folder) }
        let runner = CycleRunner(cycle: run.cycle, period: 1, limit: 6)
        let all = runner.subscribe(label: "all", buffer: 100)
        // Reads the slow station until the sandbox stops it, then is refused.
        let hostile = """
            return { name = "abb_copy", kind = "charger",
              init = function(dev) while true do assert(dev:read_holding(0x400A, 4)) end end,
              poll = function(dev) return nil, "never" end,
              apply = function(dev, amps) return true end }
            """
        async let cycles: Void = runner.run()
        let results = await run.cycle.reloadDriver("abb_copy") { try DriverScript(source: hostile, origin: "hostile.lua") }
        try await cycles
        guard case .failure(let e)? = results["p02"] else { Issue.record("the hostile driver was taken: \(results)"); return }
        // Its reads stopped with its budget (the sandbox checks time only between
        // instructions, and a driver waiting on slow reads runs few: it took 15 to
        // 30 s before the I/O stopped too).
        #expect(e.description.contains("time budget is spent"), "\(e)")
        var published: [PublishedCycle] = []
        for await p in all { published.append(p) }
        #expect(published.count == 6)
        #expect(runner.statistics.overruns == 0, "the dry run held the cycle")
        for p in published {
            let answering = p.record.snapshot.chargers.filter { $0.id != "p02" }.allSatisfy(\.responding)
            #expect(answering, "cycle \(p.number): \(p.record.errors)")
        }
    }

    @Test("a driver whose write takes its whole budget: the cycle does not wait for the write, and the others are regulated (issue 16, finding 3)")
    func slowWriteDoesNotHoldTheCycle() async throws {
        // Polls as the ABB does; every write reads the slow station until its budget is spent.
        let slowWrite = Self.abbTerra.replacingOccurrences(of: "name = \"abb_terra\"", with: "name = \"slow_write\"")
            .replacingOccurrences(of: "  apply = function(dev, amps)\n", with: "  apply = function(dev, amps)\n    while true do assert(dev:read_holding(0x400A, 4)) end\n")
        #expect(slowWrite.contains("while true do"), "the driver's write was not made slow")
        let (run, folder) = try siteWithDriver("slow_write", source: slowWrite, deadline: 0.4, slowAnswers: true)
        defer { run.stop(); try? FileManager.default.removeItem(atPath: folder) }
        // A late poll and a late write take 0.8 s: a period of 1.5 s leaves a busy machine
        // (chromium beside it in the suite) its margin; the write's budget is 5 s.
        let (runner, published) = try await Self.sixCycles(run, period: 1.5)
        #expect(published.count == 6)
        #expect(runner.statistics.overruns == 0, "a write held the cycle")
        #expect(published.flatMap(\.record.errors).contains { $0.contains("p02") && $0.contains("no answer to its write") },
                "\(published.flatMap(\.record.errors))")
        for p in published {
            let answering = p.record.snapshot.chargers.filter { $0.id != "p02" }.allSatisfy { $0.responding }
            #expect(answering, "cycle \(p.number): \(p.record.errors)")
        }
        for p in published.dropFirst() {
            #expect(p.record.snapshot.chargers.filter { $0.id != "p02" }.allSatisfy { $0.setpoint != nil }, "cycle \(p.number)")
        }
    }
}
