import FuseboxCore
import FuseboxLua
import FuseboxTesting
import Testing

@Suite("Shipped policies on random sites")
struct PolicyPropertyTests {
    @Test("the native fusebox.fill agrees with Swift's WaterFill", arguments: [1, 2, 3])
    func fillMatchesWaterFill(seed: Int) throws {
        let script = try PolicyScript(source: """
            return { allocate = function(site)
              local order = {}
              for i, c in ipairs(site.chargers) do
                if c.eligible and (c.status == "charging" or c.status == "occupied") then order[#order + 1] = i end
              end
              table.sort(order, function(a, b)
                local pa, pb = site.chargers[a].priority, site.chargers[b].priority
                if pa ~= pb then return pa > pb end
                return a < b
              end)
              return fusebox.fill(site, order)
            end }
            """, origin: "fill_probe.lua")
        let chain = PolicyChain(scripts: [script])
        var rng = SiteGenerator.Random(seed: UInt64(seed) * 7919)
        for round in 0..<700 {
            let snapshot = RandomSite.snapshot(&rng)
            if snapshot.meterSilent { continue }   // the fallback then gives the fail-safe, not a share
            let outcome = chain.allocate(snapshot)
            #expect(outcome.fallback == nil, "round \(round): \(String(describing: outcome.fallback))")
            // The fallback is WaterFill with the same order; the clamp leaves both alone.
            let native = FallbackAllocator.allocate(snapshot, budget: outcome.budget)
            for i in native.indices where abs(native[i] - outcome.requested[i]) > 1e-6 {
                Issue.record("round \(round): \(snapshot.chargers[i].id) Lua \(outcome.requested[i]) vs Swift \(native[i])")
                return
            }
        }
    }

    @Test("every shipped policy, 500 random sites: valid, no fallback, no cut by the clamp",
          arguments: ["fair_share", "priority", "pv_surplus", "ripple"])
    func shippedPolicyNeedsNoClamp(name: String) throws {
        let chain = PolicyChain(scripts: [try shippedPolicies.load(name)],
                                settings: ["pv_surplus": .record([("mode", .string("minpv"))])])
        var rng = SiteGenerator.Random(seed: 0x5EED + UInt64(name.utf8.count))
        for round in 0..<500 {
            var snapshot = RandomSite.snapshot(&rng)
            snapshot.time = 1_700_000_000 + Double(round) * 7
            let outcome = chain.allocate(snapshot)
            #expect(outcome.fallback == nil, "\(name) round \(round): \(String(describing: outcome.fallback))")
            #expect(InvariantCheck.violations(outcome.allocation, snapshot: snapshot).isEmpty)
            // (With the meter silent the clamp sets the fail-safe current itself.)
            let cuts = snapshot.meterSilent ? [] : outcome.corrections.filter { $0.reason == .overLimit }
            #expect(cuts.isEmpty, "\(name) round \(round): the clamp cut \(cuts)")
            if outcome.fallback != nil || !cuts.isEmpty { return }
        }
    }

    @Test("a state that reuses its skeleton decides exactly as a fresh state would")
    func skeletonReuseIsInvisible() throws {
        // One chain lives through a sequence of cycles; at each cycle a fresh
        // chain, given the same memory, must come to the same allocation.
        let living = PolicyChain(scripts: [try shippedPolicies.load("fair_share")])
        var rng = SiteGenerator.Random(seed: 99)
        var snapshot = SiteGenerator(seed: 5).site(chargers: 40, gridLimit: 60)
        for step in 0..<60 {
            snapshot.time += 30
            let i = rng.int(snapshot.chargers.count)
            snapshot.chargers[i].status = rng.pick([.free, .occupied, .charging, .unavailable])
            snapshot.chargers[i].responding = rng.chance(0.9)
            if step % 20 == 10 { snapshot.ripple = snapshot.ripple == .normal ? .reduced : .normal }
            let memory = living.stages[0].memory
            let fresh = PolicyChain(scripts: [try shippedPolicies.load("fair_share")])
            try fresh.setMemory(memory, forStage: "fair_share")
            let a = living.allocate(snapshot)
            let b = fresh.allocate(snapshot)
            #expect(a.allocation == b.allocation, "step \(step)")
            #expect(a.fallback == nil && b.fallback == nil)
        }
    }
}

