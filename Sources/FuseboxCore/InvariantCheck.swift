/// Checks an allocation against the invariants of docs/design.md, written straight
/// from their definition (circuit tree, phases, watts), independently of the
/// constraint list the clamp works on. Used by the tests and by the controller
/// to verify every cycle.
public enum InvariantCheck {
    public static func violations(_ allocation: [Double], snapshot: SiteSnapshot, tolerance: Double = 1e-5) -> [String] {
        var problems: [String] = []
        let chargers = snapshot.chargers
        guard allocation.count == chargers.count else {
            return ["allocation has \(allocation.count) values for \(chargers.count) chargers"]
        }
        // Each allocation is 0 or within [min, max], and 0 where current may not flow.
        for (i, c) in chargers.enumerated() {
            let v = allocation[i]
            if !v.isFinite || v < 0 { problems.append("\(c.id): \(v) is not a valid current"); continue }
            if v > 0 && v < c.min - tolerance { problems.append("\(c.id): \(v) A is below its min \(c.min) A") }
            if v > c.effectiveMax + tolerance { problems.append("\(c.id): \(v) A is above its max \(c.effectiveMax) A") }
            if v > 0 && !c.responding { problems.append("\(c.id): \(v) A for a charger that does not answer") }
            if v > 0 && c.status == .unavailable { problems.append("\(c.id): \(v) A for an unavailable charger") }
            if v > 0 && snapshot.isRippleLocked(c) { problems.append("\(c.id): \(v) A while ripple is locked") }
        }
        let voltage = snapshot.grid.effectiveVoltage
        func watts(_ i: Int, amps: Double) -> Double { chargers[i].phases.reduce(0.0) { $0 + voltage[$1] } * amps }
        func rippleReducedHolds() {
            guard snapshot.ripple == .reduced else { return }
            let group = chargers.indices.filter { snapshot.rippleSettings.contains(chargers[$0].id) }
            let cap = snapshot.rippleSettings.reducedPower(groupSize: group.count)
            let ev = group.reduce(0.0) { $0 + watts($1, amps: allocation[$1]) }
            if ev > cap + tolerance { problems.append("ripple reduced: group draws \(ev) W > \(cap) W") }
        }
        // A silent meter: the fail-safe current for every charger that may get
        // current (ripple `reduced` may cut it further), whatever was asked.
        if snapshot.meterSilent {
            for (i, c) in chargers.enumerated() where snapshot.canReceiveCurrent(c) {
                let failsafe = snapshot.failsafe.current(for: c)
                if allocation[i] > failsafe + tolerance || (snapshot.ripple != .reduced && abs(allocation[i] - failsafe) > tolerance) {
                    problems.append("\(c.id): \(allocation[i]) A while the meter is silent, fail-safe is \(failsafe) A")
                }
            }
            rippleReducedHolds()
            return problems
        }
        func draw(_ i: Int, on p: Phase) -> Double {
            Double(chargers[i].phases.filter { $0 == p }.count) * allocation[i]
        }
        func silentReserve(_ i: Int, on p: Phase) -> Double {
            chargers[i].responding ? 0 : Double(chargers[i].phases.filter { $0 == p }.count) * chargers[i].assumedDraw
        }
        func checkPhases(name: String, limit: PhaseValues, margin: Double, measuredLoad: (Phase) -> Double, members: [Int]) {
            for p in Phase.allCases {
                let load = measuredLoad(p) + members.reduce(0.0) { $0 + silentReserve($1, on: p) }
                let ev = members.reduce(0.0) { $0 + draw($1, on: p) }
                let cap = limit[p] - margin
                if load + ev > cap + tolerance {
                    let impossible = load > cap
                    let stillDrawing = members.filter { draw($0, on: p) > 0 }
                    if !impossible || !stillDrawing.isEmpty {
                        problems.append("\(name) \(p): load \(load) + EV \(ev) > \(cap) A")
                    }
                }
            }
        }
        // Grid connection: non-EV load is the meter minus what answering chargers draw.
        let everyone = Array(chargers.indices)
        checkPhases(name: "grid", limit: snapshot.limits.current, margin: snapshot.limits.margin, measuredLoad: { p in
            snapshot.grid.current[p] - chargers.filter(\.responding).reduce(0.0) { $0 + $1.currentOnBuildingPhases[p] }
        }, members: everyone)
        let index = snapshot.chargerIndex
        for circuit in snapshot.circuits.flatMap(\.flattened) {
            checkPhases(name: "circuit \(circuit.id)", limit: circuit.limit, margin: circuit.margin,
                        measuredLoad: { circuit.load[$0] }, members: circuit.allChargers.compactMap { index[$0] })
        }
        if let powerLimit = snapshot.limits.power {
            var nonEV = snapshot.grid.effectivePower.sum
            for (i, c) in chargers.enumerated() {
                if c.responding {
                    let measured = c.currentOnBuildingPhases
                    for p in Phase.allCases { nonEV -= measured[p] * voltage[p] }
                } else {
                    nonEV += watts(i, amps: c.assumedDraw)
                }
            }
            let ev = everyone.reduce(0.0) { $0 + watts($1, amps: allocation[$1]) }
            if nonEV + ev > powerLimit + tolerance && !(nonEV > powerLimit && ev == 0) {
                problems.append("power: non-EV \(nonEV) W + EV \(ev) W > \(powerLimit) W")
            }
        }
        rippleReducedHolds()
        return problems
    }
}
