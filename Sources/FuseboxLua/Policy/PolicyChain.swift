import FuseboxCore

/// What one stage did, for `fusebox policy test` and the event log.
public struct StageReport: Sendable, Equatable {
    public var name: String
    /// What the stage returned: amps per charger id.
    public var output: [String: Double]
    /// Names of the limits it added for the stages after it.
    public var addedLimits: [String]
    public var log: String
}

/// The outcome of one cycle's policy step: the clamped allocation and how it came about.
public struct PolicyOutcome: Sendable {
    /// Amps per charger, aligned with `snapshot.chargers`, after the safety clamp.
    public var allocation: [Double]
    /// What the chain (or the fallback) asked for, before the clamp.
    public var requested: [Double]
    public var stages: [StageReport]
    /// Set when the native fallback replaced the chain for this cycle.
    public var fallback: LuaError?
    public var corrections: [ClampCorrection]
    public var budget: Budget
}

/// The configured chain of policies, e.g. `[ripple, pv_surplus, fair_share]`.
/// Each stage may cap chargers' max and add limits for the stages after it; the
/// last distributes. Whatever happens, the safety clamp has the last word.
///
/// Not `Sendable`: one owner (the controller's policy actor, a test, the CLI)
/// runs it.
public final class PolicyChain {
    public struct Stage {
        public var script: PolicyScript
        public var settings: LuaValue
        /// `site.memory` as the stage left it after its last successful call.
        public var memory: LuaValue
    }

    public private(set) var stages: [Stage]
    private var tape = TapeWriter(capacity: 64 * 1024)

    public init(scripts: [PolicyScript], settings: [String: LuaValue] = [:]) {
        stages = scripts.map { Stage(script: $0, settings: settings[$0.name] ?? .table([]), memory: .table([])) }
    }

    /// Replaces the stage of the same name (hot reload); its memory carries over.
    /// Returns false when no stage has that name.
    @discardableResult
    public func replace(with script: PolicyScript) -> Bool {
        guard let i = stages.firstIndex(where: { $0.script.name == script.name }) else { return false }
        stages[i].script = script
        return true
    }

    public func setMemory(_ memory: LuaValue, forStage name: String) {
        for i in stages.indices where stages[i].script.name == name { stages[i].memory = memory }
    }

    public func allocate(_ snapshot: SiteSnapshot) -> PolicyOutcome {
        let budget = Budget(snapshot: snapshot)
        var site = SiteTable(snapshot: snapshot, budget: budget)
        var reports: [StageReport] = []
        var memories: [LuaValue] = []
        var requested: [Double] = []
        var failure: LuaError?

        for (n, stage) in stages.enumerated() {
            let isLast = n == stages.count - 1
            tape.reset()
            site.write(into: &tape, stage: stage.script.name, isLast: isLast, config: stage.settings, memory: stage.memory)
            do {
                let results = try stage.script.sandbox.call("allocate", arguments: tape, readback: "memory")
                let parsed = try StageResult(results, stage: stage.script.name, snapshot: snapshot)
                reports.append(StageReport(name: stage.script.name, output: parsed.byID,
                                           addedLimits: parsed.limits.map(\.name), log: stage.script.sandbox.takeLog()))
                memories.append(parsed.memory)
                if isLast {
                    requested = snapshot.chargers.map { parsed.byID[$0.id] ?? 0 }
                } else {
                    for (i, c) in snapshot.chargers.enumerated() {
                        if let cap = parsed.byID[c.id] { site.maxima[i] = min(site.maxima[i], cap) }
                    }
                    site.constraints += parsed.limits
                }
            } catch {
                failure = error
                _ = stage.script.sandbox.takeLog()
                break
            }
        }

        if failure == nil && !stages.isEmpty {
            for (i, memory) in memories.enumerated() { stages[i].memory = memory }
        } else {
            if stages.isEmpty { failure = LuaError(kind: .contract, script: "chain", message: "the policy chain is empty") }
            requested = FallbackAllocator.allocate(snapshot, budget: budget)
        }

        // The stages' caps and limits bind the result too, so a chain composes as
        // written even when its last stage ignores them; then the invariants.
        var bounded = snapshot
        var withStages = budget
        if failure == nil {
            for i in bounded.chargers.indices {
                bounded.chargers[i].cableMax = min(bounded.chargers[i].cableMax ?? .infinity, site.maxima[i])
            }
            withStages.constraints = site.constraints
        }
        let policyBound = SafetyClamp.apply(requested, snapshot: bounded, budget: withStages)
        let clamped = SafetyClamp.apply(policyBound.allocation, snapshot: snapshot, budget: budget)
        return PolicyOutcome(allocation: clamped.allocation, requested: requested, stages: reports,
                             fallback: failure, corrections: policyBound.corrections + clamped.corrections,
                             budget: budget)
    }
}

