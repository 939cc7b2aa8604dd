import Foundation
import FuseboxTesting
import FuseboxTestCases
import FuseboxCore
import Testing

/// Cases/pacing.json: one charger, allocations over time, and what must be written.
struct PacingCase: Decodable, Sendable, CustomStringConvertible {
    struct Step: Decodable, Sendable { var t: Double; var allowed: [Double]; var paced: [Double]; var measured: [Double]? }
    struct Settings: Decodable, Sendable { var ramp_up: Double; var raise_every: Double; var restart_pause: Double; var settle: Double? }
    var name: String
    var min: Double
    var settings: Settings?
    var steps: [Step]
    var description: String { name }

    static func all() -> [PacingCase] { JSONCases.load("Cases/pacing.json") }
}

@Suite("Limit pacing: cut at once, raise slowly")
struct LimitPacerTests {
    /// A parameterized test with no arguments passes silently: this one does not.
    @Test("the case file is there and decodes")
    func casesExist() {
        #expect(!PacingCase.all().isEmpty)
    }

    @Test("pacing cases", arguments: PacingCase.all())
    func pacing(_ c: PacingCase) {
        let settings = c.settings.map {
            LimitPacer.Settings(rampUp: $0.ramp_up, raiseEvery: $0.raise_every, restartPause: $0.restart_pause, settle: $0.settle ?? 10)
        }
        var pacer = LimitPacer(settings: settings ?? LimitPacer.Settings())
        for step in c.steps {
            let chargers = step.allowed.indices.map { i in
                ChargerSnapshot(id: "p\(i)", status: .charging, min: c.min, max: 32, current: step.measured.map { [$0[i]] } ?? [])
            }
            let paced = pacer.pace(step.allowed, chargers: chargers, at: step.t)
            #expect(zip(paced, step.paced).allSatisfy { abs($0 - $1) < 1e-9 },
                    "\(c.name): at t=\(step.t) allowed \(step.allowed), expected \(step.paced), got \(paced)")
        }
    }

    @Test("never above the allocation, never between 0 and min, over random allocations")
    func neverAboveAllowed() {
        var rng = SystemRandomNumberGenerator()
        var pacer = LimitPacer()
        let chargers = (0..<8).map { ChargerSnapshot(id: "c\($0)", status: .charging, min: 6, max: 32) }
        var t = 0.0
        for _ in 0..<5_000 {
            t += Double.random(in: 0.1...3, using: &rng)
            let allowed = chargers.map { _ in Bool.random(using: &rng) ? 0 : Double.random(in: 6...32, using: &rng) }
            let paced = pacer.pace(allowed, chargers: chargers, at: t)
            for (a, p) in zip(allowed, paced) {
                #expect(p <= a + 1e-9)
                #expect(p == 0 || p >= 6)
            }
        }
    }
}
