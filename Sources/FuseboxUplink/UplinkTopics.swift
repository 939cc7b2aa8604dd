import FuseboxController
import FuseboxCore

/// The uplink's topic names under a site's prefix (`fusebox/<serial>/` by
/// default; docs/mqtt.md lists each with an example).
public struct UplinkTopics: Sendable, Equatable {
    /// Ends in `/`.
    public let prefix: String

    public init(prefix: String) { self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/" }

    /// `online` (retained) while connected; the broker sets `offline` (the last will) when the box vanishes.
    public var availability: String { prefix + "status" }
    public var grid: String { prefix + "grid" }
    public var pv: String { prefix + "pv" }
    public var ripple: String { prefix + "ripple" }
    public var events: String { prefix + "events" }
    public var sessions: String { prefix + "sessions" }
    /// Answers to commands (MQTT 5 clients may name their own response topic instead).
    public var result: String { prefix + "result" }
    /// What the uplink says about itself: its queue, what was dropped over the bound.
    public var uplink: String { prefix + "uplink" }
    public func station(_ id: String) -> String { prefix + "stations/" + Self.level(id) }

    public var siteLimitSet: String { prefix + "site/limit/set" }
    public var rippleSet: String { prefix + "ripple/set" }
    public func stationSet(_ id: String, _ what: String) -> String { station(id) + "/" + what + "/set" }

    /// What the uplink subscribes to: its own prefix's set topics, nothing else.
    public var subscriptions: [String] { [prefix + "stations/+/+/set", siteLimitSet, rippleSet] }

    /// A station id as one topic level: `/`, `+`, `#`, `%` and control
    /// characters percent-encoded, so that no id can reach another level or
    /// another station's topics.
    public static func level(_ id: String) -> String {
        var out = [UInt8]()
        for b in id.utf8 {
            if b < 0x20 || b == 0x7F || b == UInt8(ascii: "/") || b == UInt8(ascii: "+") || b == UInt8(ascii: "#") || b == UInt8(ascii: "%") {
                out += Array(("%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)).utf8)
            } else {
                out.append(b)   // multi-byte UTF-8 is kept as it is
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The station id a topic level names (the inverse of `level`).
    public static func id(fromLevel level: String) -> String? {
        var bytes: [UInt8] = []
        var it = Array(level.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// What a set topic of this prefix asks for: a command's target, a
    /// refusal for a set topic that names nothing, nil for any other topic.
    public func target(of topic: String) -> Result<SiteCommand.Target, CommandRefusal>? {
        guard topic.hasPrefix(prefix), topic.hasSuffix("/set") else { return nil }
        let parts = topic.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let known = "site/limit/set, ripple/set, stations/<id>/limit/set, stations/<id>/priority/set, stations/<id>/enabled/set"
        if parts == ["site", "limit", "set"] { return .success(.siteLimit) }
        if parts == ["ripple", "set"] { return .success(.ripple) }
        if parts.count == 4, parts[0] == "stations", let id = Self.id(fromLevel: parts[1]) {
            switch parts[2] {
            case "limit": return .success(.chargerLimit(id))
            case "priority": return .success(.chargerPriority(id))
            case "enabled": return .success(.chargerEnabled(id))
            default: break
            }
        }
        return .failure(CommandRefusal(.invalid, "topic: no such command; expected \(known) under \(prefix)", field: "topic", expected: known))
    }
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
