import FuseboxCore

/// Writes the `site` table a policy stage sees (docs/policies.md) onto a tape.
///
/// Every call gets fresh tables for everything that changes from cycle to cycle.
/// What only changes with the site's configuration (a charger's id, phases, min
/// and priority; a limit's name, unit and members) is sent once and kept in the
/// stage's own Lua state, where the fresh tables reach it through `__index`.
/// What a charger reports each cycle (status, max, whether it may get current,
/// volts, measured current, setpoint, energy, time, whether it answers) goes in
/// one block per cycle, read only when a script asks (`details`); the charger
/// tables themselves are empty proxies, made once per configuration.
/// That keeps a 100-charger cycle to about a thousand values on the tape.
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
    /// `skeleton` is the version of the static parts; `reuse` says the stage's
    /// state already holds that version.
    func write(into t: inout TapeWriter, stage: String, isLast: Bool, config: LuaValue, skeleton: Int, reuse: Bool) {
        let chargers = snapshot.chargers
        let n = chargers.count
        let siteLimits = budget.constraints.count
        // Cache slots: the static parts first, then the tables that are rewritten
        // in place every cycle (see FB_TAPE_UPDATE).
        func chargerSlot(_ i: Int) -> Int { i + 1 }
        func limitSlot(_ k: Int) -> Int { n + 1 + k }
        let rippleSlot = n + siteLimits + 1
        let d = rippleSlot + 1
        enum Table: Int { case site, chargers, limits, grid, current, voltage, power, available, pv, count }
        func slot(_ table: Table) -> Int { d + table.rawValue }
        func chargerTable(_ i: Int) -> Int { d + Table.count.rawValue + i }
        // A limit's table, and its list of weights when they are in watts.
        func limitTable(_ k: Int) -> Int { d + Table.count.rawValue + n + 2 * k }

        if !reuse {
            t.resetCache()
            t.defineSymbols(SiteSymbol.names)
        }
        t.update(slot: slot(.site))
        t.beginTable(fieldCount: 20)
        t.key(.time); t.number(snapshot.time)
        t.key(.stage); t.string(stage)
        t.key(.last_stage); t.bool(isLast)
        t.key(.structure); t.integer(skeleton)
        t.key(.structure_limits); t.integer(siteLimits)
        t.key(.ripple); t.symbol(SiteSymbol.number(of: snapshot.ripple))
        t.key(.ripple_power); t.number(ripplePower)
        t.key(.ripple_group)
        if reuse {
            t.cached(slot: rippleSlot)
        } else {
            t.define(slot: rippleSlot)
            t.beginTable(arrayCount: rippleGroup.count)
            for (j, i) in rippleGroup.enumerated() { t.key(j + 1); t.integer(i + 1) }
            t.endTable()
            t.cached(slot: rippleSlot)
        }
        t.key(.available); t.update(slot: slot(.available)); t.numberArray(budget.available.array)
        if let p = budget.powerAvailable { t.key(.power_available); t.number(p) }
        t.key(.grid); t.update(slot: slot(.grid)); t.beginTable(fieldCount: 3)
        t.key(.current); t.update(slot: slot(.current)); t.numberArray(snapshot.grid.current.array)
        t.key(.voltage); t.update(slot: slot(.voltage)); t.numberArray(snapshot.grid.effectiveVoltage.array)
        t.key(.power); t.update(slot: slot(.power)); t.numberArray(snapshot.grid.effectivePower.array)
        t.endTable()
        if let pv = snapshot.pv {
            t.key(.pv); t.update(slot: slot(.pv)); t.beginTable(fieldCount: 2)
            t.key(.power); t.number(pv.power)
            t.key(.surplus); t.number(pv.surplus)
            t.endTable()
        }

        t.key(.chargers)
        if !reuse {
            // The ids by index, for the shim to send a result's keys as indices.
            t.define(slot: chargerKeysSlot)
            t.beginTable(fieldCount: n)
            for i in 0..<n { t.key(chargers[i].id); t.integer(i) }
            t.endTable()
        }
        // What changes from cycle to cycle, in one block that the shim turns
        // into fields only when asked (Details.c).
        t.details(count: n) { i in
            let current = chargers[i].current
            var d = fb_charger_details()
            d.status = chargers[i].status.detailsCode
            d.max = maxima[i]
            d.eligible = budget.eligible[i] ? 1 : 0
            d.volts = volts[i]
            let k = min(current.count, 3)
            if k > 0 { d.current.0 = current[0] }
            if k > 1 { d.current.1 = current[1] }
            if k > 2 { d.current.2 = current[2] }
            d.current_count = Int32(k)
            d.setpoint = chargers[i].setpoint ?? .nan
            d.session_energy = chargers[i].sessionEnergy
            d.connected_for = chargers[i].connectedFor
            d.responding = chargers[i].responding ? 1 : 0
            return d
        }
        if !reuse {
            // Per charger, the metatable of its proxy: __index, its static table.
            for i in 0..<n {
                t.define(slot: chargerSlot(i))
                t.beginTable(fieldCount: 1)
                t.key(.__index)
                t.detailed()
                t.beginTable(fieldCount: 5)
                t.key(.id); t.string(chargers[i].id)
                t.key(.index); t.integer(i + 1)
                let phases = chargers[i].phases
                t.key(.phases); t.beginTable(arrayCount: phases.count)
                for (j, p) in phases.enumerated() { t.key(j + 1); t.integer(p.rawValue) }
                t.endTable()
                t.key(SiteSymbol.min); t.number(chargers[i].min)
                t.key(.priority); t.integer(chargers[i].priority)
                t.endTable()
                t.endTable()
            }
        }
        // The proxies themselves: made once, made anew when a script gave one a field.
        t.proxies(count: n, listSlot: slot(.chargers), first: chargerTable(0), firstMetatable: chargerSlot(0))

        t.key(.limits); t.update(slot: slot(.limits)); t.beginTable(arrayCount: constraints.count)
        for k in constraints.indices {
            let c = constraints[k]
            t.key(k + 1)
            guard k < siteLimits else {
                // Added by an earlier stage this cycle: all of it, every time.
                t.beginTable(fieldCount: 5)
                t.key(.name); t.string(c.name)
                t.key(.unit); t.string(c.unit.rawValue)
                t.key(.available); t.number(c.available)
                writeMembers(c, into: &t)
                t.key(.weights); t.numberArray(c.weights)
                t.endTable()
                continue
            }
            // Amps limits have fixed weights; watts limits' weights follow the voltage.
            if !reuse {
                t.define(slot: limitSlot(k))
                t.beginTable(fieldCount: 1)
                t.key(.__index)
                t.beginTable(fieldCount: 4)
                t.key(.name); t.string(c.name)
                t.key(.unit); t.string(c.unit.rawValue)
                writeMembers(c, into: &t)
                if c.unit == .amps { t.key(.weights); t.numberArray(c.weights) }
                t.endTable()
                t.endTable()
            }
            t.update(slot: limitTable(k), metatable: limitSlot(k))
            t.beginTable(fieldCount: 2)
            t.key(.available); t.number(c.available)
            if c.unit == .watts { t.key(.weights); t.update(slot: limitTable(k) + 1); t.numberArray(c.weights) }
            t.endTable()
        }
        t.endTable()
        t.key(.config); t.value(config.entries == nil ? .table([]) : config)
        t.endTable()
    }

    private func writeMembers(_ c: Constraint, into t: inout TapeWriter) {
        t.key(.members); t.beginTable(arrayCount: c.members.count)
        for (j, i) in c.members.enumerated() { t.key(j + 1); t.integer(i + 1) }
        t.endTable()
    }
}

