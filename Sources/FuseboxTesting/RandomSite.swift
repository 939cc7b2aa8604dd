import FuseboxCore

/// Random, often hostile, sites for property tests: any number of chargers in any
/// state, rotated and single-phase, silent ones, nested circuits, a power limit,
/// the ripple signal, a grid over its fuse or exporting.
public enum RandomSite {
    public typealias Random = SiteGenerator.Random

    public static func snapshot(_ rng: inout Random) -> SiteSnapshot {
        let n = rng.int(13)
        var chargers: [ChargerSnapshot] = []
        for i in 0..<n {
            let phaseCount = rng.pick([1, 1, 2, 3, 3, 3])
            var phases = Phase.allCases
            for k in stride(from: 2, to: 0, by: -1) { phases.swapAt(k, rng.int(k + 1)) }
            phases = Array(phases.prefix(phaseCount))
            let min = rng.pick([6.0, 6.0, 8.0, 0.0, 10.0])
            let max = Swift.max(min, rng.pick([6.0, 10.0, 16.0, 32.0, 63.0]))
            chargers.append(ChargerSnapshot(
                id: "r\(i)", status: rng.pick(ChargerStatus.allCases), phases: phases, min: min, max: max,
                cableMax: rng.chance(0.2) ? rng.range(0, 40) : nil, priority: rng.int(4) - 1,
                current: phases.map { _ in rng.chance(0.3) ? 0 : rng.range(-2, 40) },
                setpoint: rng.chance(0.6) ? rng.range(0, 40) : nil,
                responding: rng.chance(0.85)))
        }
        func randomCircuits(_ pool: inout [String], depth: Int, rng: inout Random) -> [Circuit] {
            var out: [Circuit] = []
            let count = depth > 2 ? 0 : rng.int(3)
            for k in 0..<count {
                var mine: [String] = []
                while !pool.isEmpty && rng.chance(0.5) { mine.append(pool.removeLast()) }
                let children = randomCircuits(&pool, depth: depth + 1, rng: &rng)
                out.append(Circuit(id: "d\(depth)c\(k)", limit: PhaseValues(rng.range(0, 63), rng.range(0, 63), rng.range(0, 63)),
                                   margin: rng.range(0, 3), chargers: mine, circuits: children,
                                   load: rng.chance(0.3) ? PhaseValues(all: rng.range(0, 20)) : .zero))
            }
            return out
        }
        var pool = chargers.map(\.id)
        let circuits = randomCircuits(&pool, depth: 0, rng: &rng)
        let gridCurrent = PhaseValues(rng.range(-40, 90), rng.range(-40, 90), rng.range(-40, 90))
        let voltage = rng.chance(0.1) ? PhaseValues(0, 230, 0) : PhaseValues(rng.range(210, 250), rng.range(210, 250), rng.range(210, 250))
        return SiteSnapshot(
            time: rng.range(0, 2e9),
            grid: GridMeasurement(current: gridCurrent, voltage: voltage, age: rng.chance(0.1) ? rng.range(0, 20) : 0),
            pv: rng.chance(0.5) ? PVReading(power: rng.range(0, 20000), surplus: rng.range(-5000, 20000)) : nil,
            limits: SiteLimits(current: PhaseValues(all: rng.pick([16, 25, 32, 63, 100])), margin: rng.range(0, 5),
                               power: rng.chance(0.3) ? rng.range(0, 60000) : nil),
            circuits: circuits, chargers: chargers,
            ripple: rng.pick(RippleMode.allCases),
            rippleSettings: RippleSettings(group: rng.chance(0.5) ? chargers.filter { _ in rng.chance(0.5) }.map(\.id) : nil,
                                           reducedPower: rng.chance(0.5) ? rng.range(0, 20000) : nil),
            failsafe: FailsafeSettings(meterTimeout: rng.pick([1, 5, 10]), current: rng.pick([0, 0, 6, 8, 10])))
    }

    /// What a broken or malicious policy might ask for.
    public static func hostileRequest(_ rng: inout Random, count: Int) -> [Double] {
        let length = rng.chance(0.1) ? rng.int(count + 2) : count
        return (0..<length).map { _ in
            rng.pick([.nan, .infinity, -.infinity, -1, -0.0, 0, 1e-12, 5.999, 6, rng.range(0, 70), 1e308,
                      .greatestFiniteMagnitude, rng.range(0, 20), rng.range(6, 32)])
        }
    }
}
