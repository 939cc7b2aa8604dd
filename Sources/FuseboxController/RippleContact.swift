import Foundation
import FuseboxCore
import FuseboxModbus
import CGPIO

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

/// A GPIO line through the Linux character device: value 1 reads as closed.
/// With a pull-up and the contact to ground, closed reads 0: say `active: open`.
/// The line is requested on first read and kept; a failed read releases it, so
/// the next read requests it again (a chip that comes back after a reset).
// Unchecked: the line's descriptor is requested, read and released under `lock`.
public final class GPIOContact: RippleContact, @unchecked Sendable {
    public let chip: String
    public let line: Int
    public var name: String { "ripple input \(chip) line \(line)" }
    private let lock = NSLock()
    private var fd: Int32 = -1

    public init(chip: String, line: Int) {
        self.chip = chip
        self.line = line
    }

    public func read() async -> Result<Bool, RippleContactError> {
        lock.withLock {
            var message = [CChar](repeating: 0, count: 256)
            if fd < 0 {
                fd = fusebox_gpio_open_input(chip, UInt32(line), &message, message.count)
                if fd < 0 { return .failure(RippleContactError("\(name): \(Self.text(message))")) }
            }
            let value = fusebox_gpio_read(fd, &message, message.count)
            if value < 0 {
                fusebox_gpio_close(fd)
                fd = -1
                return .failure(RippleContactError("\(name): \(Self.text(message))"))
            }
            return .success(value == 1)
        }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { fusebox_gpio_close(fd) }
}
