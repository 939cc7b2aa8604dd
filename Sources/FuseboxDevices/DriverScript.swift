import Foundation
import FuseboxLua

/// What a driver is for.
public enum DeviceKind: String, Sendable { case charger, meter }

/// How a driver reaches its device (`transport.type` in the script).
public enum DriverTransport: String, Sendable {
    /// Modbus TCP or RTU: where is the device's configuration (host and port, or a serial line).
    case modbus
    /// A vendor's cloud API: the device's configuration gives its `api` URL.
    case http
}

/// A loaded driver (docs/drivers.md): one file returning
/// `{ name, kind, identify?, init?, poll, apply? }`, compiled in its own sandbox.
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
        guard case .opaque("function") = try sandbox.moduleField("poll") else { throw contract("the returned table has no function 'poll'") }
        let kindValue = try sandbox.moduleField("kind")
        guard let kindName = kindValue.string, let kind = DeviceKind(rawValue: kindName) else {
            throw contract("'kind' must be \"charger\" or \"meter\", got \(kindValue.brief)")
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

    public convenience init(file: String, limits: LuaLimits = LuaLimits(instructions: 5_000_000, time: 5)) throws(LuaError) {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw LuaError(kind: .contract, script: file, message: "cannot read \(file): \(error.localizedDescription)")
        }
        try self.init(source: text, origin: file, limits: limits)
    }
}
