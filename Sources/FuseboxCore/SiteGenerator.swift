/// Builds synthetic sites for benchmarks and property tests: n chargers of mixed
/// phase counts and rotations, cars in every state, a grid with some load, and
/// for larger sites sub-distributions of ten chargers each. Deterministic for a
/// seed.
public struct SiteGenerator: Sendable {
    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// SplitMix64: small, fast, reproducible on every platform.
    public struct Random: Sendable {
        var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
        public mutating func range(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }
        public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
        public mutating func chance(_ p: Double) -> Bool { unit() < p }
        public mutating func pick<T>(_ items: [T]) -> T { items[int(items.count)] }
    }

    static let rotations: [[Phase]] = [[.l1, .l2, .l3], [.l2, .l3, .l1], [.l3, .l1, .l2]]

    public func site(chargers n: Int, gridLimit: Double = 0, circuits: Bool? = nil) -> SiteSnapshot {
        var rng = Random(seed: seed)
        var chargers: [ChargerSnapshot] = []
        for i in 0..<n {
            let phases: [Phase] = rng.chance(0.25) ? [rng.pick(Phase.allCases)] : SiteGenerator.rotations[i % 3]
            let status: ChargerStatus = rng.chance(0.7) ? .charging : rng.pick([.free, .occupied, .charging])
            let max = rng.pick([16.0, 32.0])
            let current = status == .charging ? phases.map { _ in rng.range(0, max) } : phases.map { _ in 0.0 }
            chargers.append(ChargerSnapshot(
                id: SiteGenerator.id(i), status: status, phases: phases, min: 6, max: max,
                priority: rng.int(3), current: current, setpoint: rng.chance(0.8) ? rng.range(6, max) : nil,
                sessionEnergy: rng.range(0, 40), connectedFor: rng.range(0, 36000)))
        }
        var ev = PhaseValues.zero
        for c in chargers {
            let m = c.currentOnBuildingPhases
            for p in Phase.allCases { ev[p] += m[p] }
        }
        let base = PhaseValues(rng.range(20, 60), rng.range(20, 60), rng.range(20, 60))
        // A connection that fits about a third of the demand, so sharing matters.
        let limit = gridLimit > 0 ? gridLimit : Swift.max(63, (Double(n) * 16 / 3).rounded())
        var circuitsList: [Circuit] = []
        if circuits ?? (n >= 20) {
            let ids = chargers.map(\.id)
            stride(from: 0, to: n, by: 10).forEach { start in
                let members = Array(ids[start..<Swift.min(n, start + 10)])
                circuitsList.append(Circuit(id: "sub\(start / 10)", limit: PhaseValues(all: 63), chargers: members))
            }
        }
        return SiteSnapshot(
            time: 1_700_000_000, grid: GridMeasurement(current: base.map { p, v in v + ev[p] }),
            pv: PVReading(power: 8000, surplus: rng.range(0, 20000)),
            limits: SiteLimits(current: PhaseValues(all: limit), margin: 2),
            circuits: circuitsList, chargers: chargers)
    }
}

extension SiteGenerator {
    /// "c0007": ids that sort in the order they were made.
    public static func id(_ i: Int) -> String {
        let digits = String(i)
        return "c" + String(repeating: "0", count: Swift.max(0, 4 - digits.count)) + digits
    }
}
