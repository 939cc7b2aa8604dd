/// One linear limit on the allocations: sum over members of weight x amps <= available.
///
/// Every limit the site has takes this shape: a phase of the grid connection or of
/// a sub-distribution (weight 1 for each of a charger's phases on it), the
/// contractual power limit and the ripple `reduced` cap (weight = volts of the
/// charger's phases). The policies and the clamp work on the same list.
public struct Constraint: Sendable, Equatable {
    public enum Unit: String, Sendable { case amps = "A", watts = "W" }

    public var name: String
    public var unit: Unit
    /// What is left for the members, after non-EV load and margins.
    public var available: Double
    /// Indices into `SiteSnapshot.chargers`.
    public var members: [Int]
    /// The weight of each member, aligned with `members`.
    public var weights: [Double]

    public init(name: String, unit: Unit, available: Double, members: [Int], weights: [Double]) {
        self.name = name
        self.unit = unit
        self.available = available
        self.members = members
        self.weights = weights
    }

    public func used(by allocation: [Double]) -> Double {
        var total = 0.0
        for (k, i) in members.enumerated() { total += weights[k] * allocation[i] }
        return total
    }
}

/// What is left for the chargers: DESIGN "The cycle", step 4, through the circuit tree.
///
/// A charger that does not answer is assumed to draw its last setpoint (or its
/// max) and that draw is reserved on top of the measured load: its real draw is
/// already inside the grid reading, so the reserve counts it twice at worst,
/// which errs on the side of the fuse.
public struct Budget: Sendable, Equatable {
    public var constraints: [Constraint]
    /// A left for EVs on each phase of the grid connection (may be negative).
    public var available: PhaseValues
    /// W left under the contractual power limit, if there is one.
    public var powerAvailable: Double?
    /// Load on each grid phase that the allocations do not control, A.
    public var nonEVLoad: PhaseValues
    /// Per charger: may it be given current this cycle.
    public var eligible: [Bool]

    public init(snapshot: SiteSnapshot) {
        let chargers = snapshot.chargers
        let voltage = snapshot.grid.effectiveVoltage
        let eligible = chargers.map(snapshot.canReceiveCurrent)
        self.eligible = eligible

        // Grid connection, per phase.
        var load = snapshot.grid.current
        var reserve = PhaseValues.zero
        for c in chargers {
            if c.responding {
                let measured = c.currentOnBuildingPhases
                for p in Phase.allCases { load[p] -= measured[p] }
            } else {
                for p in c.phases { reserve[p] += c.assumedDraw }
            }
        }
        let nonEV = load.map { p, v in v + reserve[p] }
        nonEVLoad = nonEV
        let root = snapshot.limits
        let headroom = root.current.map { p, limit in limit - root.margin - nonEV[p] }
        available = headroom

        var constraints: [Constraint] = []
        let everyone = Array(chargers.indices)
        for p in Phase.allCases {
            constraints.append(Budget.phaseConstraint(
                name: "grid \(p)", available: headroom[p], phase: p, candidates: everyone,
                chargers: chargers, eligible: eligible))
        }

        // Sub-distributions: their own fuse, their own metered load if any, and the
        // reserve for their silent chargers.
        let index = snapshot.chargerIndex
        for circuit in snapshot.circuits.flatMap(\.flattened) {
            let members = circuit.allChargers.compactMap { index[$0] }
            for p in Phase.allCases {
                var circuitLoad = circuit.load[p]
                for i in members where !chargers[i].responding {
                    circuitLoad += chargers[i].weight(on: p) * chargers[i].assumedDraw
                }
                constraints.append(Budget.phaseConstraint(
                    name: "circuit \(circuit.id) \(p)",
                    available: circuit.limit[p] - circuit.margin - circuitLoad,
                    phase: p, candidates: members, chargers: chargers, eligible: eligible))
            }
        }

        // Contractual power limit over the whole connection.
        if let powerLimit = root.power {
            let gridPower = snapshot.grid.effectivePower.sum
            var evPower = 0.0
            for c in chargers {
                let volts = c.phases.reduce(0.0) { $0 + voltage[$1] }
                if c.responding {
                    let measured = c.currentOnBuildingPhases
                    for p in Phase.allCases { evPower += measured[p] * voltage[p] }
                } else {
                    evPower -= c.assumedDraw * volts
                }
            }
            let left = powerLimit - (gridPower - evPower)
            powerAvailable = left
            constraints.append(Budget.powerConstraint(
                name: "power limit", available: left, candidates: everyone,
                chargers: chargers, eligible: eligible, voltage: voltage))
        } else {
            powerAvailable = nil
        }

        // Ripple `reduced`: the group's EV power is capped.
        if snapshot.ripple == .reduced {
            let group = chargers.indices.filter { snapshot.rippleSettings.contains(chargers[$0].id) }
            constraints.append(Budget.powerConstraint(
                name: "ripple reduced",
                available: snapshot.rippleSettings.reducedPower(groupSize: group.count),
                candidates: group, chargers: chargers, eligible: eligible, voltage: voltage))
        }
        self.constraints = constraints
    }

    static func phaseConstraint(name: String, available: Double, phase: Phase, candidates: [Int],
                                chargers: [ChargerSnapshot], eligible: [Bool]) -> Constraint {
        var members: [Int] = []
        var weights: [Double] = []
        for i in candidates where eligible[i] {
            let w = chargers[i].weight(on: phase)
            if w > 0 {
                members.append(i)
                weights.append(w)
            }
        }
        return Constraint(name: name, unit: .amps, available: available, members: members, weights: weights)
    }

    static func powerConstraint(name: String, available: Double, candidates: [Int], chargers: [ChargerSnapshot],
                                eligible: [Bool], voltage: PhaseValues) -> Constraint {
        var members: [Int] = []
        var weights: [Double] = []
        for i in candidates where eligible[i] {
            members.append(i)
            weights.append(chargers[i].phases.reduce(0.0) { $0 + voltage[$1] })
        }
        return Constraint(name: name, unit: .watts, available: available, members: members, weights: weights)
    }
}
