/// What the grid meter reads at the building's connection point.
///
/// Currents are signed: positive is import, negative is export (the SDM630
/// reports magnitudes; its driver signs them by the phase's power).
public struct GridMeasurement: Sendable, Equatable, Codable {
    public var current: PhaseValues
    public var voltage: PhaseValues
    /// Per-phase active power in W. When absent it is taken as current x voltage.
    public var power: PhaseValues?
    /// Seconds since the meter last answered: 0 when this reading is fresh.
    public var age: Double

    public init(current: PhaseValues, voltage: PhaseValues = PhaseValues(all: 230), power: PhaseValues? = nil,
                age: Double = 0) {
        self.current = current
        self.voltage = voltage
        self.power = power
        self.age = age
    }

    enum CodingKeys: String, CodingKey { case current, voltage, power, age }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        current = try c.decode(PhaseValues.self, forKey: .current)
        voltage = try c.decodeIfPresent(PhaseValues.self, forKey: .voltage) ?? PhaseValues(all: 230)
        power = try c.decodeIfPresent(PhaseValues.self, forKey: .power)
        age = try c.decodeIfPresent(Double.self, forKey: .age) ?? 0
    }

    /// Voltage used to turn amps into watts: a phase whose meter reads no
    /// plausible voltage counts at the nominal 230 V.
    public var effectiveVoltage: PhaseValues {
        voltage.map { _, v in v > 50 ? v : GridMeasurement.nominalVoltage }
    }

    public var effectivePower: PhaseValues {
        power ?? current.map { p, i in i * effectiveVoltage[p] }
    }

    public static let nominalVoltage = 230.0
}

/// The PV plant, if the site has one.
public struct PVReading: Sendable, Equatable, Codable {
    /// What the inverter produces now, W.
    public var power: Double
    /// What EVs could use without importing: export plus what EVs draw now, W.
    public var surplus: Double

    public init(power: Double, surplus: Double) {
        self.power = power
        self.surplus = surplus
    }
}
