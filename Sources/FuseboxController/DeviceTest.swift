import Foundation
import FuseboxCore
import FuseboxDevices

/// One reading of one device, before it is saved (the page's Test button, the
/// first reading of a device a new configuration adds): what it read, how long
/// it took, and when it did not answer, which part of its configuration is the
/// likely cause. Writes nothing (`SiteDevice.read`), as `fusebox check --live`.
public struct DeviceTest: Sendable, Codable, Equatable {
    public var id: String
    public var answered: Bool
    public var milliseconds: Double
    public var status: String?
    /// A per phase, V per phase, W per phase and in all, Wh of the session.
    public var current: [Double]?
    public var voltage: [Double]?
    public var phasePower: [Double]?
    public var power: Double?
    public var energy: Double?
    public var error: String?
    /// "address", "port", "unit", "register map" or "driver": the field to look at first.
    public var likelyCause: String?
    /// What to check, in words.
    public var advice: String?

    enum CodingKeys: String, CodingKey {
        case id, answered, milliseconds, status, current, voltage, power, energy, error, advice
        case phasePower = "phase_power", likelyCause = "likely_cause"
    }

    /// Polls `device` once, waiting at most `within` seconds.
    static func run(_ device: any SiteDevice, config: SiteConfig.Device, within seconds: Double) async -> DeviceTest {
        let started = ContinuousClock.now
        let outcome = await DeviceGate.callAll([DeviceGate.Call(gate: DeviceGate(), executor: device.taskExecutor) { await device.read() }],
                                               within: seconds)
        let ms = ((ContinuousClock.now - started).seconds * 10_000).rounded() / 10
        var test = DeviceTest(id: config.id, answered: false, milliseconds: ms)
        switch outcome.first {
        case .answered(.success(let r))?:
            test.answered = true
            test.status = r.status?.rawValue
            test.current = r.current.isEmpty ? nil : r.current
            test.voltage = r.voltage.isEmpty ? nil : r.voltage
            test.phasePower = r.phasePower.isEmpty ? nil : r.phasePower
            test.power = r.power
            test.energy = r.energy
        case .answered(.failure(let e))?:
            test.error = e.message
            (test.likelyCause, test.advice) = diagnose(e.message, config)
        default:
            test.error = "no answer within \(Int(seconds * 1000)) ms"
            (test.likelyCause, test.advice) = diagnose("no answer (timeout)", config)
        }
        return test
    }

    /// Which field of the configuration a failure points at, from what the
    /// connection and the driver said.
    static func diagnose(_ message: String, _ d: SiteConfig.Device) -> (String, String) {
        let m = message.lowercased()
        let serial: Bool
        if case .rtu = d.address { serial = true } else { serial = false }
        if m.contains("connection refused") {
            return ("port", "\(d.address) refuses the connection: nothing listens on that port. Check the port (502 for most devices) and that Modbus TCP is switched on in the device's settings.")
        }
        if m.contains("connection failed") || m.contains("not connected") {
            return serial
                ? ("address", "the serial port \(d.address) cannot be opened: check the device path and that no other program uses it.")
                : ("address", "nothing answers at \(d.address): check the IP address, the cable and that the device is on the same network.")
        }
        if m.contains("timeout") || m.contains("no answer") {
            return serial
                ? ("unit", "no answer on \(d.address) from unit \(d.unit): check the unit id (slave address), the baud rate, the parity and the A/B wires.")
                : ("unit", "\(d.address) takes the connection but does not answer for unit \(d.unit): check the unit id (slave address); a gateway answers only for the units behind it.")
        }
        if m.contains("gateway") {
            return ("unit", "the gateway at \(d.address) has no device with unit \(d.unit) behind it: check the unit id.")
        }
        if m.contains("exception") || m.contains("illegal") || m.contains("which no device of its kind can") || m.contains("reported") {
            return ("register map", "the device answers, but not as driver \(d.driver) expects: it is another make or model, or its Modbus interface is not switched on. (\(message))")
        }
        return ("driver", "driver \(d.driver): \(message)")
    }
}

