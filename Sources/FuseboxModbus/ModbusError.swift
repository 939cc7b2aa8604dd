/// Modbus function codes the client uses.
public enum ModbusFunction: UInt8, Sendable, CustomStringConvertible {
    case readCoils = 1, readDiscreteInputs = 2, readHoldingRegisters = 3, readInputRegisters = 4
    case writeSingleCoil = 5, writeSingleRegister = 6, writeMultipleCoils = 15, writeMultipleRegisters = 16

    public var description: String {
        switch self {
        case .readCoils: "read coils (FC01)"
        case .readDiscreteInputs: "read discrete inputs (FC02)"
        case .readHoldingRegisters: "read holding registers (FC03)"
        case .readInputRegisters: "read input registers (FC04)"
        case .writeSingleCoil: "write single coil (FC05)"
        case .writeSingleRegister: "write single register (FC06)"
        case .writeMultipleCoils: "write multiple coils (FC15)"
        case .writeMultipleRegisters: "write multiple registers (FC16)"
        }
    }
}

/// The exception codes a Modbus server answers with.
public enum ModbusException: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case illegalFunction = 1, illegalDataAddress = 2, illegalDataValue = 3, serverDeviceFailure = 4
    case acknowledge = 5, serverDeviceBusy = 6, negativeAcknowledge = 7, memoryParityError = 8
    case gatewayPathUnavailable = 10, gatewayTargetFailedToRespond = 11

    public var description: String {
        switch self {
        case .illegalFunction: "illegal function"
        case .illegalDataAddress: "illegal data address"
        case .illegalDataValue: "illegal data value"
        case .serverDeviceFailure: "server device failure"
        case .acknowledge: "acknowledge"
        case .serverDeviceBusy: "server device busy"
        case .negativeAcknowledge: "negative acknowledge"
        case .memoryParityError: "memory parity error"
        case .gatewayPathUnavailable: "gateway path unavailable"
        case .gatewayTargetFailedToRespond: "gateway target device failed to respond"
        }
    }
}

/// A failed Modbus request. The message names the device, the unit, the
/// function, the address and what went wrong, e.g.
/// `p01 (127.0.0.1:1510 unit 1): read holding registers (FC03) at 0x400C: illegal data address (exception 2)`.
public struct ModbusError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Error, Sendable, Equatable {
        /// The server answered with an exception.
        case exception(ModbusException)
        /// No answer within the response timeout.
        case timeout
        /// Nobody listens at the endpoint.
        case connectionRefused
        /// The connection could not be made or was lost.
        case connectionFailed(String)
        /// Waiting before the next attempt to connect.
        /// `after`: why the last attempt to connect failed ("connection refused").
        case backingOff(seconds: Double, after: String)
        /// The answer was not a valid reply to the request.
        case invalidResponse(String)
        /// The request itself cannot be sent (too many registers, a value out of range).
        case invalidRequest(String)
    }

    public var kind: Kind
    public var device: String
    public var unit: Int
    public var function: ModbusFunction?
    public var address: Int?

    public init(_ kind: Kind, device: String, unit: Int, function: ModbusFunction? = nil, address: Int? = nil) {
        self.kind = kind
        self.device = device
        self.unit = unit
        self.function = function
        self.address = address
    }

    public var description: String {
        var text = "\(device) unit \(unit)"
        if let function { text += ": \(function)" }
        if let address { text += " at \(address) (0x\(String(address, radix: 16, uppercase: true)))" }
        return text + ": " + kind.reason
    }
}

extension ModbusError.Kind {
    /// What went wrong, without the device: "connection refused".
    public var reason: String {
        switch self {
        case .exception(let e): "\(e) (exception \(e.rawValue))"
        case .timeout: "no answer (timeout)"
        case .connectionRefused: "connection refused"
        case .connectionFailed(let why): "connection failed: \(why)"
        case .backingOff(let s, let after): "not connected (the last attempt: \(after)), next attempt in \((s * 10).rounded() / 10) s"
        case .invalidResponse(let why): "invalid response: \(why)"
        case .invalidRequest(let why): "invalid request: \(why)"
        }
    }
}
