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

extension APIError {
    /// A command refused before anything was applied (`CommandFields`, `SiteControl`).
    init(_ refusal: CommandRefusal) {
        self.init(refusal.kind == .notFound ? .notFound : .badRequest, refusal.message, field: refusal.field, expected: refusal.expected)
    }
}

/// A request's JSON body, read strictly and checked field by field as every
/// command is (`CommandFields`): its refusals become 400s in `JSONErrors`.
enum JSONBody {
    static func read(_ request: inout Request, context: FuseboxRequestContext) async throws -> CommandFields {
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        return try CommandFields.parse(buffer.readableBytesView)
    }

    /// The body's members as they were given, for a body whose values are lists
    /// or objects (a configuration, a device); `expected` says what the body is.
    static func members(_ request: inout Request, context: FuseboxRequestContext,
                        expected: String = "a JSON object") async throws -> [(String, StrictJSON.Value)] {
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        return try CommandFields.members(buffer.readableBytesView, expected: expected)
    }
}
