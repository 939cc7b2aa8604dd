import FuseboxCore
import FuseboxLua
import FuseboxTesting
import Testing

@Suite("Shipped policies on random sites")
struct PolicyPropertyTests {
    @Test("fusebox.fill reads the site as the fallback does; fill_and_fits and fill_in_turn agree with fill", arguments: [1, 2, 3])
    func fillMatchesTheFallback(seed: Int) throws {
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
              local out = fusebox.fill(site, order)
              local again, all = fusebox.fill_and_fits(site, order)
              for id, a in pairs(out) do assert(again[id] == a, "fill_and_fits shares otherwise than fill") end
              for id in pairs(again) do assert(out[id] ~= nil, "fill_and_fits gives more chargers than fill") end
              assert(all == fusebox.fits(site, order), "fill_and_fits disagrees with fits")

              -- fill_in_turn against one fill per group, the amps so far fixed.
              local groups, levels = {}, {}
              for _, i in ipairs(order) do
                local p = site.chargers[i].priority
                if not groups[p] then groups[p] = {}; levels[#levels + 1] = p end
                table.insert(groups[p], i)
              end
              table.sort(levels, function(a, b) return a > b end)
              local in_turn, reserved = {}, {}
              for k, p in ipairs(levels) do
                in_turn[k] = groups[p]
                if k > 1 then
                  for n, i in ipairs(groups[p]) do
                    if n % 3 == 1 then reserved[i] = site.chargers[i].min end
                  end
                end
              end
              local fixed, expected = {}, {}
              for i, a in pairs(reserved) do fixed[i] = a end
              for _, group in ipairs(in_turn) do
                for _, i in ipairs(group) do fixed[i] = nil end
                local share = fusebox.fill(site, group, { fixed = fixed })
                for _, i in ipairs(group) do
                  local a = share[site.chargers[i].id]
                  expected[site.chargers[i].id] = a
                  if a > 0 then fixed[i] = a end
                end
              end
              local turned = fusebox.fill_in_turn(site, in_turn, { reserved = reserved })
              for id, a in pairs(expected) do
                assert(turned[id] and math.abs(turned[id] - a) < 1e-6,
                       "fill_in_turn gives " .. id .. " " .. tostring(turned[id]) .. " where one fill per group gives " .. a)
              end
              for id in pairs(turned) do assert(expected[id] ~= nil, "fill_in_turn gives more chargers") end
              local ok, err = pcall(fusebox.fill_in_turn, site, { order, { 0 } })
              assert(not ok and tostring(err):find("groups[2][1] is not a charger index", 1, true),
                     "a bad group entry: " .. tostring(err))

              -- start_extra as a number, but not for the cars in `running`, is
              -- that number mapped over the others.
              local running, extra = {}, {}
              for n, i in ipairs(order) do
                if n % 2 == 0 then running[i] = true else extra[i] = 1.5 end
              end
              local pairs_of = {
                { fusebox.fill(site, order, { start_extra = extra }),
                  fusebox.fill(site, order, { start_extra = 1.5, running = running }) },
                { fusebox.fill_in_turn(site, in_turn, { reserved = reserved, start_extra = extra }),
                  fusebox.fill_in_turn(site, in_turn, { reserved = reserved, start_extra = 1.5, running = running }) },
              }
              -- hold: one fill of the held at their minimum says who fits, in
              -- turn; they are reserved and go first in their group.
              local hold, at_min = {}, {}
              for n, i in ipairs(order) do
                if n % 4 ~= 2 then hold[#hold + 1] = i; at_min[i] = site.chargers[i].min end
              end
              local held = fusebox.fill(site, hold, { upper = at_min })
              local held_reserved, held_first = {}, {}
              for _, i in ipairs(hold) do
                if held[site.chargers[i].id] > 0 then held_reserved[i] = site.chargers[i].min end
              end
              for k, group in ipairs(in_turn) do
                local first, rest = {}, {}
                for _, i in ipairs(group) do
                  if held_reserved[i] then first[#first + 1] = i else rest[#rest + 1] = i end
                end
                for _, i in ipairs(rest) do first[#first + 1] = i end
                held_first[k] = first
              end
              pairs_of[#pairs_of + 1] = { fusebox.fill_in_turn(site, held_first, { reserved = held_reserved, start_extra = extra }),
                                          fusebox.fill_in_turn(site, in_turn, { hold = hold, start_extra = extra }) }
              for _, two in ipairs(pairs_of) do
                for id, a in pairs(two[1]) do
                  assert(two[2][id] and math.abs(two[2][id] - a) < 1e-9, "start_extra as a number, or hold, gives " .. id .. " " .. tostring(two[2][id]) .. ", the long way " .. a)
                end
              end
              return out
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
              assert(c.raw == nil, "a field added with rawset last cycle is still there")
              assert(c.min == 6, "min shadowed last cycle is still shadowed: " .. tostring(c.min))
              assert(c.id == "p01" and c.phases[1] == 1, "the charger lost its static fields")
              assert(#c.phases == 3 and c.phases[4] == nil, "a phase added last cycle is still there")
              assert(site.chargers[1].id == "p01" and site.chargers[3].id == "p03", "the order sorted last cycle stuck")
              assert(#site.limits == site.memory.site_limits or site.memory.site_limits == nil, "a limit added last cycle is still there")
              for k, l in ipairs(site.limits) do
                assert(rawget(l, "raw") == nil, "a limit kept a field set with rawset")
                for j, i in ipairs(l.members) do assert(i >= 1 and i <= #site.chargers, "members changed last cycle: " .. tostring(i)) end
                assert(#l.members == #l.weights, "members or weights changed last cycle")
              end
              assert(getmetatable(site.chargers[2]) == nil, "a charger's metatable set last cycle is still there")
              assert(site.grid.current[1] == site.time, "the grid table did not follow the new reading")
              assert(site.memory.n == nil or site.memory.n >= 1)
              assert(site.memory.count == nil or #site.chargers == site.memory.count, "a charger appended last cycle is still there")
              assert(site.chargers.extra == nil and rawget(site.chargers, "raw") == nil, "a field added to the list last cycle is still there")
              assert(c.current[4] == nil and c.current.x == nil, "a charger's current kept last cycle's additions")
              assert(site.grid.current.y == nil, "the grid's current kept last cycle's addition")
              assert(c.status == "charging" or c.status == "occupied" or c.status == "free" or c.status == "unavailable",
                     "status overwritten last cycle: " .. tostring(c.status))
              site.memory.count = #site.chargers
              site.memory.site_limits = #site.limits
              site.memory.n = (site.memory.n or 0) + 1
              -- Then tamper with everything in reach, rawset included.
              c.scribble = true
              rawset(c, "raw", true)
              c.min = 0
              c.status = "scribbled"
              c.phases[4] = 2
              c.phases[1] = 3
              -- (Every other cycle, so that a field added to the list is also
              -- tried on a list of the same length.)
              if site.memory.n % 2 == 1 then site.chargers[#site.chargers + 1] = site.chargers[1] end
              site.chargers.extra = true
              rawset(site.chargers, "raw", true)
              c.current[4] = 1
              c.current.x = 1
              site.grid.current.y = 2
              for _, l in ipairs(site.limits) do
                rawset(l, "raw", true)
                l.members[#l.members + 1] = 99
                l.weights[1] = -5
              end
              table.sort(site.chargers, function(a, b) return a.index > b.index end)
              setmetatable(site.chargers[2], { __index = function() return 1 end })
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

extension ReusedTableTests {
    @Test("every field of every charger, and fusebox.wanting, read what this cycle's snapshot holds, also after a script changed it")
    func chargerFieldsFollowTheSnapshot() throws {
        // The probe copies each charger's fields into its memory, then scribbles
        // over what it can reach; the next cycle must see the new snapshot only.
        let script = try PolicyScript(source: """
            return { allocate = function(site)
              local seen = {}
              site.memory.wanting = fusebox.wanting(site)
              -- fusebox.power_limit is native: it must build what this Lua would.
              local function lua_power_limit(name, watts, indices)
                local members, weights = {}, {}
                local function add(i)
                  local c = site.chargers[i]
                  if c.eligible then members[#members + 1] = i; weights[#weights + 1] = c.volts end
                end
                if indices then for _, i in ipairs(indices) do add(i) end
                else for i = 1, #site.chargers do add(i) end end
                return { name = name, unit = "W", available = watts, members = members, weights = weights }
              end
              local function lua_wanting()
                local out = {}
                for i, c in ipairs(site.chargers) do
                  if c.eligible and (c.status == "charging" or c.status == "occupied") then out[#out + 1] = i end
                end
                return out
              end
              -- The native helpers read the chargers' fields as a script does,
              -- also after a script changed them (then through metamethods).
              local function compare_natives(when)
                local native, lua = fusebox.wanting(site), lua_wanting()
                assert(#native == #lua, when .. ": wanting: lengths")
                for k = 1, #lua do assert(native[k] == lua[k], when .. ": wanting: entry " .. k) end
                local some = { #site.chargers, 1, 2 }
                for _, indices in ipairs({ false, some }) do
                  local native = fusebox.power_limit(site, "p", 1234.5, indices or nil)
                  local lua = lua_power_limit("p", 1234.5, indices or nil)
                  assert(native.name == lua.name and native.unit == lua.unit and native.available == lua.available)
                  assert(#native.members == #lua.members and #native.weights == #lua.weights, when .. ": power_limit: lengths")
                  for k = 1, #lua.members do
                    assert(native.members[k] == lua.members[k] and native.weights[k] == lua.weights[k],
                           when .. ": power_limit: entry " .. k)
                  end
                end
                -- fill caps each charger at its max as the script reads it.
                local all = {}
                for i = 1, #site.chargers do all[i] = i end
                local share = fusebox.fill(site, all, { upper = nil })
                for _, c in ipairs(site.chargers) do
                  assert(share[c.id] <= c.max, when .. ": fill gave " .. c.id .. " more than its max")
                end
              end
              compare_natives("as sent")
              for i, c in ipairs(site.chargers) do
                -- pairs lists every field, as read.
                local listed, count = {}, 0
                for k, v in pairs(c) do listed[k] = v; count = count + 1 end
                for _, k in ipairs({ "id", "index", "phases", "min", "priority", "status", "max", "eligible", "volts",
                                     "current", "setpoint", "session_energy", "connected_for", "responding" }) do
                  assert(rawequal(listed[k], c[k]), "pairs: " .. k .. " is " .. tostring(listed[k]) .. ", read " .. tostring(c[k]))
                end
                assert(count == (c.setpoint == nil and 13 or 14), "pairs listed " .. count .. " fields")
              end
              for i, c in ipairs(site.chargers) do
                local current = {}
                for k, a in ipairs(c.current) do current[k] = a end
                seen[i] = { id = c.id, index = c.index, status = c.status, max = c.max, min = c.min,
                            priority = c.priority, eligible = c.eligible, volts = c.volts,
                            current = current, setpoint = c.setpoint or false,
                            session_energy = c.session_energy, connected_for = c.connected_for,
                            responding = c.responding, same_current = rawequal(c.current, c.current),
                            unknown = c.no_such_field == nil and c[1] == nil }
                c.current[1] = -99
                c.current[5] = 1
                c.setpoint = -1
                c.responding = "scribbled"
                if i % 3 == 1 then c.eligible = not c.eligible end
                if i % 3 == 2 then c.status = c.status == "charging" and "free" or "occupied"; c.volts = 1 end
                if i % 4 == 0 then c.max = c.min + 1 end
              end
              compare_natives("scribbled")
              site.memory.seen = seen
              return {}
            end }
            """, origin: "fields.lua")
        let chain = PolicyChain(scripts: [script])
        var rng = SiteGenerator.Random(seed: 42)
        var snapshot = SiteGenerator(seed: 8).site(chargers: 12, gridLimit: 80)
        for cycle in 0..<40 {
            snapshot.time += 1
            if cycle == 20 { snapshot = SiteGenerator(seed: 9).site(chargers: 7, gridLimit: 50) }   // a new skeleton
            for i in snapshot.chargers.indices {
                let phases = snapshot.chargers[i].phases.count
                snapshot.chargers[i].current = (0..<rng.int(phases + 1)).map { _ in Double(rng.int(320)) / 10 }
                snapshot.chargers[i].setpoint = rng.chance(0.5) ? Double(6 + rng.int(26)) : nil
                snapshot.chargers[i].sessionEnergy = Double(rng.int(50_000)) / 1000
                snapshot.chargers[i].connectedFor = Double(rng.int(90_000))
                snapshot.chargers[i].responding = rng.chance(0.8)
                snapshot.chargers[i].status = rng.pick([.free, .occupied, .charging, .unavailable])
            }
            let outcome = chain.allocate(snapshot)
            #expect(outcome.fallback == nil, "cycle \(cycle): \(String(describing: outcome.fallback))")
            let seen = chain.stages[0].memory["seen"].sequence
            #expect(seen.count == snapshot.chargers.count)
            let wanting = snapshot.chargers.indices.filter {
                outcome.budget.eligible[$0] && [.charging, .occupied].contains(snapshot.chargers[$0].status)
            }
            #expect(chain.stages[0].memory["wanting"].sequence.map(\.number) == wanting.map { Double($0 + 1) },
                    "cycle \(cycle): fusebox.wanting")
            for (i, c) in snapshot.chargers.enumerated() where i < seen.count {
                let s = seen[i]
                let context = "cycle \(cycle), \(c.id)"
                #expect(s["id"].string == c.id && s["index"].number == Double(i + 1), "\(context)")
                #expect(s["status"].string == c.status.rawValue, "\(context)")
                #expect(s["min"].number == c.min && s["priority"].number == Double(c.priority), "\(context)")
                #expect(s["max"].number == c.effectiveMax, "\(context)")
                #expect(s["eligible"] == .boolean(outcome.budget.eligible[i]), "\(context)")
                #expect(s["current"].sequence.map(\.number) == c.current.map { Optional($0) }, "\(context)")
                #expect(s["setpoint"] == (c.setpoint.map { LuaValue.number($0) } ?? .boolean(false)), "\(context)")
                #expect(s["session_energy"].number == c.sessionEnergy, "\(context)")
                #expect(s["connected_for"].number == c.connectedFor, "\(context)")
                #expect(s["responding"] == .boolean(c.responding), "\(context)")
                #expect(s["same_current"] == .boolean(true), "\(context): c.current is one table within a cycle")
                #expect(s["unknown"] == .boolean(true), "\(context): a field nobody sends is nil")
            }
        }
    }
}

@Suite("fusebox.sort")
struct NativeSortTests {
    @Test("orders as table.sort with the same comparator, keeps integers, and names a missing key")
    func sortsLikeTableSort() throws {
        let script = try PolicyScript(source: """
            return { allocate = function(site)
              for round = 1, 200 do
                local n = math.random(0, 40)
                local list, rank, waited = {}, {}, {}
                for k = 1, n do
                  local v = math.random(1, 60)
                  list[k] = v
                  rank[v] = math.random(0, 2)
                  waited[v] = math.random(1, 5) * 0.5
                end
                local expected = {}
                for k = 1, n do expected[k] = list[k] end
                table.sort(expected, function(a, b)
                  if rank[a] ~= rank[b] then return rank[a] < rank[b] end
                  if waited[a] ~= waited[b] then return waited[a] < waited[b] end
                  return a < b
                end)
                fusebox.sort(list, rank, waited)
                for k = 1, n do
                  assert(list[k] == expected[k], "round " .. round .. " place " .. k)
                  assert(math.type(list[k]) == "integer", "an integer came back as a float")
                end
              end
              local ok, message = pcall(fusebox.sort, { 1, 2 }, { [1] = 0 })
              assert(not ok and message:find("key table 1 has no number for 2", 1, true), tostring(message))
              return {}
            end }
            """, origin: "sort.lua")
        let outcome = PolicyChain(scripts: [script]).allocate(hostileSite)
        #expect(outcome.fallback == nil, "\(String(describing: outcome.fallback))")
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

@Suite("fusebox.switches")
struct SwitchesTests {
    @Test("remembers by index what priority's Lua loop remembered by id, across a new configuration and a copied memory")
    func matchesTheLuaLoop() throws {
        // The probe keeps the Lua loop's record by id (memory.ref) beside the
        // native one by index, gives random current, and compares both before
        // and after each record.
        let source = """
            return { name = "switches_probe", allocate = function(site)
              local m = site.memory
              m.ref = m.ref or { on = {}, since = {}, was_on = {} }
              local ref, now, n = m.ref, site.time, #site.chargers
              local sw
              local function compare(when)
                for i, c in ipairs(site.chargers) do
                  local id = c.id
                  assert(sw.on[i] == ref.on[id], when .. ": on of " .. id)
                  assert(sw.since[i] == ref.since[id],
                         when .. ": since of " .. id .. ": " .. tostring(sw.since[i]) .. ", by id " .. tostring(ref.since[id]))
                  assert(sw.was_on[i] == ref.was_on[id], when .. ": was_on of " .. id)
                end
                for _, t in ipairs({ sw.on, sw.since, sw.was_on }) do
                  for k in pairs(t) do
                    assert(math.type(k) == "integer" and k >= 1 and k <= n, when .. ": a key that is no charger: " .. tostring(k))
                  end
                end
              end
              sw = fusebox.switches(site, m)
              compare("before")
              local given = {}
              for _, c in ipairs(site.chargers) do
                local r = math.random()
                if r < 0.3 then given[c.id] = 0 elseif r < 0.7 then given[c.id] = math.random(6, 16) end
              end
              for _, c in ipairs(site.chargers) do
                local id, g = c.id, given[c.id]
                local on = g ~= nil and g > 0
                local was = ref.on[id]
                if ref.since[id] == nil or (was or false) ~= on then
                  ref.since[id] = now
                  ref.was_on[id] = was and true or nil
                end
                ref.on[id] = on or nil
                if g == nil and c.status == "free" then ref.since[id], ref.was_on[id] = nil, nil end
              end
              sw = fusebox.record_switches(site, m, given)
              compare("after")
              m.cycles = (m.cycles or 0) + 1
              return {}
            end }
            """
        var chain = PolicyChain(scripts: [try PolicyScript(source: source, origin: "switches_probe.lua")])
        var rng = SiteGenerator.Random(seed: 7)
        var snapshot = SiteGenerator(seed: 3).site(chargers: 12, gridLimit: 80)
        for cycle in 0..<60 {
            snapshot.time += Double(1 + rng.int(60))
            if cycle == 20 {
                // A new configuration: the chargers in another order, one gone, one new.
                var chargers = snapshot.chargers
                chargers.removeLast()
                chargers.reverse()
                chargers.swapAt(0, 5)
                var new = chargers[0]
                new.id = "new-charger"
                chargers.insert(new, at: 4)
                snapshot.chargers = chargers
            }
            if cycle == 40 {
                // The memory moves to another state, as on a hot reload.
                let memory = chain.stages[0].memory
                chain = PolicyChain(scripts: [try PolicyScript(source: source, origin: "switches_probe.lua")])
                try chain.setMemory(memory, forStage: "switches_probe")
            }
            for i in snapshot.chargers.indices where rng.chance(0.3) {
                snapshot.chargers[i].status = rng.pick([.free, .occupied, .charging, .unavailable])
            }
            let outcome = chain.allocate(snapshot)
            #expect(outcome.fallback == nil, "cycle \(cycle): \(String(describing: outcome.fallback))")
        }
        #expect(chain.stages[0].memory["cycles"] == .integer(60))
    }
}

@Suite("The sharing helpers' errors")
struct SharingErrorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var call: String
        var message: String
        var testDescription: String { call }
    }

    /// Each call is made under pcall in a policy on the hostile test site (four
    /// chargers); the error must name what is wrong.
    static let cases: [Case] = [
        Case(call: "fusebox.fill(site, { 1, 99 })", message: "fusebox.fill: order[2] is not a charger index"),
        Case(call: "fusebox.fill(site, { 1, 1.5 })", message: "fusebox.fill: order[2] is not a charger index"),
        Case(call: "fusebox.fill(site, 'all')", message: "fusebox.fill: order must be a list of charger indices"),
        Case(call: "fusebox.fill_in_turn(site, { { 1 }, 2 })", message: "fusebox.fill_in_turn: groups[2] is not a list"),
        Case(call: "fusebox.fill_in_turn(site, { { 1 }, { 2, 0 } })", message: "fusebox.fill_in_turn: groups[2][2] is not a charger index"),
        Case(call: "fusebox.fill_in_turn(site, { { 1 } }, { hold = { 7 } })", message: "fusebox.fill_in_turn: opts.hold[1] is not a charger index"),
        Case(call: "fusebox.add_limit(site, { available = 5, members = { 1, 999 }, weights = { 1, 1 } }); fusebox.fill(site, { 1 })",
             message: "].members[2] is not a charger index"),
        Case(call: "fusebox.add_limit(site, { available = 5, members = { 1 }, weights = { 'x' } }); fusebox.fits(site, { 1 })",
             message: "weights[1] must be a finite number >= 0"),
        Case(call: "fusebox.add_limit(site, { available = 5, members = { 1 }, weights = { -1 } }); fusebox.fill(site, { 1 })",
             message: "weights[1] must be a finite number >= 0"),
        Case(call: "fusebox.add_limit(site, 'x'); fusebox.fill(site, { 1 })", message: "is not a table"),
        Case(call: "site.chargers[1].max = 0/0; fusebox.fill(site, { 1 })", message: "not a finite number"),
        Case(call: "fusebox.fill(site, { 1 }, { fixed = { [1] = math.huge } })", message: "not a finite number"),
        Case(call: "fusebox.sort({ 2, 1 }, { [1] = 0 })", message: "fusebox.sort: key table 1 has no number for 2"),
        Case(call: "fusebox.sort({ 2, 'x' })", message: "fusebox.sort: list[2] is not a number"),
        Case(call: "fusebox.sort({ 2, 1 }, {}, {}, {}, {}, {})", message: "fusebox.sort: at most 4 key tables, got 5"),
        Case(call: "fusebox.record_switches(site, site.memory, 5)", message: "fusebox.record_switches: given must be a table"),
    ]

    @Test("a bad argument is refused with its name and entry; the host goes on", arguments: cases)
    func refused(_ c: Case) throws {
        let script = try PolicyScript(source: """
            return { allocate = function(site)
              local ok, message = pcall(function() \(c.call) end)
              site.memory.ok = ok
              site.memory.message = tostring(message)
              return {}
            end }
            """, origin: "errors.lua")
        let chain = PolicyChain(scripts: [script])
        let outcome = chain.allocate(hostileSite)
        #expect(outcome.fallback == nil, "\(String(describing: outcome.fallback))")
        let memory = chain.stages[0].memory
        #expect(memory["ok"] == .boolean(false), "\(c.call) was accepted")
        let message = memory["message"].string ?? ""
        #expect(message.contains(c.message), "\(c.call): \(message)")
    }
}
