/// Equal sharing under linear limits: the one implementation behind the native
/// fallback and every sharing helper a policy calls (`fusebox.fill`, `fits`,
/// `fill_and_fits`, `fill_in_turn`; docs/policies.md).
///
/// 1. Admission: candidates, in the order given, are let in at their minimum
///    (plus any start margin) while every limit they touch still has room; the
///    rest wait at 0.
/// 2. Rising: everyone admitted rises together along one level L (each at
///    clamp(L, min, max)); a limit that fills freezes its members, a charger
///    that reaches its max stops; the others keep rising.
/// Cost: O(members of all limits + events x limits), with one sort of the
/// admitted chargers by min and one by max.
///
/// A value type with no shared state: each call of a helper builds its own.
public struct WaterFill: Sendable {
    let lower: [Double]
    let upper: [Double]
    let available: [Double]
    /// What each limit carries so far: fixed amps, reservations, admitted chargers.
    var used: [Double]
    // Each limit's members, and each charger's limits, as flat lists with offsets.
    let limitStart: [Int], limitMembers: [Int]
    let start: [Int], touchK: [Int], touchW: [Double]
    public private(set) var allocation: [Double]
    var listed: [Bool], held: [Bool], rising: [Bool], frozen: [Bool]
    var slope: [Double]
    var admitted: [Int] = []
    let epsilon = 1e-9

    /// `members[t]` (0-based charger indices) and `weights[t]` for t in
    /// `limitStart[k]..<limitStart[k + 1]` belong to limit k. Nil when the lists
    /// do not fit together (an index out of range, offsets that do not rise),
    /// a min or max is not finite, an available is NaN or a weight is negative
    /// or not finite.
    public init?(lower: [Double], upper: [Double], available: [Double],
                 limitStart: [Int], members: [Int], weights: [Double]) {
        let n = lower.count
        guard upper.count == n, limitStart.count == available.count + 1, members.count == weights.count,
              limitStart.first == 0, limitStart.last == members.count,
              zip(limitStart, limitStart.dropFirst()).allSatisfy({ $0 <= $1 }),
              members.allSatisfy({ $0 >= 0 && $0 < n }),
              (lower + upper).allSatisfy(\.isFinite), !available.contains(where: \.isNaN),
              weights.allSatisfy({ $0.isFinite && $0 >= 0 })
        else { return nil }
        self.init(checkedLower: lower, upper: upper, available: available, limitStart: limitStart, members: members, weights: weights)
    }

    /// The same from the budget's constraints. What could not be shared is
    /// left out: a charger whose min or max is not finite gets nothing, a limit
    /// that names no charger of the site binds nothing here (the clamp still
    /// holds every limit).
    public init(constraints: [Constraint], lower: [Double], upper: [Double]) {
        let n = lower.count
        var usableLower = lower, usableUpper = [Double](repeating: 0, count: n)
        for i in 0..<n {
            if lower[i].isFinite && i < upper.count && upper[i].isFinite {
                usableUpper[i] = upper[i]
            } else {
                usableLower[i] = 0
            }
        }
        var limitStart = [0], available: [Double] = []
        var members: [Int] = [], weights: [Double] = []
        let total = constraints.reduce(0) { $0 + $1.members.count }
        members.reserveCapacity(total)
        weights.reserveCapacity(total)
        limitStart.reserveCapacity(constraints.count + 1)
        available.reserveCapacity(constraints.count)
        for c in constraints where !c.available.isNaN && c.members.count == c.weights.count {
            var usable = true
            for j in c.members.indices where !(c.members[j] >= 0 && c.members[j] < n && c.weights[j] >= 0 && c.weights[j].isFinite) {
                usable = false
                break
            }
            guard usable else { continue }
            members.append(contentsOf: c.members)
            weights.append(contentsOf: c.weights)
            available.append(c.available)
            limitStart.append(members.count)
        }
        self.init(checkedLower: usableLower, upper: usableUpper,
                  available: available, limitStart: limitStart, members: members, weights: weights)
    }

    private init(checkedLower lower: [Double], upper: [Double], available: [Double],
                 limitStart: [Int], members: [Int], weights: [Double]) {
        let n = lower.count, nk = available.count
        var start = [Int](repeating: 0, count: n + 1)
        for i in members { start[i + 1] += 1 }
        for i in 0..<n { start[i + 1] += start[i] }
        var touchK = [Int](repeating: 0, count: members.count)
        var touchW = [Double](repeating: 0, count: members.count)
        var next = start
        for k in 0..<nk {
            for t in limitStart[k]..<limitStart[k + 1] {
                let i = members[t]
                touchK[next[i]] = k
                touchW[next[i]] = weights[t]
                next[i] += 1
            }
        }
        self.lower = lower
        self.upper = upper
        self.available = available
        used = [Double](repeating: 0, count: nk)
        self.limitStart = limitStart
        limitMembers = members
        self.start = start
        self.touchK = touchK
        self.touchW = touchW
        allocation = [Double](repeating: 0, count: n)
        listed = [Bool](repeating: false, count: n)
        held = listed
        rising = listed
        frozen = listed
        slope = [Double](repeating: 0, count: nk)
    }

    /// Fills `candidates` in that order: the native fallback's share.
    public static func fill(
        constraints: [Constraint], candidates: [Int], lower: [Double], upper: [Double]
    ) -> [Double] {
        var fill = WaterFill(constraints: constraints, lower: lower, upper: upper)
        fill.admit(candidates)
        fill.rise()
        return fill.allocation
    }

