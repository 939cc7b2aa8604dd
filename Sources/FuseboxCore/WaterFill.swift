/// Equal sharing under linear constraints: the algorithm of the native fallback,
/// and the same one the Lua prelude offers policies as `fusebox.fill`.
///
/// 1. Admission: candidates, in the order given, are let in at their minimum
///    while every constraint they touch still has room; the rest wait at 0.
/// 2. Filling: everyone admitted rises together along one level L (each at
///    clamp(L, min, max)); a constraint that fills freezes its members, a
///    charger that reaches its max stops; the others keep rising.
/// Cost: O(members of all constraints + events x constraints), no sort of
/// constraints, one sort of chargers by min and by max.
public enum WaterFill {
    public static func fill(
        constraints: [Constraint], chargerCount: Int, candidates: [Int], lower: [Double], upper: [Double]
    ) -> [Double] {
        let epsilon = 1e-9
        var allocation = [Double](repeating: 0, count: chargerCount)
        // Which constraints touch each charger, with the weight.
        var touches = [[(k: Int, w: Double)]](repeating: [], count: chargerCount)
        for (k, c) in constraints.enumerated() {
            for (j, i) in c.members.enumerated() where c.weights[j] > 0 {
                touches[i].append((k, c.weights[j]))
            }
        }
        var used = [Double](repeating: 0, count: constraints.count)

        // 1. Admission at the minimum.
        var admitted: [Int] = []
        for i in candidates where upper[i] > 0 && upper[i] >= lower[i] {
            let fits = touches[i].allSatisfy { used[$0.k] + $0.w * lower[i] <= constraints[$0.k].available + epsilon }
            guard fits else { continue }
            for t in touches[i] { used[t.k] += t.w * lower[i] }
            allocation[i] = lower[i]
            admitted.append(i)
        }
        guard !admitted.isEmpty else { return allocation }

        // 2. Rising together. `rising` holds chargers with lower <= L < upper.
        var frozen = Set<Int>()
        var slope = [Double](repeating: 0, count: constraints.count)
        let joins = admitted.sorted { lower[$0] < lower[$1] }
        let leaves = admitted.sorted { upper[$0] < upper[$1] }
        var nextJoin = 0, nextLeave = 0
        var level = lower[joins[0]]
        var rising = Set<Int>()

        func stopRising(_ i: Int) {
            guard rising.remove(i) != nil else { return }
            for t in touches[i] { slope[t.k] -= t.w }
        }
        while true {
            // Events at the current level: joins, leaves, full constraints.
            while nextJoin < joins.count, lower[joins[nextJoin]] <= level + epsilon {
                let i = joins[nextJoin]
                nextJoin += 1
                if !frozen.contains(i), upper[i] > level + epsilon {
                    rising.insert(i)
                    for t in touches[i] { slope[t.k] += t.w }
                }
            }
            while nextLeave < leaves.count, upper[leaves[nextLeave]] <= level + epsilon {
                let i = leaves[nextLeave]
                nextLeave += 1
                if !frozen.contains(i) { allocation[i] = upper[i] }
                stopRising(i)
                frozen.insert(i)
            }
            for (k, c) in constraints.enumerated() where slope[k] > epsilon && used[k] >= c.available - epsilon {
                for i in c.members where rising.contains(i) {
                    allocation[i] = Swift.max(lower[i], Swift.min(level, upper[i]))
                    stopRising(i)
                    frozen.insert(i)
                }
            }
            // The next event.
            var step = Double.infinity
            if nextJoin < joins.count { step = Swift.min(step, lower[joins[nextJoin]] - level) }
            if nextLeave < leaves.count { step = Swift.min(step, upper[leaves[nextLeave]] - level) }
            for k in constraints.indices where slope[k] > epsilon {
                step = Swift.min(step, Swift.max(0, (constraints[k].available - used[k]) / slope[k]))
            }
            if rising.isEmpty && nextJoin >= joins.count { break }
            guard step.isFinite else { break }
            for k in constraints.indices where slope[k] != 0 { used[k] += slope[k] * step }
            level += step
            for i in rising { allocation[i] = level }
        }
        return allocation
    }
}
