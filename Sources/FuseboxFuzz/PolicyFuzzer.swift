import Foundation
import FuseboxCore
import FuseboxLua
import FuseboxTesting

/// Randomly generated policies: calls to the whole policy API with random
/// arguments, random control flow (loops that may not end, recursion, pcall,
/// coroutines, metatables), random results. Whatever the program does, the
/// host must contain it: the call ends within its budget, a failure names the
/// script, and the clamped allocation keeps every invariant.
public struct PolicyFuzzer: FuzzTarget {
    public let name = "policy"
    public let fileExtension = "lua"
    /// Tighter than a site's (20 million instructions, 200 ms) so that more programs
    /// run per second; what is checked is that the budget holds, whatever it is.
    static let limits = LuaLimits(memory: 16 << 20, instructions: 2_000_000, time: 0.05)
    /// Ten times the time budget: a call that outlives that was not stopped by it.
    let slowest = 0.5

    public init() {}

    public func input(seed: UInt64) -> String {
        var g = LuaProgram(seed: seed)
        return g.program()
    }

    public func check(_ input: String) async -> String? {
        // The site it runs on comes from the program's own text, so a kept case replays exactly.
        var rng = SiteGenerator.Random(seed: UInt64(truncatingIfNeeded: input.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }))
        let script: PolicyScript
        do {
            script = try PolicyScript(source: input, origin: "fuzz.lua", limits: Self.limits)
        } catch {
            return error.script.contains("fuzz") ? nil : "a load error that does not name the script: \(error)"
        }
        let chain = PolicyChain(scripts: rng.chance(0.5) ? [script] : [script, Self.fairShare(rng: &rng)].compactMap { $0 })
        var snapshot = RandomSite.snapshot(&rng)
        for cycle in 0..<3 {
            snapshot.time += 1
            let start = DispatchTime.now().uptimeNanoseconds
            let outcome = chain.allocate(snapshot)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if seconds > slowest { return "cycle \(cycle): the call took \(String(format: "%.2f", seconds)) s (budget \(Self.limits.time) s)" }
            if let f = outcome.fallback, !f.description.contains("fuzz") && !f.description.contains("fair_share") {
                return "cycle \(cycle): a fallback that names no script: \(f)"
            }
            let broken = InvariantCheck.violations(outcome.allocation, snapshot: snapshot)
            if !broken.isEmpty { return "cycle \(cycle): invariant broken: \(broken.joined(separator: "; "))" }
            if outcome.allocation.count != snapshot.chargers.count { return "cycle \(cycle): \(outcome.allocation.count) limits for \(snapshot.chargers.count) chargers" }
        }
        return nil
    }

    static func fairShare(rng: inout SiteGenerator.Random) -> PolicyScript? {
        try? PolicyLibrary.shipped().load("fair_share")
    }
}

/// Writes a random Lua policy. Expressions are mostly of the type their place
/// wants, sometimes not, so that both the happy paths and the type errors run.
struct LuaProgram {
    var rng: SiteGenerator.Random
    var locals: [String] = []
    var depth = 0
    var counter = 0

    init(seed: UInt64) { rng = SiteGenerator.Random(seed: seed) }

    mutating func program() -> String {
        var lines: [String] = []
        if rng.chance(0.3) { lines.append(statement()) }   // top-level code runs at load time
        lines.append("local function helper(site, n)")
        depth = 1
        lines.append(block(2))
        lines.append("  return \(number())")
        lines.append("end")
        locals = []
        lines.append("return {")
        if rng.chance(0.2) { lines.append("  name = \(rng.pick(["\"fuzz\"", "42", "nil", "\"\"", "{}"])),") }
        lines.append("  allocate = function(site)")
        lines.append("    local out = {}")
        locals = ["out"]
        depth = 2
        lines.append(block(3 + rng.int(5)))
        lines.append("    return \(result())")
        lines.append("  end,")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    mutating func fresh() -> String {
        counter += 1
        return "v\(counter)"
    }

