/// Everything one cycle knows about the site, frozen: the input of the budget,
/// the policy and the safety clamp. The same structure, as JSON, drives
/// `fusebox policy test`.
public struct SiteSnapshot: Sendable, Equatable, Codable {
    /// Seconds since 1970 (the only clock a policy sees).
    public var time: Double
    public var grid: GridMeasurement
    public var pv: PVReading?
    public var limits: SiteLimits
    /// Sub-distributions under the grid connection.
    public var circuits: [Circuit]
    public var chargers: [ChargerSnapshot]
    public var ripple: RippleMode
    public var rippleSettings: RippleSettings
    public var failsafe: FailsafeSettings

    public init(time: Double = 0, grid: GridMeasurement, pv: PVReading? = nil, limits: SiteLimits,
                circuits: [Circuit] = [], chargers: [ChargerSnapshot], ripple: RippleMode = .normal,
                rippleSettings: RippleSettings = RippleSettings(), failsafe: FailsafeSettings = FailsafeSettings()) {
        self.time = time
        self.grid = grid
        self.pv = pv
        self.limits = limits
        self.circuits = circuits
        self.chargers = chargers
        self.ripple = ripple
        self.rippleSettings = rippleSettings
        self.failsafe = failsafe
    }

    enum CodingKeys: String, CodingKey {
        case time, grid, pv, limits, circuits, chargers, ripple, failsafe
        case rippleSettings = "ripple_settings"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        time = try c.decodeIfPresent(Double.self, forKey: .time) ?? 0
        grid = try c.decode(GridMeasurement.self, forKey: .grid)
        pv = try c.decodeIfPresent(PVReading.self, forKey: .pv)
        limits = try c.decode(SiteLimits.self, forKey: .limits)
        circuits = try c.decodeIfPresent([Circuit].self, forKey: .circuits) ?? []
        chargers = try c.decode([ChargerSnapshot].self, forKey: .chargers)
        ripple = try c.decodeIfPresent(RippleMode.self, forKey: .ripple) ?? .normal
        rippleSettings = try c.decodeIfPresent(RippleSettings.self, forKey: .rippleSettings) ?? RippleSettings()
        failsafe = try c.decodeIfPresent(FailsafeSettings.self, forKey: .failsafe) ?? FailsafeSettings()
        if let problem = validationProblem {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: problem))
        }
    }

    /// Why this snapshot is inconsistent, or nil.
    public var validationProblem: String? {
        var seen = Set<String>()
        for charger in chargers {
            if let problem = charger.validationProblem { return problem }
            if !seen.insert(charger.id).inserted { return "charger id \(charger.id) appears twice" }
        }
        var placed = Set<String>()
        for circuit in circuits.flatMap(\.flattened) {
            for id in circuit.chargers {
                if !seen.contains(id) { return "circuit \(circuit.id) lists unknown charger \(id)" }
                if !placed.insert(id).inserted { return "charger \(id) is in more than one circuit" }
            }
        }
        return nil
    }

    /// Index of each charger id in `chargers`.
    public var chargerIndex: [String: Int] {
        var index: [String: Int] = [:]
        for (i, c) in chargers.enumerated() { index[c.id] = i }
        return index
    }

    /// The meter has been silent for the fail-safe's timeout: its readings, and so
    /// the budget, can no longer be trusted.
    public var meterSilent: Bool { grid.age >= failsafe.meterTimeout }

    /// Whether the ripple signal forces this charger to 0.
    public func isRippleLocked(_ charger: ChargerSnapshot) -> Bool {
        ripple == .locked && rippleSettings.contains(charger.id)
    }

    /// A charger that may be given current this cycle: it answers, it is not out
    /// of service and the ripple signal does not lock it.
    public func canReceiveCurrent(_ charger: ChargerSnapshot) -> Bool {
        charger.responding && charger.status != .unavailable && !isRippleLocked(charger)
    }
}
