import Foundation
import FuseboxTesting
import Testing

/// Table-driven cases stored as JSON beside a test file: `Cases/NAME.json`
/// decoded as an array of `T`. A file that is missing, empty or does not
/// decode is a recorded test failure, never an empty (and so passing) table.
public enum JSONCases {
    public static func load<T: Decodable>(_ name: String, beside filePath: String = #filePath,
                                          sourceLocation: SourceLocation = #_sourceLocation) -> [T] {
        let url = URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent(name)
        do {
            let cases = try JSONDecoder().decode([T].self, from: Data(contentsOf: url))
            if cases.isEmpty { Issue.record("\(name): no cases", sourceLocation: sourceLocation) }
            return cases
        } catch {
            Issue.record("\(name): \(error)", sourceLocation: sourceLocation)
            return []
        }
    }

    /// `Cases/NAME.json` as a list of objects, each with a "name", kept as
    /// JSON: for cases whose steps vary too much for one Decodable type.
    public static func named(_ name: String, beside filePath: String = #filePath,
                             sourceLocation: SourceLocation = #_sourceLocation) -> [NamedCase] {
        let url = URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent(name)
        guard let data = try? Data(contentsOf: url), let list = try? JSONSerialization.jsonObject(with: data) as? [Any], !list.isEmpty else {
            Issue.record("\(name): missing, empty or not a JSON list", sourceLocation: sourceLocation)
            return []
        }
        return list.map { NamedCase(name: ((($0 as? [String: Any])?["name"]) as? String) ?? "?", json: JSONValue($0)) }
    }
}

/// One case of `JSONCases.named`: its name (what the test shows) and its JSON.
public struct NamedCase: Sendable, CustomStringConvertible {
    public var name: String
    public var json: JSONValue
    public var description: String { name }
}
