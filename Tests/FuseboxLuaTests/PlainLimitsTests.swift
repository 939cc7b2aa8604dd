@testable import FuseboxLua
import Testing

/// A stage's limits are read as plain lists when they are plain
/// (`TapeReader.plainLimits`); anything else goes the way of values, which
/// names what is wrong. Only this reading shows which way was taken.
@Suite("A stage's limits read without values")
struct PlainLimitsTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let lua: String
        let plain: Bool
        var testDescription: String { lua }
    }

    static let cases: [Case] = [
        Case(lua: #"{ { name = "a", unit = "W", available = 5, members = { 1, 2 }, weights = { 230, 460.5 } } }"#, plain: true),
        Case(lua: #"{ { available = 1.5, members = {}, weights = {} }, { available = 2, members = { 3 }, weights = { 1 } } }"#, plain: true),
        Case(lua: "{}", plain: true),
        Case(lua: #"{ { available = 5, members = { "p01" }, weights = { 1 } } }"#, plain: false),
        Case(lua: "{ { available = 5, members = { [1] = 1, [3] = 3 }, weights = { 1, 1 } } }", plain: false),
        Case(lua: "{ { available = 5, members = { 1 }, weights = { 1 }, extra = true } }", plain: false),
        Case(lua: "{ [2] = { available = 5, members = {}, weights = {} } }", plain: false),
        Case(lua: "{ { available = 5, members = { 1 }, weights = { true } } }", plain: false),
    ]

    @Test("plain lists of numbers are read as such, anything else is left to the values", arguments: cases)
    func reads(_ c: Case) throws {
        let s = try LuaSandbox(name: "limits", limits: LuaLimits())
        try s.load(source: "return { f = function() return {}, \(c.lua) end }", chunkname: "limits.lua")
        let tape = TapeWriter()
        let read = try s.call("f", arguments: tape, persist: nil) {
            (reader: inout TapeReader) throws(LuaError) -> (plain: [TapeReader.PlainLimit]?, values: LuaValue) in
            _ = reader.count()
            reader.skipValue()
            let start = reader.position
            let plain = reader.plainLimits()
            reader.position = start
            return (plain, reader.value())
        }
        #expect((read.plain != nil) == c.plain)
        guard let plain = read.plain else { return }
        // What the plain reading gives is what the values say.
        let values = read.values.sequence
        #expect(plain.count == values.count)
        for (p, v) in zip(plain, values) {
            #expect(p.name == v["name"].string && p.unit == v["unit"].string && p.available == v["available"].number)
            #expect(p.members == v["members"].sequence.compactMap(\.number))
            #expect(p.weights == v["weights"].sequence.compactMap(\.number))
        }
    }
}
