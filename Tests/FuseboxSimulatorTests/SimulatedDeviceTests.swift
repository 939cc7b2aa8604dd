import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import FuseboxModbus
import FuseboxSimulator
import FuseboxTesting
import Testing

let root = Expectation.repositoryRoot(from: #filePath)

/// Hands the server's write reports to the simulated chargers.
final class WriteRouter: @unchecked Sendable {
    private let lock = NSLock()
    private var chargers: [SimulatedCharger] = []
    func add(_ c: SimulatedCharger) { lock.lock(); chargers.append(c); lock.unlock() }
    func route(_ w: ModbusServer.Write) {
        lock.lock()
        let all = chargers
        lock.unlock()
        for c in all { c.take(w) }
    }
}

/// A charging state every map can show.
let charging = SimulatedChargerState(status: .charging, current: [16, 15.5, 0], voltage: [230, 231, 229],
                                     power: 7360, sessionEnergy: 12.345)

@Suite("Simulated devices: the register maps of the drivers' headers, checked by pymodbus and by our drivers", .serialized)
struct SimulatedDeviceTests {
    func site(_ maps: [any ChargerRegisterMap]) throws -> (ModbusServer, [SimulatedCharger], WriteRouter) {
        let router = WriteRouter()
        let server = ModbusServer(units: maps.map(\.unit), onWrite: { router.route($0) })
        try server.start()
        let chargers = maps.map { SimulatedCharger(map: $0, server: server) }
        chargers.forEach(router.add)
        return (server, chargers, router)
    }

    @Test("the registers, read by pymodbus, are what the driver's header says for the state")
    func registerFacts() throws {
        let (server, chargers, _) = try site([ABBTerraMap(unit: 1), WebastoUniteMap(unit: 255, failsafeTimeout: 8), AlfenEveMap(unit: 2)])
        chargers.forEach { $0.show(charging) }
        let r = try pymodbusClient(port: server.port, [
            ["op": "read_holding", "unit": 1, "address": 0x400C, "count": 2],   // ABB state: byte 2 = 4 (C)
            ["op": "read_holding", "unit": 1, "address": 0x4010, "count": 6],   // ABB currents, uint32 mA
            ["op": "read_holding", "unit": 1, "address": 0x401C, "count": 4],   // ABB W, Wh
            ["op": "read_input", "unit": 255, "address": 1001, "count": 1],     // Unite charging = 1
            ["op": "read_input", "unit": 255, "address": 1008, "count": 5],     // Unite mA at 1008, 1010, 1012
            ["op": "read_holding", "unit": 255, "address": 2002, "count": 1],   // Unite failsafe timeout
            ["op": "read_holding", "unit": 2, "address": 1201, "count": 5],     // Alfen "C2" in ASCII
            ["op": "read_holding", "unit": 2, "address": 320, "count": 2],      // Alfen L1 current, float32
        ])
        #expect(r[0] as? [Int] == [0, 0x0400])
        #expect(r[1] as? [Int] == [0, 16000, 0, 15500, 0, 0])
        #expect(r[2] as? [Int] == [0, 7360, 0, 12345])
        #expect(r[3] as? [Int] == [1])
        #expect(r[4] as? [Int] == [16000, 0, 15500, 0, 0])
        #expect(r[5] as? [Int] == [8])
        #expect(r[6] as? [Int] == [0x4332, 0, 0, 0, 0])
        #expect(r[7] as? [Int] == [0x4180, 0])   // 16.0 as IEEE float32
    }

    @Test("the other makes' registers, read by pymodbus")
    func moreRegisterFacts() throws {
        let (server, chargers, _) = try site([BenderMap(unit: 10), WebastoNextMap(unit: 11), WeidmuellerMap(unit: 12), PhoenixMap(unit: 13)])
        chargers.forEach { $0.show(charging) }
        let r = try pymodbusClient(port: server.port, [
            ["op": "read_holding", "unit": 10, "address": 122, "count": 1],     // Bender: 3 = charging
            ["op": "read_holding", "unit": 10, "address": 212, "count": 2],     // Bender L1, uint32 mA
            ["op": "read_holding", "unit": 11, "address": 1000, "count": 1],    // NEXT: 3 = charging
            ["op": "read_input", "unit": 11, "address": 1010, "count": 1],      // NEXT L2 mA
            ["op": "read_holding", "unit": 12, "address": 301, "count": 1],     // Weidmüller: 'C'
            ["op": "read_holding", "unit": 12, "address": 406, "count": 2],     // Weidmüller L1 mA, low word first
            ["op": "read_input", "unit": 13, "address": 100, "count": 1],       // Phoenix: 'C'
            ["op": "read_input", "unit": 13, "address": 120, "count": 2],       // Phoenix W, int32 low word first
        ])
        #expect(r[0] as? [Int] == [3])
        #expect(r[1] as? [Int] == [0, 16000])
        #expect(r[2] as? [Int] == [3])
        #expect(r[3] as? [Int] == [15500])
        #expect(r[4] as? [Int] == [67])
        #expect(r[5] as? [Int] == [16000, 0])
        #expect(r[6] as? [Int] == [67])
        #expect(r[7] as? [Int] == [7360, 0])
    }

    static let allMaps: [any ChargerRegisterMap] = [
        ABBTerraMap(unit: 1), WebastoUniteMap(unit: 255), AlfenEveMap(unit: 1), BenderMap(unit: 255),
        WebastoNextMap(unit: 255), WeidmuellerMap(unit: 255), PhoenixMap(unit: 255),
    ]

    @Test("our drivers read the simulated chargers back as the state they show", arguments: Array(allMaps.indices))
    func driversAgree(_ which: Int) async throws {
        let map = Self.allMaps[which]
        let (server, chargers, _) = try site([map])
        for status in [ChargerStatus.free, .occupied, .charging] {
            var state = charging
            state.status = status
            chargers[0].show(state)
            let device = try LuaDevice(id: map.driver, script: DriverScript(file: root + "/drivers/\(map.driver).lua"),
                                       connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: map.driver),
                                       unit: map.unit)
            let r = try await device.poll().get()
            #expect(r.status == status, "\(map.driver): \(status)")
            // Phoenix reports whole amps (int32 A).
            let expected: [Double] = map.driver == "phoenix_ev_cc" ? [16, 16, 0] : [16, 15.5, 0]
            #expect(r.current == expected, "\(map.driver)")
            #expect(r.power == 7360, "\(map.driver)")
            #expect(abs((r.energy ?? 0) - 12.345) < 1e-9, "\(map.driver)")
        }
    }

    @Test("a limit written by pymodbus reaches the simulated charger, in A")
    func limits() throws {
        let (server, chargers, _) = try site([ABBTerraMap(unit: 1), WebastoUniteMap(unit: 255), AlfenEveMap(unit: 2)])
        _ = try pymodbusClient(port: server.port, [
            ["op": "write_registers", "unit": 1, "address": 0x4100, "values": [0, 13000]],
            ["op": "write_register", "unit": 255, "address": 5004, "value": 10],
            ["op": "write_registers", "unit": 2, "address": 1210, "values": [0x4128, 0]],   // 10.5 float32
            ["op": "write_register", "unit": 1, "address": 0x4000, "value": 99],           // not the limit
        ])
        let (phoenixServer, phoenix, _) = try site([PhoenixMap(unit: 255)])
        _ = try pymodbusClient(port: phoenixServer.port, [["op": "write_register", "unit": 255, "address": 528, "value": 12]])
        #expect(phoenix[0].limit == 12)
        _ = try pymodbusClient(port: phoenixServer.port, [["op": "write_coil", "unit": 255, "address": 400, "value": 0]])
        #expect(phoenix[0].limit == 0, "clearing the enable coil pauses the Phoenix")
        #expect(chargers[0].limit == 13)
        #expect(chargers[1].limit == 10)
        #expect(chargers[2].limit == 10.5)
    }

    @Test("an SDM630 shows magnitudes; our driver signs them by power")
    func meter() async throws {
        let server = ModbusServer(units: [1])
        try server.start()
        server.withBank(unit: 1) {
            SDM630Map().publish(voltage: PhaseValues(231, 229.5, 230), current: PhaseValues(12.5, -4, 20),
                                power: PhaseValues(2887.5, -918, 4600), importEnergy: 1234.5, into: &$0)
        }
        let raw = try pymodbusClient(port: server.port, [["op": "read_input", "unit": 1, "address": 8, "count": 2]])
        #expect(raw[0] as? [Int] == [0x4080, 0], "L2 current as the magnitude 4.0")
        let meter = try LuaDevice(id: "grid", script: DriverScript(file: root + "/drivers/sdm630.lua"),
                                  connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "grid"), unit: 1)
        let r = try await meter.poll().get()
        #expect(r.current == [12.5, -4, 20])
        #expect(r.power == 6569.5)
    }
}

