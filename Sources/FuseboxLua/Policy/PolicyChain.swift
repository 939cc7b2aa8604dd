import FuseboxCore

/// What one stage did, for `fusebox policy test` and the event log.
public struct StageReport: Sendable, Equatable {
    public struct Amps: Sendable, Equatable {
        public var charger: String
        public var amps: Double
    }

    public var name: String
    /// What the stage returned, in the order it came.
    public var returned: [Amps]
    /// Names of the limits it added for the stages after it.
    public var addedLimits: [String]
    public var log: String

    /// What the stage returned: amps per charger id.
    public var output: [String: Double] {
        Dictionary(returned.map { ($0.charger, $0.amps) }, uniquingKeysWith: { _, last in last })
    }
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

        /// `site.memory` as the stage left it: kept inside the stage's own Lua
        /// state between cycles, copied out only when asked for.
        public var memory: LuaValue { (try? script.sandbox.persistent) ?? .table([]) }
    }

    public private(set) var stages: [Stage]
    private var tape = TapeWriter(capacity: 64 * 1024)
    private var layout: SiteLayout?

    public init(scripts: [PolicyScript], settings: [String: LuaValue] = [:]) {
        stages = scripts.map { Stage(script: $0, settings: settings[$0.name] ?? .table([])) }
    }

    /// Replaces the stage of the same name (hot reload); its memory carries over.
    /// Returns false when no stage has that name.
    @discardableResult
    public func replace(with script: PolicyScript) throws(LuaError) -> Bool {
        guard let i = stages.firstIndex(where: { $0.script.name == script.name }) else { return false }
        try script.sandbox.setPersistent(stages[i].memory)
        stages[i].script = script
        return true
    }

    /// Hot reload with a dry run: `script` first allocates `snapshot` alone, with
    /// its stage's settings and a copy of its memory, and replaces the stage only
    /// if that succeeds. Throws the reason it was refused; the old stage stays.
    public func replace(with script: PolicyScript, dryRunOn snapshot: SiteSnapshot) throws(LuaError) {
        guard let i = stages.firstIndex(where: { $0.script.name == script.name }) else {
            throw LuaError(kind: .contract, script: script.name,
                           message: "not in the chain (\(stages.map(\.script.name).joined(separator: ", ")))")
        }
        if let failure = Self.dryRun(script, settings: stages[i].settings, memory: stages[i].memory, on: snapshot) { throw failure }
        try replace(with: script)
    }

    /// `script` allocates `snapshot` once, alone, with a stage's settings and a
    /// copy of its memory: nil when that succeeds, else why it failed. The
    /// script is used up: the caller swaps in a fresh compile of its source.
    public static func dryRun(_ script: PolicyScript, settings: LuaValue, memory: LuaValue, on snapshot: SiteSnapshot) -> LuaError? {
        do throws(LuaError) { try script.sandbox.setPersistent(memory) } catch { return error }
        let trial = PolicyChain(scripts: [script], settings: [script.name: settings])
        return trial.allocate(snapshot).fallback
    }

    public func setMemory(_ memory: LuaValue, forStage name: String) throws(LuaError) {
        for stage in stages where stage.script.name == name { try stage.script.sandbox.setPersistent(memory) }
    }

    public func allocate(_ snapshot: SiteSnapshot) -> PolicyOutcome {
        if layout?.fits(snapshot) != true { layout = SiteLayout(snapshot) }
        let budget = Budget(snapshot: snapshot, layout: layout)
        var site = SiteTable(snapshot: snapshot, budget: budget)
        var reports: [StageReport] = []
        var requested: [Double] = []
        var failure: LuaError?
        let index = budget.chargerIndex

        for (n, stage) in stages.enumerated() {
            let isLast = n == stages.count - 1
            tape.reset()
            site.write(into: &tape, stage: stage.script.name, isLast: isLast, config: stage.settings)
            do {
                let parsed = try stage.script.sandbox.call("allocate", arguments: tape, persist: "memory") {
                    (reader: inout TapeReader) throws(LuaError) -> StageResult in
                    try StageResult(&reader, stage: stage.script.name, snapshot: snapshot, index: index)
                }
                reports.append(StageReport(
                    name: stage.script.name,
                    returned: parsed.amps.map { StageReport.Amps(charger: snapshot.chargers[$0.index].id, amps: $0.amps) },
                    addedLimits: parsed.limits.map(\.name), log: stage.script.sandbox.takeLog()))
                if isLast {
                    requested = [Double](repeating: 0, count: snapshot.chargers.count)
                    for (i, amps) in parsed.amps { requested[i] = amps }
                } else {
                    for (i, cap) in parsed.amps { site.maxima[i] = min(site.maxima[i], cap) }
                    site.constraints += parsed.limits
                }
            } catch {
                failure = error
                _ = stage.script.sandbox.takeLog()
                break
            }
        }

        if stages.isEmpty { failure = LuaError(kind: .contract, script: "chain", message: "the policy chain is empty") }
        if failure != nil {
            requested = FallbackAllocator.allocate(snapshot, budget: budget)
        }

        // The stages' caps and limits bind the result too, so that a chain composes
        // as written even when its last stage ignores them. They only ever add to
        // the site's own limits, so one pass of the clamp enforces both.
        var bound = budget
        if failure == nil { bound.constraints = site.constraints }
        let clamped = SafetyClamp.apply(requested, snapshot: snapshot, budget: bound,
                                        maxima: failure == nil ? site.maxima : nil)
        return PolicyOutcome(allocation: clamped.allocation, requested: requested, stages: reports,
                             fallback: failure, corrections: clamped.corrections, budget: budget)
    }
}

