import FuseboxCore
import FuseboxTesting
import Foundation
import Testing

private let casesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases").path

private func cases(_ file: String) -> [ScenarioCase] {
    do { return try ScenarioCase.load(file, in: casesDirectory) } catch {
        Issue.record("cannot load \(file): \(error)")
        return []
    }
}

@Suite("Budget, clamp and fallback cases from Cases/*.json")
struct CoreCaseTests {
    @Test("the case files are there and not empty")
    func casesExist() {
        #expect(cases("budget.json").count >= 10)
        #expect(cases("clamp.json").count >= 20)
        #expect(cases("fallback.json").count >= 5)
    }

    @Test("budget", arguments: cases("budget.json"))
    func budget(_ c: ScenarioCase) {
        for step in c.steps {
            let budget = Budget(snapshot: step.snapshot)
            let problems = Expectation.budgetMismatches(budget, expect: step.expect)
            #expect(problems.isEmpty, "\(c.name): \(problems)")
            #expect(!step.expect.isEmpty, "\(c.name): a case must expect something")
        }
    }

    @Test("clamp", arguments: cases("clamp.json"))
    func clamp(_ c: ScenarioCase) {
        for step in c.steps {
            let snapshot = step.snapshot
            let requested = snapshot.chargers.map { c.request[$0.id] ?? 0 }
            let result = SafetyClamp.apply(requested, snapshot: snapshot, budget: Budget(snapshot: snapshot))
            let problems = Expectation.allocationMismatches(result.allocation, snapshot: snapshot, expect: step.expect)
            #expect(step.expect["allocation"] != nil, "\(c.name): a clamp case must expect an allocation")
            #expect(problems.isEmpty, "\(c.name): \(problems)")
            #expect(InvariantCheck.violations(result.allocation, snapshot: snapshot).isEmpty)
            for (id, reason) in step.expect["corrections"]?.object ?? [:] {
                let found = result.corrections.contains { $0.charger == id && $0.reason.rawValue == reason.string }
                #expect(found, "\(c.name): expected a '\(reason.string ?? "")' correction for \(id), got \(result.corrections)")
            }
        }
    }

    @Test("fallback", arguments: cases("fallback.json"))
    func fallback(_ c: ScenarioCase) {
        for step in c.steps {
            let snapshot = step.snapshot
            let budget = Budget(snapshot: snapshot)
            let allocation = FallbackAllocator.allocate(snapshot, budget: budget)
            let problems = Expectation.allocationMismatches(allocation, snapshot: snapshot, expect: step.expect)
            #expect(step.expect["allocation"] != nil)
            #expect(problems.isEmpty, "\(c.name): \(problems)")
            #expect(InvariantCheck.violations(allocation, snapshot: snapshot).isEmpty)
            // The fallback is already valid: the clamp has nothing to correct.
            #expect(SafetyClamp.apply(allocation, snapshot: snapshot, budget: budget).corrections.isEmpty)
        }
    }
}
