import Foundation
import FuseboxSimulation
import Testing

private let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scenarios").path

private func scenarios() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
}

/// Each file in Scenarios/ runs the controller and the simulated site together
/// in simulated time and checks its properties over the whole run (the format:
/// docs/scenarios.md). Serialized: each run polls its devices over loopback,
/// and two at once only make both slower.
@Suite("Control scenarios from Scenarios/*.json", .serialized)
struct ScenarioTests {
    @Test("the scenario files are there")
    func present() {
        #expect(scenarios().count >= 8)
    }

    @Test("scenario", arguments: scenarios())
    func scenario(_ file: String) async throws {
        let scenario = try Scenario.load(file: folder + "/" + file)
        let report = try await scenario.run()
        #expect(report.cycles > 0)
        print(String(format: "scenario %@: %d cycles, grid over the fuse at most %.0f s in a row, %.1f kWh to cars, %.2f kWh of it imported",
                     file, report.cycles, report.longestOverFuse, report.energy, report.evImport))
        #expect(report.failures.isEmpty, "\(scenario): \(report.failures.prefix(8).joined(separator: "\n"))\nerrors seen: \(report.errors.prefix(8))")
    }
}
