/// JSON as RFC 8259 defines it, read strictly, with errors that say what is
/// wrong and where (line, column): request bodies and snapshot files come from
/// people and scripts, and "not valid JSON" helps neither. Foundation's parser
/// takes a duplicate key silently (the first wins) and cannot say which
/// number it refused; here a duplicate key, NaN, `Infinity`, `.5`, `07`, a
/// number too large for a double, trailing text and bad UTF-8 are each named.
public enum StrictJSON {
    public indirect enum Value: Equatable, Sendable {
        case null, bool(Bool), number(Double), string(String), array([Value]), object([(String, Value)])

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.null, .null): true
            case let (.bool(x), .bool(y)): x == y
            case let (.number(x), .number(y)): x == y
            case let (.string(x), .string(y)): x == y
            case let (.array(x), .array(y)): x == y
            case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            default: false
            }
        }
    }

    public struct SyntaxError: Error, CustomStringConvertible, Sendable, Equatable {
        public var message: String
        public var line: Int
        public var column: Int
        public var description: String { "line \(line), column \(column): \(message)" }
    }

    /// Nesting deeper than this is refused: the reader recurses once per level.
    public static let maxDepth = 64

    public static func parse(_ bytes: some Collection<UInt8>) throws(SyntaxError) -> Value {
        var reader = Reader(bytes: Array(bytes))
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        if reader.at < reader.bytes.count { throw reader.fail("unexpected text after the JSON value") }
        return value
    }

    private struct Reader {
        let bytes: [UInt8]
        var at = 0

        func fail(_ message: String, at position: Int? = nil) -> SyntaxError {
            let end = min(position ?? at, bytes.count)
            var line = 1, column = 1
            for b in bytes[..<end] {
                if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
            }
            return SyntaxError(message: message, line: line, column: column)
        }

        mutating func skipSpace() {
            while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 }
        }

        func shown(_ b: UInt8) -> String {
            b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x" + String(b, radix: 16, uppercase: true)
        }

        mutating func value(depth: Int) throws(SyntaxError) -> Value {
            guard depth < StrictJSON.maxDepth else { throw fail("nested deeper than \(StrictJSON.maxDepth) levels") }
            guard at < bytes.count else { throw fail("the text ends where a value was expected") }
            switch bytes[at] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try word("true"); return .bool(true)
            case UInt8(ascii: "f"): try word("false"); return .bool(false)
            case UInt8(ascii: "n"): try word("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            case UInt8(ascii: "N"): throw fail("NaN is not a JSON number")
            case UInt8(ascii: "I"): throw fail("Infinity is not a JSON number")
            case UInt8(ascii: "."): throw fail("a number starts with a digit: write 0.5, not .5")
            case UInt8(ascii: "'"): throw fail("text is in double quotes in JSON, not single")
            default: throw fail("expected a value, got \(shown(bytes[at]))")
            }
        }

        mutating func word(_ w: String) throws(SyntaxError) {
            let u = Array(w.utf8)
            guard bytes.count - at >= u.count, Array(bytes[at..<at + u.count]) == u else { throw fail("expected \(w)") }
            at += u.count
        }

        mutating func object(depth: Int) throws(SyntaxError) -> Value {
            at += 1
            var members: [(String, Value)] = []
            var keys = Set<String>()
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object([]) }
            while true {
                skipSpace()
                guard at < bytes.count else { throw fail("the text ends inside an object") }
                guard bytes[at] == UInt8(ascii: "\"") else { throw fail("expected a key in double quotes, got \(shown(bytes[at]))") }
                let keyAt = at
                let key = try string()
                guard keys.insert(key).inserted else { throw fail("the key \"\(key)\" is given twice", at: keyAt) }
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { throw fail("expected ':' after the key \"\(key)\"") }
                at += 1
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard at < bytes.count else { throw fail("the text ends inside an object") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "}") { at += 1; return .object(members) }
                throw fail("expected ',' or '}' in an object, got \(shown(bytes[at]))")
            }
        }

        mutating func array(depth: Int) throws(SyntaxError) -> Value {
            at += 1
            var items: [Value] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array([]) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard at < bytes.count else { throw fail("the text ends inside a list") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
                throw fail("expected ',' or ']' in a list, got \(shown(bytes[at]))")
            }
        }

        mutating func number() throws(SyntaxError) -> Double {
            let start = at
            if bytes[at] == UInt8(ascii: "-") { at += 1 }
            func digits() -> Int {
                let from = at
                while at < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[at]) { at += 1 }
                return at - from
            }
            let intStart = at
            let n = digits()
            guard n > 0 else { throw fail("expected a digit in a number") }
            if n > 1 && bytes[intStart] == UInt8(ascii: "0") { throw fail("a number does not start with 0 (07 is not JSON; write 7)", at: start) }
            if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
                at += 1
                guard digits() > 0 else { throw fail("expected a digit after the decimal point") }
            }
            if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
                at += 1
                if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
                guard digits() > 0 else { throw fail("expected a digit in the exponent") }
            }
            let text = String(decoding: bytes[start..<at], as: UTF8.self)
            guard let d = Double(text), d.isFinite else { throw fail("the number \(text.prefix(40)) is too large", at: start) }
            return d
        }

        mutating func string() throws(SyntaxError) -> String {
            let open = at
            at += 1
            var out: [UInt8] = []
            while true {
                guard at < bytes.count else { throw fail("the text ends inside a string that starts here", at: open) }
                let b = bytes[at]
                switch b {
                case UInt8(ascii: "\""):
                    at += 1
                    guard let s = String(validating: out, as: UTF8.self) else { throw fail("a string that is not UTF-8", at: open) }
                    return s
                case UInt8(ascii: "\\"):
                    at += 1
                    guard at < bytes.count else { throw fail("the text ends inside a string") }
                    let e = bytes[at]
                    at += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard bytes.count - at >= 6, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                                throw fail("a lone surrogate \\u\(String(scalar, radix: 16)) in a string")
                            }
                            at += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate in a string") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw fail("a lone surrogate \\u\(String(scalar, radix: 16)) in a string")
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail("an escape that is no character") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default:
                        throw fail("an unknown escape \\\(Character(Unicode.Scalar(e))) in a string", at: at - 2)
                    }
                case 0..<0x20:
                    throw fail("a control character in a string (write it as \\n, \\t or \\u00XX)")
                default:
                    out.append(b)
                    at += 1
                }
            }
        }

        mutating func hex4() throws(SyntaxError) -> UInt32 {
            guard bytes.count - at >= 4 else { throw fail("expected four hex digits after \\u") }
            var v: UInt32 = 0
            for b in bytes[at..<at + 4] {
                guard let d = Character(Unicode.Scalar(b)).hexDigitValue else { throw fail("expected four hex digits after \\u") }
                v = v * 16 + UInt32(d)
            }
            at += 4
            return v
        }
    }
}
