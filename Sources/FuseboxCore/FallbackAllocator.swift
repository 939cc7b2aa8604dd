/// The built-in equal share that replaces a policy for one cycle when the policy
/// fails, runs out of budget or returns garbage. Native Swift, no state: every
/// car that wants current gets the same, within its min and max and every
/// constraint; higher priority is admitted first when not all fit at the minimum.
public enum FallbackAllocator {
    public static func allocate(_ snapshot: SiteSnapshot, budget: Budget) -> [Double] {
        // Without a meter there is nothing to share: the fail-safe current, as the clamp sets it.
        if snapshot.meterSilent {
            return SafetyClamp.apply([], snapshot: snapshot, budget: budget).allocation
        }
        let chargers = snapshot.chargers
        var candidates: [Int] = []
        var priority = [Int](repeating: 0, count: chargers.count)
        var lower = [Double](repeating: 0, count: chargers.count)
        var upper = [Double](repeating: 0, count: chargers.count)
        for i in chargers.indices {
            priority[i] = chargers[i].priority
            lower[i] = chargers[i].min
            upper[i] = chargers[i].effectiveMax
            if budget.eligible[i] && chargers[i].status.wantsCurrent { candidates.append(i) }
        }
        candidates.sort { a, b in priority[a] != priority[b] ? priority[a] > priority[b] : a < b }
        return WaterFill.fill(constraints: budget.constraints,
                              candidates: candidates, lower: lower, upper: upper)
    }
}
