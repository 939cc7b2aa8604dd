/// A Lua value copied out of (or into) a sandbox. Tables keep their entries in
/// the order Lua's `next` gave them; functions and other host-less values arrive
/// as `opaque` with their type name, so the host can say what it got.
public indirect enum LuaValue: Sendable, Equatable {
    case `nil`
    case boolean(Bool)
    case number(Double)
    case integer(Int64)
    case string(String)
    case table([LuaEntry])
    case opaque(String)

    public static func array(_ values: [LuaValue]) -> LuaValue {
        .table(values.enumerated().map { LuaEntry(key: .integer(Int64($0.offset + 1)), value: $0.element) })
    }

    public static func record(_ fields: [(String, LuaValue)]) -> LuaValue {
        .table(fields.map { LuaEntry(key: .string($0.0), value: $0.1) })
    }

    /// The numeric value of a number or an integer.
    public var number: Double? {
        switch self {
        case .number(let d): d
        case .integer(let i): Double(i)
        default: nil
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var entries: [LuaEntry]? {
        if case .table(let e) = self { return e }
        return nil
    }

    /// Raw lookup of a string key.
    public subscript(key: String) -> LuaValue {
        guard case .table(let entries) = self else { return .nil }
        for e in entries { if case .string(key) = e.key { return e.value } }
        return .nil
    }

    /// The values at keys 1...n, in order, while they are contiguous.
    public var sequence: [LuaValue] {
        guard case .table(let entries) = self else { return [] }
        var byIndex: [Int64: LuaValue] = [:]
        for e in entries { if case .integer(let i) = e.key { byIndex[i] = e.value } }
        var out: [LuaValue] = []
        var i: Int64 = 1
        while let v = byIndex[i] { out.append(v); i += 1 }
        return out
    }

    /// Lua's name for the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .nil: "nil"
        case .boolean: "boolean"
        case .number, .integer: "number"
        case .string: "string"
        case .table: "table"
        case .opaque(let name): name
        }
    }

    /// A short rendering for messages: never the whole of a big table.
    public var brief: String {
        switch self {
        case .nil: "nil"
        case .boolean(let b): "\(b)"
        case .number(let d): "\(d)"
        case .integer(let i): "\(i)"
        case .string(let s): "\"\(s.prefix(40))\""
        case .table(let e): "a table of \(e.count) entries"
        case .opaque(let name): "a \(name)"
        }
    }
}

public struct LuaEntry: Sendable, Equatable {
    public var key: LuaValue
    public var value: LuaValue

    public init(key: LuaValue, value: LuaValue) {
        self.key = key
        self.value = value
    }
}

/// JSON <-> Lua: objects become tables with string keys, arrays become sequences.
/// A table that is a sequence 1...n becomes an array; any other table an object
/// with its keys as strings.
extension LuaValue: Codable {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            self = .table(try object.allKeys.sorted { $0.stringValue < $1.stringValue }.map {
                LuaEntry(key: .string($0.stringValue), value: try object.decode(LuaValue.self, forKey: $0))
            })
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            var values: [LuaValue] = []
            while !array.isAtEnd { values.append(try array.decode(LuaValue.self)) }
            self = .array(values)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() { self = .nil }
        else if let b = try? single.decode(Bool.self) { self = .boolean(b) }
        else if let i = try? single.decode(Int64.self) { self = .integer(i) }
        else if let d = try? single.decode(Double.self) { self = .number(d) }
        else { self = .string(try single.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .nil: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .boolean(let b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .number(let d):
            var c = encoder.singleValueContainer()
            if d.isFinite { try c.encode(d) } else { try c.encode(String(d)) }
        case .integer(let i): var c = encoder.singleValueContainer(); try c.encode(i)
        case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
        case .opaque(let name): var c = encoder.singleValueContainer(); try c.encode("<\(name)>")
        case .table(let entries):
            let seq = sequence
            if seq.count == entries.count && !entries.isEmpty {
                var c = encoder.unkeyedContainer()
                for v in seq { try c.encode(v) }
            } else {
                var c = encoder.container(keyedBy: AnyKey.self)
                for e in entries {
                    let key: String
                    switch e.key {
                    case .string(let s): key = s
                    case .integer(let i): key = String(i)
                    case .number(let d): key = String(d)
                    default: key = e.key.brief
                    }
                    try c.encode(e.value, forKey: AnyKey(stringValue: key))
                }
            }
        }
    }
}
