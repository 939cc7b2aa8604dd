import Foundation
import FuseboxController
import FuseboxCore
import FuseboxSimulation
import FuseboxSimulator
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
}
