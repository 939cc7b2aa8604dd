import ArgumentParser
import Foundation
import FuseboxCore
import FuseboxLua

/// Until the Modbus simulator and the controller exist (issues 3 and 4), the
/// demo steps the shipped policy chain against a small in-process site model:
/// six cars on rotated phases behind a 63 A connection, a heat pump that
/// switches on, the ripple signal going to `reduced` and back. Each cycle is
/// checked against the invariants.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the shipped policies on a simulated site and print what they do.")

    @Option(help: "Cycles to run.")
    var cycles: Int = 90

    @Option(help: "Seconds to wait between cycles (0 runs as fast as possible).")
    var pause: Double = 0.05

    @Option(help: "The policy chain, comma-separated.")
    var chain: String = "ripple,fair_share"

    func run() async throws {
        let library = PolicyLibrary.shipped()
        let scripts = try chain.split(separator: ",").map { try library.load(String($0)) }
        let engine = PolicyChain(scripts: scripts, settings: ["pv_surplus": .record([("mode", .string("minpv"))])])
        let rotations: [[Phase]] = [[.l1, .l2, .l3], [.l2, .l3, .l1], [.l3, .l1, .l2], [.l1], [.l2], [.l3]]
        var chargers = (0..<6).map { i in
            ChargerSnapshot(id: "p0\(i + 1)", status: .occupied, phases: rotations[i], max: i < 3 ? 16 : 32,
                            priority: i == 0 ? 1 : 0, current: rotations[i].map { _ in 0 })
        }
        print("fusebox demo: chain \(scripts.map(\.name).joined(separator: " -> ")), 6 cars, 63 A fuse, 2 A margin")
        print("(the Modbus simulator, the controller and the web page on :4000 arrive with the controller issue)")
        print("  t  ripple   grid L1/L2/L3 A      allocation A per car")
        var violations = 0
        for t in 0..<cycles {
            let base = PhaseValues(22, 18, 25).map { p, v in v + (t >= 30 && t < 60 ? 12 : 0) + (p == .l1 ? 3 * sin(Double(t) / 7) : 0) }
            var grid = base
            for c in chargers {
                let m = c.currentOnBuildingPhases
                for p in Phase.allCases { grid[p] += m[p] }
            }
            let ripple: RippleMode = t >= 70 && t < 80 ? .reduced : .normal
            let snapshot = SiteSnapshot(
                time: 1_760_000_000 + Double(t), grid: GridMeasurement(current: grid),
                pv: PVReading(power: 3000, surplus: 1500), limits: SiteLimits(current: PhaseValues(all: 63), margin: 2),
                chargers: chargers, ripple: ripple)
            let outcome = engine.allocate(snapshot)
            violations += InvariantCheck.violations(outcome.allocation, snapshot: snapshot).count
            // The cars follow their new limit within a few seconds; here, by the next cycle.
            for i in chargers.indices {
                let amps = outcome.allocation[i]
                chargers[i].setpoint = amps
                chargers[i].current = chargers[i].phases.map { _ in amps }
                chargers[i].status = amps > 0 ? .charging : .occupied
            }
            if t % 5 == 0 {
                let g = grid.array.map { String(format: "%5.1f", $0) }.joined(separator: " ")
                let a = outcome.allocation.map { String(format: "%4.1f", $0) }.joined(separator: " ")
                let note = outcome.fallback.map { " fallback: \($0)" } ?? ""
                print(String(format: "%3d", t) + "  \(ripple.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(g)    \(a)\(note)")
            }
            if pause > 0 { try await Task.sleep(for: .seconds(pause)) }
        }
        print("invariant violations: \(violations)")
        if violations > 0 { throw Failure(message: "the demo saw \(violations) invariant violations") }
    }
}
