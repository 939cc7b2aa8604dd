/// The utility's ripple-control (or section 14a) signal.
public enum RippleMode: String, Sendable, Codable, CaseIterable {
    case normal, reduced, locked
}

/// Which chargers the ripple signal acts on, and what `reduced` allows them.
public struct RippleSettings: Sendable, Equatable, Codable {
    /// Charger ids in the ripple group; nil means every charger.
    public var group: [String]?
    /// W the whole group may draw while `reduced`; nil means the section 14a floor.
    public var reducedPower: Double?

    public init(group: [String]? = nil, reducedPower: Double? = nil) {
        self.group = group
        self.reducedPower = reducedPower
    }

    enum CodingKeys: String, CodingKey {
        case group
        case reducedPower = "reduced_power"
    }

    public func contains(_ chargerID: String) -> Bool { group?.contains(chargerID) ?? true }

    /// The power the group keeps while `reduced`.
    public func reducedPower(groupSize: Int) -> Double {
        reducedPower ?? RippleSettings.section14aFloor(devices: groupSize)
    }

    /// Germany, section 14a EnWG: a reduced controllable consumer keeps at least
    /// 4.2 kW; through one energy manager for n devices, 4.2 kW + (n - 1) x f x 4.2 kW
    /// with f from 0.8 (n = 2) down to 0.45 (n >= 9). See docs/design.md, field facts.
    public static func section14aFloor(devices n: Int) -> Double {
        let unit = 4200.0
        guard n > 1 else { return unit }
        let factors: [Double] = [0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5]
        let f = n <= 8 ? factors[n - 2] : 0.45
        return unit + Double(n - 1) * f * unit
    }
}

/// What happens when the grid meter stops answering (docs/design.md, invariants).
public struct FailsafeSettings: Sendable, Equatable, Codable {
    /// Seconds without an answer from the meter before the fail-safe applies.
    public var meterTimeout: Double
    /// A per phase every charger gets while the meter is silent: 0 (stop) or a
    /// current the site knows its fuse carries for all chargers at once (6 A).
    public var current: Double

    public init(meterTimeout: Double = 5, current: Double = 0) {
        self.meterTimeout = meterTimeout
        self.current = current
    }

    enum CodingKeys: String, CodingKey {
        case meterTimeout = "meter_timeout"
        case current
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        meterTimeout = try c.decodeIfPresent(Double.self, forKey: .meterTimeout) ?? 5
        current = try c.decodeIfPresent(Double.self, forKey: .current) ?? 0
    }

    /// What a charger gets while the meter is silent: the fail-safe current
    /// within its max, or 0 when that is below its min.
    public func current(for charger: ChargerSnapshot) -> Double {
        let amps = Swift.min(current, charger.effectiveMax)
        return amps >= charger.min && amps > 0 ? amps : 0
    }
}
