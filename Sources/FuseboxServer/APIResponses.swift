/// The bodies the API answers with, one type each, in the shape
/// docs/openapi.yaml declares (the schemathesis run of `make test` checks every
/// answer against it). A field that may be null is `Null<T>`: it is written as
/// `null`, where an optional would be left out.
enum APIBody {
    struct Status: Encodable { var status: String }
    struct Session: Encodable { var user: String; var role: String; var csrf: String; var expires: Double }
    struct TokenSession: Encodable { var token: String; var scope: String }
    struct ChargerLimit: Encodable { var charger: String; var amps: Double; var ttl: Double }
    struct ChargerLimitCleared: Encodable { var charger: String; var amps = Null<Double>() }
    struct ChargerPriority: Encodable { var charger: String; var priority: Int }
    struct ChargerEnabled: Encodable { var charger: String; var enabled: Bool }
    struct SiteLimit: Encodable { var amps: Null<Double>; var until: Null<Double>; var fuse: [Double] }
    struct LimitSet: Encodable { var amps: Double; var ttl: Double }
    struct LimitCleared: Encodable { var amps = Null<Double>() }
    struct Ripple: Encodable { var mode: String; var remote: Null<String> }
    struct RippleSet: Encodable { var mode: String; var ttl: Double }
    struct RippleCleared: Encodable { var mode = Null<String>() }
    struct Script: Encodable { var kind: String; var name: String; var status: String }
    struct Token: Encodable { var id: String; var name: String; var scope: String; var created: String }
    struct TokenCreated: Encodable { var id: String; var name: String; var scope: String; var token: String }
    struct TokenRevoked: Encodable { var id: String; var status = "revoked" }
    struct Error: Encodable { var error: String; var field: String?; var expected: String? }

    /// A value that is written as `null` when absent.
    struct Null<T: Encodable>: Encodable {
        var value: T?
        init(_ value: T? = nil) { self.value = value }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            if let value { try container.encode(value) } else { try container.encodeNil() }
        }
    }
}
