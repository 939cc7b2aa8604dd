/// Equal sharing under linear constraints: the algorithm of the native fallback,
/// and the same one the Lua prelude offers policies as `fusebox.fill`.
///
/// 1. Admission: candidates, in the order given, are let in at their minimum
///    while every constraint they touch still has room; the rest wait at 0.
/// 2. Filling: everyone admitted rises together along one level L (each at
///    clamp(L, min, max)); a constraint that fills freezes its members, a
///    charger that reaches its max stops; the others keep rising.
/// Cost: O(members of all constraints + events x constraints), with one sort of
/// the admitted chargers by min and one by max.
public enum WaterFill {
    public static func fill(
        constraints: [Constraint], chargerCount n: Int, candidates: [Int], lower: [Double], upper: [Double]
    ) -> [Double] {
        let epsilon = 1e-9
        let nk = constraints.count
        var allocation = [Double](repeating: 0, count: n)
        // Which constraints touch each charger, as one flat list with offsets.
        var start = [Int](repeating: 0, count: n + 1)
        for c in constraints { for i in c.members { start[i + 1] += 1 } }
        for i in 0..<n { start[i + 1] += start[i] }
        var touchK = [Int](repeating: 0, count: start[n])
        var touchW = [Double](repeating: 0, count: start[n])
        var next = start
        for k in 0..<nk {
            let c = constraints[k]
            for j in c.members.indices {
                let i = c.members[j]
                touchK[next[i]] = k
                touchW[next[i]] = c.weights[j]
                next[i] += 1
            }
        }
        var available = [Double](repeating: 0, count: nk)
        for k in 0..<nk { available[k] = constraints[k].available }
        var used = [Double](repeating: 0, count: nk)

        // 1. Admission at the minimum.
        var admitted: [Int] = []
        for i in candidates where upper[i] > 0 && upper[i] >= lower[i] {
            var fits = true
            for t in start[i]..<start[i + 1] where used[touchK[t]] + touchW[t] * lower[i] > available[touchK[t]] + epsilon {
                fits = false
                break
            }
            guard fits else { continue }
            for t in start[i]..<start[i + 1] { used[touchK[t]] += touchW[t] * lower[i] }
            allocation[i] = lower[i]
            admitted.append(i)
        }
        guard !admitted.isEmpty else { return allocation }

        // 2. Rising together. A charger rises while lower <= L < upper.
        var rising = [Bool](repeating: false, count: n)
        var frozen = [Bool](repeating: false, count: n)
        var risingCount = 0
        var slope = [Double](repeating: 0, count: nk)
        let joins = admitted.sorted { lower[$0] < lower[$1] }
        let leaves = admitted.sorted { upper[$0] < upper[$1] }
        var nextJoin = 0, nextLeave = 0
        var level = lower[joins[0]]

        while true {
            // Events at the current level: joins, leaves, full constraints.
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
            for k in 0..<nk where slope[k] > epsilon && used[k] >= available[k] - epsilon {
                for i in constraints[k].members where rising[i] {
                    allocation[i] = Swift.max(lower[i], Swift.min(level, upper[i]))
                    frozen[i] = true
                    rising[i] = false
                    risingCount -= 1
                    for t in start[i]..<start[i + 1] { slope[touchK[t]] -= touchW[t] }
                }
            }
            if risingCount == 0 && nextJoin >= joins.count { break }
            // The next event.
            var step = Double.infinity
            if nextJoin < joins.count { step = Swift.min(step, lower[joins[nextJoin]] - level) }
            if nextLeave < leaves.count { step = Swift.min(step, upper[leaves[nextLeave]] - level) }
            for k in 0..<nk where slope[k] > epsilon {
                step = Swift.min(step, Swift.max(0, (available[k] - used[k]) / slope[k]))
            }
            guard step.isFinite else { break }
            for k in 0..<nk where slope[k] != 0 { used[k] += slope[k] * step }
            level += step
        }
        for i in admitted where rising[i] { allocation[i] = level }
        return allocation
    }
}
