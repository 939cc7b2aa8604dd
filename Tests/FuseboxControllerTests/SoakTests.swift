import Foundation
import FuseboxSimulation
import FuseboxSoak
import FuseboxSimulator
import FuseboxTesting
import Testing

/// The short soak of `make test`: one simulated day of the demo site (a cycle
/// per 15 simulated seconds, to fit the suite's time) with everything a day
/// brings; `fusebox-dev soak --days 7` is the long one (docs/reliability.md).
@Suite("Soak")
struct SoakTests {
    @Test("a simulated day: no invariant broken, the meter outage caught, every hourly driver reload taken, history within retention")
    func day() async throws {
        let root = Expectation.repositoryRoot(from: #filePath)
        let sim = try SimConfig.load(file: root + "/config/sim.yaml")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-soak-test-\(UUID().uuidString).db").path
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        var settings = Soak.Settings(historyPath: path)
        settings.days = 1
        settings.period = 15
        settings.retention = 6 * 3600
        settings.overrunsFail = false   // wall-clock speed is the week's to show (docs/reliability.md), not a test's
        let report = try await Soak(sim: sim, settings: settings).run()
        print(String(format: "soak: %d cycles in %.1f s, rss %.1f -> %.1f MB, history %d raw samples (bound %d), %d sessions, %.1f kWh, over fuse %.0f s",
                     report.cycles, report.wallSeconds, report.rssMB.first ?? 0, report.rssMB.last ?? 0, report.rawSamples,
                     report.rawSamplesBound, report.sessions, report.energyKWh, report.longestOverFuse))
        #expect(report.failures.isEmpty, "\(report.failures.joined(separator: "\n"))")
        // The day happened as planned, so the checks above had something to check.
        #expect(report.cycles == 86_400 / 15)
        #expect(report.meterOutages == 1 && report.failsafeEntered == 1)
        #expect(report.driverReloads == 23)
        #expect(report.rippleChanges >= 4)   // reduced, back to normal, locked, back to normal
        #expect(report.sessions >= 6 && report.energyKWh > 50)
        #expect(report.rawSamples >= Int(settings.retention / settings.period) - 1)   // pruned, not emptied
        #expect(report.rssMB.count == 24)
    }
}
