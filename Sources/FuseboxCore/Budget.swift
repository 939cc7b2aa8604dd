/// One linear limit on the allocations: sum over members of weight x amps <= available.
///
/// Every limit the site has takes this shape: a phase of the grid connection or of
/// a sub-distribution (weight 1 for each of a charger's phases on it), the
/// contractual power limit and the ripple `reduced` cap (weight = volts of the
/// charger's phases). The policies and the clamp work on the same list.
public struct Constraint: Sendable, Equatable {
    public enum Unit: String, Sendable { case amps = "A", watts = "W" }

    /// Where a limit comes from. The clamp needs it: with the meter silent, only
    /// limits that do not depend on the meter's reading still hold.
    public enum Kind: Sendable {
        /// A phase of the grid connection or of a circuit (from the meter's reading).
        case phase
        /// The contractual power limit (from the meter's reading).
        case power
        /// The ripple `reduced` cap on the group's EV power (from the signal alone).
        case ripple
        /// Added by a policy stage for the stages after it.
        case policy
    }

    public var name: String
    public var unit: Unit
    public var kind: Kind
    /// What is left for the members, after non-EV load and margins.
    public var available: Double
    /// Indices into `SiteSnapshot.chargers`: every charger the limit applies to,
    /// whether or not it may get current this cycle (see `Budget.eligible`), so
    /// that the list changes only with the site's configuration.
    public var members: [Int]
    /// The weight of each member, aligned with `members`.
    public var weights: [Double]

    public init(name: String, unit: Unit, kind: Kind, available: Double, members: [Int], weights: [Double]) {
        self.name = name
        self.unit = unit
        self.kind = kind
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

/// What is left for the chargers: docs/design.md "The cycle", step 4, through the circuit tree.
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
    /// Index of each charger id in `SiteSnapshot.chargers`.
    public var chargerIndex: [String: Int]

    /// `layout` must fit the snapshot (`SiteLayout.fits`); without one, it is
    /// worked out for this snapshot alone.
    public init(snapshot: SiteSnapshot, layout: SiteLayout? = nil) {
        let layout = layout ?? SiteLayout(snapshot)
        let n = snapshot.chargers.count
        let voltage = snapshot.grid.effectiveVoltage
        // One pass over the chargers into flat arrays; everything after works on those.
        var eligible = [Bool](repeating: false, count: n)
        var responding = [Bool](repeating: false, count: n)
        var onPhase = [PhaseValues](repeating: .zero, count: n)   // weight on each building phase
        var volts = [Double](repeating: 0, count: n)
        var reserve = PhaseValues.zero                            // silent chargers' assumed draw
        var measured = PhaseValues.zero                           // answering chargers' draw
        var measuredPower = 0.0
        var reservePower = 0.0
        let chargers = snapshot.chargers
        for i in 0..<n {
            eligible[i] = snapshot.canReceiveCurrent(chargers[i])
            responding[i] = chargers[i].responding
            var w = PhaseValues.zero
            var v = 0.0
            let phases = chargers[i].phases
            for p in phases { w[p] += 1; v += voltage[p] }
            onPhase[i] = w
            volts[i] = v
            if responding[i] && !chargers[i].followsLimit {
                // It draws what it draws whatever it is given: building load.
            } else if responding[i] {
                let current = chargers[i].current
                for k in 0..<Swift.min(phases.count, current.count) {
                    measured[phases[k]] += current[k]
                    measuredPower += current[k] * voltage[phases[k]]
                }
            } else {
                let draw = chargers[i].assumedDraw
                for p in Phase.allCases { reserve[p] += w[p] * draw }
                reservePower += v * draw
            }
        }
        self.eligible = eligible

        // Grid connection, per phase.
        let nonEV = snapshot.grid.current.map { p, v in v - measured[p] + reserve[p] }
        nonEVLoad = nonEV
        let root = snapshot.limits
        let headroom = root.current.map { p, limit in limit - root.margin - nonEV[p] }
        available = headroom

        // Names, members and weights come from the layout; only what is left changes.
        var constraints = layout.phaseLimits
        for p in Phase.allCases { constraints[p.index].available = headroom[p] }

        // Sub-distributions: their own fuse, their own metered load if any, and the
        // reserve for their silent chargers.
        chargerIndex = layout.chargerIndex
        if !snapshot.circuits.isEmpty {
            var c = 0
            Circuit.visit(snapshot.circuits) { circuit in
                var circuitReserve = PhaseValues.zero
                for i in layout.circuitMembers[c] where !responding[i] {
                    let draw = chargers[i].assumedDraw
                    for p in Phase.allCases { circuitReserve[p] += onPhase[i][p] * draw }
                }
                for p in Phase.allCases {
                    constraints[3 + 3 * c + p.index].available =
                        circuit.limit[p] - circuit.margin - circuit.load[p] - circuitReserve[p]
                }
                c += 1
            }
        }

        // Contractual power limit over the whole connection.
        if let powerLimit = root.power {
            let nonEVPower = snapshot.grid.effectivePower.sum - measuredPower + reservePower
            let left = powerLimit - nonEVPower
            powerAvailable = left
            constraints.append(Constraint(name: "power limit", unit: .watts, kind: .power, available: left,
                                          members: Array(0..<n), weights: volts))
        } else {
            powerAvailable = nil
        }

        // Ripple `reduced`: the group's EV power is capped.
        if snapshot.ripple == .reduced {
            let group = (0..<n).filter { snapshot.rippleSettings.contains(snapshot.chargers[$0].id) }
            constraints.append(Budget.powerConstraint(
                name: "ripple reduced", kind: .ripple, available: snapshot.rippleSettings.reducedPower(groupSize: group.count),
                candidates: group, volts: volts))
        }
        self.constraints = constraints
    }

    static func powerConstraint(name: String, kind: Constraint.Kind, available: Double, candidates: [Int],
                                volts: [Double]) -> Constraint {
        var members: [Int] = []
        var weights: [Double] = []
        members.reserveCapacity(candidates.count)
        weights.reserveCapacity(candidates.count)
        for i in candidates {
            members.append(i)
            weights.append(volts[i])
        }
        return Constraint(name: name, unit: .watts, kind: kind, available: available, members: members, weights: weights)
    }
}
