import Foundation
import FuseboxCore
import FuseboxLua
import FuseboxTesting
import Testing

let repositoryRoot = Expectation.repositoryRoot(from: #filePath)
let shippedPolicies = PolicyLibrary(directories: [repositoryRoot + "/policies"])
private let casesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases").path

private func cases(_ file: String) -> [ScenarioCase] {
    do { return try ScenarioCase.load(file, in: casesDirectory) } catch {
        Issue.record("cannot load \(file): \(error)")
        return []
    }
}

func luaSettings(_ settings: [String: JSONValue]) throws -> [String: LuaValue] {
    func convert(_ v: JSONValue) -> LuaValue {
        switch v {
        case .null: .nil
        case .bool(let b): .boolean(b)
        case .number(let n): .number(n)
        case .string(let s): .string(s)
        case .array(let a): .array(a.map(convert))
        case .object(let o): .record(o.sorted { $0.key < $1.key }.map { ($0.key, convert($0.value)) })
        }
    }
    return settings.mapValues(convert)
}

@Suite("Shipped policies: cases from Cases/policies.json")
struct PolicyCaseTests {
    @Test("the case file is there and covers every shipped policy")
    func casesExist() {
        let all = cases("policies.json")
        #expect(all.count >= 20)
        for name in ["fair_share", "priority", "pv_surplus", "ripple"] {
            #expect(all.contains { $0.chain.contains(name) }, "no case for \(name)")
        }
    }

    @Test("policy", arguments: cases("policies.json"))
    func policy(_ c: ScenarioCase) throws {
        let scripts = try c.chain.map { try shippedPolicies.load($0) }
        #expect(!scripts.isEmpty, "\(c.name): a policy case names its chain")
        let chain = PolicyChain(scripts: scripts, settings: try luaSettings(c.settings))
        for (n, step) in c.steps.enumerated() {
            let outcome = chain.allocate(step.snapshot)
            #expect(outcome.fallback == nil, "\(c.name) step \(n): \(String(describing: outcome.fallback))")
            #expect(step.expect["allocation"] != nil)
            let problems = Expectation.allocationMismatches(outcome.allocation, snapshot: step.snapshot, expect: step.expect)
            #expect(problems.isEmpty, "\(c.name) step \(n): \(problems)")
            #expect(InvariantCheck.violations(outcome.allocation, snapshot: step.snapshot).isEmpty)
            // The shipped policies keep to every limit themselves: the clamp has no cut to make.
            let cuts = outcome.corrections.filter { $0.reason == .overLimit }
            #expect(cuts.isEmpty, "\(c.name) step \(n): the clamp had to cut \(cuts)")
        }
    }
}
