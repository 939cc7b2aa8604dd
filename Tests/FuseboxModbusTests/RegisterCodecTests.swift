import Foundation
import FuseboxTesting
import FuseboxTestCases
import FuseboxModbus
import Testing

struct CodecCase: Sendable, Codable, CustomStringConvertible {
    var name: String
    var type: RegisterType
    var order: WordOrder
    var scale: Double?
    var registers: [UInt16]
    var value: Double
    var description: String { name }

    static func all() -> [CodecCase] { JSONCases.load("Cases/codecs.json") }
}

@Suite("Register codecs: cases from Cases/codecs.json")
struct RegisterCodecTests {
    @Test("the case file is there and not empty")
    func casesExist() {
        #expect(CodecCase.all().count >= 15)
    }

    @Test("decode and encode", arguments: CodecCase.all())
    func roundTrip(_ c: CodecCase) throws {
        let codec = RegisterCodec(c.type, order: c.order, scale: c.scale ?? 1)
        let decoded = try #require(codec.decode(c.registers))
        #expect(abs(decoded - c.value) <= 1e-9 * max(1, abs(c.value)), "decoded \(decoded)")
        #expect(codec.encode(c.value) == c.registers)
    }

    @Test("values that do not fit are refused, not wrapped")
    func outOfRange() {
        #expect(RegisterCodec(.uint16).encode(65536) == nil)
        #expect(RegisterCodec(.uint16).encode(-1) == nil)
        #expect(RegisterCodec(.int16).encode(32768) == nil)
        #expect(RegisterCodec(.uint32, scale: 0.001).encode(4_294_968) == nil)
        #expect(RegisterCodec(.uint16).encode(.nan) == nil)
        #expect(RegisterCodec(.uint16).decode([]) == nil)
    }

    @Test("ASCII strings: two characters a register, NUL-terminated, trailing spaces dropped")
    func strings() {
        let registers = RegisterCodec.encodeString("TAC 22", registers: 5)
        #expect(registers.count == 5)
        #expect(registers[0] == UInt16(ascii("T")) << 8 | UInt16(ascii("A")))
        #expect(RegisterCodec.decodeString(registers) == "TAC 22")
        #expect(RegisterCodec.decodeString([0x4142, 0x2020]) == "AB")
        #expect(RegisterCodec.decodeString([0x41FF]) == "A?")
    }

    func ascii(_ c: Character) -> UInt8 { c.asciiValue! }
}