@Suite("Each cycle's site looks fresh to the policy")
struct FreshSiteTests {
    @Test("what a policy changes in site does not show in its next cycle")
    func tamperingDoesNotCarryOver() throws {
        let script = try PolicyScript(source: """
            return { allocate = function(site)
              -- First, check that nothing from the last cycle's tampering is visible.
              local c = site.chargers[1]
              assert(c.scribble == nil, "a field added last cycle is still there")
              assert(c.min == 6, "min shadowed last cycle is still shadowed: " .. tostring(c.min))
              assert(c.id == "p01" and c.phases[1] == 1, "the charger lost its static fields")
              assert(getmetatable(site.chargers[2]) ~= nil, "a metatable removed last cycle is still gone")
              assert(site.chargers[1].id == "p01" and site.chargers[3].id == "p03", "the order sorted last cycle stuck")
              assert(#site.limits == site.structure_limits, "a limit added last cycle is still there")
              assert(site.grid.current[1] == site.time, "the grid table did not follow the new reading")
              assert(site.memory.n == nil or site.memory.n >= 1)
              assert(site.memory.count == nil or #site.chargers == site.memory.count, "a charger appended last cycle is still there")
              assert(site.chargers.extra == nil, "a field added to the list last cycle is still there")
              assert(c.current[4] == nil and c.current.x == nil, "a charger's current kept last cycle's additions")
              assert(site.grid.current.y == nil, "the grid's current kept last cycle's addition")
              assert(c.status == "charging" or c.status == "occupied" or c.status == "free" or c.status == "unavailable",
                     "status overwritten last cycle: " .. tostring(c.status))
              site.memory.count = #site.chargers
              site.memory.n = (site.memory.n or 0) + 1
              -- Then tamper with everything in reach.
              c.scribble = true
              c.min = 0
              c.status = "scribbled"
              site.chargers[#site.chargers + 1] = site.chargers[1]
              site.chargers.extra = true
              c.current[4] = 1
              c.current.x = 1
              site.grid.current.y = 2
              table.sort(site.chargers, function(a, b) return a.index > b.index end)
              setmetatable(site.chargers[2], nil)
              fusebox.add_limit(site, fusebox.power_limit(site, "mine", 1e9))
              site.grid.current[1] = -1
              return {}
            end }
            """, origin: "tamper.lua")
        let chain = PolicyChain(scripts: [script])
        var snapshot = hostileSite
        for cycle in 1...4 {
            snapshot.time = Double(cycle)
            snapshot.grid.current.l1 = Double(cycle)
            let outcome = chain.allocate(snapshot)
            #expect(outcome.fallback == nil, "cycle \(cycle): \(String(describing: outcome.fallback))")
        }
        #expect(chain.stages[0].memory["n"] == .integer(4))
    }
}

@Suite("A reused charger table follows the snapshot")
struct ReusedTableTests {
    @Test("a setpoint that goes away is nil in the next cycle, not last cycle's value")
    func setpointCleared() throws {
        let script = try PolicyScript(source: """
            return { allocate = function(site)
              site.memory.seen = site.chargers[1].setpoint or -1
              return {}
            end }
            """, origin: "setpoint.lua")
        let chain = PolicyChain(scripts: [script])
        var snapshot = hostileSite
        for (cycle, setpoint) in [7.0, nil, 9.0, nil, nil].enumerated() {
            snapshot.time = Double(cycle + 1)
            snapshot.chargers[0].setpoint = setpoint
            let outcome = chain.allocate(snapshot)
            #expect(outcome.fallback == nil)
            let seen: LuaValue = chain.stages[0].memory["seen"]
            #expect(seen.number == (setpoint ?? -1), "cycle \(cycle + 1): setpoint \(String(describing: setpoint)), the policy saw \(seen)")
        }
    }
}

@Suite("Replacing a stage")
struct ReplaceStageTests {
    @Test("a replaced stage keeps its memory and its place; an unknown name is refused")
    func replaceKeepsMemory() throws {
        func counter(_ step: Int) throws -> PolicyScript {
            try PolicyScript(source: """
                return { name = "counter", allocate = function(site)
                  site.memory.n = (site.memory.n or 0) + \(step)
                  return fusebox.fill(site, fusebox.wanting(site))
                end }
                """, origin: "counter.lua")
        }
        let chain = PolicyChain(scripts: [try shippedPolicies.load("ripple"), try counter(1)])
        _ = chain.allocate(hostileSite)
        _ = chain.allocate(hostileSite)
        #expect(chain.stages[1].memory["n"] == .integer(2))
        #expect(try chain.replace(with: counter(10)))
        let outcome = chain.allocate(hostileSite)
        #expect(outcome.fallback == nil)
        #expect(chain.stages.map(\.script.name) == ["ripple", "counter"])
        #expect(chain.stages[1].memory["n"] == .integer(12), "the new script counted on from the old one's memory")
        let stranger = try PolicyScript(source: "return { name = 'stranger', allocate = function() return {} end }", origin: "s.lua")
        #expect(try chain.replace(with: stranger) == false)
    }
}
