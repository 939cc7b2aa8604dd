import Foundation
import FuseboxLua

/// What a driver is for. An `ocpp` driver holds no I/O of its own: it names
/// the quirks of one make of OCPP station (docs/ocpp.md), which the host's
/// OCPP charger follows.
public enum DeviceKind: String, Sendable { case charger, meter, ocpp }

/// How a driver reaches its device (`transport.type` in the script).
public enum DriverTransport: String, Sendable {
    /// Modbus TCP or RTU: where is the device's configuration (host and port, or a serial line).
    case modbus
    /// A vendor's cloud API: the device's configuration gives its `api` URL.
    case http
}

/// A loaded driver (docs/drivers.md): one file returning
/// `{ name, kind, identify?, init?, poll, apply? }`, compiled in its own sandbox;
/// or, for an OCPP station's quirks, `{ name, kind = "ocpp", ... }` with no poll.
public final class DriverScript {
    public let name: String
    public let kind: DeviceKind
    public let origin: String
    public let transport: DriverTransport
    let sandbox: LuaSandbox
    let hasInit: Bool
    /// It can tell whether a device is of its make (`identify`, docs/drivers.md).
    public let canIdentify: Bool

    public init(source: String, origin: String, limits: LuaLimits = LuaLimits(instructions: 5_000_000, time: 5)) throws(LuaError) {
        let stem = origin.split(separator: "/").last.map { $0.hasSuffix(".lua") ? String($0.dropLast(4)) : String($0) } ?? origin
        let sandbox = try LuaSandbox(name: stem, limits: limits)
        try sandbox.load(source: DriverPrelude.source, chunkname: DriverPrelude.chunkname)
        try sandbox.load(source: source, chunkname: origin)
        func contract(_ message: String) -> LuaError { LuaError(kind: .contract, script: stem, message: "\(origin): \(message)") }
        let kindValue = try sandbox.moduleField("kind")
        guard let kindName = kindValue.string, let kind = DeviceKind(rawValue: kindName) else {
            throw contract("'kind' must be \"charger\", \"meter\" or \"ocpp\", got \(kindValue.brief)")
        }
        if kind != .ocpp, try sandbox.moduleField("poll") != .opaque("function") {
            throw contract("the returned table has no function 'poll'")
        }
        if kind == .charger, try sandbox.moduleField("apply") != .opaque("function") {
            throw contract("a charger driver needs a function 'apply'")
        }
        hasInit = try sandbox.moduleField("init") == .opaque("function")
        canIdentify = try sandbox.moduleField("identify") == .opaque("function")
        switch try sandbox.moduleField("transport")["type"] {
        case .nil, .string("modbus-tcp"), .string("modbus-rtu"), .string("modbus"): transport = .modbus
        case .string("http"): transport = .http
        case let other: throw contract("transport.type must be \"modbus-tcp\", \"modbus-rtu\" or \"http\", got \(other.brief)")
        }
        name = try sandbox.moduleField("name").string ?? stem
        self.kind = kind
        self.origin = origin
        self.sandbox = sandbox
    }

    /// The returned table's field `name`, read raw: an OCPP quirk's setting.
    public func field(_ name: String) throws(LuaError) -> LuaValue { try sandbox.moduleField(name) }

    /// Calls the returned table's function `name` with `arguments` and gives its results.
    public func call(_ name: String, _ arguments: [LuaValue]) throws(LuaError) -> [LuaValue] {
        var tape = TapeWriter(capacity: 256)
        for a in arguments { tape.value(a) }
        return try sandbox.call(name, arguments: tape)
    }

    public convenience init(file: String, limits: LuaLimits = LuaLimits(instructions: 5_000_000, time: 5)) throws(LuaError) {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw LuaError(kind: .contract, script: file, message: "cannot read \(file): \(error.localizedDescription)")
        }
        try self.init(source: text, origin: file, limits: limits)
    }
}