    mutating func block(_ n: Int) -> String {
        (0..<n).map { _ in statement() }.joined(separator: "\n")
    }

    var pad: String { String(repeating: "  ", count: depth + 1) }

    mutating func statement() -> String {
        let p = pad
        if depth > 5 { return p + "out[\(chargerId())] = \(number())" }
        depth += 1
        defer { depth -= 1 }
        switch rng.int(24) {
        case 0, 1:
            let v = fresh()
            let s = p + "local \(v) = \(expression())"
            locals.append(v)
            return s
        case 2: return p + "out[\(chargerId())] = \(number())"
        case 3: return p + "if \(condition()) then\n\(block(1 + rng.int(2)))\n\(p)else\n\(block(1))\n\(p)end"
        case 4:
            let hi = rng.pick(["#site.chargers", "10", "1e9", "math.huge", number(), "-1"])
            return p + "for i = 1, \(hi) do\n\(block(1 + rng.int(2)))\n\(p)  if \(condition()) then break end\n\(p)end"
        case 5: return p + "for i, c in ipairs(site.chargers) do\n\(p)  out[c.id] = \(chargerNumber())\n\(block(rng.int(2)))\n\(p)end"
        case 6: return p + "for k, v in pairs(\(table())) do\n\(block(1))\n\(p)end"
        case 7: return p + "while \(rng.chance(0.3) ? "true" : condition()) do\n\(block(1))\n\(p)  if \(condition()) then break end\n\(p)end"
        case 8: return p + "repeat\n\(block(1))\n\(p)until \(condition())"
        case 9: return p + "site.memory[\(string())] = \(expression())"
        case 10: return p + "local ok, err = pcall(function()\n\(block(1 + rng.int(2)))\n\(p)end)"
        case 11: return p + "error(\(rng.pick([string(), number(), "nil", "setmetatable({}, {__tostring = function() while true do end end})", "{}"])))"
        case 12: return p + "log(\(expression()), \(expression()))"
        case 13:
            return p + "local co = coroutine.wrap(function()\n\(block(1))\n\(p)  coroutine.yield(\(expression()))\n\(block(1))\n\(p)end)\n\(p)co()"
        case 14: return p + "local t = setmetatable({}, {__index = function(t, k) return t[k] end})\n\(p)local x = t[\(string())]"
        case 15: return p + "local s = string.rep(\(string()), \(rng.pick(["10", "1000", "1e6", "1e9", "2^31", number()])))"
        case 16: return p + "local big = {}\n\(p)for i = 1, \(rng.pick(["100", "1e5", "1e8"])) do big[i] = {i} end"
        case 17: return p + "local f = fusebox.fill(site, \(indexList()), \(fillOptions()))\n\(p)for k, v in pairs(f or {}) do out[k] = v end"
        case 18: return p + "local fits = fusebox.fits(site, \(indexList()), \(rng.pick(["nil", "{}", "{[1] = 6}", number()])))"
        case 19: return p + "fusebox.add_limit(site, \(rng.chance(0.5) ? "fusebox.power_limit(site, \(string()), \(number()), \(indexList()))" : table()))"
        case 20: return p + "local r = load(\(rng.pick(["\"return 1\"", "\"while true do end\"", "\"\\27Lua\"", string(), "\"return site\""])))"
        case 21: return p + "local function rec(n) if n <= 0 then return 0 end return rec(n - 1) + 1 end\n\(p)local depth = rec(\(rng.pick(["10", "1000", "1e6", number()])))"
        case 22: return p + "local h = helper(site, \(number()))"
        default: return p + "\(rng.pick(locals.isEmpty ? ["out"] : locals)) = \(expression())"
        }
    }

    mutating func condition() -> String {
        switch rng.int(7) {
        case 0: return "true"
        case 1: return "false"
        case 2: return "\(number()) < \(number())"
        case 3: return "site.ripple == \(rng.pick(["\"normal\"", "\"locked\"", "\"reduced\""]))"
        case 4: return "math.random() < 0.5"
        case 5: return "site.memory[\(string())] ~= nil"
        default: return "#site.chargers > \(rng.int(8))"
        }
    }

    mutating func expression() -> String {
        switch rng.int(5) {
        case 0: return string()
        case 1: return table()
        default: return number()
        }
    }

    mutating func number() -> String {
        guard depth < 8 else { return "1" }
        depth += 1
        defer { depth -= 1 }
        switch rng.int(16) {
        case 0: return rng.pick(["0/0", "1/0", "-1/0", "math.huge", "-math.huge", "math.mininteger", "math.maxinteger", "1e308", "-0.0"])
        case 1: return String(format: "%.3f", rng.range(-100, 100))
        case 2: return String(rng.int(64))
        case 3: return "site.available[\(rng.int(4) + 1)]"
        case 4: return "(site.chargers[\(rng.int(14))] or {}).max"
        case 5: return "#site.chargers"
        case 6: return "math.random(\(rng.int(40)))"
        case 7: return "(\(number()) \(rng.pick(["+", "-", "*", "/", "//", "%", "^"])) \(number()))"
        case 8: return "tonumber(\(string()))"
        case 9: return "site.time"
        case 10: return locals.isEmpty ? "0" : rng.pick(locals)
        case 11: return "(site.memory.n or 0) + 1"
        case 12: return "helper(site, \(rng.int(3)))"
        case 13: return "math.max(\(number()), \(number()))"
        case 14: return "(site.pv and site.pv.surplus or 0) / 230"
        default: return String(rng.range(0, 40))
        }
    }

    mutating func chargerNumber() -> String {
        rng.chance(0.6) ? rng.pick(["c.min", "c.max", "(c.max + c.min) / 2", "0", "6"]) : number()
    }

    mutating func string() -> String {
        switch rng.int(8) {
        case 0: return "\"\""
        case 1: return "\"x\""
        case 2: return "\"r\(rng.int(14))\""
        case 3: return "tostring(\(rng.chance(0.5) ? "site" : "out"))"
        case 4: return "string.format(\"%d\", \(number()))"
        case 5: return "(\"ab\"):rep(\(rng.int(20)))"
        case 6: return "\"\\0\\255\""
        default: return "\"key\(rng.int(5))\""
        }
    }

    mutating func table() -> String {
        switch rng.int(8) {
        case 0: return "{}"
        case 1: return "site.chargers"
        case 2: return "site.limits"
        case 3: return "{\(number()), \(number())}"
        case 4: return "fusebox.by_id(site)"
        case 5: return "site.memory"
        case 6: return "setmetatable({}, {__pairs = function(t) return function() return 1, 1 end, t, nil end})"
        default: return "out"
        }
    }

    mutating func chargerId() -> String {
        switch rng.int(6) {
        case 0: return "\"r\(rng.int(14))\""
        case 1: return "(site.chargers[\(rng.int(14))] or {}).id or \"none\""
        case 2: return string()
        case 3: return number()
        default: return "(site.chargers[math.random(math.max(1, #site.chargers))] or {id = \"r0\"}).id"
        }
    }

    mutating func indexList() -> String {
        rng.pick(["fusebox.wanting(site)", "{}", "{1, 2, 3}", "{0, -1, 99}", "{\"a\"}", "nil", "site.chargers"])
    }

    mutating func fillOptions() -> String {
        rng.pick(["nil", "{}", "{fixed = {[1] = 6}}", "{upper = {[1] = 0/0}}", "{start_extra = {[2] = -5}}", "{fixed = 5}"])
    }

    mutating func result() -> String {
        switch rng.int(12) {
        case 0: return "nil"
        case 1: return number()
        case 2: return string()
        case 3: return "site"
        case 4: return "{[\(chargerId())] = \(number())}"
        case 5: return "setmetatable(out, {__index = function(t, k) return t[k] end})"
        case 6: return "fusebox.fill(site, fusebox.wanting(site))"
        case 7: return "function() end"
        case 8: return "{\(number()), \(number())}"
        default: return "out"
        }
    }
}
