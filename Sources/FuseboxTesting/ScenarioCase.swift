import Foundation
import FuseboxCore

/// One table-driven case from a JSON file under Tests/*/Cases: a snapshot, what
/// to run on it, and what must come out. A case either has one `expect` or a list
/// of `steps`, each of which patches the snapshot (`set`) before it runs.
public struct ScenarioCase: Sendable, CustomStringConvertible {
    public struct Step: Sendable {
        public var snapshot: SiteSnapshot
        public var expect: [String: JSONValue]
    }

    public var name: String
    public var file: String
    public var steps: [Step]
    public var request: [String: Double]
    public var chain: [String]
    public var settings: [String: JSONValue]

    public var description: String { "\(file): \(name)" }

    /// Every case in `directory/file`.
    public static func load(_ file: String, in directory: String) throws -> [ScenarioCase] {
        let url = URL(fileURLWithPath: directory).appendingPathComponent(file)
        let data = try Data(contentsOf: url)
        guard let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw CaseError("\(file): expected an array of case objects")
        }
        return try list.map { try ScenarioCase(file: file, object: $0) }
    }

    init(file: String, object: [String: Any]) throws {
        self.file = file
        name = object["name"] as? String ?? "unnamed"
        guard var base = object["snapshot"] as? [String: Any] else { throw CaseError("\(file): \(name): no snapshot") }
        let stepObjects: [[String: Any]]
        if let steps = object["steps"] as? [[String: Any]] {
            stepObjects = steps
        } else {
            stepObjects = [["expect": object["expect"] ?? [:]]]
        }
        var steps: [Step] = []
        for step in stepObjects {
            if let set = step["set"] as? [String: Any] { base = ScenarioCase.patch(base, with: set) }
            let snapshotData = try JSONSerialization.data(withJSONObject: base)
            let snapshot: SiteSnapshot
            do {
                snapshot = try JSONDecoder().decode(SiteSnapshot.self, from: snapshotData)
            } catch {
                throw CaseError("\(file): \(name): snapshot does not decode: \(error)")
            }
            let expect = JSONValue(step["expect"] ?? [:]).object ?? [:]
            steps.append(Step(snapshot: snapshot, expect: expect))
        }
        self.steps = steps
        var request: [String: Double] = [:]
        for (id, v) in object["request"] as? [String: Any] ?? [:] {
            if let n = v as? Double { request[id] = n }
            else if let s = v as? String { request[id] = Double(s) ?? .nan }
        }
        self.request = request
        chain = object["chain"] as? [String] ?? []
        settings = JSONValue(object["settings"] ?? [:]).object ?? [:]
    }

    /// Top-level keys replace; `chargers` as an object patches chargers by id.
    static func patch(_ base: [String: Any], with set: [String: Any]) -> [String: Any] {
        var out = base
        for (key, value) in set {
            if key == "chargers", let byID = value as? [String: [String: Any]], var list = out["chargers"] as? [[String: Any]] {
                for i in list.indices {
                    if let id = list[i]["id"] as? String, let fields = byID[id] {
                        for (k, v) in fields { list[i][k] = v }
                    }
                }
                out["chargers"] = list
            } else {
                out[key] = value
            }
        }
        return out
    }
}

public struct CaseError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A Sendable copy of parsed JSON.
public indirect enum JSONValue: Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(_ any: Any) {
        switch any {
        case let n as NSNumber: self = .number(n.doubleValue)   // booleans too: only numbers are compared
        case let b as Bool: self = .bool(b)
        case let s as String: self = .string(s)
        case let a as [Any]: self = .array(a.map(JSONValue.init))
        case let o as [String: Any]: self = .object(o.mapValues(JSONValue.init))
        default: self = .null
        }
    }

    public var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    public var number: Double? { if case .number(let n) = self { n } else { nil } }
    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
}

/// Compares an allocation with a case's expectation; returns what differs.
public enum Expectation {
    public static let tolerance = 0.001

    public static func allocationMismatches(_ allocation: [Double], snapshot: SiteSnapshot, expect: [String: JSONValue]) -> [String] {
        guard let expected = expect["allocation"]?.object else { return [] }
        var problems: [String] = []
        let index = snapshot.chargerIndex
        for (id, value) in expected.sorted(by: { $0.key < $1.key }) {
            guard let i = index[id] else { problems.append("expected charger \(id) is not on the site"); continue }
            guard let want = value.number else { problems.append("\(id): expectation is not a number"); continue }
            if abs(allocation[i] - want) > tolerance { problems.append("\(id): got \(allocation[i]) A, expected \(want) A") }
        }
        return problems
    }

    public static func budgetMismatches(_ budget: Budget, expect: [String: JSONValue]) -> [String] {
        var problems: [String] = []
        if let available = expect["available"]?.array?.compactMap(\.number) {
            if zip(available, budget.available.array).contains(where: { abs($0 - $1) > tolerance }) {
                problems.append("available: got \(budget.available.array), expected \(available)")
            }
        }
        if let power = expect["power_available"]?.number {
            if abs((budget.powerAvailable ?? .nan) - power) > tolerance || budget.powerAvailable == nil {
                problems.append("power_available: got \(String(describing: budget.powerAvailable)), expected \(power)")
            }
        }
        for (name, value) in expect["limits"]?.object ?? [:] {
            guard let c = budget.constraints.first(where: { $0.name == name }) else {
                problems.append("no limit named '\(name)' in \(budget.constraints.map(\.name))")
                continue
            }
            if let want = value.number, abs(c.available - want) > tolerance {
                problems.append("\(name): got \(c.available), expected \(want)")
            }
        }
        return problems
    }

    /// The built `fusebox` command (or `fusebox-dev`), for tests that run it as a user does.
    public static func fuseboxBinary(_ name: String = "fusebox", from file: String) -> String {
        let root = repositoryRoot(from: file)
        let candidates = [".build/debug", ".build/x86_64-unknown-linux-gnu/debug", ".build/aarch64-unknown-linux-gnu/debug"]
            .map { root + "/" + $0 + "/" + name }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    /// The repository root, from a file inside it (tests pass #filePath).
    public static func repositoryRoot(from file: String) -> String {
        var url = URL(fileURLWithPath: file).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
            url = url.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath
    }
}
