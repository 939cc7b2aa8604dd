import Foundation
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
        var object: [String: String] = ["error": message]
        if let field { object["field"] = field }
        if let expected { object["expected"] = expected }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func badField(_ field: String, expected: String, got: Any?) -> APIError {
        APIError(.badRequest, "\(field): expected \(expected)\(got.map { ", got \($0)" } ?? "")", field: field, expected: expected)
    }
}

/// A JSON value as the body gave it: true stays a boolean, 1 stays a number.
enum JSONField: Decodable, CustomStringConvertible {
    case null, bool(Bool), number(Double), string(String), other

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .other }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? "\(Int(n))" : "\(n)"
        case .string(let s): "\"\(s.prefix(40))\""
        case .other: "a list or an object"
        }
    }
}

/// A JSON object from a request body, read field by field with errors that name the field.
struct JSONBody {
    let object: [String: JSONField]

    static func read(_ request: inout Request, context: FuseboxRequestContext) async throws -> JSONBody {
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        guard let object = try? JSONDecoder().decode([String: JSONField].self, from: Data(buffer: buffer)) else {
            throw APIError(.badRequest, "expected a JSON object as the body", expected: "a JSON object")
        }
        return JSONBody(object: object)
    }

    func only(_ known: [String]) throws {
        for key in object.keys.sorted() where !known.contains(key) {
            throw APIError(.badRequest, "\(key): unknown field; expected \(known.joined(separator: ", "))", field: key,
                           expected: known.joined(separator: ", "))
        }
    }

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

    func string(_ key: String, maxLength: Int = 200) throws -> String {
        guard case .string(let v)? = object[key], !v.isEmpty, v.count <= maxLength else {
            throw APIError.badField(key, expected: "text of 1 to \(maxLength) characters", got: object[key])
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

    private static func show(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}
