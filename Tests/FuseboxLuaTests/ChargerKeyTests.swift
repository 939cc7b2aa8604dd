@testable import FuseboxLua
import Testing

@Suite("A policy's result crosses with charger keys")
struct ChargerKeyTests {
    /// One argument, a table whose field `x` carries the state's charger keys
    /// (as SiteTable sends them with the skeleton).
    func argument(keys: [String: Int]) -> TapeWriter {
        var tape = TapeWriter()
        tape.beginTable(fieldCount: 1)
        tape.key("x")
        tape.define(slot: chargerKeysSlot)
        tape.beginTable(fieldCount: keys.count)
        for (id, i) in keys.sorted(by: { $0.key < $1.key }) { tape.key(id); tape.integer(i) }
        tape.endTable()
        tape.bool(true)
        tape.endTable()
        return tape
    }

    func result(chargerKeys: Bool) throws -> (keys: [String: TapeReader.ChargerKey], second: LuaValue) {
        let s = try LuaSandbox(name: "keys", limits: LuaLimits())
        try s.load(source: "return { f = function() return { p01 = 6, p02 = 7.5, stranger = 1 }, { p01 = 1 } end }",
                   chunkname: "keys.lua")
        let tape = argument(keys: ["p01": 0, "p02": 1])
        return try s.call("f", arguments: tape, persist: nil, chargerKeys: chargerKeys) {
            (reader: inout TapeReader) throws(LuaError) -> (keys: [String: TapeReader.ChargerKey], second: LuaValue) in
            #expect(reader.count() == 2)
            var keys: [String: TapeReader.ChargerKey] = [:]
            let odd = try reader.chargerToNumberEntries { (key, amps) throws(LuaError) in keys["\(amps)"] = key }
            #expect(odd == nil)
            return (keys, reader.value())
        }
    }

    @Test("ids the state knows come as indices, others as strings; only in the first result")
    func keyed() throws {
        let r = try result(chargerKeys: true)
        #expect(r.keys == ["6.0": .index(0), "7.5": .index(1), "1.0": .id("stranger")])
        #expect(r.second["p01"] == .integer(1))
    }

    @Test("without charger keys every id comes as a string")
    func plain() throws {
        let r = try result(chargerKeys: false)
        #expect(r.keys == ["6.0": .id("p01"), "7.5": .id("p02"), "1.0": .id("stranger")])
    }
}
