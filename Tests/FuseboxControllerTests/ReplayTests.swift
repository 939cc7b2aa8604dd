import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxLua
import FuseboxTesting
import Testing

/// Three cars on a site with room for 21 A: replayed under fair_share they share
/// it evenly; under priority the first car takes most of it. From t=100 to 110
/// the building alone is over the fuse.
@Suite("Replay of recorded history")
struct ReplayTests {
    static let root = Expectation.repositoryRoot(from: #filePath)

    func history() async throws -> HistoryStore {
        let store = try HistoryStore(path: FileManager.default.temporaryDirectory.appendingPathComponent("replay-\(UUID().uuidString).db").path)
        try store.saveChargers([
            ChargerSettingsRecord(id: "p01", phases: [.l1, .l2, .l3], min: 6, max: 16, priority: 2),
            ChargerSettingsRecord(id: "p02", phases: [.l1, .l2, .l3], min: 6, max: 16, priority: 0),
            ChargerSettingsRecord(id: "p03", phases: [.l1, .l2, .l3], min: 6, max: 16, priority: 0),
        ])
        let cycles = (0..<300).map { k -> HistoryCycle in
            let building = (100..<110).contains(k) ? 70.0 : 40.0
            let chargers = ["p01", "p02", "p03"].map { ChargerSample(id: $0, status: .charging, current: [7, 7, 7], setpoint: 7, energy: 0) }
            return HistoryCycle(time: 1_000_000 + Double(k), current: PhaseValues(all: building + 21), limit: PhaseValues(all: 63), margin: 2,
                                chargers: chargers)
        }
        try await store.write(cycles)
        return store
    }

    func replay(_ policy: String, _ store: HistoryStore) throws -> PolicyReplay.Report {
        let library = PolicyLibrary(directories: [Self.root + "/policies"])
        return PolicyReplay.run(cycles: try store.cycles(from: 0, to: 2_000_000), chargers: try store.chargers(),
                                chain: PolicyChain(scripts: [try library.load(policy)]))
    }

    @Test("fair_share: even energy (Jain's index 1), peaks within the limit but for the building's own overload")
    func fairShare() async throws {
        let report = try replay("fair_share", try await history())
        #expect(report.cycles == 300)
        #expect(report.fairness > 0.999, "\(report.fairness)")
        #expect(report.fallbacks == 0 && report.invariantViolations.isEmpty)
        #expect(report.violations.count == 30, "10 cycles x 3 phases: \(report.violations.count)")
        #expect(report.violations.allSatisfy { $0.buildingAlone && $0.time >= 1_000_100 && $0.time < 1_000_110 })
        #expect(report.peak.allSatisfy { $0 >= 70 }, "the building's own 70 A is the peak: \(report.peak)")
        let outside = report.energy.values.reduce(0, +)
        #expect(outside > 0)
    }

    @Test("priority: the first car takes more, so the index falls below fair_share's")
    func priority() async throws {
        let store = try await history()
        let fair = try replay("fair_share", store)
        let prio = try replay("priority", store)
        #expect(prio.energy["p01"]! > prio.energy["p02"]! * 1.5, "\(prio.energy)")
        #expect(prio.fairness < fair.fairness - 0.05, "priority \(prio.fairness), fair_share \(fair.fairness)")
    }
}
