/// One charging station as the cycle sees it: its settings and its latest reading.
public struct ChargerSnapshot: Sendable, Equatable, Codable {
    public var id: String
    public var status: ChargerStatus
    /// The building phase each of the charger's own phases is wired to: `[1, 2, 3]`
    /// is straight, `[2, 3, 1]` rotated, `[3]` a single-phase station on L3.
    public var phases: [Phase]
    /// The least current the charger may be offered; below it only 0 (IEC 61851: 6 A).
    public var min: Double
    /// The charger's own maximum per phase.
    public var max: Double
    /// The cable's rating, when it is below the charger's.
    public var cableMax: Double?
    /// Higher is served first by `priority`, and cut last by the safety clamp.
    public var priority: Int
    /// Measured current on the charger's own phases, in the order of `phases`.
    public var current: [Double]
    /// The limit last written to the charger, if any.
    public var setpoint: Double?
    /// Energy of the running session, kWh.
    public var sessionEnergy: Double
    /// Seconds since the car was connected.
    public var connectedFor: Double
    /// False when the charger did not answer this cycle.
    public var responding: Bool
    /// False when it answers but has not followed its limit for a while: its
    /// measured draw then stays in the building's load (Budget), since the
    /// allocation cannot count on it changing.
    public var followsLimit: Bool

    public init(
        id: String, status: ChargerStatus, phases: [Phase] = [.l1, .l2, .l3],
        min: Double = 6, max: Double = 16, cableMax: Double? = nil, priority: Int = 0,
        current: [Double] = [], setpoint: Double? = nil, sessionEnergy: Double = 0,
        connectedFor: Double = 0, responding: Bool = true, followsLimit: Bool = true
    ) {
        self.id = id
        self.status = status
        self.phases = phases
        self.min = min
        self.max = max
        self.cableMax = cableMax
        self.priority = priority
        self.current = current
        self.setpoint = setpoint
        self.sessionEnergy = sessionEnergy
        self.connectedFor = connectedFor
        self.responding = responding
        self.followsLimit = followsLimit
    }

    /// The most this charger may be given: its own max and its cable's, whichever is lower.
    public var effectiveMax: Double { Swift.min(max, cableMax ?? .infinity) }

    /// How many of the charger's phases sit on a building phase (0 or 1; 2 or 3
    /// only for a miswired mapping, which validation rejects).
    public func weight(on phase: Phase) -> Double {
        var n = 0.0
        for p in phases where p == phase { n += 1 }
        return n
    }

    /// Measured current mapped onto the building's phases.
    public var currentOnBuildingPhases: PhaseValues {
        var v = PhaseValues.zero
        for (i, p) in phases.enumerated() where i < current.count {
            v[p] += current[i]
        }
        return v
    }

    /// What a charger that does not answer is assumed to draw on each of its
    /// phases: its last setpoint, or its max when none is known (docs/design.md).
    public var assumedDraw: Double { setpoint ?? effectiveMax }

    enum CodingKeys: String, CodingKey {
        case id, status, phases, min, max, priority, current, setpoint, responding
        case cableMax = "cable_max"
        case sessionEnergy = "session_energy"
        case connectedFor = "connected_for"
        case followsLimit = "follows_limit"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        status = try c.decode(ChargerStatus.self, forKey: .status)
        phases = try c.decodeIfPresent([Phase].self, forKey: .phases) ?? [.l1, .l2, .l3]
        min = try c.decodeIfPresent(Double.self, forKey: .min) ?? 6
        max = try c.decodeIfPresent(Double.self, forKey: .max) ?? 16
        cableMax = try c.decodeIfPresent(Double.self, forKey: .cableMax)
        priority = try c.decodeIfPresent(Int.self, forKey: .priority) ?? 0
        current = try c.decodeIfPresent([Double].self, forKey: .current) ?? []
        setpoint = try c.decodeIfPresent(Double.self, forKey: .setpoint)
        sessionEnergy = try c.decodeIfPresent(Double.self, forKey: .sessionEnergy) ?? 0
        connectedFor = try c.decodeIfPresent(Double.self, forKey: .connectedFor) ?? 0
        responding = try c.decodeIfPresent(Bool.self, forKey: .responding) ?? true
        followsLimit = try c.decodeIfPresent(Bool.self, forKey: .followsLimit) ?? true
        if let problem = validationProblem {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: problem))
        }
    }

    /// Why these settings cannot be used, or nil when they can.
    public var validationProblem: String? {
        if id.isEmpty { return "charger id must not be empty" }
        if phases.isEmpty || phases.count > 3 { return "charger \(id): phases must list 1 to 3 building phases, got \(phases.count)" }
        if Set(phases).count != phases.count { return "charger \(id): phases \(phases.map(\.rawValue)) map two of its phases onto one building phase" }
        if !(min >= 0 && min.isFinite) { return "charger \(id): min must be a number >= 0, got \(min)" }
        if !(max >= min && max.isFinite) { return "charger \(id): max must be a number >= min (\(min)), got \(max)" }
        if let cable = cableMax, !(cable >= 0 && cable.isFinite) { return "charger \(id): cable_max must be a number >= 0, got \(cable)" }
        if current.count > phases.count { return "charger \(id): current has \(current.count) values for \(phases.count) phases" }
        return nil
    }
}
