import Foundation
import FuseboxCore

/// OCPP-J 1.6: the JSON a central system and a station send over their
/// WebSocket. A call is `[2, id, action, payload]`, its answer
/// `[3, id, payload]` or `[4, id, code, description, details]`.
public enum OCPPFrame: Sendable, Equatable {
    case call(id: String, action: String, payload: StrictJSON.Value)
    case result(id: String, payload: StrictJSON.Value)
    case error(id: String, code: OCPPError.Code, description: String)

    /// A frame read strictly: what is wrong is an `OCPPError` carrying the
    /// call's id when it could be read, so that it can be answered.
    public static func parse(_ text: String) throws(OCPPError) -> OCPPFrame {
        let value: StrictJSON.Value
        do { value = try StrictJSON.parse(Array(text.utf8)) } catch {
            throw OCPPError(.formationViolation, "not JSON: \(error)")
        }
        guard case .array(let items) = value, items.count >= 3 else {
            throw OCPPError(.formationViolation, "expected [type, id, ...], an array of 3 to 5 items")
        }
        guard case .string(let id) = items[1], !id.isEmpty, id.utf8.count <= 36 else {
            throw OCPPError(.formationViolation, "the message id: expected text of 1 to 36 characters")
        }
        guard case .number(let type) = items[0] else { throw OCPPError(.formationViolation, "the message type: expected 2, 3 or 4", id: id) }
        switch (type, items.count) {
        case (2, 4):
            guard case .string(let action) = items[2], !action.isEmpty, action.utf8.count <= 64 else {
                throw OCPPError(.formationViolation, "the action: expected its name", id: id)
            }
            guard case .object = items[3] else { throw OCPPError(.formationViolation, "\(action): expected an object as the payload", id: id) }
            return .call(id: id, action: action, payload: items[3])
        case (3, 3):
            guard case .object = items[2] else { throw OCPPError(.formationViolation, "a result: expected an object as the payload", id: id) }
            return .result(id: id, payload: items[2])
        case (4, 5):
            guard case .string(let code) = items[2], case .string(let description) = items[3] else {
                throw OCPPError(.formationViolation, "an error: expected its code and description", id: id)
            }
            return .error(id: id, code: OCPPError.Code(rawValue: code) ?? .genericError, description: description)
        default:
            throw OCPPError(.formationViolation, "message type \(ConfigReader.show(type)) with \(items.count) items: expected [2, id, action, payload], [3, id, payload] or [4, id, code, description, details]", id: id)
        }
    }

    /// The frame as OCPP-J text.
    public var text: String {
        let array: [Any] = switch self {
        case .call(let id, let action, let payload): [2, id, action, Self.plain(payload)]
        case .result(let id, let payload): [3, id, Self.plain(payload)]
        case .error(let id, let code, let description): [4, id, code.rawValue, description, [String: Any]()]
        }
        let data = (try? JSONSerialization.data(withJSONObject: array, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A strict JSON value as Foundation's JSON types, for writing.
    static func plain(_ v: StrictJSON.Value) -> Any {
        switch v {
        case .null: NSNull()
        case .bool(let b): b
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? Int(n) as Any : n as Any
        case .string(let s): s
        case .array(let items): items.map(plain)
        case .object(let members): Dictionary(members.map { ($0.0, plain($0.1)) }, uniquingKeysWith: { first, _ in first })
        }
    }
}

/// A call refused, with the OCPP-J error code a station understands.
public struct OCPPError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// An action the receiver does not take (OCPP-J names it NotImplemented).
        case unknownAction = "NotImplemented"
        case notSupported = "NotSupported"
        case internalError = "InternalError"
        case protocolError = "ProtocolError"
        case securityError = "SecurityError"
        case formationViolation = "FormationViolation"
        case propertyConstraintViolation = "PropertyConstraintViolation"
        // OCPP 1.6 spells it so.
        case occurenceConstraintViolation = "OccurenceConstraintViolation"
        case typeConstraintViolation = "TypeConstraintViolation"
        case genericError = "GenericError"
    }

    public var code: Code
    public var message: String
    /// The call's id, when it could be read.
    public var id: String?

    public init(_ code: Code, _ message: String, id: String? = nil) {
        self.code = code
        self.message = message
        self.id = id
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// The answer to the call this error refuses (id "-1" when the call's own could not be read).
    public var frame: OCPPFrame { .error(id: id ?? "-1", code: code, description: message) }
}
