import FuseboxCore
import FuseboxModbus

/// What a simulated charger shows on its registers.
public struct SimulatedChargerState: Sendable, Equatable {
    public var status: ChargerStatus
    /// A on the charger's own phases.
    public var current: [Double]
    public var voltage: [Double]
    /// W.
    public var power: Double
    /// kWh of the running session.
    public var sessionEnergy: Double

    public init(status: ChargerStatus, current: [Double] = [0, 0, 0], voltage: [Double] = [230, 230, 230],
                power: Double = 0, sessionEnergy: Double = 0) {
        self.status = status
        self.current = current
        self.voltage = voltage
        self.power = power
        self.sessionEnergy = sessionEnergy
    }

    /// Phase `k`'s current (A); 0 on a phase the charger does not have.
    public func current(phase k: Int) -> Double { k < current.count ? current[k] : 0 }
    /// Phase `k`'s voltage (V); 0 on a phase the charger does not have.
    public func voltage(phase k: Int) -> Double { k < voltage.count ? voltage[k] : 0 }
}

/// One make's register map, as the header of its driver (drivers/NAME.lua) gives it: how a state is
/// written into the registers, and which write sets the limit.
public protocol ChargerRegisterMap: Sendable {
    /// The make, named as its driver.
    var driver: String { get }
    var unit: Int { get }
    func publish(_ state: SimulatedChargerState, into bank: inout ModbusServer.Bank)
    /// The limit in A that `write` sets, when it writes the limit register.
    func limit(from write: ModbusServer.Write) -> Double?
}

extension ModbusServer.Bank {
    mutating func put(_ table: ModbusServer.Table, _ address: Int, _ codec: RegisterCodec, _ value: Double) {
        write(table, address: address, values: codec.encode(value) ?? [UInt16](repeating: 0, count: codec.type.count))
    }
}

/// ABB Terra AC: HR 0x4000 serial number, HR 0x400C state byte 2, 0x4010 currents
/// (uint32 mA), 0x401C W, 0x401E Wh; the limit HR 0x4100, uint32 mA, FC16.
public struct ABBTerraMap: ChargerRegisterMap {
    public let driver = "abb_terra"
    public let unit: Int
    public init(unit: Int = 1) { self.unit = unit }

    public func publish(_ s: SimulatedChargerState, into bank: inout ModbusServer.Bank) {
        let state: UInt16 = switch s.status {
        case .free: 0
        case .occupied: 1
        case .charging, .discharging: 4
        case .unavailable: 9
        }
        // The serial number, which the driver's identify reads.
        bank.write(.holdingRegisters, address: 0x4000, values: [0x1A2B, 0x3C4D, 0x0026, UInt16(truncatingIfNeeded: unit)])
        bank[.holdingRegisters, 0x400A] = s.status == .free ? 0 : 0x0101   // socket lock
        bank[.holdingRegisters, 0x400C] = 0
        bank[.holdingRegisters, 0x400D] = state << 8
        let mA = RegisterCodec(.uint32, scale: 0.001)
        for k in 0..<3 { bank.put(.holdingRegisters, 0x4010 + 2 * k, mA, s.current(phase: k)) }
        bank.put(.holdingRegisters, 0x401C, RegisterCodec(.uint32), s.power)
        bank.put(.holdingRegisters, 0x401E, RegisterCodec(.uint32, scale: 0.001), s.sessionEnergy)
    }

    public func limit(from w: ModbusServer.Write) -> Double? {
        guard w.function == .writeMultipleRegisters, w.address == 0x4100, w.values.count == 2 else { return nil }
        return RegisterCodec(.uint32, scale: 0.001).decode(w.values)
    }
}

/// Webasto Unite / Vestel EVC04: IR 1001 charging, IR 1004 cable, IR 1008..
/// currents (uint16 mA), 1014.. V, 1020 W (uint32), IR 1502 session Wh (uint32);
/// the limit HR 5004 (uint16 A, FC06); HR 2002 failsafe timeout.
public struct WebastoUniteMap: ChargerRegisterMap {
    public let driver = "webasto_unite"
    public let unit: Int
    public var failsafeTimeout: UInt16
    public init(unit: Int = 255, failsafeTimeout: UInt16 = 20) {
        self.unit = unit
        self.failsafeTimeout = failsafeTimeout
    }

