import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxOCPP
import Synchronization
import Testing

/// One row of Cases/limits.json: a station's driver, how the fake station
/// answers each action, and per step the limit applied, the calls that must
/// go out, in order, and the outcome.
struct LimitCase: CustomStringConvertible, Sendable {
    struct Rule: Sendable {
        var when: [String: String]
        var status: String?
        var limit: Double?
        var error: String?
        var never: Bool
        /// A composite schedule that says the limit of the last profile it accepted.
        var follows: Bool
    }
    struct Step: Sendable {
        var send: String?
        var apply: Double?
        var phases: Int
        var calls: [String]?
        var result: String?
    }
    var name: String
    var driver: String?
    var lua: String?
    var rules: [String: [Rule]]
    var steps: [Step]
    var description: String { name }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let all: [LimitCase] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases/limits.json")
        guard let data = try? Data(contentsOf: url), let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return list.map { c in
            var rules: [String: [Rule]] = [:]
            for (action, list) in c["station"] as? [String: [[String: Any]]] ?? [:] {
                rules[action] = list.map { r in
                    Rule(when: (r["when"] as? [String: Any] ?? [:]).mapValues { "\($0)" }, status: r["status"] as? String,
                         limit: r["limit"] as? Double, error: r["error"] as? String, never: r["never"] as? Bool ?? false,
                         follows: r["follows"] as? Bool ?? false)
                }
            }
            return LimitCase(name: c["name"] as? String ?? "?", driver: c["driver"] as? String, lua: c["lua"] as? String, rules: rules,
                             steps: (c["steps"] as? [[String: Any]] ?? []).map { s in
                                 Step(send: s["send"] as? String, apply: s["apply"] as? Double, phases: s["phases"] as? Int ?? 3,
                                      calls: s["calls"] as? [String], result: s["result"] as? String)
                             })
        }
    }()
}

/// A station in process: it answers Fusebox's calls as its case's rules say and records each, shortened.
final class FakeStation: Sendable {
    let calls = Mutex<[String]>([])
    /// The limit of the last profile it accepted.
    let applied = Mutex<Double?>(nil)

    static func field(_ payload: StrictJSON.Value, _ path: String) -> String? {
        var node: StrictJSON.Value? = payload
        for key in path.split(separator: ".") {
            guard case .object(let m)? = node else { return nil }
            node = m.first { $0.0 == key }?.1
        }
        switch node {
        case .string(let s)?: return s
        case .number(let x)?: return ConfigReader.show(x)
        default: return nil
        }
    }

    /// A call as one line: a profile by its parts, anything else by its payload.
    static func shown(_ action: String, _ payload: StrictJSON.Value) -> String {
        func f(_ p: String) -> String { field(payload, p) ?? "-" }
        switch action {
        case "SetChargingProfile":
            let p = "csChargingProfiles."
            var line = "SetChargingProfile \(f(p + "chargingProfilePurpose")) stack \(f(p + "stackLevel"))"
            if case .object(let s)? = { () -> StrictJSON.Value? in
                guard case .object(let m) = payload, case .object(let profile)? = m.first(where: { $0.0 == "csChargingProfiles" })?.1 else { return nil }
                return profile.first { $0.0 == "chargingSchedule" }?.1
            }(), case .array(let periods)? = s.first(where: { $0.0 == "chargingSchedulePeriod" })?.1, let first = periods.first {
                line += " \(field(first, "limit") ?? "-") \(f(p + "chargingSchedule.chargingRateUnit")) connector \(f("connectorId")) phases \(field(first, "numberPhases") ?? "-")"
            }
            if let t = field(payload, p + "transactionId") { line += " transaction \(t)" }
            return line
        case "GetCompositeSchedule":
            return "GetCompositeSchedule connector \(f("connectorId")) \(f("chargingRateUnit"))"
        default:
            return "\(action) \(OCPPFrame.result(id: "", payload: payload).text.dropFirst(6).dropLast())"
        }
    }

    /// The answer to a call, or nil for none.
    func answer(_ action: String, _ rules: [LimitCase.Rule], _ payload: StrictJSON.Value, id: String) -> OCPPFrame? {
        let rule = rules.first { r in r.when.allSatisfy { Self.field(payload, $0.key) == $0.value } } ?? LimitCase.Rule(when: [:], never: false, follows: false)
        if rule.never { return nil }
        if let e = rule.error { return .error(id: id, code: OCPPError.Code(rawValue: e) ?? .genericError, description: "as the case says") }
        let status = rule.status ?? "Accepted"
        if action == "SetChargingProfile", status == "Accepted", case .object(let m) = payload,
           case .object(let p)? = m.first(where: { $0.0 == "csChargingProfiles" })?.1, case .object(let s)? = p.first(where: { $0.0 == "chargingSchedule" })?.1,
           case .array(let periods)? = s.first(where: { $0.0 == "chargingSchedulePeriod" })?.1, let first = periods.first {
            applied.withLock { $0 = Self.field(first, "limit").flatMap(Double.init) }
        }
        var members: [(String, StrictJSON.Value)] = [("status", .string(status))]
        if let limit = rule.follows ? applied.withLock({ $0 }) : rule.limit {
            let period: StrictJSON.Value = .object([("startPeriod", .number(0)), ("limit", .number(limit))])
            members.append(("chargingSchedule", .object([("chargingRateUnit", .string("A")), ("chargingSchedulePeriod", .array([period]))])))
        }
        return .result(id: id, payload: .object(members))
    }
}

