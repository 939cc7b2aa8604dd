import FuseboxCore

/// Writes the `site` table a policy stage sees (docs/policies.md) onto a tape.
///
/// Every call gets the whole site anew: the shim decodes it into fresh tables,
/// so nothing a policy writes into `site` (but `site.memory`) reaches its next
/// call. At 100 chargers that is about 2,000 values a call.
struct SiteTable {
    var snapshot: SiteSnapshot
    var budget: Budget
    /// The site's limits, then those the earlier stages added.
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

    /// `site.memory` is not written here: the shim puts the stage's kept table there.
    func write(into t: inout TapeWriter, stage: String, isLast: Bool, config: LuaValue) {
        let chargers = snapshot.chargers
        t.beginTable(fieldCount: 16)
        t.key("time"); t.number(snapshot.time)
        t.key("stage"); t.string(stage)
        t.key("last_stage"); t.bool(isLast)
        t.key("ripple"); t.string(snapshot.ripple.rawValue)
        t.key("ripple_power"); t.number(ripplePower)
        t.key("ripple_group"); t.integerArray(rippleGroup.lazy.map { $0 + 1 })
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
            t.key(i + 1); t.beginTable(fieldCount: 14)
            t.key("id"); t.string(c.id)
            t.key("index"); t.integer(i + 1)
            t.key("status"); t.string(c.status.rawValue)
            t.key("phases"); t.integerArray(c.phases.lazy.map(\.rawValue))
            t.key("min"); t.number(c.min)
            t.key("max"); t.number(maxima[i])
            t.key("priority"); t.integer(c.priority)
            t.key("current"); t.numberArray(c.current)
            if let setpoint = c.setpoint { t.key("setpoint"); t.number(setpoint) }
            t.key("session_energy"); t.number(c.sessionEnergy)
            t.key("connected_for"); t.number(c.connectedFor)
            t.key("responding"); t.bool(c.responding)
            t.key("eligible"); t.bool(budget.eligible[i])
            t.key("volts"); t.number(volts[i])
            t.endTable()
        }
        t.endTable()

        t.key("limits"); t.beginTable(arrayCount: constraints.count)
        for (k, c) in constraints.enumerated() {
            t.key(k + 1); t.beginTable(fieldCount: 5)
            t.key("name"); t.string(c.name)
            t.key("unit"); t.string(c.unit.rawValue)
            t.key("available"); t.number(c.available)
            writeMembers(c, into: &t)
            t.key("weights"); t.numberArray(c.weights)
            t.endTable()
        }
        t.endTable()
        t.key("config"); t.value(config.entries == nil ? .table([]) : config)
        t.endTable()
    }

    private func writeMembers(_ c: Constraint, into t: inout TapeWriter) {
        t.key("members"); t.integerArray(c.members.lazy.map { $0 + 1 })
    }
}