    /// Counts `amps` of charger `i` against its limits (amps already given or reserved).
    public mutating func count(_ i: Int, _ amps: Double) {
        for t in start[i]..<start[i + 1] { used[touchK[t]] += touchW[t] * amps }
    }

    /// Whether charger `i` fits at its minimum plus `extra` with what is used so far.
    public func fits(_ i: Int, extra: Double = 0) -> Bool {
        guard upper[i] > 0, upper[i] >= lower[i] else { return false }
        for t in start[i]..<start[i + 1] where used[touchK[t]] + touchW[t] * (lower[i] + extra) > available[touchK[t]] + epsilon {
            return false
        }
        return true
    }

    /// Admits the chargers of `order` in turn at their minimum while they fit
    /// (with `extra[i]` more free to start); with `heldFirst`, those `hold`
    /// marked go before the others. Each charger counts once. Returns whether
    /// every one was admitted.
    @discardableResult
    public mutating func admit(_ order: [Int], extra: [Double]? = nil, heldFirst: Bool = false) -> Bool {
        var allFit = true
        admitted.removeAll(keepingCapacity: true)
        for pass in (heldFirst ? 0 : 1)..<2 {
            for i in order where !listed[i] && (pass == 1 || held[i]) {
                listed[i] = true
                guard fits(i, extra: extra?[i] ?? 0) else { allFit = false; continue }
                count(i, lower[i])
                allocation[i] = lower[i]
                admitted.append(i)
            }
        }
        return allFit
    }

    /// Holds the minimum of each charger of `candidates` that still fits, in
    /// turn, counted against the limits; returns them. `admit(heldFirst:)`
    /// then takes them first (priority's protected cars).
    public mutating func hold(_ candidates: [Int]) -> [Int] {
        var kept: [Int] = []
        for i in candidates where !held[i] && fits(i) {
            held[i] = true
            count(i, lower[i])
            kept.append(i)
        }
        return kept
    }

    /// Everyone admitted by the last `admit` rises together (step 2 above).
    public mutating func rise() {
        guard !admitted.isEmpty else { return }
        for k in slope.indices { slope[k] = 0 }
        let joins = admitted.sorted { (lower[$0], $0) < (lower[$1], $1) }
        let leaves = admitted.sorted { (upper[$0], $0) < (upper[$1], $1) }
        var nextJoin = 0, nextLeave = 0, risingCount = 0
        var level = lower[joins[0]]
        // Every step ends at an event (a join, a leave, a limit that fills and
        // stops its members): no more steps than that, whatever the numbers.
        var steps = 0

        while true {
            // Events at the current level: joins, leaves, full limits.
            while nextJoin < joins.count, lower[joins[nextJoin]] <= level + epsilon {
                let i = joins[nextJoin]
                nextJoin += 1
                if !frozen[i], upper[i] > level + epsilon {
                    rising[i] = true
                    risingCount += 1
                    for t in start[i]..<start[i + 1] { slope[touchK[t]] += touchW[t] }
                }
            }
            while nextLeave < leaves.count, upper[leaves[nextLeave]] <= level + epsilon {
                let i = leaves[nextLeave]
                nextLeave += 1
                if !frozen[i] {
                    allocation[i] = upper[i]
                    frozen[i] = true
                    if rising[i] {
                        rising[i] = false
                        risingCount -= 1
                        for t in start[i]..<start[i + 1] { slope[touchK[t]] -= touchW[t] }
                    }
                }
            }
            for k in slope.indices where slope[k] > epsilon && used[k] >= available[k] - epsilon {
                for t in limitStart[k]..<limitStart[k + 1] where rising[limitMembers[t]] {
                    let i = limitMembers[t]
                    allocation[i] = Swift.max(lower[i], Swift.min(level, upper[i]))
                    frozen[i] = true
                    rising[i] = false
                    risingCount -= 1
                    for u in start[i]..<start[i + 1] { slope[touchK[u]] -= touchW[u] }
                }
            }
            steps += 1
            if risingCount == 0 && nextJoin >= joins.count || steps > 3 * joins.count + 2 { break }
            // The next event.
            var step = Double.infinity
            if nextJoin < joins.count { step = Swift.min(step, lower[joins[nextJoin]] - level) }
            if nextLeave < leaves.count { step = Swift.min(step, upper[leaves[nextLeave]] - level) }
            for k in slope.indices where slope[k] > epsilon {
                let room = (available[k] - used[k]) / slope[k]
                if !room.isNaN { step = Swift.min(step, Swift.max(0, room)) }
            }
            guard step.isFinite else { break }
            for k in slope.indices where slope[k] != 0 { used[k] += slope[k] * step }
            level += step
        }
        // What rose is fixed for whatever is admitted after it (fill_in_turn's
        // next group), also should a max ever be infinite.
        for i in admitted where rising[i] {
            allocation[i] = level
            rising[i] = false
            frozen[i] = true
        }
    }

    /// Each group, in turn, shares what the groups before it left. `reserved[i]`
    /// counts against the limits until i's own group is served; `hold` holds
    /// the minimum of those that fit, in turn, the same way, and admits them
    /// first in their group. The same as one fill per group with the amps so
    /// far fixed.
    public mutating func fillInTurn(_ groups: [[Int]], reserved: [Double], hold candidates: [Int], extra: [Double]?) {
        var reserved = reserved
        for i in reserved.indices where reserved[i] != 0 { count(i, reserved[i]) }
        let kept = hold(candidates)
        for i in kept { reserved[i] += lower[i] }
        for group in groups {
            for i in group where reserved[i] != 0 {
                count(i, -reserved[i])
                reserved[i] = 0
            }
            admit(group, extra: extra, heldFirst: !kept.isEmpty)
            rise()
        }
    }
}