/// A stage's return values, checked: `{ [id] = amps }`, then optionally a list of
/// limits. Anything else is garbage and sends the cycle to the fallback. The
/// first result is read straight off the tape: it is the one that is large.
struct StageResult {
    var amps: [(index: Int, amps: Double)] = []
    var limits: [Constraint] = []

    /// A limit a stage returned, its numbers as read (NaN where there was none).
    struct Limit {
        var name: String?
        var unit: String?
        var available: Double?
        var members: [Double]
        var weights: [Double]
    }

    init(_ reader: inout TapeReader, stage: String, snapshot: SiteSnapshot, index: [String: Int]) throws(LuaError) {
        func garbage(_ why: String) -> LuaError {
            LuaError(kind: .result, script: stage, message: "allocate returned garbage: \(why)")
        }
        let count = reader.count()
        guard count > 0 else { throw garbage("expected a table { [charger id] = amps }, got nothing") }
        let first = reader.value()
        guard let entries = first.entries else { throw garbage("expected a table { [charger id] = amps }, got \(first.brief)") }
        amps.reserveCapacity(entries.count)
        for e in entries {
            guard case .string(let id) = e.key else { throw garbage("key \(e.key.brief) is not a charger id") }
            guard let i = index[id] else { throw garbage("charger '\(id)' is not on this site") }
            guard let value = e.value.number else { throw garbage("charger '\(id)': \(e.value.brief) is not a number") }
            guard value.isFinite else { throw garbage("charger '\(id)': \(value) is not a finite number") }
            guard value >= 0 else { throw garbage("charger '\(id)': \(value) A is negative") }
            amps.append((i, value))
        }
        guard count > 1 else { return }
        let list = reader.value()
        guard list != .nil else { return }
        guard list.entries != nil else { throw garbage("second result must be a list of limits, got \(list.brief)") }
        for (n, v) in list.sequence.enumerated() {
            let members = v["members"].sequence
            let weights = v["weights"].sequence
            // Not a number: NaN, which fails the check below, named as it was.
            let l = Limit(name: v["name"].string, unit: v["unit"].string, available: v["available"].number,
                          members: members.map { $0.number ?? .nan }, weights: weights.map { $0.number ?? .nan })
            limits.append(try StageResult.limit(l, n: n + 1, chargerCount: snapshot.chargers.count, garbage: garbage) { member, i in
                (member ? members[i] : weights[i]).brief
            })
        }
    }

    /// Checks one limit a stage returned and makes it a constraint. `shown`
    /// says how entry `i` of its members (or weights) looked, for the error.
    static func limit(_ p: Limit, n: Int, chargerCount: Int, garbage: (String) -> LuaError,
                      shown: (_ member: Bool, _ i: Int) -> String) throws(LuaError) -> Constraint {
        let name = p.name ?? "stage limit \(n)"
        guard let available = p.available, available.isFinite else {
            throw garbage("limit \(n) (\(name)): 'available' must be a finite number")
        }
        let unit = Constraint.Unit(rawValue: p.unit ?? "A") ?? .amps
        guard p.members.count == p.weights.count else {
            throw garbage("limit \(n) (\(name)): members and weights differ in length")
        }
        var members: [Int] = []
        members.reserveCapacity(p.members.count)
        for (i, index) in p.members.enumerated() {
            guard index == index.rounded(), index >= 1, index <= Double(chargerCount) else {
                throw garbage("limit \(n) (\(name)): member \(shown(true, i)) is not a charger index 1...\(chargerCount)")
            }
            let weight = p.weights[i]
            guard weight.isFinite, weight >= 0 else {
                throw garbage("limit \(n) (\(name)): weight \(shown(false, i)) must be a number >= 0")
            }
            members.append(Int(index) - 1)
        }
        return Constraint(name: name, unit: unit, kind: .policy, available: available, members: members, weights: p.weights)
    }
}
