import CLuaShim

/// Tape tags, as defined in CLuaShim.h.
enum TapeTag {
    static let nilValue = UInt8(ascii: "n")
    static let trueValue = UInt8(ascii: "t")
    static let falseValue = UInt8(ascii: "f")
    static let number = UInt8(ascii: "d")
    static let integer = UInt8(ascii: "i")
    static let string = UInt8(ascii: "s")
    static let table = UInt8(ascii: "T")
    static let end = UInt8(ascii: "E")
    static let opaque = UInt8(ascii: "x")
    static let numbers = UInt8(ascii: "N")
    static let integers = UInt8(ascii: "I")
}

/// Builds the byte tape the shim turns into Lua values (see CLuaShim.h).
/// Writing it is plain Swift with no Lua calls, so nothing here can raise. One
/// growing buffer, reused from cycle to cycle by its owner; not copyable, so
/// that exclusive access is checked by the compiler, not at run time.
public struct TapeWriter: ~Copyable {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    public private(set) var length = 0
    /// Values written at the top level (the arguments of a call).
    public private(set) var count: UInt32 = 0
    private var depth = 0

    public init(capacity: Int = 4096) {
        self.capacity = max(64, capacity)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    public mutating func reset() {
        length = 0
        count = 0
        depth = 0
    }

    public func withBytes<R>(_ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
        body(UnsafePointer(base.assumingMemoryBound(to: UInt8.self)), length)
    }

    /// A copy of what was written, for tests.
    public var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: base, count: length)) }

    @inline(__always)
    private mutating func ensure(_ extra: Int) {
        if length + extra <= capacity { return }
        var newCapacity = capacity * 2
        while newCapacity < length + extra { newCapacity *= 2 }
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        grown.copyMemory(from: base, byteCount: length)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    @inline(__always)
    private mutating func tag(_ t: UInt8) {
        if depth == 0 { count += 1 }
        ensure(1)
        base.storeBytes(of: t, toByteOffset: length, as: UInt8.self)
        length += 1
    }

    @inline(__always)
    private mutating func raw<T: FixedWidthInteger>(_ v: T) {
        ensure(MemoryLayout<T>.size)
        base.storeBytes(of: v.littleEndian, toByteOffset: length, as: T.self)
        length += MemoryLayout<T>.size
    }

    public mutating func nilValue() { tag(TapeTag.nilValue) }
    public mutating func bool(_ b: Bool) { tag(b ? TapeTag.trueValue : TapeTag.falseValue) }
    public mutating func number(_ d: Double) { tag(TapeTag.number); raw(d.bitPattern) }
    public mutating func integer(_ i: Int64) { tag(TapeTag.integer); raw(i) }
    public mutating func integer(_ i: Int) { integer(Int64(i)) }
    public mutating func string(_ s: String) {
        tag(TapeTag.string)
        lengthAndBytes(s)
    }

    /// A u32 length and the UTF-8 bytes: a string's body, untagged.
    private mutating func lengthAndBytes(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            raw(UInt32(utf8.count))
            ensure(utf8.count)
            if let src = utf8.baseAddress { (base + length).copyMemory(from: src, byteCount: utf8.count) }
            length += utf8.count
        }
    }

    /// Opens a table; write key, value, key, value ... then `endTable()`.
    public mutating func beginTable(arrayCount: Int = 0, fieldCount: Int = 0) {
        tag(TapeTag.table)
        raw(UInt32(arrayCount))
        raw(UInt32(fieldCount))
        depth += 1
    }
    public mutating func endTable() {
        depth -= 1
        ensure(1)
        base.storeBytes(of: TapeTag.end, toByteOffset: length, as: UInt8.self)
        length += 1
    }

    /// `key = value` for a string key: call before writing the value.
    /// A key written in the source, such as a field name: its bytes as they
    /// are, no String work (a site has some 1,500 of them a call).
    public mutating func key(_ k: StaticString) {
        tag(TapeTag.string)
        let n = k.utf8CodeUnitCount
        raw(UInt32(n))
        ensure(n)
        (base + length).copyMemory(from: k.utf8Start, byteCount: n)
        length += n
    }
    public mutating func key(_ i: Int) { integer(Int64(i)) }

    /// `{ v1, v2, ... }` in one block (FB_TAPE_NUMBERS).
    public mutating func numberArray(_ values: [Double]) {
        tag(TapeTag.numbers)
        raw(UInt32(values.count))
        ensure(values.count * 8)
        for v in values {
            base.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: length, as: UInt64.self)
            length += 8
        }
    }

    /// `{ i1, i2, ... }` in one block (FB_TAPE_INTEGERS).
    public mutating func integerArray<S: Collection<Int>>(_ values: S) {
        tag(TapeTag.integers)
        raw(UInt32(values.count))
        ensure(values.count * 8)
        for v in values {
            base.storeBytes(of: Int64(v).littleEndian, toByteOffset: length, as: Int64.self)
            length += 8
        }
    }

    public mutating func value(_ v: LuaValue) {
        switch v {
        case .nil, .opaque: nilValue()
        case .boolean(let b): bool(b)
        case .number(let d): number(d)
        case .integer(let i): integer(i)
        case .string(let s): string(s)
        case .table(let entries):
            beginTable(fieldCount: entries.count)
            for e in entries {
                value(e.key)
                value(e.value)
            }
            endTable()
        }
    }
}

/// Reads values the shim wrote. Malformed input ends in `.nil`, never a trap.
struct TapeReader {
    private let base: UnsafePointer<UInt8>
    private let end: Int
    private var offset = 0

    init(_ base: UnsafePointer<UInt8>, length: Int) {
        self.base = base
        self.end = length
    }

    private mutating func raw<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard end - offset >= MemoryLayout<T>.size else { return nil }
        var v: T = 0
        withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(start: base + offset, count: MemoryLayout<T>.size)) }
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func count() -> UInt32 { raw(UInt32.self) ?? 0 }

    private mutating func text() -> String? {
        guard let n = raw(UInt32.self).map(Int.init), end - offset >= n else { return nil }
        let s = String(decoding: UnsafeBufferPointer(start: base + offset, count: n), as: UTF8.self)
        offset += n
        return s
    }

    mutating func value() -> LuaValue {
        guard offset < end else { return .nil }
        let t = base[offset]
        offset += 1
        switch t {
        case TapeTag.nilValue: return .nil
        case TapeTag.trueValue: return .boolean(true)
        case TapeTag.falseValue: return .boolean(false)
        case TapeTag.number: return raw(UInt64.self).map { .number(Double(bitPattern: $0)) } ?? .nil
        case TapeTag.integer: return raw(Int64.self).map { .integer($0) } ?? .nil
        case TapeTag.string: return text().map { .string($0) } ?? .nil
        case TapeTag.opaque: return .opaque(text() ?? "userdata")
        case TapeTag.table:
            _ = raw(UInt32.self)
            _ = raw(UInt32.self)
            var entries: [LuaEntry] = []
            while offset < end {
                if base[offset] == TapeTag.end { offset += 1; break }
                let k = value()
                let v = value()
                entries.append(LuaEntry(key: k, value: v))
            }
            return .table(entries)
        default:
            offset = end
            return .nil
        }
    }
}