    public func publish(_ s: SimulatedChargerState, into bank: inout ModbusServer.Bank) {
        bank[.inputRegisters, 1001] = s.status == .charging ? 1 : 0
        bank[.inputRegisters, 1004] = s.status == .free ? 1 : 3
        for k in 0..<3 {
            bank.put(.inputRegisters, 1008 + 2 * k, RegisterCodec(.uint16, scale: 0.001), s.current(phase: k))
            bank.put(.inputRegisters, 1014 + 2 * k, RegisterCodec(.uint16), s.voltage(phase: k))
        }
        bank.put(.inputRegisters, 1020, RegisterCodec(.uint32), s.power)
        bank.put(.inputRegisters, 1502, RegisterCodec(.uint32, scale: 0.001), s.sessionEnergy)
        bank[.holdingRegisters, 2002] = failsafeTimeout
    }

    public func limit(from w: ModbusServer.Write) -> Double? {
        guard w.function == .writeSingleRegister, w.address == 5004, let v = w.values.first else { return nil }
        return Double(v)
    }
}

/// Alfen Eve: HR 1201 ASCII state, HR 306 V / 320 A (float32), 344 W, 374 Wh
/// (float64); the limit HR 1210, float32 A, FC16.
public struct AlfenEveMap: ChargerRegisterMap {
    public let driver = "alfen_eve"
    public let unit: Int
    public init(unit: Int = 1) { self.unit = unit }

    public func publish(_ s: SimulatedChargerState, into bank: inout ModbusServer.Bank) {
        let letters = switch s.status {
        case .free: "A"
        case .occupied: "B1"
        case .charging, .discharging: "C2"
        case .unavailable: "F"
        }
        bank.write(.holdingRegisters, address: 1201, values: RegisterCodec.encodeString(letters, registers: 5))
        let f = RegisterCodec(.float32)
        for k in 0..<3 {
            bank.put(.holdingRegisters, 306 + 2 * k, f, s.voltage(phase: k))
            bank.put(.holdingRegisters, 320 + 2 * k, f, s.current(phase: k))
        }
        bank.put(.holdingRegisters, 344, f, s.power)
        bank.put(.holdingRegisters, 374, RegisterCodec(.float64, scale: 0.001), s.sessionEnergy)
    }

    public func limit(from w: ModbusServer.Write) -> Double? {
        guard w.function == .writeMultipleRegisters, w.address == 1210, w.values.count == 2 else { return nil }
        return RegisterCodec(.float32).decode(w.values)
    }
}

/// Eastron SDM630: float32 input registers, high word first.
public struct SDM630Map: Sendable {
    public let unit: Int
    public init(unit: Int = 1) { self.unit = unit }

    /// Voltages, signed currents and powers per phase (+ = import), and the
    /// import energy in kWh. The meter shows current magnitudes.
    public func publish(voltage: PhaseValues, current: PhaseValues, power: PhaseValues, importEnergy: Double,
                        into bank: inout ModbusServer.Bank) {
        let f = RegisterCodec(.float32)
        for p in Phase.allCases {
            bank.put(.inputRegisters, 2 * p.index, f, voltage[p])
            bank.put(.inputRegisters, 6 + 2 * p.index, f, abs(current[p]))
            bank.put(.inputRegisters, 12 + 2 * p.index, f, power[p])
        }
        bank.put(.inputRegisters, 0x34, f, power.sum)
        bank.put(.inputRegisters, 0x48, f, importEnergy)
    }
}

/// Bender CC612/613 (Mennekes, Webasto Live): HR 142 model, HR 122 state, 212 currents
/// (uint32 mA), 218 Wh, 220 W, 222 volts (uint32); the limit HR 1000 (A, FC16),
/// or HR 1001 in 0.1 A on firmware that has it.
public struct BenderMap: ChargerRegisterMap {
    public let driver = "bender"
    public let unit: Int
    public var tenths: Bool
    public init(unit: Int = 255, tenths: Bool = true) {
        self.unit = unit
        self.tenths = tenths
    }

