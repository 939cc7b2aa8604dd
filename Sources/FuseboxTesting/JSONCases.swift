import Foundation
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
}