/// A stage's return values, checked: `{ [id] = amps }`, then optionally a list of
/// limits, then the read-back `site.memory`. Anything else is garbage and sends
/// the cycle to the fallback.
struct StageResult {
    var byID: [String: Double] = [:]
    var limits: [Constraint] = []
    var memory: LuaValue = .table([])

    init(_ values: [LuaValue], stage: String, snapshot: SiteSnapshot) throws(LuaError) {
        func garbage(_ why: String) -> LuaError {
            LuaError(kind: .result, script: stage, message: "allocate returned garbage: \(why)")
        }
        // Results come first; the read-back memory is the last value.
        guard let memoryValue = values.last else { throw garbage("nothing") }
        let results = values.dropLast()
        guard let first = results.first, case .table(let entries) = first else {
            throw garbage("expected a table { [charger id] = amps }, got \(results.first?.brief ?? "nothing")")
        }
        let ids = Set(snapshot.chargers.map(\.id))
        for e in entries {
            guard case .string(let id) = e.key else { throw garbage("key \(e.key.brief) is not a charger id") }
            guard ids.contains(id) else { throw garbage("charger '\(id)' is not on this site") }
            guard let amps = e.value.number else { throw garbage("charger '\(id)': \(e.value.brief) is not a number") }
            guard amps.isFinite else { throw garbage("charger '\(id)': \(amps) is not a finite number") }
            guard amps >= 0 else { throw garbage("charger '\(id)': \(amps) A is negative") }
            byID[id] = amps
        }
        if results.count > 1, results[results.startIndex + 1] != .nil {
            let list = results[results.startIndex + 1]
            guard list.entries != nil else { throw garbage("second result must be a list of limits, got \(list.brief)") }
            for (n, limit) in list.sequence.enumerated() {
                limits.append(try StageResult.limit(limit, n: n + 1, chargerCount: snapshot.chargers.count, garbage: garbage))
            }
        }
        switch memoryValue {
        case .nil: memory = .table([])
        case .table: memory = memoryValue
        default: throw garbage("site.memory must stay a table, got \(memoryValue.brief)")
        }
    }

    static func limit(_ v: LuaValue, n: Int, chargerCount: Int, garbage: (String) -> LuaError) throws(LuaError) -> Constraint {
        let name = v["name"].string ?? "stage limit \(n)"
        guard let available = v["available"].number, available.isFinite else {
            throw garbage("limit \(n) (\(name)): 'available' must be a finite number")
        }
        let unit = Constraint.Unit(rawValue: v["unit"].string ?? "A") ?? .amps
        let members = v["members"].sequence
        let weights = v["weights"].sequence
        guard members.count == weights.count else {
            throw garbage("limit \(n) (\(name)): members and weights differ in length")
        }
        var m: [Int] = []
        var w: [Double] = []
        for (i, member) in members.enumerated() {
            guard let index = member.number, index == index.rounded(), index >= 1, index <= Double(chargerCount) else {
                throw garbage("limit \(n) (\(name)): member \(member.brief) is not a charger index 1...\(chargerCount)")
            }
            guard let weight = weights[i].number, weight.isFinite, weight >= 0 else {
                throw garbage("limit \(n) (\(name)): weight \(weights[i].brief) must be a number >= 0")
            }
            m.append(Int(index) - 1)
            w.append(weight)
        }
        return Constraint(name: name, unit: unit, available: available, members: m, weights: w)
    }
}
