import Foundation
import FuseboxCore
import FuseboxModbus

/// One ripple-control contact as the cycle reads it: closed, open, or an error
/// that says why it could not be read (the signal then keeps its last state).
public protocol RippleContact: Sendable {
    var name: String { get }
    func read() async -> Result<Bool, RippleContactError>
}

public struct RippleContactError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A sysfs-style value file: "1" is closed, "0" open (a GPIO exported through
/// sysfs, or a file another program writes).
public struct FileContact: RippleContact {
    public let path: String
    public var name: String { "ripple input \(path)" }

    public init(path: String) { self.path = path }

    public func read() async -> Result<Bool, RippleContactError> {
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(RippleContactError("\(name): cannot read the file"))
        }
        switch String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) {
        case "1": return .success(true)
        case "0": return .success(false)
        case let other: return .failure(RippleContactError("\(name): expected 0 or 1, got \"\(other.prefix(20))\""))
        }
    }
}

/// A discrete input or a coil of a Modbus I/O module or meter.
public struct ModbusContact: RippleContact {
    public let connection: ModbusConnection
    public let unit: Int
    public let address: Int
    public let coil: Bool
    public var name: String { "ripple input \(connection.endpoint) unit \(unit) \(coil ? "coil" : "discrete input") \(address)" }

    public init(connection: ModbusConnection, unit: Int, address: Int, coil: Bool) {
        self.connection = connection
        self.unit = unit
        self.address = address
        self.coil = coil
    }

    public func read() async -> Result<Bool, RippleContactError> {
        do {
            let bits = coil ? try await connection.readCoils(unit: unit, address: address, count: 1)
                            : try await connection.readDiscreteInputs(unit: unit, address: address, count: 1)
            guard let first = bits.first else { return .failure(RippleContactError("\(name): empty answer")) }
            return .success(first)
        } catch {
            return .failure(RippleContactError("\(name): \(error)"))
        }
    }
}
