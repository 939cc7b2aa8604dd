import Foundation
import FuseboxCore
import Hummingbird

/// A 4xx (or 5xx) with a JSON body that says what was wrong: which field, and
/// what was expected. Thrown by handlers; nothing has been applied when it is.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var field: String?
    public var expected: String?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String, field: String? = nil, expected: String? = nil) {
        self.status = status
        self.message = message
        self.field = field
        self.expected = expected
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(APIBody.Error(error: message, field: field, expected: expected))
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func badField(_ field: String, expected: String, got: Any?) -> APIError {
        APIError(.badRequest, "\(field): expected \(expected)\(got.map { ", got \($0)" } ?? "")", field: field, expected: expected)
    }
}

/// A JSON value as the body gave it: true stays a boolean, 1 stays a number.
enum JSONField: CustomStringConvertible {
    case null, bool(Bool), number(Double), string(String), list, object

    init(_ value: StrictJSON.Value) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n): self = .number(n)
        case .string(let s): self = .string(s)
        case .array: self = .list
        case .object: self = .object
        }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let n): ConfigReader.show(n)
        case .string(let s): ConfigReader.quoted(s)
        case .list: "a list"
        case .object: "an object"
        }
    }
}

/// A JSON object from a request body, read field by field with errors that name the field.
struct JSONBody {
    let object: [String: JSONField]

    /// The body read strictly (`StrictJSON`): a syntax error says what and
    /// where, a duplicate key is refused rather than one of them taken.
    static func read(_ request: inout Request, context: FuseboxRequestContext) async throws -> JSONBody {
        var object: [String: JSONField] = [:]
        for (key, v) in try await members(&request, context: context) { object[key] = JSONField(v) }
        return JSONBody(object: object)
    }

    /// The body's members as they were given, for a body whose values are lists
    /// or objects (a configuration, a device); `expected` says what the body is.
    static func members(_ request: inout Request, context: FuseboxRequestContext,
                        expected: String = "a JSON object") async throws -> [(String, StrictJSON.Value)] {
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let value: StrictJSON.Value
        do { value = try StrictJSON.parse(buffer.readableBytesView) } catch {
            throw APIError(.badRequest, "the body is not valid JSON: \(error)", field: "body", expected: expected)
        }
        guard case .object(let members) = value else {
            throw APIError(.badRequest, "expected a JSON object as the body, got \(JSONField(value))", field: "body", expected: expected)
        }
        return members
    }

    func only(_ known: [String]) throws {
        for key in object.keys.sorted() where !known.contains(key) {
            throw APIError(.badRequest, "\(key): unknown field; expected \(known.joined(separator: ", "))", field: key,
                           expected: known.joined(separator: ", "))
        }
    }

    func has(_ key: String) -> Bool { object[key] != nil }

    func number(_ key: String, _ range: ClosedRange<Double>) throws -> Double {
        let expected = "a number from \(Self.show(range.lowerBound)) to \(Self.show(range.upperBound))"
        guard case .number(let n)? = object[key], n.isFinite, range.contains(n) else {
            throw APIError.badField(key, expected: expected, got: object[key])
        }
        return n
    }

    func optionalNumber(_ key: String, _ range: ClosedRange<Double>) throws -> Double? {
        if object[key] == nil { return nil }
        if case .null? = object[key] { return nil }
        return try number(key, range)
    }

    func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int {
        guard case .number(let n)? = object[key], n == n.rounded(), n >= Double(range.lowerBound), n <= Double(range.upperBound) else {
            throw APIError.badField(key, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)", got: object[key])
        }
        return Int(n)
    }

    func bool(_ key: String) throws -> Bool {
        guard case .bool(let b)? = object[key] else { throw APIError.badField(key, expected: "true or false", got: object[key]) }
        return b
    }

    /// Text of 1 to `maxLength` characters. A `secret` (a password) is never
    /// shown back in the error, whatever it holds.
    func string(_ key: String, maxLength: Int = 200, secret: Bool = false) throws -> String {
        guard case .string(let v)? = object[key], !v.isEmpty, v.count <= maxLength else {
            let got: Any? = secret ? (object[key].map { f -> String in
                if case .string(let v) = f { return "text of \(v.count) characters" } else { return "\(f)" }
            }) : object[key]
            throw APIError.badField(key, expected: "text of 1 to \(maxLength) characters", got: got)
        }
        return v
    }

    func choice(_ key: String, _ options: [String]) throws -> String {
        guard case .string(let v)? = object[key], options.contains(v) else {
            throw APIError.badField(key, expected: "one of \(options.joined(separator: ", "))", got: object[key])
        }
        return v
    }

    /// A time to live: seconds (1 s to 7 days), default `fallback`.
    func ttl(default fallback: Double) throws -> Double {
        try optionalNumber("ttl", 1...604_800) ?? fallback
    }

    private static func show(_ v: Double) -> String { ConfigReader.show(v) }
}
