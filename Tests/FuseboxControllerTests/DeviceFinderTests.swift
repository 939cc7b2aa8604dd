import FuseboxController
import FuseboxCore
import FuseboxDevices
import FuseboxSimulation
import FuseboxSimulator
import Testing

@Suite("Finding devices at the addresses an installer typed", .serialized)
struct DeviceFinderTests {
    @Test("addresses: single ones, ranges and networks up to a /24; anything else refused with its entry",
          arguments: [
            (["10.0.0.5"], "10.0.0.5", 1),
            (["10.0.0.5", "10.0.0.5"], "10.0.0.5", 1),
            (["192.168.1.20-22"], "192.168.1.22", 3),
            (["192.168.1.0/24"], "192.168.1.254", 254),
            (["192.168.1.77/30"], "192.168.1.77", 2),
            (["192.168.1.0/23"], "hosts[0]: /23 is 512 addresses; at most a /24 (256) at once", 0),
            (["10.0.0.5", "printer.local"], "hosts[1]: expected an IPv4 address", 0),
            (["10.0.0.256"], "hosts[0]: expected an IPv4 address", 0),
            (["10.0.0.9-3"], "hosts[0]: expected an IPv4 address", 0),
            (["10.0.0.0/24", "10.0.1.0/24"], "hosts: ", 0),
          ])
    func addresses(_ entries: [String], _ expected: String, _ count: Int) {
        do {
            let found = try DeviceFinder.addresses(entries)
            #expect(count > 0, "\(entries): accepted as \(found.count) addresses, expected \(expected)")
            #expect(found.count == count && found.contains(expected), "\(entries): \(found.prefix(5))... (\(found.count))")
        } catch {
            #expect(count == 0 && error.description.hasPrefix(expected), "\(entries): \(error.description)")
        }
    }

    @Test("the simulated site: each make with an identify is recognised on its port and unit, with a proposal; the rest are listed as open")
    func simulatedSite() async throws {
        let sim = try SimConfig(yaml: """
            site: { noise: 0, pv: { peak: 5000, port: 1503, unit: 1 } }
            chargers: [ { id: a, make: abb_terra }, { id: b, make: bender }, { id: c, make: alfen_eve }, { id: d, make: webasto_unite },
                        { id: e, make: phoenix_ev_cc }, { id: f, make: weidmueller_ac_smart } ]
            """)
        let site = try SimulatedSite(config: sim, anyPort: true)
        defer { site.stop() }
        site.tick(1)
        let ports = ["grid", "pv", "a", "b", "c", "d", "e", "f"].compactMap { site.port(of: $0) }
        #expect(ports.count == 8)
        let closed = 1   // nothing listens there
        var request = DeviceFinder.Request(hosts: ["127.0.0.1"], ports: ports + [closed])
        request.takenIDs = ["p01"]
        let report = try await DeviceFinder(drivers: .shipped()).find(request)
        #expect(report.tried == 9)
        #expect(report.open.count == 8, "\(report.open)")
        func found(_ id: String) -> [DeviceFinder.Found] { report.found.filter { $0.port == site.port(of: id) } }
        #expect(found("grid").map(\.driver) == ["sdm630"] && found("grid").first?.place == "meters.grid")
        #expect(found("pv").map(\.driver) == ["sunspec"] && found("pv").first?.place == "meters.pv")
        #expect(found("pv").first?.identity.make == "Fusebox")
        func unit(_ id: String) -> Int? { sim.chargers.first { $0.id == id }?.unit }
        #expect(found("a").map(\.driver) == ["abb_terra"] && found("a").first?.unit == unit("a"))
        #expect(found("b").map(\.driver) == ["bender"] && found("b").first?.unit == unit("b"))
        #expect(found("b").first?.identity.model == "CC613")
        #expect(found("c").map(\.driver) == ["alfen_eve"])
        #expect(found("d").isEmpty, "the Unite has no identify: \(found("d"))")
        #expect(found("e").map(\.driver) == ["phoenix_ev_cc"])
        #expect(found("f").map(\.driver) == ["weidmueller_ac_smart"])
        // Chargers are proposed the next free ids, in port order; meters get none.
        let ids = report.found.filter { $0.kind == "charger" }.compactMap(\.proposal.id)
        #expect(ids == ["p02", "p03", "p04", "p05", "p06"], "\(ids)")
        #expect(report.found.filter { $0.kind == "meter" }.allSatisfy { $0.proposal.id == nil })
    }
}
