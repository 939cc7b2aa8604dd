import FuseboxCore

/// A change to the running site from outside: the page, the REST API, the
/// MQTT uplink. Each is read and checked here, once, whichever way it came.
public enum SiteCommand: Sendable, Equatable {
    /// A station's own limit for `ttl` seconds; nil amps clears it.
    case chargerLimit(id: String, amps: Double?, ttl: Double)
    case chargerPriority(id: String, priority: Int)
    case chargerEnabled(id: String, enabled: Bool)
    /// A site limit (A per phase, below the fuse) for `ttl` seconds; nil clears it.
    case siteLimit(amps: Double?, ttl: Double)
    /// The remote ripple mode for `ttl` seconds; nil clears it.
    case ripple(mode: RippleMode?, ttl: Double)

    /// What a command is about, as its REST path and MQTT topic name it.
    public enum Target: Sendable, Equatable {
        case chargerLimit(String), chargerPriority(String), chargerEnabled(String), siteLimit, ripple
    }

    /// The range a limit may be set in, and how long it holds unless told.
    public static let chargerAmps: ClosedRange<Double> = 0...80
    public static let siteAmps: ClosedRange<Double> = 0...4000
    public static let chargerLimitTTL: Double = 3600
    public static let siteLimitTTL: Double = 900
    public static let rippleTTL: Double = 900

    /// The command `fields` give for `target`. `clearing` lets a null value
    /// (`"amps": null`, `"mode": null`) clear what was set; the REST API
    /// clears with DELETE instead.
    public init(_ target: Target, _ fields: CommandFields, clearing: Bool = false) throws(CommandRefusal) {
        func cleared(_ key: String) -> Bool { clearing && fields.isNull(key) }
        switch target {
        case .chargerLimit(let id):
            try fields.only(["amps", "ttl"])
            self = .chargerLimit(id: id, amps: cleared("amps") ? nil : try fields.number("amps", Self.chargerAmps),
                                 ttl: try fields.ttl(default: Self.chargerLimitTTL))
        case .chargerPriority(let id):
            try fields.only(["priority"])
            self = .chargerPriority(id: id, priority: try fields.integer("priority", -1000...1000))
        case .chargerEnabled(let id):
            try fields.only(["enabled"])
            self = .chargerEnabled(id: id, enabled: try fields.bool("enabled"))
        case .siteLimit:
            try fields.only(["amps", "ttl"])
            self = .siteLimit(amps: cleared("amps") ? nil : try fields.number("amps", Self.siteAmps), ttl: try fields.ttl(default: Self.siteLimitTTL))
        case .ripple:
            try fields.only(["mode", "ttl"])
            let mode = cleared("mode") ? nil : try fields.choice("mode", RippleMode.allCases.map(\.rawValue))
            self = .ripple(mode: mode.flatMap(RippleMode.init(rawValue:)), ttl: try fields.ttl(default: Self.rippleTTL))
        }
    }

    /// The station a command is about, if it is about one.
    public var station: String? {
        switch self {
        case .chargerLimit(let id, _, _), .chargerPriority(let id, _), .chargerEnabled(let id, _): id
        case .siteLimit, .ripple: nil
        }
    }

    /// How long it holds, if it runs out.
    public var ttl: Double? {
        switch self {
        case .chargerLimit(_, let amps, let ttl), .siteLimit(let amps, let ttl): amps == nil ? nil : ttl
        case .ripple(let mode, let ttl): mode == nil ? nil : ttl
        case .chargerPriority, .chargerEnabled: nil
        }
    }

    /// The same command holding `ttl` seconds instead (what is left of a retained one).
    public func holding(for ttl: Double) -> SiteCommand {
        switch self {
        case .chargerLimit(let id, let amps, _): .chargerLimit(id: id, amps: amps, ttl: ttl)
        case .siteLimit(let amps, _): .siteLimit(amps: amps, ttl: ttl)
        case .ripple(let mode, _): .ripple(mode: mode, ttl: ttl)
        case .chargerPriority, .chargerEnabled: self
        }
    }
}

/// The one place commands from outside reach the cycle: an unknown station
/// is refused naming the ones there are, and the event each command leaves
/// names who sent it (`by`: "user 'admin'", "token 'portal'", "MQTT").
public struct SiteControl: Sendable {
    public let cycle: ControlCycle

    public init(cycle: ControlCycle) { self.cycle = cycle }

    /// `id` if the cycle runs a station of that id.
    public func station(_ id: String) throws(CommandRefusal) -> String {
        let ids = cycle.roster.map(\.settings.id)
        guard ids.contains(id) else {
            throw CommandRefusal(.notFound, "no charger with id \(ConfigReader.quoted(String(id.prefix(80))))", field: "id",
                                 expected: "one of \(ids.joined(separator: ", "))")
        }
        return id
    }

    public func apply(_ command: SiteCommand, by source: String?) async throws(CommandRefusal) {
        if let id = command.station { _ = try station(id) }
        let known: Bool
        switch command {
        case .chargerLimit(let id, let amps, let ttl): known = await cycle.setChargerLimit(id, amps: amps, ttl: ttl, by: source)
        case .chargerPriority(let id, let priority): known = await cycle.setPriority(id, priority, by: source)
        case .chargerEnabled(let id, let on): known = await cycle.setEnabled(id, on, by: source)
        case .siteLimit(let amps, let ttl):
            await cycle.setSiteLimit(amps, ttl: ttl, by: source)
            known = true
        case .ripple(let mode, let ttl):
            await cycle.setRipple(mode, ttl: ttl, by: source)
            known = true
        }
        // A configuration taking over between the check and the change can remove the station.
        if !known, let id = command.station {
            throw CommandRefusal(.notFound, "no charger with id \(ConfigReader.quoted(id)) any more: a new configuration took over", field: "id")
        }
    }
}
