/// What was set from outside the configuration (the page, the REST API, a
/// utility's portal) and must outlive a restart: a utility's lock set over REST
/// an hour ago still holds after a power cut, and a charger the owner switched
/// off on the page stays off.
///
/// Times are absolute (the controller's clock, seconds since 1970), so that
/// what ran out while the controller was down is not brought back.
public struct SiteCommands: Codable, Sendable, Equatable {
    /// The API's ripple mode; `until` is infinite when it holds until cleared.
    public struct Ripple: Codable, Sendable, Equatable {
        public var mode: RippleMode
        public var until: Double
        public init(mode: RippleMode, until: Double) {
            self.mode = mode
            self.until = until
        }

        enum CodingKeys: String, CodingKey { case mode, until }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            mode = try c.decode(RippleMode.self, forKey: .mode)
            until = try c.decodeUntil(forKey: .until)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(mode, forKey: .mode)
            try c.encodeUntil(until, forKey: .until)
        }
    }

    /// A priority set on the page, with the configured one it replaced: when the
    /// configuration has changed since, the configuration wins.
    public struct Priority: Codable, Sendable, Equatable {
        public var value: Int
        public var configured: Int
        public init(value: Int, configured: Int) {
            self.value = value
            self.configured = configured
        }
    }

    public var siteLimit: RemoteLimits.Entry?
    public var chargerLimits: [String: RemoteLimits.Entry] = [:]
    public var ripple: Ripple?
    /// Chargers switched off (false) or on again (true) from outside.
    public var enabled: [String: Bool] = [:]
    public var priorities: [String: Priority] = [:]

    public init() {}

    // Every part may be missing from the JSON: nothing set.
    enum CodingKeys: String, CodingKey { case siteLimit, chargerLimits, ripple, enabled, priorities }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        siteLimit = try c.decodeIfPresent(RemoteLimits.Entry.self, forKey: .siteLimit)
        chargerLimits = try c.decodeIfPresent([String: RemoteLimits.Entry].self, forKey: .chargerLimits) ?? [:]
        ripple = try c.decodeIfPresent(Ripple.self, forKey: .ripple)
        enabled = try c.decodeIfPresent([String: Bool].self, forKey: .enabled) ?? [:]
        priorities = try c.decodeIfPresent([String: Priority].self, forKey: .priorities) ?? [:]
    }

    /// What of `self` still holds at `now` for a site with these chargers
    /// (id and configured priority), and a line for each thing dropped and why.
    public func restorable(at now: Double, chargers: [(id: String, priority: Int)]) -> (SiteCommands, dropped: [String]) {
        func running(_ until: Double) -> Bool { now < until }
        let configured = Dictionary(chargers.map { ($0.id, $0.priority) }, uniquingKeysWith: { first, _ in first })
        var out = SiteCommands()
        var dropped: [String] = []
        if let s = siteLimit {
            if running(s.until) { out.siteLimit = s } else { dropped.append("site limit \(s.amps) A: ran out while stopped") }
        }
        if let r = ripple {
            if running(r.until) { out.ripple = r } else { dropped.append("ripple \(r.mode.rawValue): ran out while stopped") }
        }
        for (id, l) in chargerLimits.sorted(by: { $0.key < $1.key }) {
            if configured[id] == nil { dropped.append("\(id) limit: no such charger any more") }
            else if !running(l.until) { dropped.append("\(id) limit \(l.amps) A: ran out while stopped") }
            else { out.chargerLimits[id] = l }
        }
        for (id, on) in enabled.sorted(by: { $0.key < $1.key }) {
            if configured[id] == nil { dropped.append("\(id) \(on ? "enabled" : "disabled"): no such charger any more") }
            else { out.enabled[id] = on }
        }
        for (id, p) in priorities.sorted(by: { $0.key < $1.key }) {
            guard let current = configured[id] else {
                dropped.append("\(id) priority: no such charger any more")
                continue
            }
            if current != p.configured {
                dropped.append("\(id) priority \(p.value): the configuration changed it from \(p.configured) to \(current) since")
            } else {
                out.priorities[id] = p
            }
        }
        return (out, dropped)
    }

    /// One line per command, for the log and the restart event: how long each
    /// still holds from `now`.
    public func summary(at now: Double) -> [String] {
        func end(_ until: Double) -> String { until.isFinite ? " for \(Int((until - now).rounded(.up))) s more" : " until cleared" }
        var out: [String] = []
        if let s = siteLimit { out.append("site limit \(s.amps) A\(end(s.until))") }
        if let r = ripple { out.append("ripple \(r.mode.rawValue)\(end(r.until))") }
        for (id, l) in chargerLimits.sorted(by: { $0.key < $1.key }) { out.append("\(id) limit \(l.amps) A\(end(l.until))") }
        for (id, on) in enabled.sorted(by: { $0.key < $1.key }) { out.append("\(id) \(on ? "enabled" : "disabled")") }
        for (id, p) in priorities.sorted(by: { $0.key < $1.key }) { out.append("\(id) priority \(p.value)") }
        return out
    }
}
