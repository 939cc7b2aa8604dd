import Foundation
import FuseboxController
import FuseboxCore
import FuseboxSimulation
import FuseboxSimulator
import FuseboxTesting
import FuseboxYAML
import Synchronization
import Testing

/// The guided commissioning check against a simulated site, stepped one
/// simulated second per cycle: the check runs as on a box (`SiteSetup`, one
/// cycle at a time), the test only turns the clock.
@Suite("The commissioning check, on a simulated site", .serialized)
struct CommissioningCheckTests {
    /// Three ABB stations wired on rotated phases (p01 L1 L2 L3, p02 L2 L3 L1,
    /// p03 L3 L1 L2), each with a one-phase car. `reversed` mounts the meter's
    /// sensors backwards on those phases; `configured` is the wiring the
    /// configuration claims for each station.
    func check(reversed: String, configured: [String: [Phase]], stations: Bool) async throws -> SiteSetup.CommissioningReport {
        let sim = try SimConfig(yaml: """
            site: { noise: 0, base_load: [8, 8, 8] }
            meter: { \(reversed.isEmpty ? "" : "reversed: " + reversed) }
            chargers: [ { id: p01, make: abb_terra, phases: [1, 2, 3] }, { id: p02, make: abb_terra, phases: [2, 3, 1] },
                        { id: p03, make: abb_terra, phases: [3, 1, 2] } ]
            cars: [ { charger: p01, arrive: 0s, phases: 1, max: 16, wanted: 50 }, { charger: p02, arrive: 0s, phases: 1, max: 16, wanted: 50 },
                    { charger: p03, arrive: 0s, phases: 1, max: 16, wanted: 50 } ]
            """)
        var controller = SiteConfig()
        controller.limits = SiteLimits(current: PhaseValues(all: 63), margin: 2)
        controller.chargers = sim.chargers.map { c in
            SiteConfig.Charger(device: .init(id: c.id, driver: c.make, address: .none, unit: c.unit), max: 16,
                               phases: configured[c.id] ?? c.charger.phases)
        }
        let run = try SimulatedRun(sim: sim, controller: controller)
        defer { run.stop() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-commissioning-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try ConfigYAML.dump(run.addressedConfig.tree).write(toFile: folder + "/site.yaml", atomically: true, encoding: .utf8)
        let (config, tree) = try SiteConfig.read(file: folder + "/site.yaml")
        let setup = SiteSetup(file: folder + "/site.yaml", config: config, tree: tree,
                              built: SiteAssembly.Built(cycle: run.cycle, summary: run.summary, devices: run.devices),
                              pool: run.pool, assembly: run.assembly)
        for _ in 0..<20 { _ = await run.step() }   // the cars charge
        #expect(await setup.startCommissioning(stations: stations, by: "test") != nil)
        #expect(await setup.startCommissioning(stations: stations, by: "test") == nil, "one check at a time")
        for _ in 0..<2000 {
            let record = await run.step()
            #expect(record.invariantViolations.isEmpty, "\(record.invariantViolations)")
            if await setup.commissioning?.state != "running" { break }
        }
        let report = try #require(await setup.commissioning)
        #expect(report.state == "done")
        // Control is back: with the check done, the stations charge again.
        var charging = 0
        for _ in 0..<60 { charging = (await run.step()).snapshot.chargers.filter { $0.current.reduce(0, +) > 5 }.count }
        #expect(charging == 3, "after the check, \(charging) stations charge")
        return report
    }

    static func findings(_ r: SiteSetup.CommissioningReport, _ verdict: CommissioningCheck.Finding.Verdict) -> [String] {
        r.findings.filter { $0.verdict == verdict }.map(\.subject)
    }

    @Test("a correct site passes: every phase realistic, every station where it is configured")
    func correctSite() async throws {
        let report = try await check(reversed: "", configured: [:], stations: true)
        #expect(Self.findings(report, .fix).isEmpty, "\(report.findings)")
        #expect(Set(Self.findings(report, .ok)) == ["L1", "L2", "L3", "p01", "p02", "p03"], "\(report.findings)")
    }

    @Test("a sensor backwards on L2 and a station wired on other phases than configured are each named, with what to do")
    func faultySite() async throws {
        let report = try await check(reversed: "[2]", configured: ["p02": [.l1, .l2, .l3]], stations: true)
        let fix = report.findings.filter { $0.verdict == .fix }
        #expect(fix.map(\.subject).sorted() == ["L2", "p02"], "\(report.findings)")
        #expect(fix.first { $0.subject == "L2" }?.message.contains("backwards") == true)
        let p02 = fix.first { $0.subject == "p02" }?.message ?? ""
        #expect(p02.contains("its L1 is on the building's L2, not L1") && p02.contains("phases: [2, 3, 1]"), "\(p02)")
        #expect(Set(Self.findings(report, .ok)).isSuperset(of: ["L1", "L3", "p01", "p03"]), "\(report.findings)")
    }

    @Test("the readings alone (as after every save) find the backwards sensor without pausing a station")
    func readingsOnly() async throws {
        let report = try await check(reversed: "[2]", configured: [:], stations: false)
        #expect(Self.findings(report, .fix) == ["L2"], "\(report.findings)")
        #expect(report.findings.allSatisfy { $0.subject.hasPrefix("L") }, "no station was tested: \(report.findings)")
    }
}
