import Foundation
import FuseboxCore
import FuseboxTesting
import Testing

private let casesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases").path

@Suite("Commissioning diagnostics from Cases/commissioning.json")
struct CommissioningTests {
    /// A parameterized test with no arguments passes silently: this one does not.
    @Test("the case file is there and decodes")
    func casesExist() {
        #expect(!Self.cases().isEmpty)
    }

    static func cases() -> [ScenarioCase] {
        do { return try ScenarioCase.load("commissioning.json", in: casesDirectory) } catch {
            Issue.record("\(error)")
            return []
        }
    }

    @Test("each step reports exactly the new warnings it expects", arguments: cases())
    func diagnose(_ c: ScenarioCase) {
        var monitor = Commissioning()
        for (n, step) in c.steps.enumerated() {
            let warnings = monitor.observe(step.snapshot).map { "\($0.kind.rawValue) \($0.subject)" }
            let expected = step.expect["warnings"].map { value -> [String] in
                if case .array(let items) = value { return items.compactMap(\.string) }
                return []
            }
            #expect(expected != nil, "\(c.name): step \(n) expects nothing")
            #expect(warnings == expected ?? [], "\(c.name): step \(n)")
        }
    }
}
