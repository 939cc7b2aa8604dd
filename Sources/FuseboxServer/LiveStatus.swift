import FuseboxController
import FuseboxCore

/// The live status of the site: what `GET /api/status` returns and what the
/// WebSocket pushes each cycle.
public struct LiveStatus: Codable, Sendable, Equatable {
    public struct Grid: Codable, Sendable, Equatable {
        /// A, V and W per phase, L1..L3; `power` is null when the meter gives none.
        public var current: [Double]
        public var voltage: [Double]
        public var power: [Double]?
        /// The limit in force (the fuse, or a remote site limit below it), A per phase.
        public var limit: [Double]
        public var margin: Double
        /// A left for the cars per phase.
        public var budget: [Double]
        /// Seconds since the meter last answered.
        public var age: Double
    }

    public struct Charger: Codable, Sendable, Equatable {
        public var id: String
        public var status: String
        /// The building phases its L1..L3 are on.
        public var phases: [Int]
        /// A on its own L1..L3.
        public var current: [Double]
        /// The limit written to it.
        public var limit: Double
        public var min: Double
        public var max: Double
        public var priority: Int
        public var enabled: Bool
        public var responding: Bool
        /// A per phase the budget keeps for it while it does not answer (the limit it
        /// last took, until its own fallback takes over); nil while it answers.
        public var reserved: Double?
        /// kWh of the current session (its counter).
        public var sessionEnergy: Double
        /// A remote limit in force, and until when (seconds since 1970).
        public var remoteLimit: Double?
        public var remoteUntil: Double?
    }

    public var time: Double
    public var site: String
    public var grid: Grid
    public var pvPower: Double?
    public var ripple: String
    /// The ripple mode set through the API, if one is in force.
    public var rippleRemote: String?
    public var siteLimit: Double?
    public var siteLimitUntil: Double?
    public var failsafe: Bool
    public var fallback: String?
    public var chargers: [Charger]
    public var cycle: Int
    public var cycleWorkMs: Double
    public var warnings: [String]
    /// The MQTT uplink, when the site has one.
    public var uplink: UplinkReport?

    public init(site: String, published p: PublishedCycle, overrides o: ControlCycle.Overrides, warnings: [String], uplink: UplinkReport? = nil) {
        let r = p.record, s = r.snapshot
        time = r.time
        self.site = site
        grid = Grid(current: s.grid.current.array, voltage: s.grid.voltage.array, power: s.grid.power?.array,
                    limit: s.limits.current.array, margin: s.limits.margin, budget: r.budget.array,
                    age: s.grid.age.isFinite ? s.grid.age : -1)
        pvPower = s.pv?.power
        ripple = s.ripple.rawValue
        rippleRemote = o.ripple?.rawValue
        siteLimit = o.remote.site?.amps
        siteLimitUntil = o.remote.site?.until
        failsafe = s.meterSilent
        fallback = r.fallback
        chargers = zip(s.chargers, r.allocation).map { c, amps in
            let remote = o.remote.chargers[c.id]
            return Charger(id: c.id, status: c.status.rawValue, phases: c.phases.map(\.rawValue), current: c.current, limit: amps,
                           min: c.min, max: c.max, priority: o.priority[c.id] ?? c.priority, enabled: o.enabled[c.id] ?? true,
                           responding: c.responding, reserved: c.responding ? nil : c.assumedDraw, sessionEnergy: c.sessionEnergy, remoteLimit: remote?.amps, remoteUntil: remote?.until)
        }
        cycle = p.number
        cycleWorkMs = (p.timing.work * 100_000).rounded() / 100
        self.warnings = warnings
        self.uplink = uplink
    }
}
