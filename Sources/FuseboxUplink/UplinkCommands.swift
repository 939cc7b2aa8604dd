import Foundation
import FuseboxController
import FuseboxCore

/// The `.../set` topics: each message read, checked and applied through
/// `SiteControl`, the REST API's own command path, and answered. The uplink
/// owns no rule of its own but two that only MQTT needs: the `id` and `at`
/// fields, and what a retained command may do.
struct UplinkCommands {
    /// A command payload larger than this is refused unread.
    static let maxPayload = 4096

    let topics: UplinkTopics
    let control: SiteControl

    /// The answer to publish, and where.
    struct Answer {
        var topic: String
        var payload: Data
        var correlation: [UInt8]?
        var ok: Bool
    }

    struct Result: Encodable {
        var topic: String
        var ok: Bool
        /// The `id` the command gave, so that a client without MQTT 5 can match the answer.
        var id: String?
        var applied: Applied?
        var error: String?
        var field: String?
        var expected: String?
    }

    struct Applied: Encodable {
        var station: String?
        var amps: Double?
        var ttl: Double?
        var mode: String?
        var priority: Int?
        var enabled: Bool?
        var cleared: Bool?
    }

    /// Handles one message on a set topic; nil for an empty payload (a retained command being cleared).
    /// `refused` answers it with that refusal instead, applying nothing (too many commands).
    func handle(_ m: MQTTClient.Incoming, now: Double, refused: CommandRefusal? = nil) async -> Answer? {
        if m.size == 0 { return nil }
        var id: String?
        let outcome: Swift.Result<SiteCommand, CommandRefusal>
        do throws(CommandRefusal) {
            if let refused { throw refused }
            let (command, given) = try read(m, now: now)
            id = given
            try await control.apply(command, by: "MQTT")
            outcome = .success(command)
        } catch {
            outcome = .failure(error)
        }
        if id == nil, m.size <= Self.maxPayload, let fields = try? CommandFields.parse(m.payload), case .string(let text)? = fields.object["id"],
           text.count <= 64 {
            id = text
        }
        var result = Result(topic: m.topic, ok: true, id: id)
        switch outcome {
        case .success(let command): result.applied = Self.applied(command)
        case .failure(let refusal):
            result.ok = false
            result.error = refusal.message
            result.field = refusal.field
            result.expected = refusal.expected
        }
        let payload = (try? UplinkSampler.encoder.encode(result)) ?? Data(#"{"ok":false}"#.utf8)
        return Answer(topic: m.responseTopic.flatMap { validResponseTopic($0) ? $0 : nil } ?? topics.result, payload: payload,
                      correlation: m.correlation, ok: result.ok)
    }

    /// The command a message gives, and its `id`; refused with why.
    func read(_ m: MQTTClient.Incoming, now: Double) throws(CommandRefusal) -> (SiteCommand, String?) {
        guard let target = topics.target(of: m.topic) else {
            throw CommandRefusal(.invalid, "topic: not a command topic of this site (\(topics.prefix))", field: "topic")
        }
        let which = try target.get()
        guard m.size <= Self.maxPayload else {
            throw CommandRefusal(.invalid, "payload: expected at most \(Self.maxPayload) bytes of JSON, got \(m.size) bytes", field: "payload",
                                 expected: "a JSON object of at most \(Self.maxPayload) bytes")
        }
        let all = try CommandFields.parse(m.payload, expected: "a JSON object")
        var rest = all.object
        var id: String?
        if rest["id"] != nil {
            id = try all.string("id", maxLength: 64)
            rest["id"] = nil
        }
        var at: Double?
        if rest["at"] != nil {
            at = try all.number("at", 0...4_102_444_800)
            rest["at"] = nil
        }
        var command = try SiteCommand(which, CommandFields(rest), clearing: true)
        if let station = command.station { _ = try control.station(station) }
        // What was given at a time and for a time holds only what is left of it.
        if let at, let ttl = command.ttl {
            let left = at + ttl - now
            guard left > 0 else {
                throw CommandRefusal(.invalid, "at: this command ran out \(Int(-left)) s ago (at \(ConfigReader.show(at)) + ttl \(ConfigReader.show(ttl)) s)",
                                     field: "at", expected: "a time within the command's ttl")
            }
            command = command.holding(for: min(ttl, left))
        }
        // A retained message was kept by the broker from before this connection:
        // it may be days old. Only one that says when it was given and still holds applies.
        if m.retained && (at == nil || command.ttl == nil) {
            throw CommandRefusal(.invalid, "retained: a retained command is applied again only while its time to live holds; this one has no "
                                 + (command.ttl == nil ? "time to live" : "at (the time it was given)") + ", so it was not applied",
                                 field: "retain", expected: "a command sent without retain, or one with at and ttl")
        }
        return (command, id)
    }

    static func applied(_ c: SiteCommand) -> Applied {
        switch c {
        case .chargerLimit(let id, let amps, let ttl):
            amps.map { Applied(station: id, amps: $0, ttl: ttl) } ?? Applied(station: id, cleared: true)
        case .chargerPriority(let id, let p): Applied(station: id, priority: p)
        case .chargerEnabled(let id, let on): Applied(station: id, enabled: on)
        case .siteLimit(let amps, let ttl): amps.map { Applied(amps: $0, ttl: ttl) } ?? Applied(cleared: true)
        case .ripple(let mode, let ttl): mode.map { Applied(ttl: ttl, mode: $0.rawValue) } ?? Applied(cleared: true)
        }
    }

    /// A response topic a client may name: no wildcards, no command topic
    /// (ours or another device's), nothing of ours but results. Else the
    /// answer goes to the result topic.
    func validResponseTopic(_ t: String) -> Bool {
        !t.isEmpty && t.utf8.count <= 1024 && !t.contains("+") && !t.contains("#") && !t.hasSuffix("/set")
            && (!t.hasPrefix(topics.prefix) || t.hasPrefix(topics.result))
    }
}

/// At most `perSecond` commands a second, `burst` at once: a client that
/// floods the set topics gets refusals, and the cycle, the history and the
/// event list are not flooded with its changes.
struct CommandRate {
    var perSecond: Double = 20
    var burst: Double = 50
    private var tokens: Double = 50
    private var last: ContinuousClock.Instant?

    mutating func allow(at now: ContinuousClock.Instant = .now) -> Bool {
        if let last {
            let elapsed = now - last
            tokens = min(burst, tokens + perSecond * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    static let refusal = CommandRefusal(.invalid, "rate: more than 20 commands a second (50 at once); this one was not applied", field: "rate",
                                        expected: "at most 20 commands a second")
}
