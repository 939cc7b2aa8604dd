import Foundation
import FuseboxCore
import FuseboxOCPP
import Testing

/// One row of Cases/station.json: frames a station sends, in order, and what must come back.
struct StationCase: CustomStringConvertible, Sendable {
    struct Step: Sendable {
        var send: String
        var result: [String: String]?
        var error: String?
        var id: String?
        var none: Bool
        var status: String?
        var current: [Double]?
        var energy: Double?
        /// kWh of the session, as the history gets it.
        var session: Double?
    }

    var name: String
    var steps: [Step]
    /// `ocpp.id_tags` for the case; nil: any tag.
    var idTags: [String]?
    var description: String { name }

    static let all: [StationCase] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases/station.json")
        guard let data = try? Data(contentsOf: url), let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return list.map { c in
            StationCase(name: c["name"] as? String ?? "?", steps: (c["steps"] as? [[String: Any]] ?? []).map { s in
                Step(send: s["send"] as? String ?? "", result: (s["result"] as? [String: Any]).map { $0.mapValues { "\($0)" } },
                     error: s["error"] as? String, id: s["id"] as? String, none: s["none"] as? Bool ?? false, status: s["status"] as? String,
                     current: s["current"] as? [Double], energy: s["energy"] as? Double, session: s["session"] as? Double)
            }, idTags: c["id_tags"] as? [String])
        }
    }()
}

@Suite("An OCPP 1.6 station's calls and the central system's answers: Cases/station.json")
struct OCPPStationTests {
    @Test("each step: the answer, and what the station's state says after it", arguments: StationCase.all)
    func steps(_ c: StationCase) throws {
        var station = OCPPStation(id: "cp1")
        station.idTags = c.idTags.map(Set.init)
        for (n, step) in c.steps.enumerated() {
            let answer = station.answer(step.send, now: 1_796_549_000)
            if step.none {
                #expect(answer == nil, "step \(n)")
                continue
            }
            let frame = try #require(answer, "step \(n): no answer")
            // The answer is OCPP-J text that reads back as the same frame (its members in the text's order).
            #expect(try OCPPFrame.parse(frame.text).text == frame.text, "step \(n): \(frame.text)")
            if let expected = step.result {
                guard case .result(_, let payload) = frame, case .object(let members) = payload else {
                    Issue.record("step \(n): expected a result, got \(frame.text)"); continue
                }
                for (path, value) in expected {
                    // "a.b" is member b of member a.
                    var node: StrictJSON.Value? = .object(members)
                    for key in path.split(separator: ".") {
                        guard case .object(let m)? = node else { node = nil; break }
                        node = m.first { $0.0 == key }?.1
                    }
                    let shown: String = switch node {
                    case .string(let s)?: s
                    case .number(let x)?: ConfigReader.show(x)
                    default: "missing"
                    }
                    #expect(shown == value, "step \(n): \(path) is \(shown), expected \(value)")
                }
            }
            if let code = step.error {
                guard case .error(let id, let got, _) = frame else { Issue.record("step \(n): expected an error, got \(frame.text)"); continue }
                #expect(got.rawValue == code, "step \(n): \(frame.text)")
                if let want = step.id { #expect(id == want, "step \(n)") }
            }
            if let s = step.status { #expect(station.status.rawValue == s, "step \(n)") }
            if let a = step.current { #expect(station.current == a, "step \(n): \(station.current)") }
            if let e = step.energy { #expect(station.energy == e, "step \(n)") }
            if let e = step.session { #expect(abs(station.sessionEnergy - e) < 1e-9, "step \(n): \(station.sessionEnergy)") }
        }
    }

    @Test("the table is there")
    func loaded() { #expect(StationCase.all.count >= 2 && StationCase.all.allSatisfy { $0.steps.count >= 10 }) }

    @Test("OCPP's statuses as Fusebox's, as the issue gives them")
    func statuses() {
        let expected: [String: ChargerStatus] = ["Available": .free, "Preparing": .occupied, "SuspendedEV": .occupied, "SuspendedEVSE": .occupied,
                                                 "Finishing": .occupied, "Charging": .charging, "Faulted": .unavailable, "Unavailable": .unavailable]
        for (ocpp, status) in expected { #expect(OCPPStation.status(ocpp) == status, "\(ocpp)") }
    }
}