    public func publish(_ s: SimulatedChargerState, into bank: inout ModbusServer.Bank) {
        bank.write(.holdingRegisters, address: 142, values: RegisterCodec.encodeString("CC613", registers: 10))   // the model
        bank[.holdingRegisters, 122] = switch s.status {
        case .free: 1
        case .occupied: 2
        case .charging, .discharging: 3
        case .unavailable: 9
        }
        let u32 = RegisterCodec(.uint32)
        for k in 0..<3 {
            bank.put(.holdingRegisters, 212 + 2 * k, RegisterCodec(.uint32, scale: 0.001), s.current(phase: k))
            bank.put(.holdingRegisters, 222 + 2 * k, u32, s.voltage(phase: k))
        }
        bank.put(.holdingRegisters, 218, RegisterCodec(.uint32, scale: 0.001), s.sessionEnergy)
        bank.put(.holdingRegisters, 220, u32, s.power)
    }

    public func limit(from w: ModbusServer.Write) -> Double? {
        guard w.function == .writeMultipleRegisters, let v = w.values.first else { return nil }
        if w.address == 1001 && tenths { return Double(v) / 10 }
        if w.address == 1000 { return Double(v) }
        return nil
    }
}

/// Webasto / Ampure NEXT: HR 1000 state, HR 1020 W and 1036 Wh (uint32), IR
/// 1008/1010/1012 mA; the limit HR 5004 (A, FC16); HR 2002 the life-bit timeout.
public struct WebastoNextMap: ChargerRegisterMap {
    public let driver = "webasto_next"
    public let unit: Int
    public init(unit: Int = 255) { self.unit = unit }

    public func publish(_ s: SimulatedChargerState, into bank: inout ModbusServer.Bank) {
        bank[.holdingRegisters, 1000] = switch s.status {
        case .free: 0
        case .occupied: 1
        case .charging, .discharging: 3
        case .unavailable: 7
        }
        bank.put(.holdingRegisters, 1020, RegisterCodec(.uint32), s.power)
        bank.put(.holdingRegisters, 1036, RegisterCodec(.uint32, scale: 0.001), s.sessionEnergy)
        for k in 0..<3 {
            bank.put(.inputRegisters, 1008 + 2 * k, RegisterCodec(.uint16, scale: 0.001), s.current(phase: k))
        }
        bank[.holdingRegisters, 2002] = 10
    }

    public func limit(from w: ModbusServer.Write) -> Double? {
        guard w.function == .writeMultipleRegisters, w.address == 5004, let v = w.values.first else { return nil }
        return Double(v)
    }
}

/// Weidmüller AC Smart: HR 301 the state letter, 400 V and 406 mA (uint32 low
/// word first, / 1000), 418 mW, 457 Wh (low word first); the limit HR 11052.
public struct WeidmuellerMap: ChargerRegisterMap {
    public let driver = "weidmueller_ac_smart"
    public let unit: Int
    public init(unit: Int = 255) { self.unit = unit }

    public func publish(_ s: SimulatedChargerState, into bank: inout ModbusServer.Bank) {
        bank[.holdingRegisters, 301] = UInt16(ChargerRegisterMaps.letter(s.status).asciiValue ?? 0x3F)
        let milli = RegisterCodec(.uint32, order: .lowFirst, scale: 0.001)
        for k in 0..<3 {
            bank.put(.holdingRegisters, 400 + 2 * k, milli, s.voltage(phase: k))
            bank.put(.holdingRegisters, 406 + 2 * k, milli, s.current(phase: k))
        }
        bank.put(.holdingRegisters, 418, milli, s.power)
        bank.put(.holdingRegisters, 457, RegisterCodec(.uint32, order: .lowFirst, scale: 0.001), s.sessionEnergy)
    }

    public func limit(from w: ModbusServer.Write) -> Double? {
        guard w.function == .writeMultipleRegisters, w.address == 11052, let v = w.values.first else { return nil }
        return Double(v)
    }
}

