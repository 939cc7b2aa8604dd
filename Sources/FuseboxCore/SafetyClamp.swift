/// Why the clamp changed what a policy asked for.
public struct ClampCorrection: Sendable, Equatable, Codable {
    public enum Reason: String, Sendable, Codable {
        case notANumber = "not a number"
        case negative
        case cannotReceive = "charger cannot receive current"
        case rippleLocked = "ripple locked"
        case aboveMax = "above max"
        case belowMin = "below min"
        case overLimit = "over a limit"
        case meterSilent = "meter silent: fail-safe current"
    }

    public var charger: String
    public var requested: Double
    public var granted: Double
    public var reason: Reason
    /// The constraint that forced an `overLimit` cut.
    public var constraint: String?
}

/// Enforces the invariants of docs/design.md on whatever a policy returned. Swift,
/// never Lua. Nothing here trusts its input: NaN, negatives, unknown chargers and
/// absurd values all end as a valid allocation.
///
/// While the meter is silent (`SiteSnapshot.meterSilent`) the request is set
/// aside: every charger that may get current gets the fail-safe current, the
/// ripple signal still applies, and the phase limits (computed from a stale
/// reading) do not.
///
/// When the requests do not fit, the clamp cuts the lowest priority first and,
/// within one priority, the largest first (the top ones down together), to the
/// charger's min, then to 0. When even 0 for every charger under a limit cannot
/// meet it, every charger under that limit gets 0.
public enum SafetyClamp {
    public struct Result: Sendable, Equatable {
        public var allocation: [Double]
        public var corrections: [ClampCorrection]
    }

    /// Tolerance for the limit checks, A or W. Allocations are later rounded
    /// down by the drivers to what a charger accepts.
    public static let tolerance = 1e-6

    /// `maxima`, when given, lowers chargers' max below their own (the caps of a
    /// policy chain's earlier stages); `budget` may carry more constraints than the
    /// site's own for the same reason.
    public static func apply(_ requested: [Double], snapshot: SiteSnapshot, budget: Budget, maxima: [Double]? = nil) -> Result {
        let chargers = snapshot.chargers
        var a = [Double](repeating: 0, count: chargers.count)
        var corrections: [ClampCorrection] = []
        func correct(_ i: Int, _ asked: Double, _ granted: Double, _ reason: ClampCorrection.Reason, _ constraint: String? = nil) {
            corrections.append(ClampCorrection(charger: chargers[i].id, requested: asked, granted: granted,
                                               reason: reason, constraint: constraint))
        }

        let failsafe = snapshot.meterSilent
        // Per charger: a number, 0 or within [min, max], only where current may flow.
        for i in chargers.indices {
            var r = i < requested.count ? requested[i] : 0
            if failsafe {
                let amps = snapshot.failsafe.current(for: chargers[i])
                if r != amps { correct(i, r, amps, .meterSilent) }
                r = amps
            }
            if !r.isFinite { correct(i, r, 0, .notANumber); continue }
            if r < 0 { correct(i, r, 0, .negative); continue }
            if r == 0 { continue }
            if !budget.eligible[i] {
                correct(i, r, 0, snapshot.isRippleLocked(chargers[i]) ? .rippleLocked : .cannotReceive)
                continue
            }
            var v = r
            let most = maxima.map { Swift.min($0[i], chargers[i].effectiveMax) } ?? chargers[i].effectiveMax
            if v > most { v = most; correct(i, r, v, .aboveMax) }
            if v < chargers[i].min { correct(i, r, 0, .belowMin); v = 0 }
            a[i] = v
        }

        // Limits: cut until every constraint holds or has nothing left to cut.
        let before = a
        var cutBy: [Int: String] = [:]
        var hopeless = Set<Int>()
        // A silent meter leaves only the limits that do not come from its reading.
        let constraints = failsafe ? budget.constraints.filter { $0.kind == .ripple } : budget.constraints
        var guardSteps = 4 * chargers.count * (constraints.count + 1) + 16
        while guardSteps > 0 {
            guardSteps -= 1
            var worst: Int?
            var worstExcess = tolerance
            for (k, constraint) in constraints.enumerated() where !hopeless.contains(k) {
                let excess = constraint.used(by: a) - constraint.available
                if excess > worstExcess { worst = k; worstExcess = excess }
            }
            guard let k = worst else { break }
            let constraint = constraints[k]
            // Contributors of the lowest priority.
            var lowest = Int.max
            for i in constraint.members where a[i] > 0 { lowest = Swift.min(lowest, chargers[i].priority) }
            guard lowest != .max else { hopeless.insert(k); continue }
            var group: [(i: Int, w: Double)] = []
            for (j, i) in constraint.members.enumerated() where a[i] > 0 && chargers[i].priority == lowest {
                group.append((i, constraint.weights[j]))
            }
            // `lowest` came from a member above 0, so the group holds it, and atTop holds the top.
            guard let top = group.map({ a[$0.i] }).max() else { hopeless.insert(k); continue }
            let atTop = group.filter { a[$0.i] >= top - tolerance }
            let next = group.map { a[$0.i] }.filter { $0 < top - tolerance }.max() ?? 0
            let floor = Swift.max(next, atTop.map { chargers[$0.i].min }.max() ?? 0)
            if top > floor + tolerance {
                // Bring the top ones down together, no lower than the next level or their min.
                let weight = atTop.reduce(0.0) { $0 + $1.w }
                let level = Swift.max(floor, top - worstExcess / weight)
                for t in atTop { a[t.i] = Swift.max(chargers[t.i].min, level); cutBy[t.i] = constraint.name }
            } else {
                // Everyone at the top is at (or below) a min they cannot go under: pause one,
                // the last in the site's order, so the outcome is deterministic.
                guard let victim = atTop.map(\.i).max() else { hopeless.insert(k); continue }
                a[victim] = 0
                cutBy[victim] = constraint.name
            }
        }
        // Last resort, should the loop above ever stop early: whatever still
        // breaks a limit is paused.
        for constraint in constraints where constraint.used(by: a) - constraint.available > tolerance {
            for i in constraint.members where a[i] > 0 { a[i] = 0; cutBy[i] = constraint.name }
        }
        for (i, name) in cutBy.sorted(by: { $0.key < $1.key }) where a[i] != before[i] {
            correct(i, before[i], a[i], .overLimit, name)
        }
        return Result(allocation: a, corrections: corrections)
    }
}
