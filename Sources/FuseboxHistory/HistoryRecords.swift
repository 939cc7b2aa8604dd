import FuseboxCore

/// One control cycle as history keeps it.
public struct HistoryCycle: Sendable, Equatable {
    public var time: Double
    /// The grid connection: A, V and (when the meter gives it) W per phase.
    public var current: PhaseValues
    public var voltage: PhaseValues
    public var power: PhaseValues?
    public var pvPower: Double?
    /// A per phase left for the cars after non-EV load and margin.
    public var budget: PhaseValues
    /// The limit in force (the fuse, or a remote site limit below it) and the margin.
    public var limit: PhaseValues
    public var margin: Double
    public var ripple: RippleMode
    public var failsafe: Bool
    public var fallback: Bool
    public var chargers: [ChargerSample]

    public init(time: Double, current: PhaseValues, voltage: PhaseValues = PhaseValues(all: 230), power: PhaseValues? = nil,
                pvPower: Double? = nil, budget: PhaseValues = .zero, limit: PhaseValues, margin: Double = 0,
                ripple: RippleMode = .normal, failsafe: Bool = false, fallback: Bool = false, chargers: [ChargerSample] = []) {
        self.time = time
        self.current = current
        self.voltage = voltage
        self.power = power
        self.pvPower = pvPower
        self.budget = budget
        self.limit = limit
        self.margin = margin
        self.ripple = ripple
        self.failsafe = failsafe
        self.fallback = fallback
        self.chargers = chargers
    }

    /// A per building phase the cars draw.
    public var evCurrent: PhaseValues {
        var v = PhaseValues.zero
        for c in chargers { for (p, a) in zip(c.phases, c.current) { v[p] += a } }
        return v
    }
}

/// One charger in one cycle.
public struct ChargerSample: Sendable, Equatable {
    public var id: String
    public var status: ChargerStatus
    /// The building phases its L1, L2, L3 are on.
    public var phases: [Phase]
    /// A on its own L1, L2, L3.
    public var current: [Double]
    /// The limit written to it, if any.
    public var setpoint: Double?
    /// kWh: its energy counter (a session counter or a total one).
    public var energy: Double

    public init(id: String, status: ChargerStatus, phases: [Phase] = [.l1, .l2, .l3], current: [Double] = [],
                setpoint: Double? = nil, energy: Double = 0) {
        self.id = id
        self.status = status
        self.phases = phases
        self.current = current
        self.setpoint = setpoint
        self.energy = energy
    }

    /// W it draws, at the given voltages of the building phases.
    public func power(voltage: PhaseValues) -> Double {
        zip(phases, current).reduce(0) { $0 + $1.1 * voltage[$1.0] }
    }

    /// A car is there (charging or not).
    public var connected: Bool { status == .occupied || status == .charging || status == .discharging }
}

/// A charging session: from a car plugging in to it leaving.
public struct ChargingSession: Sendable, Equatable {
    public var id: Int64
    public var charger: String
    public var start: Double
    /// nil while the car is still there.
    public var end: Double?
    public var energy: Double
    public var peakPower: Double

    public init(id: Int64, charger: String, start: Double, end: Double?, energy: Double, peakPower: Double) {
        self.id = id
        self.charger = charger
        self.start = start
        self.end = end
        self.energy = energy
        self.peakPower = peakPower
    }
}

/// A point of a range query: averages over `resolution` seconds (maxima for `peak`).
public struct SamplePoint: Sendable, Equatable {
    public var time: Double
    public var current: PhaseValues
    public var peak: PhaseValues
    public var ev: PhaseValues
    public var pvPower: Double
    public var budget: PhaseValues
    public var limit: PhaseValues
}

/// A charger's point of a range query.
public struct ChargerPoint: Sendable, Equatable, Codable {
    public var time: Double
    /// A averaged over the charger's phases that carry current, then over the interval.
    public var current: Double
    public var setpoint: Double
    public var energy: Double
}

/// A charger's settings as the site had them, for replay.
public struct ChargerSettingsRecord: Sendable, Equatable {
    public var id: String
    public var phases: [Phase]
    public var min: Double
    public var max: Double
    public var priority: Int

    public init(id: String, phases: [Phase], min: Double, max: Double, priority: Int) {
        self.id = id
        self.phases = phases
        self.min = min
        self.max = max
        self.priority = priority
    }
}

/// How long history is kept.
public struct Retention: Sendable, Equatable {
    /// Seconds raw samples (one per cycle) are kept.
    public var raw: Double
    /// Seconds 1-minute aggregates, events and sessions are kept.
    public var minute: Double

    public init(raw: Double = 7 * 86_400, minute: Double = 2 * 365 * 86_400) {
        self.raw = raw
        self.minute = minute
    }
}

/// A history file that opens but holds what this version cannot use.
public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
