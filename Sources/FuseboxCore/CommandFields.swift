/// A command refused before anything was applied: what was wrong, which
/// field, and what was expected. The REST API answers it as a 400 (404 for
/// something that does not exist), the MQTT uplink on its result topic.
public struct CommandRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case invalid, notFound }
    public var kind: Kind
    public var message: String
    public var field: String?
    public var expected: String?

    public init(_ kind: Kind = .invalid, _ message: String, field: String? = nil, expected: String? = nil) {
        self.kind = kind
        self.message = message
        self.field = field
        self.expected = expected
    }

    public var description: String { message }

    public static func badField(_ field: String, expected: String, got: Any?) -> CommandRefusal {
        CommandRefusal(.invalid, "\(field): expected \(expected)\(got.map { ", got \($0)" } ?? "")", field: field, expected: expected)
    }
}

/// A JSON value as a command gave it: true stays a boolean, 1 stays a number.
public enum JSONField: Sendable, CustomStringConvertible {
    case null, bool(Bool), number(Double), string(String), list, object

    public init(_ value: StrictJSON.Value) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n): self = .number(n)
        case .string(let s): self = .string(s)
        case .array: self = .list
        case .object: self = .object
        }
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let n): ConfigReader.show(n)
        case .string(let s): ConfigReader.quoted(String(s.prefix(80)) + (s.count > 80 ? "..." : ""))
        case .list: "a list"
        case .object: "an object"
        }
    }
}

/// A command's JSON object, read field by field with errors that name the
/// field: the one validation of the REST API's bodies and the uplink's
/// commands.
public struct CommandFields: Sendable {
    public let object: [String: JSONField]

    public init(_ object: [String: JSONField]) { self.object = object }

    /// A command's bytes read strictly (`StrictJSON`): a syntax error says
    /// what and where, a duplicate key is refused rather than one of them taken.
    public static func parse(_ bytes: some Collection<UInt8>, expected: String = "a JSON object") throws(CommandRefusal) -> CommandFields {
        var object: [String: JSONField] = [:]
        for (key, v) in try members(bytes, expected: expected) { object[key] = JSONField(v) }
        return CommandFields(object)
    }

    /// The object's members as they were given, for a body whose values are
    /// lists or objects (a configuration, a device); `expected` says what it is.
    public static func members(_ bytes: some Collection<UInt8>, expected: String = "a JSON object") throws(CommandRefusal) -> [(String, StrictJSON.Value)] {
        let value: StrictJSON.Value
        do { value = try StrictJSON.parse(bytes) } catch {
            throw CommandRefusal(.invalid, "the body is not valid JSON: \(error)", field: "body", expected: expected)
        }
        guard case .object(let members) = value else {
            throw CommandRefusal(.invalid, "expected a JSON object as the body, got \(JSONField(value))", field: "body", expected: expected)
        }
        return members
    }

    public func only(_ known: [String]) throws(CommandRefusal) {
        for key in object.keys.sorted() where !known.contains(key) {
            throw CommandRefusal(.invalid, "\(key.prefix(80)): unknown field; expected \(known.joined(separator: ", "))",
                                 field: String(key.prefix(80)), expected: known.joined(separator: ", "))
        }
    }

    public func has(_ key: String) -> Bool { object[key] != nil }

    /// The field is there and null: "clear it" where a command allows that.
    public func isNull(_ key: String) -> Bool {
        if case .null? = object[key] { return true }
        return false
    }

    public func number(_ key: String, _ range: ClosedRange<Double>) throws(CommandRefusal) -> Double {
        let expected = "a number from \(ConfigReader.show(range.lowerBound)) to \(ConfigReader.show(range.upperBound))"
        guard case .number(let n)? = object[key], n.isFinite, range.contains(n) else {
            throw CommandRefusal.badField(key, expected: expected, got: object[key])
        }
        return n
    }

    public func optionalNumber(_ key: String, _ range: ClosedRange<Double>) throws(CommandRefusal) -> Double? {
        if object[key] == nil || isNull(key) { return nil }
        return try number(key, range)
    }

    public func integer(_ key: String, _ range: ClosedRange<Int>) throws(CommandRefusal) -> Int {
        guard case .number(let n)? = object[key], n == n.rounded(), n >= Double(range.lowerBound), n <= Double(range.upperBound) else {
            throw CommandRefusal.badField(key, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)", got: object[key])
        }
        return Int(n)
    }

    public func bool(_ key: String) throws(CommandRefusal) -> Bool {
        guard case .bool(let b)? = object[key] else { throw CommandRefusal.badField(key, expected: "true or false", got: object[key]) }
        return b
    }

    /// Text of 1 to `maxLength` characters. A `secret` (a password) is never
    /// shown back in the error, whatever it holds.
    public func string(_ key: String, maxLength: Int = 200, secret: Bool = false) throws(CommandRefusal) -> String {
        guard case .string(let v)? = object[key], !v.isEmpty, v.count <= maxLength else {
            let got: Any? = secret ? (object[key].map { f -> String in
                if case .string(let v) = f { return "text of \(v.count) characters" } else { return "\(f)" }
            }) : object[key]
            throw CommandRefusal.badField(key, expected: "text of 1 to \(maxLength) characters", got: got)
        }
        return v
    }

    public func choice(_ key: String, _ options: [String]) throws(CommandRefusal) -> String {
        guard case .string(let v)? = object[key], options.contains(v) else {
            throw CommandRefusal.badField(key, expected: "one of \(options.joined(separator: ", "))", got: object[key])
        }
        return v
    }

    /// A time to live: seconds (1 s to 7 days), default `fallback`.
    public func ttl(default fallback: Double) throws(CommandRefusal) -> Double {
        try optionalNumber("ttl", 1...604_800) ?? fallback
    }
}
