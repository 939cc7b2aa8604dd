import Foundation
import FuseboxModbus
import FuseboxTesting
import Testing


/// Collects the writes the server reports.
final class WriteLog: @unchecked Sendable {
    private let lock = NSLock()
    private var writes: [ModbusServer.Write] = []
    func add(_ w: ModbusServer.Write) { lock.lock(); writes.append(w); lock.unlock() }
    var all: [ModbusServer.Write] { lock.lock(); defer { lock.unlock() }; return writes }
}

@Suite("Our Modbus server, read and written by pymodbus")
struct ModbusServerTests {
    @Test("several unit ids on one port, each with its own registers")
    func unitsAndTables() throws {
        let server = ModbusServer(units: [1, 255])
        try server.start()
        server.withBank(unit: 1) { bank in
            bank.write(.holdingRegisters, address: 0x4000, values: [1, 2, 3])
            bank.write(.inputRegisters, address: 1004, values: [2])
            bank[.coils, 400] = 1
            bank[.discreteInputs, 7] = 1
        }
        server.withBank(unit: 255) { $0.write(.holdingRegisters, address: 5004, values: [16]) }
        let r = try pymodbusClient(port: server.port, [
            ["op": "read_holding", "unit": 1, "address": 0x4000, "count": 3],
            ["op": "read_input", "unit": 1, "address": 1004, "count": 1],
            ["op": "read_coils", "unit": 1, "address": 400, "count": 2],
            ["op": "read_discrete", "unit": 1, "address": 7, "count": 1],
            ["op": "read_holding", "unit": 255, "address": 5004, "count": 1],
            ["op": "read_holding", "unit": 1, "address": 5004, "count": 1],
        ])
        #expect(r[0] as? [Int] == [1, 2, 3])
        #expect(r[1] as? [Int] == [2])
        #expect(r[2] as? [Bool] == [true, false])
        #expect(r[3] as? [Bool] == [true])
        #expect(r[4] as? [Int] == [16])
        #expect(r[5] as? [Int] == [0], "units do not share registers")
    }

    @Test("writes are applied, reported, and read back")
    func writes() throws {
        let log = WriteLog()
        let server = ModbusServer(units: [1], onWrite: { log.add($0) })
        try server.start()
        let r = try pymodbusClient(port: server.port, [
            ["op": "write_register", "unit": 1, "address": 5004, "value": 16],
            ["op": "write_registers", "unit": 1, "address": 0x4100, "values": [0, 16000]],
            ["op": "write_coil", "unit": 1, "address": 400, "value": 1],
            ["op": "read_holding", "unit": 1, "address": 0x4100, "count": 2],
        ])
        #expect(r[0] as? String == "ok" && r[1] as? String == "ok" && r[2] as? String == "ok")
        #expect(r[3] as? [Int] == [0, 16000])
        #expect(log.all == [
            .init(unit: 1, function: .writeSingleRegister, address: 5004, values: [16]),
            .init(unit: 1, function: .writeMultipleRegisters, address: 0x4100, values: [0, 16000]),
            .init(unit: 1, function: .writeSingleCoil, address: 400, values: [1]),
        ])
        #expect(server.withBank(unit: 1) { $0[.holdingRegisters, 5004] } == 16)
    }

    @Test("faults: an exception, writes ignored, silence")
    func faults() throws {
        let server = ModbusServer(units: [1, 2, 3])
        try server.start()
        server.setFault(.exception(.serverDeviceBusy), unit: 1)
        server.setFault(.ignoreWrites, unit: 2)
        server.setFault(.silent, unit: 3)
        let r = try pymodbusClient(port: server.port, [
            ["op": "read_holding", "unit": 1, "address": 0, "count": 1],
            ["op": "write_register", "unit": 2, "address": 10, "value": 9],
            ["op": "read_holding", "unit": 2, "address": 10, "count": 1],
            ["op": "read_holding", "unit": 3, "address": 0, "count": 1],
        ])
        #expect((r[0] as? [String: Any])?["exception"] as? Int == 6)
        #expect(r[1] as? String == "ok", "the write is acknowledged")
        #expect(r[2] as? [Int] == [0], "but not applied")
        #expect(r[3] is [String: Any], "a silent unit gives the client an error, not an answer: \(r[3])")
    }

    @Test("our client and our server agree too (after both were checked against pymodbus)")
    func ourClientOurServer() async throws {
        let server = ModbusServer(units: [7])
        try server.start()
        server.withBank(unit: 7) { $0.write(.inputRegisters, address: 0, values: RegisterCodec(.float32).encode(231.5)!) }
        let client = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "meter")
        let volts = RegisterCodec(.float32).decode(try await client.readInputRegisters(unit: 7, address: 0, count: 2))
        #expect(volts == 231.5)
        server.stop()
        await #expect(throws: ModbusError.self) { try await client.readInputRegisters(unit: 7, address: 0, count: 2) }
    }
}
