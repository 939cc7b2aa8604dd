import FuseboxCore

/// Writes the `site` table a policy stage sees (docs/policies.md) onto a tape.
/// A stage gets a fresh copy every call, so nothing it changes reaches the host
/// except what it returns and its `site.memory`.
struct SiteTable {
    var snapshot: SiteSnapshot
    var budget: Budget
    /// Limits the earlier stages added; part of `site.limits` for this stage.
    var constraints: [Constraint]
    /// Per charger: max after the earlier stages' caps.
    var maxima: [Double]
    let volts: [Double]
    let rippleGroup: [Int]
    let ripplePower: Double

    init(snapshot: SiteSnapshot, budget: Budget) {
        self.snapshot = snapshot
        self.budget = budget
        constraints = budget.constraints
        maxima = snapshot.chargers.map(\.effectiveMax)
        let voltage = snapshot.grid.effectiveVoltage
        volts = snapshot.chargers.map { c in c.phases.reduce(0.0) { $0 + voltage[$1] } }
        rippleGroup = snapshot.chargers.indices.filter { snapshot.rippleSettings.contains(snapshot.chargers[$0].id) }
        ripplePower = snapshot.rippleSettings.reducedPower(groupSize: rippleGroup.count)
    }

    func write(into t: inout TapeWriter, stage: String, isLast: Bool, config: LuaValue, memory: LuaValue) {
        let chargers = snapshot.chargers
        // Per charger: which limits it is in, with its weight (1-based for Lua).
        var touchK = [[Int]](repeating: [], count: chargers.count)
        var touchW = [[Double]](repeating: [], count: chargers.count)
        for (k, c) in constraints.enumerated() {
            for (j, i) in c.members.enumerated() {
                touchK[i].append(k + 1)
                touchW[i].append(c.weights[j])
            }
        }
        t.beginTable(fieldCount: 20)
        t.key("time"); t.number(snapshot.time)
        t.key("stage"); t.string(stage)
        t.key("last_stage"); t.bool(isLast)
        t.key("ripple"); t.string(snapshot.ripple.rawValue)
        t.key("ripple_power"); t.number(ripplePower)
        t.key("ripple_group"); t.beginTable(arrayCount: rippleGroup.count)
        for (n, i) in rippleGroup.enumerated() { t.key(n + 1); t.integer(i + 1) }
        t.endTable()
        t.key("available"); t.numberArray(budget.available.array)
        if let p = budget.powerAvailable { t.key("power_available"); t.number(p) }
        t.key("grid"); t.beginTable(fieldCount: 3)
        t.key("current"); t.numberArray(snapshot.grid.current.array)
        t.key("voltage"); t.numberArray(snapshot.grid.effectiveVoltage.array)
        t.key("power"); t.numberArray(snapshot.grid.effectivePower.array)
        t.endTable()
        if let pv = snapshot.pv {
            t.key("pv"); t.beginTable(fieldCount: 2)
            t.key("power"); t.number(pv.power)
            t.key("surplus"); t.number(pv.surplus)
            t.endTable()
        }
        t.key("chargers"); t.beginTable(arrayCount: chargers.count)
        for (i, c) in chargers.enumerated() {
            t.key(i + 1)
            t.beginTable(fieldCount: 18)
            t.key("id"); t.string(c.id)
            t.key("index"); t.integer(i + 1)
            t.key("status"); t.string(c.status.rawValue)
            t.key("phases"); t.beginTable(arrayCount: c.phases.count)
            for (n, p) in c.phases.enumerated() { t.key(n + 1); t.integer(p.rawValue) }
            t.endTable()
            t.key("min"); t.number(c.min)
            t.key("max"); t.number(maxima[i])
            t.key("priority"); t.integer(c.priority)
            t.key("current"); t.numberArray(c.current)
            if let s = c.setpoint { t.key("setpoint"); t.number(s) }
            t.key("session_energy"); t.number(c.sessionEnergy)
            t.key("connected_for"); t.number(c.connectedFor)
            t.key("responding"); t.bool(c.responding)
            t.key("eligible"); t.bool(budget.eligible[i])
            t.key("volts"); t.number(volts[i])
            t.key("limits"); t.beginTable(arrayCount: touchK[i].count)
            for (n, k) in touchK[i].enumerated() { t.key(n + 1); t.integer(k) }
            t.endTable()
            t.key("weights"); t.numberArray(touchW[i])
            t.endTable()
        }
        t.endTable()
        t.key("limits"); t.beginTable(arrayCount: constraints.count)
        for (k, c) in constraints.enumerated() {
            t.key(k + 1)
            t.beginTable(fieldCount: 5)
            t.key("name"); t.string(c.name)
            t.key("unit"); t.string(c.unit.rawValue)
            t.key("available"); t.number(c.available)
            t.key("members"); t.beginTable(arrayCount: c.members.count)
            for (n, i) in c.members.enumerated() { t.key(n + 1); t.integer(i + 1) }
            t.endTable()
            t.key("weights"); t.numberArray(c.weights)
            t.endTable()
        }
        t.endTable()
        t.key("config"); t.value(config.entries == nil ? .table([]) : config)
        t.key("memory"); t.value(memory.entries == nil ? .table([]) : memory)
        t.endTable()
    }
}
