/// How a value sits in 16-bit Modbus registers.
public enum RegisterType: String, Sendable, Codable, CaseIterable {
    case int16, uint16, int32, uint32, float32, float64, int64, uint64

    /// Registers the value occupies.
    public var count: Int {
        switch self {
        case .int16, .uint16: 1
        case .int32, .uint32, .float32: 2
        case .float64, .int64, .uint64: 4
        }
    }
}

/// The order of the 16-bit words of a multi-register value. Bytes within a
/// register are always big-endian (the Modbus standard).
public enum WordOrder: String, Sendable, Codable {
    /// High word first ("BE", "ABCD"): SDM630, ABB Terra, Alfen, SunSpec.
    case highFirst = "high_first"
    /// Low word first ("LSW", "CDAB"): Weidmüller AC Smart, Phoenix Contact.
    case lowFirst = "low_first"
}

/// Encodes and decodes values in registers: integers and IEEE floats of 16 to 64
/// bits in either word order, with a scale, and ASCII strings.
public struct RegisterCodec: Sendable, Equatable, Codable {
    public var type: RegisterType
    public var order: WordOrder
    /// The register holds value / scale: a register in 0.1 A has scale 0.1.
    public var scale: Double

    public init(_ type: RegisterType, order: WordOrder = .highFirst, scale: Double = 1) {
        self.type = type
        self.order = order
        self.scale = scale
    }

    /// The raw bits, most significant word first, from registers in wire order.
    func bits(_ registers: ArraySlice<UInt16>) -> UInt64 {
        let words = order == .highFirst ? Array(registers) : registers.reversed()
        return words.reduce(UInt64(0)) { ($0 << 16) | UInt64($1) }
    }

    /// The value of `registers` (exactly `type.count` of them), scaled.
    public func decode(_ registers: [UInt16]) -> Double? {
        guard registers.count >= type.count else { return nil }
        let b = bits(registers[0..<type.count])
        let raw: Double
        switch type {
        case .uint16, .uint32, .uint64: raw = Double(b)
        case .int16: raw = Double(Int16(truncatingIfNeeded: b))
        case .int32: raw = Double(Int32(truncatingIfNeeded: b))
        case .int64: raw = Double(Int64(bitPattern: b))
        case .float32: raw = Double(Float(bitPattern: UInt32(truncatingIfNeeded: b)))
        case .float64: raw = Double(bitPattern: b)
        }
        return raw * scale
    }

    /// Registers in wire order for `value`; nil when the value does not fit the type.
    public func encode(_ value: Double) -> [UInt16]? {
        guard value.isFinite || type == .float32 || type == .float64 else { return nil }
        let raw = value / scale
        let b: UInt64
        switch type {
        case .float32: b = UInt64(Float(raw).bitPattern)
        case .float64: b = raw.bitPattern
        default:
            let r = raw.rounded()
            switch type {
            case .uint16: guard r >= 0, r <= Double(UInt16.max) else { return nil }; b = UInt64(r)
            case .uint32: guard r >= 0, r <= Double(UInt32.max) else { return nil }; b = UInt64(r)
            case .uint64: guard r >= 0, r < 18_446_744_073_709_551_616 else { return nil }; b = UInt64(r)
            case .int16: guard r >= Double(Int16.min), r <= Double(Int16.max) else { return nil }
                b = UInt64(UInt16(bitPattern: Int16(r)))
            case .int32: guard r >= Double(Int32.min), r <= Double(Int32.max) else { return nil }
                b = UInt64(UInt32(bitPattern: Int32(r)))
            case .int64: guard r >= -9_223_372_036_854_775_808, r < 9_223_372_036_854_775_808 else { return nil }
                b = UInt64(bitPattern: Int64(r))
            default: return nil
            }
        }
        var words: [UInt16] = []
        for k in stride(from: type.count - 1, through: 0, by: -1) {
            words.append(UInt16(truncatingIfNeeded: b >> (16 * UInt64(k))))
        }
        return order == .highFirst ? words : words.reversed()
    }

    /// ASCII text packed two characters per register, high byte first; stops at
    /// the first NUL and drops trailing spaces.
    public static func decodeString(_ registers: [UInt16]) -> String {
        var bytes: [UInt8] = []
        for r in registers {
            bytes.append(UInt8(r >> 8))
            bytes.append(UInt8(r & 0xFF))
        }
        if let nul = bytes.firstIndex(of: 0) { bytes = Array(bytes[..<nul]) }
        let text = String(decoding: bytes.map { $0 < 0x80 ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
        var end = text.endIndex
        while end > text.startIndex, text[text.index(before: end)] == " " { end = text.index(before: end) }
        return String(text[..<end])
    }

    public static func encodeString(_ text: String, registers: Int) -> [UInt16] {
        var bytes = Array(text.utf8.prefix(registers * 2))
        bytes += [UInt8](repeating: 0, count: registers * 2 - bytes.count)
        return stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
    }
}
