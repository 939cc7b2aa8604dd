import Foundation
import FuseboxController
import FuseboxCore
import FuseboxSimulation
import FuseboxSimulator
@testable import FuseboxUplink
import Testing

/// One row of Cases/commands.json: a message on a set topic and its answer.
struct CommandCase: Decodable, CustomStringConvertible {
    struct Expect: Decodable {
        var ok: Bool?
        var answer: Bool?
        var id: String?
        var field: String?
        var error: String?
        var applied: [String: JSONNumberOrText]?
    }

    struct First: Decodable {
        var topic: String
        var payload: String
    }

    var name: String
    /// A command applied before this one (what a clearing command clears).
    var first: First?
    /// Under the site's prefix, or, after `!`, a whole topic.
    var topic: String
    var payload: String?
    var payload_bytes: Int?
    var retained: Bool?
    var expect: Expect
    var description: String { name }

    static let all: [CommandCase] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases/commands.json")
        return (try? JSONDecoder().decode([CommandCase].self, from: Data(contentsOf: url))) ?? []
    }()

    /// The payload with `@now-N` as a time N seconds ago and `@xN` as N x's.
    func bytes(now: Double) -> [UInt8] {
        if let n = payload_bytes { return Array(repeating: UInt8(ascii: "x"), count: n) }
        var text = payload ?? ""
        while let r = text.range(of: #"@now-\d+"#, options: .regularExpression) {
            text.replaceSubrange(r, with: String(Int(now) - Int(text[r].dropFirst(5))!))
        }
        while let r = text.range(of: #"@x\d+"#, options: .regularExpression) {
            text.replaceSubrange(r, with: String(repeating: "x", count: Int(text[r].dropFirst(2))!))
        }
        return Array(text.utf8)
    }
}

enum JSONNumberOrText: Decodable, Equatable, CustomStringConvertible {
    case number(Double), text(String), flag(Bool)
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .flag(b) } else if let n = try? c.decode(Double.self) { self = .number(n) } else { self = .text(try c.decode(String.self)) }
    }
    var description: String { switch self { case .number(let n): "\(n)"; case .text(let t): t; case .flag(let b): "\(b)" } }
}

/// A small simulated site whose cycle the commands reach.
func commandSite() throws -> SimulatedRun {
    let sim = try SimConfig(yaml: """
        site: { noise: 0, base_load: [8, 8, 8] }
        chargers: [ { id: p01, make: abb_terra }, { id: p02, make: abb_terra } ]
        cars: [ { charger: p01, arrive: 0s, phases: 3, max: 16, wanted: 50 } ]
        """)
    var controller = SiteConfig()
    controller.serial = "T-CMD"
    controller.limits = SiteLimits(current: PhaseValues(all: 63), margin: 2)
    return try SimulatedRun(sim: sim, controller: controller)
}

