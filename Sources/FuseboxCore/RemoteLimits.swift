/// Limits set from outside (a utility, a fleet portal, the site owner on the
/// page): a site limit below the fuse and per-charger limits. Each lives until
/// its time to live runs out, so a portal that goes silent cannot leave a site
/// throttled (or a charger off) for good.
public struct RemoteLimits: Sendable, Equatable {
    /// `until` is infinite for a limit that holds until cleared.
    public struct Entry: Codable, Sendable, Equatable {
        public var amps: Double
        public var until: Double
        public init(amps: Double, until: Double) {
            self.amps = amps
            self.until = until
        }

        enum CodingKeys: String, CodingKey { case amps, until }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            amps = try c.decode(Double.self, forKey: .amps)
            until = try c.decodeUntil(forKey: .until)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(amps, forKey: .amps)
            try c.encodeUntil(until, forKey: .until)
        }
    }

    /// A per phase at the grid connection, never above the fuse.
    public var site: Entry?
    public var chargers: [String: Entry] = [:]

    public init() {}

    /// Drops what has run out; returns what was dropped, for the events log.
    public mutating func expire(at time: Double) -> [String] {
        var gone: [String] = []
        if let s = site, time >= s.until { site = nil; gone.append("site") }
        for (id, e) in chargers where time >= e.until {
            chargers[id] = nil
            gone.append(id)
        }
        return gone.sorted()
    }

    /// The grid connection's limits with the site limit in force: it takes the
    /// fuse's place (and the margin is still kept below it).
    public func applied(to limits: SiteLimits, at time: Double) -> SiteLimits {
        guard let s = site, time < s.until else { return limits }
        var out = limits
        out.current = PhaseValues(min(limits.current.l1, s.amps), min(limits.current.l2, s.amps), min(limits.current.l3, s.amps))
        return out
    }

    public func max(for id: String, at time: Double) -> Double? {
        guard let e = chargers[id], time < e.until else { return nil }
        return e.amps
    }
}

// An end in JSON, which has no infinity: absent (or null) for "until cleared".
extension KeyedDecodingContainer {
    func decodeUntil(forKey key: Key) throws -> Double { try decodeIfPresent(Double.self, forKey: key) ?? .infinity }
}

extension KeyedEncodingContainer {
    mutating func encodeUntil(_ until: Double, forKey key: Key) throws {
        if until.isFinite { try encode(until, forKey: key) }
    }
}
