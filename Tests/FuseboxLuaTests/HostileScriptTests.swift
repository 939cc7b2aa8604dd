import Foundation
import FuseboxCore
import FuseboxLua
import FuseboxTesting
import Testing

/// One hostile script and what must happen to it (Hostile/expectations.json).
struct HostileCase: Sendable, CustomStringConvertible {
    var file: String
    var stage: String          // "load" or "allocate"
    var kinds: [String]        // acceptable LuaError kinds, or "ok" / "ok-chain"
    var messages: [String]     // the error must mention one of these
    var what: String
    var description: String { "\(file): \(what)" }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Hostile").path

    static func all() -> [HostileCase] {
        guard let data = FileManager.default.contents(atPath: directory + "/expectations.json"),
              let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            Issue.record("cannot read Hostile/expectations.json")
            return []
        }
        return list.map { o in
            let kind = o["kind"]
            return HostileCase(file: o["file"] as? String ?? "", stage: o["stage"] as? String ?? "",
                               kinds: (kind as? [String]) ?? [(kind as? String) ?? ""],
                               messages: (o["message"] as? [String]) ?? [(o["message"] as? String) ?? ""],
                               what: o["what"] as? String ?? "")
        }
    }
}

/// Small budgets so that every bomb goes off quickly.
let hostileLimits = LuaLimits(memory: 8 << 20, instructions: 2_000_000, time: 0.5)

/// Three cars, one a rotated single-phase station, on a 32 A connection.
let hostileSite = SiteSnapshot(
    time: 1_700_000_000, grid: GridMeasurement(current: PhaseValues(10, 12, 8)),
    limits: SiteLimits(current: PhaseValues(all: 32), margin: 1),
    chargers: [
        ChargerSnapshot(id: "p01", status: .charging),
        ChargerSnapshot(id: "p02", status: .occupied, phases: [.l2, .l3, .l1]),
        ChargerSnapshot(id: "p03", status: .charging, phases: [.l3], max: 32),
    ])

@Suite("Hostile scripts are contained and the host goes on")
struct HostileScriptTests {
    @Test("the suite is large enough")
    func suiteSize() {
        #expect(HostileCase.all().count >= 25)
    }

    @Test("hostile script", arguments: HostileCase.all())
    func hostile(_ c: HostileCase) throws {
        let path = HostileCase.directory + "/" + c.file
        let nativeShare = SafetyClamp.apply(
            FallbackAllocator.allocate(hostileSite, budget: Budget(snapshot: hostileSite)),
            snapshot: hostileSite, budget: Budget(snapshot: hostileSite)).allocation

        let script: PolicyScript
        do {
            script = try PolicyScript(file: path, limits: hostileLimits)
        } catch {
            #expect(c.stage == "load", "\(c.file) failed to load: \(error)")
            #expect(c.kinds.contains(error.kind.rawValue) || c.kinds.contains("\(error.kind)"), "\(c.file): kind \(error.kind), expected \(c.kinds)")
            #expect(c.messages.contains { error.description.contains($0) }, "\(c.file): '\(error.description)' should mention \(c.messages)")
            try hostGoesOn()
            return
        }
        #expect(c.stage == "allocate", "\(c.file) loaded but should have been refused")

        if c.kinds == ["ok-chain"] {
            let chain = PolicyChain(scripts: [script, try shippedPolicies.load("fair_share", limits: hostileLimits)])
            let outcome = chain.allocate(hostileSite)
            #expect(outcome.fallback == nil, "\(c.file): \(String(describing: outcome.fallback))")
            #expect(outcome.allocation == nativeShare, "the next stage must work as if nothing happened")
            return
        }

        let chain = PolicyChain(scripts: [script])
        for round in 0..<2 {   // and again: the same state keeps failing the same way, never worse
            let start = DispatchTime.now().uptimeNanoseconds
            let outcome = chain.allocate(hostileSite)
            // Containment, not speed: a call that outlives its budget tenfold was not stopped by it.
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            #expect(seconds < 10 * hostileLimits.time, "\(c.file) round \(round): the call ran \(seconds) s, the budget is \(hostileLimits.time) s")
            #expect(InvariantCheck.violations(outcome.allocation, snapshot: hostileSite).isEmpty)
            if c.kinds == ["ok"] {
                #expect(outcome.fallback == nil, "\(c.file) round \(round): \(String(describing: outcome.fallback))")
                #expect(outcome.allocation == nativeShare)
                continue
            }
            guard let error = outcome.fallback else {
                Issue.record("\(c.file) round \(round): expected a contained error, the policy ran")
                continue
            }
            #expect(c.kinds.contains("\(error.kind)"), "\(c.file): kind \(error.kind), expected \(c.kinds): \(error)")
            #expect(c.messages.contains { error.description.contains($0) }, "\(c.file): '\(error.description)' should mention \(c.messages)")
            #expect(error.script == PolicyScript.stem(c.file), "the error names the script")
            // The cycle went on with the native equal share.
            #expect(outcome.allocation == nativeShare)
        }
        try hostGoesOn()
    }

    /// After whatever the hostile script did, a shipped policy still works.
    func hostGoesOn() throws {
        let outcome = PolicyChain(scripts: [try shippedPolicies.load("fair_share")]).allocate(hostileSite)
        #expect(outcome.fallback == nil)
        #expect(outcome.allocation.reduce(0, +) > 0)
    }

    @Test("nothing a script can reach leaves the sandbox")
    func noSideEffects() throws {
        try? FileManager.default.removeItem(atPath: "/tmp/fusebox-pwned")
        let script = try PolicyScript(file: HostileCase.directory + "/os_execute.lua", limits: hostileLimits)
        _ = PolicyChain(scripts: [script]).allocate(hostileSite)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/fusebox-pwned"))
    }
}

extension PolicyScript {
    static func stem(_ file: String) -> String { file.hasSuffix(".lua") ? String(file.dropLast(4)) : file }
}