@Suite("The uplink's commands: Cases/commands.json through the REST API's command path", .serialized)
struct UplinkCommandTests {
    @Test("every case: applied with its answer, or refused naming the field with nothing changed", arguments: CommandCase.all)
    func commandCase(_ c: CommandCase) async throws {
        let run = try commandSite()
        defer { run.stop() }
        for _ in 0..<3 { _ = await run.step() }
        let topics = UplinkTopics(prefix: "fusebox/T-CMD/")
        let commands = UplinkCommands(topics: topics, control: SiteControl(cycle: run.cycle))
        let now = await run.cycle.time
        if let first = c.first {
            let m = MQTTClient.Incoming(topic: topics.prefix + first.topic, payload: Array(first.payload.utf8), size: first.payload.utf8.count,
                                        retained: false, responseTopic: nil, correlation: nil)
            #expect(try #require(await commands.handle(m, now: now)).ok)
        }
        let bytes = c.bytes(now: now)
        let message = MQTTClient.Incoming(topic: c.topic.hasPrefix("!") ? String(c.topic.dropFirst()) : topics.prefix + c.topic,
                                          payload: bytes.count <= MQTTClient.maxIncoming ? bytes : [], size: bytes.count,
                                          retained: c.retained ?? false, responseTopic: nil, correlation: nil)
        let before = await run.cycle.commands()
        let answer = await commands.handle(message, now: now)
        let after = await run.cycle.commands()
        if c.expect.answer == false {
            #expect(answer == nil)
            #expect(before == after)
            return
        }
        let a = try #require(answer)
        #expect(a.topic == topics.result)
        let body = try #require(try JSONSerialization.jsonObject(with: a.payload) as? [String: Any])
        #expect(body["ok"] as? Bool == c.expect.ok, "\(body)")
        #expect(body["topic"] as? String == message.topic)
        if let id = c.expect.id { #expect(body["id"] as? String == id) }
        if c.expect.ok == true {
            #expect(before != after, "applied, yet the cycle's commands did not change")
            let applied = try #require(body["applied"] as? [String: Any])
            for (key, want) in c.expect.applied ?? [:] {
                switch want {
                case .number(let n): #expect(abs((applied[key] as? Double ?? .nan) - n) < 1.5, "\(key): \(applied)")
                case .text(let t): #expect(applied[key] as? String == t, "\(key): \(applied)")
                case .flag(let b): #expect(applied[key] as? Bool == b, "\(key): \(applied)")
                }
            }
            #expect(Set(applied.keys) == Set((c.expect.applied ?? [:]).keys), "\(applied)")
        } else {
            #expect(before == after, "refused, yet the cycle's commands changed")
            #expect(body["field"] as? String == c.expect.field, "\(body)")
            if let e = c.expect.error { #expect((body["error"] as? String ?? "").contains(e), "\(body)") }
            #expect(body["applied"] == nil)
        }
    }

    @Test("the table is there and covers both outcomes")
    func tableLoaded() {
        #expect(CommandCase.all.count >= 30)
        #expect(CommandCase.all.contains { $0.expect.ok == true } && CommandCase.all.contains { $0.expect.ok == false })
    }

    @Test("an applied command is an event naming MQTT, as the REST API's name who sent them")
    func eventNamesMQTT() async throws {
        let run = try commandSite()
        defer { run.stop() }
        _ = await run.step()
        let topics = UplinkTopics(prefix: "fusebox/T-CMD/")
        let commands = UplinkCommands(topics: topics, control: SiteControl(cycle: run.cycle))
        let m = MQTTClient.Incoming(topic: topics.stationSet("p01", "limit"), payload: Array(#"{"amps": 7}"#.utf8), size: 11,
                                    retained: false, responseTopic: "portal/answers", correlation: [1, 2, 3])
        let a = try #require(await commands.handle(m, now: await run.cycle.time))
        #expect(a.topic == "portal/answers" && a.correlation == [1, 2, 3])
        let record = await run.step()
        #expect(record.events.contains { $0.subject == "p01" && $0.message.contains("by MQTT") }, "\(record.events)")
        #expect(record.allocation[0] <= 7.01, "the limit holds from the next cycle: \(record.allocation)")
        // A response topic that is a command topic, or another of ours, is not used: the answer goes to the result topic.
        for bad in [topics.siteLimitSet, topics.availability, "x/+/y"] {
            var m2 = m
            m2.responseTopic = bad
            #expect(await commands.handle(m2, now: await run.cycle.time)?.topic == topics.result, "\(bad)")
        }
    }

    @Test("at most 20 commands a second, 50 at once: the 51st of a burst is refused, and a second later 20 more pass")
    func commandRate() {
        var rate = CommandRate()
        let t0 = ContinuousClock.now
        var burst = 0, second = 0
        for _ in 0..<60 where rate.allow(at: t0) { burst += 1 }
        for _ in 0..<60 where rate.allow(at: t0 + .seconds(1)) { second += 1 }
        #expect(burst == 50 && second == 20)
        let later = rate.allow(at: t0 + .seconds(10))
        #expect(later)
    }

    @Test("station ids become one topic level each, and back: no id reaches another level or station")
    func topicLevels() {
        let topics = UplinkTopics(prefix: "fusebox/S1")
        #expect(topics.prefix == "fusebox/S1/")
        for id in ["p01", "a/b", "x+y", "#", "100%", "ä-ß", "line\nbreak", "%2F"] {
            let level = UplinkTopics.level(id)
            #expect(!level.contains("/") && !level.contains("+") && !level.contains("#"), "\(level)")
            #expect(UplinkTopics.id(fromLevel: level) == id)
            guard case .success(.chargerLimit(let back))? = topics.target(of: topics.stationSet(id, "limit")) else {
                Issue.record("\(id): no target"); continue
            }
            #expect(back == id)
        }
        #expect(topics.target(of: "fusebox/S10/site/limit/set") == nil, "another site whose serial starts the same")
        #expect(topics.target(of: "fusebox/S1/grid") == nil)
        #expect(topics.subscriptions.allSatisfy { $0.hasPrefix("fusebox/S1/") })
    }
}
