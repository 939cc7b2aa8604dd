import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxModbus
import FuseboxSimulator

/// Every shipped Modbus driver polled over the simulator's register map of its
/// device with random register contents and random Modbus exceptions: never a
/// crash, and what the host hands on is either a reading whose status and
/// values are inside their types (DeviceReading.plausible) or an error that
/// names the device.
///
/// An input is a small JSON document: the driver, the state the simulated
/// device shows, the registers overwritten, the exception every request gets,
/// and the limit then applied.
public struct DriverFuzzer: FuzzTarget {
    public let name = "driver"
    public let fileExtension = "json"
    let drivers: DriverLibrary

    public init(repository root: String) {
        drivers = DriverLibrary(directories: [root + "/drivers"])
    }

    struct Case: Codable {
        var driver: String
        var status: String
        var amps: [Double]
        /// [table (0 holding, 1 input, 2 coils, 3 discrete inputs), address, value]
        var registers: [[Int]]
        var exception: Int?
        var limit: Double
        var phases: Int
    }

    static let makes = ["abb_terra", "bender", "webasto_unite", "webasto_next", "weidmueller_ac_smart", "phoenix_ev_cc",
                        "alfen_eve", "sdm630", "sunspec"]
    /// The addresses each map writes, found once by publishing into an empty bank.
    nonisolated(unsafe) static var written: [String: [(Int, Int)]] = [:]
    static let lock = NSLock()

    public func input(seed: UInt64) -> String {
        var rng = SiteGenerator.Random(seed: seed)
        let driver = rng.pick(Self.makes)
        let used = Self.addresses(of: driver)
        var registers: [[Int]] = []
        let hostile = [0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x7F80, 0xFF80, 0x7FC0, 0x4F00, 0x5375, 0x6E53, 0xFFFE]
        for _ in 0..<(1 + rng.int(12)) {
            let (table, address) = used.isEmpty || rng.chance(0.1) ? (rng.int(2), rng.int(65536)) : rng.pick(used)
            let near = max(0, min(65535, address + (rng.chance(0.7) ? 0 : rng.int(9) - 4)))
            registers.append([table, near, rng.chance(0.5) ? rng.pick(hostile) : rng.int(65536)])
        }
        if rng.chance(0.1), let (table, start) = used.first {   // a whole block of noise
            for k in 0..<200 { registers.append([table, min(65535, start + k), rng.int(65536)]) }
        }
        let c = Case(driver: driver, status: rng.pick(ChargerStatus.allCases).rawValue,
                     amps: (0..<3).map { _ in rng.range(0, 32) }, registers: registers,
                     exception: rng.chance(0.2) ? Int(rng.pick(ModbusException.allCases).rawValue) : nil,
                     limit: rng.pick([0, 6, 16, 32, -1, 1e9, .nan, rng.range(0, 80)]), phases: rng.pick([1, 3]))
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(c)) ?? Data(), as: UTF8.self)
    }

    public func check(_ input: String) async -> String? {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let c = try? decoder.decode(Case.self, from: Data(input.utf8)) else { return nil }   // a mangled kept file: nothing to run
        let unit = Self.unit
        let server = ModbusServer(units: [unit])
        do { try server.start() } catch { return "the simulator would not start: \(error)" }
        defer { server.stop() }
        server.withBank(unit: unit) { bank in
            Self.publish(c.driver, status: ChargerStatus(rawValue: c.status) ?? .charging, amps: c.amps, unit: unit, into: &bank)
            for r in c.registers where r.count == 3 && (0..<65536).contains(r[1]) {
                let table: ModbusServer.Table = [.holdingRegisters, .inputRegisters, .coils, .discreteInputs][max(0, min(3, r[0]))]
                bank[table, r[1]] = UInt16(truncatingIfNeeded: r[2])
            }
        }
        if let e = c.exception.flatMap({ ModbusException(rawValue: UInt8(truncatingIfNeeded: $0)) }) { server.setFault(.exception(e), unit: unit) }

        let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "fz",
                                          timeouts: ModbusTimeouts(response: 0.3, backoff: 0.01, maxBackoff: 0.05))
        let device: LuaDevice
        do {
            device = try LuaDevice(id: "fz", script: drivers.load(c.driver), connection: connection, unit: unit)
        } catch {
            return "the driver would not load: \(error)"
        }
        for round in 0..<2 {
            let (result, seconds) = await timed { await device.poll() }
            if seconds > 6 { return "poll \(round) took \(String(format: "%.1f", seconds)) s" }
            switch result {
            case .success(let reading):
                if let why = reading.implausibility(charger: !["sdm630", "sunspec"].contains(c.driver)) {
                    return "poll \(round) handed on a reading outside its type: \(why): \(reading)"
                }
            case .failure(let e):
                if !e.description.hasPrefix("fz") || e.message.isEmpty { return "poll \(round): an error that names no device: \(e)" }
            }
            if case .failure(let e) = await device.apply(amps: c.limit, phases: c.phases), !e.description.hasPrefix("fz") {
                return "apply: an error that names no device: \(e)"
            }
        }
        return nil
    }

    /// One unit id for every make: the map and the device are both given it.
    static let unit = 1

    static func publish(_ driver: String, status: ChargerStatus, amps: [Double], unit: Int, into bank: inout ModbusServer.Bank) {
        switch driver {
        case "sdm630":
            let i = PhaseValues(amps[0], amps[1], amps[2])
            SDM630Map(unit: unit).publish(voltage: PhaseValues(all: 230), current: i, power: i.map { _, a in a * 230 },
                                          importEnergy: 1234, into: &bank)
        case "sunspec":
            SunSpecInverterMap(unit: unit).publish(power: amps.reduce(0, +) * 230, energy: 99, voltage: PhaseValues(all: 230), into: &bank)
        default:
            guard let map = SimConfig.makes[driver]?(unit) else { return }
            let drawing = status == .charging ? amps : [0, 0, 0]
            map.publish(SimulatedChargerState(status: status, current: drawing, power: drawing.reduce(0, +) * 230, sessionEnergy: 3.5), into: &bank)
        }
    }

    static func addresses(of driver: String) -> [(Int, Int)] {
        lock.lock()
        defer { lock.unlock() }
        if let known = written[driver] { return known }
        let unit = Self.unit
        let server = ModbusServer(units: [unit])   // not started: only its banks are used
        var found: [(Int, Int)] = []
        server.withBank(unit: unit) { bank in
            publish(driver, status: .charging, amps: [16, 15, 14], unit: unit, into: &bank)
            for (t, table) in [ModbusServer.Table.holdingRegisters, .inputRegisters].enumerated() {
                for a in 0..<65536 where bank[table, a] != 0 { found.append((t, a)) }
            }
        }
        written[driver] = found
        return found
    }
}
