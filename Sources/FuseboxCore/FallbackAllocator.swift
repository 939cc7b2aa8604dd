/// The built-in equal share that replaces a policy for one cycle when the policy
/// fails, runs out of budget or returns garbage. Native Swift, no state: every
/// car that wants current gets the same, within its min and max and every
/// constraint; higher priority is admitted first when not all fit at the minimum.
public enum FallbackAllocator {
    public static func allocate(_ snapshot: SiteSnapshot, budget: Budget) -> [Double] {
        let chargers = snapshot.chargers
        let candidates = chargers.indices
            .filter { budget.eligible[$0] && chargers[$0].status.wantsCurrent }
            .sorted { a, b in
                chargers[a].priority != chargers[b].priority ? chargers[a].priority > chargers[b].priority : a < b
            }
        return WaterFill.fill(
            constraints: budget.constraints, chargerCount: chargers.count, candidates: candidates,
            lower: chargers.map(\.min), upper: chargers.map(\.effectiveMax))
    }
}