/// Phoenix EV-CC (Wallbe, Walli, Compleo): IR 100 the state letter, IR 108 V,
/// 114 A, 120 W (int32 low word first), HR 904 Wh; the limit HR 528 (A, FC06).
public struct PhoenixMap: ChargerRegisterMap {
    public let driver = "phoenix_ev_cc"
    public let unit: Int
    public init(unit: Int = 255) { self.unit = unit }

    public func publish(_ s: SimulatedChargerState, into bank: inout ModbusServer.Bank) {
        bank[.inputRegisters, 100] = UInt16(ChargerRegisterMaps.letter(s.status).asciiValue ?? 0x3F)
        let i32 = RegisterCodec(.int32, order: .lowFirst)
        for k in 0..<3 {
            bank.put(.inputRegisters, 108 + 2 * k, i32, s.voltage(phase: k))
            bank.put(.inputRegisters, 114 + 2 * k, i32, s.current(phase: k))
        }
        bank.put(.inputRegisters, 120, i32, s.power.rounded())
        bank.put(.holdingRegisters, 904, RegisterCodec(.uint32, order: .lowFirst, scale: 0.001), s.sessionEnergy)
        if bank[.holdingRegisters, 528] == 0 { bank[.holdingRegisters, 528] = 16 }
    }

    /// HR 528 sets the current; clearing the enable coil 400 pauses (0 A).
    /// Setting the coil again changes nothing by itself: the driver writes HR 528 first.
    public func limit(from w: ModbusServer.Write) -> Double? {
        if w.function == .writeSingleCoil, w.address == 400, w.values.first == 0 { return 0 }
        guard w.function == .writeSingleRegister, w.address == 528, let v = w.values.first else { return nil }
        return Double(v)
    }
}

enum ChargerRegisterMaps {
    /// The IEC 61851 letter a station shows for a status.
    static func letter(_ status: ChargerStatus) -> Character {
        switch status {
        case .free: "A"
        case .occupied: "B"
        case .charging, .discharging: "C"
        case .unavailable: "F"
        }
    }
}

/// A PV inverter as a SunSpec device: the "SunS" marker at 40000, the common
/// model 1, and inverter model 103 (integers with scale factors), then the end.
public struct SunSpecInverterMap: Sendable {
    public let unit: Int
    public init(unit: Int = 1) { self.unit = unit }

    /// AC power in W, energy in kWh, voltage per phase.
    public func publish(power: Double, energy: Double, voltage: PhaseValues, into bank: inout ModbusServer.Bank) {
        var regs: [UInt16] = [0x5375, 0x6E53, 1, 66]
        var common = [UInt16](repeating: 0, count: 66)
        common.replaceSubrange(0..<16, with: RegisterCodec.encodeString("Fusebox", registers: 16))
        common.replaceSubrange(16..<32, with: RegisterCodec.encodeString("Simulated PV", registers: 16))
        regs += common
        var inverter = [UInt16](repeating: 0, count: 50)
        let perPhase = power / 3 / 230
        let amps = UInt16(max(0, min(6553, (perPhase * 10).rounded())))   // A_SF = -1
        inverter[0] = amps &* 3
        inverter[1] = amps
        inverter[2] = amps
        inverter[3] = amps
        inverter[4] = UInt16(bitPattern: -1)
        for p in Phase.allCases { inverter[8 + p.index] = UInt16(max(0, min(65535, (voltage[p] * 10).rounded()))) }
        inverter[11] = UInt16(bitPattern: -1)                                // V_SF = -1
        inverter[12] = UInt16(max(0, min(32767, power.rounded())))          // W, W_SF = 0
        let wh = UInt32(max(0, min(Double(UInt32.max), (energy * 1000).rounded())))
        inverter[22] = UInt16(wh >> 16)
        inverter[23] = UInt16(wh & 0xFFFF)                                   // WH, WH_SF = 0
        regs += [103, 50] + inverter + [0xFFFF, 0]
        bank.write(.holdingRegisters, address: 40000, values: regs)
    }
}
