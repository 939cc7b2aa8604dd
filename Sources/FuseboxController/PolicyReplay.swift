import FuseboxCore
import FuseboxHistory
import FuseboxLua

/// What a policy would have done over recorded history (`fusebox replay`).
///
/// The building's own load is what the meter saw less what the cars drew; the
/// cars then draw what the replayed policy gives them, as far as the record
/// shows they wanted it: a car that charged, or that waited because it was
/// given 0, takes its allocation; a car that drew nothing although it was
/// allowed to (it was full) takes nothing. Cars follow at once, so peaks are
/// those of the allocation itself.
public enum PolicyReplay {
    public struct Violation: Sendable, Codable, Equatable {
        public var time: Double
        public var phase: Int
        public var amps: Double
        public var limit: Double
        /// The building alone was over the limit: no policy could have helped.
        public var buildingAlone: Bool
    }

    public struct Report: Sendable, Codable {
        public var cycles: Int
        public var from: Double
        public var to: Double
        /// Highest grid current per phase under the replayed policy, and as recorded.
        public var peak: [Double]
        public var recordedPeak: [Double]
        public var limit: [Double]
        /// kWh per charger under the replayed policy, and as recorded.
        public var energy: [String: Double]
        public var recordedEnergy: [String: Double]
        /// Jain's fairness index over the chargers that had a car: 1 is perfectly even.
        public var fairness: Double
        public var fallbacks: Int
        public var violations: [Violation]
        public var invariantViolations: [String]
    }

    public static func run(cycles: [HistoryCycle], chargers settings: [ChargerSettingsRecord], chain: PolicyChain,
                           failsafe: FailsafeSettings = FailsafeSettings()) -> Report {
        let byID = Dictionary(settings.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var previous: [String: Double] = [:]
        var energy: [String: Double] = [:], recordedEnergy: [String: Double] = [:]
        var hadCar = Set<String>()
        var peak = PhaseValues.zero, recordedPeak = PhaseValues.zero, limit = PhaseValues.zero
        var violations: [Violation] = []
        var invariants: [String] = []
        var fallbacks = 0

        for (n, c) in cycles.enumerated() {
            let dt = n + 1 < cycles.count ? min(cycles[n + 1].time - c.time, 10) : 1
            let building = c.current - c.evCurrent
            // What each car would draw if given `amps`: see the type's comment.
            func wants(_ s: ChargerSample) -> Bool {
                s.status == .charging || (s.status == .occupied && (s.setpoint ?? 0) <= 0)
            }
            var snapshots: [ChargerSnapshot] = []
            var ev = PhaseValues.zero
            for s in c.chargers {
                let set = byID[s.id]
                let draw = wants(s) ? (previous[s.id] ?? s.current.max() ?? 0) : 0
                for p in s.phases.prefix(s.current.isEmpty ? s.phases.count : max(1, s.current.count)) { ev[p] += draw }
                snapshots.append(ChargerSnapshot(id: s.id, status: s.status, phases: set?.phases ?? s.phases, min: set?.min ?? 6,
                                                 max: set?.max ?? 16, priority: set?.priority ?? 0,
                                                 current: Array(repeating: draw, count: s.phases.count), setpoint: previous[s.id]))
                if s.connected { hadCar.insert(s.id) }
            }
            var grid = GridMeasurement(current: building + ev, voltage: c.voltage)
            grid.age = 0
            let snapshot = SiteSnapshot(time: c.time, grid: grid, limits: SiteLimits(current: c.limit, margin: c.margin),
                                        chargers: snapshots, ripple: c.ripple, failsafe: failsafe)
            let outcome = chain.allocate(snapshot)
            if outcome.fallback != nil { fallbacks += 1 }
            invariants += InvariantCheck.violations(outcome.allocation, snapshot: snapshot).map { "t=\(c.time): \($0)" }

            var replayedEV = PhaseValues.zero
            for (i, s) in c.chargers.enumerated() {
                let amps = outcome.allocation[i]
                previous[s.id] = amps
                let draw = wants(s) ? amps : 0
                let phases = s.phases
                for p in phases { replayedEV[p] += draw }
                energy[s.id, default: 0] += draw * phases.reduce(0) { $0 + c.voltage[$1] } * dt / 3_600_000
                recordedEnergy[s.id, default: 0] += s.power(voltage: c.voltage) * dt / 3_600_000
            }
            let total = building + replayedEV
            for p in Phase.allCases {
                peak[p] = max(peak[p], total[p])
                recordedPeak[p] = max(recordedPeak[p], c.current[p])
                limit[p] = max(limit[p], c.limit[p])
                if total[p] > c.limit[p] + 1e-6 {
                    violations.append(Violation(time: c.time, phase: p.rawValue, amps: total[p], limit: c.limit[p],
                                                buildingAlone: building[p] > c.limit[p]))
                }
            }
        }
        let shares = hadCar.sorted().map { energy[$0] ?? 0 }
        let sum = shares.reduce(0, +), squares = shares.reduce(0) { $0 + $1 * $1 }
        return Report(cycles: cycles.count, from: cycles.first?.time ?? 0, to: cycles.last?.time ?? 0,
                      peak: peak.array, recordedPeak: recordedPeak.array, limit: limit.array,
                      energy: energy, recordedEnergy: recordedEnergy,
                      fairness: squares > 0 ? sum * sum / (Double(shares.count) * squares) : 1,
                      fallbacks: fallbacks, violations: violations, invariantViolations: invariants)
    }
}
