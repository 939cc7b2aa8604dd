import FuseboxCore
import FuseboxLua
import Testing

@Suite("The sandboxed Lua state")
struct LuaSandboxTests {
    func sandbox(_ source: String, limits: LuaLimits = LuaLimits()) throws -> LuaSandbox {
        let s = try LuaSandbox(name: "test", limits: limits)
        try s.load(source: source, chunkname: "test.lua")
        return s
    }

    @Test("values cross in both directions unchanged")
    func roundTrip() throws {
        let s = try sandbox("return { echo = function(...) return ... end }")
        let nested = LuaValue.record([
            ("name", .string("p01 \u{00e9}\u{0000}x")), ("amps", .number(16.5)), ("count", .integer(-3)),
            ("ok", .boolean(true)), ("list", .array([.integer(1), .number(2.25), .string("three")])),
        ])
        var tape = TapeWriter()
        tape.value(nested)
        tape.integer(Int64.max)
        tape.number(-0.0)
        tape.bool(false)
        let out = try s.call("echo", arguments: tape)
        #expect(out.count == 4)
        #expect(out[0]["name"] == .string("p01 \u{00e9}\u{0000}x"))
        #expect(out[0]["amps"] == .number(16.5))
        #expect(out[0]["count"] == .integer(-3))
        #expect(out[0]["ok"] == .boolean(true))
        #expect(out[0]["list"].sequence == [.integer(1), .number(2.25), .string("three")])
        #expect(out[1] == .integer(Int64.max))
        #expect(out[2].number.map { $0 == 0 && $0.sign == .minus } == true)
        #expect(out[3] == .boolean(false))
    }

    @Test("functions and coroutines come back as named opaque values")
    func opaqueValues() throws {
        let s = try sandbox("return { f = function() return print, coroutine.create(print) end }")
        let out = try s.call("f", arguments: TapeWriter())
        #expect(out == [.opaque("function"), .opaque("thread")])
    }

    @Test("the memory ceiling holds for the whole state and the state recovers")
    func memoryCeiling() throws {
        let s = try sandbox("""
            local keep = {}
            return {
              grow = function(n) for i = 1, n do keep[#keep + 1] = string.rep("x", 1000) .. i end return #keep end,
              drop = function() keep = {} return collectgarbage("count") end,
            }
            """, limits: LuaLimits(memory: 2 << 20))
        var big = TapeWriter()
        big.integer(100_000)
        #expect(throws: LuaError.self) { try s.call("grow", arguments: big) }
        #expect(s.memoryUsed <= 2 << 20)
        _ = try s.call("drop", arguments: TapeWriter())
        var small = TapeWriter()
        small.integer(10)
        #expect(try s.call("grow", arguments: small) == [.integer(10)])
    }

    @Test("errors name the script and the line")
    func errorsNameTheLine() throws {
        let s = try sandbox("""
            return {
              f = function()
                local t = nil
                return t.x
              end,
            }
            """)
        do {
            _ = try s.call("f", arguments: TapeWriter())
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .runtime)
            #expect(error.message.hasPrefix("test.lua:4:"), "\(error.message)")
            #expect(error.description.hasPrefix("test:"))
        }
    }

    @Test("print and log go to the host's buffer")
    func logCapture() throws {
        let s = try sandbox(#"return { f = function() print("a", 1, true, nil) log("b") end }"#)
        _ = try s.call("f", arguments: TapeWriter())
        #expect(s.takeLog() == "a\t1\ttrue\tnil\nb\n")
        #expect(s.takeLog() == "")
    }

    @Test("the kept table survives calls and can be replaced by the host")
    func persistentTable() throws {
        let s = try sandbox("return { tick = function(site) site.memory.n = (site.memory.n or 0) + 1 return site.memory.n end }")
        func tick() throws -> LuaValue {
            var t = TapeWriter()
            t.beginTable()
            t.endTable()
            return try s.call("tick", arguments: t, persist: "memory")[0]
        }
        #expect(try tick() == .integer(1))
        #expect(try tick() == .integer(2))
        #expect(try s.persistent["n"] == .integer(2))
        try s.setPersistent(.record([("n", .integer(40))]))
        #expect(try tick() == .integer(41))
    }

    @Test("the budget is per call: a later call gets a fresh one")
    func budgetResets() throws {
        let s = try sandbox("return { spin = function(n) local x = 0 for i = 1, n do x = x + 1 end return x end }",
                            limits: LuaLimits(instructions: 200_000))
        var many = TapeWriter()
        many.integer(10_000_000)
        #expect(throws: LuaError.self) { try s.call("spin", arguments: many) }
        var few = TapeWriter()
        few.integer(1000)
        #expect(try s.call("spin", arguments: few) == [.integer(1000)])
    }

    @Test("math.random is seeded by the host: the same seed, the same numbers")
    func seededRandom() throws {
        let source = "return { r = function() return math.random(1, 1000000) end }"
        let a = try LuaSandbox(name: "a", seed: 7), b = try LuaSandbox(name: "b", seed: 7)
        try a.load(source: source, chunkname: "r.lua")
        try b.load(source: source, chunkname: "r.lua")
        #expect(try a.call("r", arguments: TapeWriter()) == b.call("r", arguments: TapeWriter()))
    }
}