@Suite("An OCPP station's limit as its driver says: Cases/limits.json")
struct OCPPChargerTests {
    @Test("each step: the calls sent, in order, and the outcome", arguments: LimitCase.all)
    func steps(_ c: LimitCase) async throws {
        let stations = OCPPStations(allowed: nil)
        let (connection, outgoing) = stations.attach("cp1")
        let fake = FakeStation()
        let answering = Task {
            for await text in outgoing {
                guard case .call(let id, let action, let payload)? = try? OCPPFrame.parse(text) else { continue }
                fake.calls.withLock { $0.append(FakeStation.shown(action, payload)) }
                if let answer = fake.answer(action, c.rules[action] ?? [], payload, id: id) {
                    _ = stations.received("cp1", connection, answer.text, now: 0)
                }
            }
        }
        defer { answering.cancel(); stations.detach("cp1", connection) }
        let script = try c.lua.map { try DriverScript(source: $0, origin: "case.lua") }
            ?? DriverScript(file: LimitCase.root + "/drivers/\(c.driver ?? "ocpp").lua")
        let charger = try OCPPCharger(id: "cp1", stations: stations, driver: script, timeout: 1)
        for (n, step) in c.steps.enumerated() {
            if let send = step.send { _ = stations.received("cp1", connection, send, now: 0) }
            guard let amps = step.apply else { continue }
            fake.calls.withLock { $0 = [] }
            let result = await charger.apply(amps: amps, phases: step.phases)
            if let expected = step.calls { #expect(fake.calls.withLock { $0 } == expected, "step \(n)") }
            switch (result, step.result) {
            case (.success, "ok"?), (_, nil): break
            case (.failure(let e), let want?) where want != "ok": #expect(e.message.contains(want), "step \(n): \(e.message)")
            default: Issue.record("step \(n): \(result), expected \(step.result ?? "-")")
            }
        }
    }

    @Test("the table is there, and every shipped OCPP driver is in it")
    func loaded() throws {
        #expect(LimitCase.all.count >= 10)
        let shipped = try FileManager.default.contentsOfDirectory(atPath: LimitCase.root + "/drivers")
            .filter { $0.hasPrefix("ocpp") && $0.hasSuffix(".lua") }.map { String($0.dropLast(4)) }
        #expect(shipped.count >= 3)
        for name in shipped { #expect(LimitCase.all.contains { $0.driver == name }, "no case for \(name)") }
    }

    @Test("a quirk file's settings are checked at load, naming the file and field")
    func contract() throws {
        let bad: [(String, String)] = [
            ("return { kind = 'ocpp', stack_level = -1 }", "'stack_level' must be a whole number from 0 to 100"),
            ("return { kind = 'ocpp', unit = 'kW' }", "'unit' must be \"A\" or \"W\""),
            ("return { kind = 'ocpp', connector = 1.5 }", "'connector' must be a whole number"),
            ("return { kind = 'ocpp', verify = 'yes' }", "'verify' must be true or false"),
            ("return { kind = 'ocpp', limit = 3 }", "'limit' must be a function"),
        ]
        for (source, expected) in bad {
            #expect(throws: (any Error).self) {
                try OCPPCharger(id: "cp1", stations: OCPPStations(allowed: nil), driver: DriverScript(source: source, origin: "site/drivers/ocpp_x.lua"))
            }
            do { _ = try OCPPQuirks(script: DriverScript(source: source, origin: "site/drivers/ocpp_x.lua")) } catch {
                #expect(error.description.contains(expected) && error.description.contains("site/drivers/ocpp_x.lua"), "\(error)")
            }
        }
        // An OCPP file is not a Modbus driver, and the other way round.
        let modbus = try DriverScript(file: LimitCase.root + "/drivers/abb_terra.lua")
        #expect(modbus.kind == .charger)
        #expect(try DriverScript(file: LimitCase.root + "/drivers/ocpp_abb_terra_ac.lua").kind == .ocpp)
    }

    @Test("a quirk file reloaded while the station is connected: the next limit goes as the new file says; a Modbus driver is refused")
    func reload() async throws {
        let stations = OCPPStations(allowed: nil)
        let (connection, outgoing) = stations.attach("cp1")
        let fake = FakeStation()
        let answering = Task {
            for await text in outgoing {
                guard case .call(let id, let action, let payload)? = try? OCPPFrame.parse(text) else { continue }
                fake.calls.withLock { $0.append(FakeStation.shown(action, payload)) }
                if let answer = fake.answer(action, [], payload, id: id) { _ = stations.received("cp1", connection, answer.text, now: 0) }
            }
        }
        defer { answering.cancel(); stations.detach("cp1", connection) }
        let charger = try OCPPCharger(id: "cp1", stations: stations, driver: DriverScript(source: "return { kind = 'ocpp', verify = false }", origin: "a.lua"), timeout: 1)
        _ = await charger.apply(amps: 10, phases: 3)
        #expect(fake.calls.withLock { $0 } == ["SetChargingProfile TxDefaultProfile stack 1 10 A connector 0 phases 3"])
        fake.calls.withLock { $0 = [] }
        let reloaded = await charger.reload(try DriverScript(source: "return { kind = 'ocpp', stack_level = 0, connector = 1, verify = false }", origin: "b.lua"))
        if case .failure(let e) = reloaded { Issue.record("reload refused: \(e)") }
        #expect(charger.quirks.connector == 1)
        _ = await charger.apply(amps: 10, phases: 3)
        #expect(fake.calls.withLock { $0 } == ["SetChargingProfile TxDefaultProfile stack 0 10 A connector 1 phases 3"])
        let refused = await charger.reload(try DriverScript(file: LimitCase.root + "/drivers/abb_terra.lua"))
        guard case .failure(let e) = refused else { Issue.record("a Modbus driver was taken"); return }
        #expect(e.message.contains("an OCPP station needs an ocpp one"), "\(e)")
        #expect(charger.quirks.connector == 1, "the running file stays")
    }
}