/// The strings the site table repeats: sent to a stage's state once (with the
/// skeleton) and then by number, so that neither side hashes them every cycle.
enum SiteSymbol: Int, CaseIterable {
    case time = 1, stage, last_stage, structure, structure_limits, ripple, ripple_power, ripple_group
    case available, power_available, grid, current, voltage, power, pv, surplus, chargers
    case __index, id, index, phases, min, priority
    case limits, name, unit, members, weights, config

    /// All symbols in order: the field names, then the ripple modes.
    static let names: [String] = allCases.map { "\($0)" } + RippleMode.allCases.map(\.rawValue)

    // `allCases` makes a new array on every use; this is made once.
    private static let modes = RippleMode.allCases
    private static let firstMode = allCases.count + 1

    static func number(of mode: RippleMode) -> Int {
        firstMode + modes.firstIndex(of: mode)!   // (modes holds every case of the enum)
    }
}

extension TapeWriter {
    mutating func key(_ k: SiteSymbol) { symbol(k.rawValue) }
}

extension ChargerStatus {
    /// The shim's number for the status (fb_charger_status), which it reads as this word.
    var detailsCode: Int32 {
        switch self {
        case .free: Int32(FB_CHARGER_FREE.rawValue)
        case .occupied: Int32(FB_CHARGER_OCCUPIED.rawValue)
        case .charging: Int32(FB_CHARGER_CHARGING.rawValue)
        case .discharging: Int32(FB_CHARGER_DISCHARGING.rawValue)
        case .unavailable: Int32(FB_CHARGER_UNAVAILABLE.rawValue)
        }
    }
}

/// The parts of a snapshot that the skeleton cache depends on; a new skeleton is
/// sent when any of them changes.
struct SiteSkeleton {
    let chargers: [ChargerSnapshot]
    let circuits: [Circuit]
    let hasPowerLimit: Bool
    let reduced: Bool
    let rippleGroup: [String]?

    init(_ s: SiteSnapshot) {
        chargers = s.chargers
        circuits = s.circuits
        hasPowerLimit = s.limits.power != nil
        reduced = s.ripple == .reduced
        rippleGroup = s.rippleSettings.group
    }

    func matches(_ s: SiteSnapshot) -> Bool {
        guard chargers.count == s.chargers.count, hasPowerLimit == (s.limits.power != nil),
              reduced == (s.ripple == .reduced), rippleGroup == s.rippleSettings.group,
              circuits == s.circuits   // rarely changes; equal storage compares in O(1)
        else { return false }
        for i in chargers.indices {
            if chargers[i].id != s.chargers[i].id || chargers[i].phases != s.chargers[i].phases
                || chargers[i].min != s.chargers[i].min || chargers[i].priority != s.chargers[i].priority { return false }
        }
        return true
    }
}
