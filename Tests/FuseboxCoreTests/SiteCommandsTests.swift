import Foundation
import FuseboxCore
import FuseboxTesting
import FuseboxTestCases
import Testing

/// Cases/commands.json: commands kept before a restart, the time and the
/// chargers after it, what is restored and how many are left out.
struct CommandsCase: Decodable, Sendable, CustomStringConvertible {
    struct Charger: Decodable, Sendable { var id: String; var priority: Int }
    var name: String
    var saved: SiteCommands
    var now: Double
    var chargers: [Charger]
    var kept: SiteCommands
    var dropped: Int
    var description: String { name }

    static func all() -> [CommandsCase] { JSONCases.load("Cases/commands.json") }
}

@Suite("Commands set from outside, across a restart")
struct SiteCommandsTests {
    @Test("the case file is there and decodes")
    func casesExist() {
        #expect(!CommandsCase.all().isEmpty)
    }

    @Test("restorable", arguments: CommandsCase.all())
    func restorable(_ c: CommandsCase) {
        let (kept, dropped) = c.saved.restorable(at: c.now, chargers: c.chargers.map { ($0.id, $0.priority) })
        #expect(kept == c.kept)
        #expect(dropped.count == c.dropped, "\(dropped)")
    }

    @Test("no end and an end both survive JSON")
    func roundTrip() throws {
        var c = SiteCommands()
        c.ripple = .init(mode: .locked, until: .infinity)
        c.siteLimit = .init(amps: 16, until: 1e9)
        c.chargerLimits["c1"] = .init(amps: 8, until: .infinity)
        let back = try JSONDecoder().decode(SiteCommands.self, from: JSONEncoder().encode(c))
        #expect(back == c)
    }
}
