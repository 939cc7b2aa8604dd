import Foundation
import FuseboxModbus
import Synchronization
import FuseboxTesting
import Testing

/// Our client against pymodbus, an independent implementation.
@Suite("Modbus TCP client against a pymodbus peer", .serialized)
struct ModbusConnectionTests {
    static var map: [String: Any] { [
        "devices": [
            ["unit": 1,
             "hr": [["address": 0x4000, "values": [0x1234, 0x5678, 0, 16000]]],
             "ir": [["address": 0, "values": [0x4366, 0x0000]]],     // 230.0 as float32, high word first
             "co": [["address": 400, "values": [true, false, true]]],
             "di": [["address": 10, "values": [false, true]]]],
            ["unit": 2, "hr": [["address": 100, "values": [42, 43]]], "exceptions": ["4": 6]],
        ] as [[String: Any]],
    ] }

    @Test("reads every table of one unit")
    func reads() async throws {
        let peer = try ModbusPeer(map: Self.map)
        let c = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "p01")
        #expect(try await c.readHoldingRegisters(unit: 1, address: 0x4000, count: 4) == [0x1234, 0x5678, 0, 16000])
        #expect(try await c.readInputRegisters(unit: 1, address: 0, count: 2) == [0x4366, 0])
        #expect(try await c.readCoils(unit: 1, address: 400, count: 3) == [true, false, true])
        #expect(try await c.readDiscreteInputs(unit: 1, address: 10, count: 2) == [false, true])
        let volts = RegisterCodec(.float32).decode(try await c.readInputRegisters(unit: 1, address: 0, count: 2))
        #expect(volts == 230)
    }

    @Test("two unit ids share one connection")
    func twoUnits() async throws {
        let peer = try ModbusPeer(map: Self.map)
        let c = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "line")
        async let a = c.readHoldingRegisters(unit: 1, address: 0x4000, count: 1)
        async let b = c.readHoldingRegisters(unit: 2, address: 100, count: 2)
        #expect(try await a == [0x1234])
        #expect(try await b == [42, 43])
    }

    @Test("tasks started on the connection's queue and tasks started elsewhere take the line in turn")
    func onItsQueue() async throws {
        let peer = try ModbusPeer(map: Self.map)
        let c = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "line")
        let sessions = Overlap()
        let answers = try await withThrowingTaskGroup(of: (Int, [UInt16]).self) { group in
            for i in 0..<40 {
                let ask: @Sendable () async throws -> (Int, [UInt16]) = {
                    let answer = await c.withSession { session in
                        sessions.enter()
                        defer { sessions.leave() }
                        return i % 4 < 2 ? session.read(.readHoldingRegisters, unit: 1, address: 0x4000, count: 2)
                                         : session.read(.readHoldingRegisters, unit: 2, address: 100, count: 2)
                    }
                    return (i, try answer.get())
                }
                if i % 2 == 0 {
                    group.addTask(executorPreference: c.taskExecutor, operation: ask)
                } else {
                    group.addTask(operation: ask)
                }
            }
            var all: [Int: [UInt16]] = [:]
            for try await (i, registers) in group { all[i] = registers }
            return all
        }
        #expect(answers.count == 40)
        for (i, registers) in answers { #expect(registers == (i % 4 < 2 ? [0x1234, 0x5678] : [42, 43]), "request \(i)") }
        #expect(sessions.most == 1, "sessions overlapped on one connection")
    }

    @Test("writes arrive at the peer with the right function, address and values")
    func writes() async throws {
        let peer = try ModbusPeer(map: Self.map)
        let c = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "p01")
        try await c.writeRegister(unit: 1, address: 0x4003, value: 16)
        #expect(peer.waitForLine(prefix: "WRITE", timeout: 5) == "WRITE 1 6 16387 16")
        // ABB Terra: 0x4100 uint32 mA, FC16; here 16 A as 16000 mA into two registers.
        try await c.writeRegisters(unit: 1, address: 0x4000, values: RegisterCodec(.uint32).encode(16000)!)
        #expect(peer.waitForLine(prefix: "WRITE", timeout: 5) == "WRITE 1 16 16384 0 16000")
        try await c.writeCoil(unit: 1, address: 401, value: true)
        #expect(peer.waitForLine(prefix: "WRITE", timeout: 5) == "WRITE 1 5 401 1")
        #expect(try await c.readCoils(unit: 1, address: 401, count: 1) == [true])
    }

    @Test("an address the device does not have is an illegal data address, named")
    func illegalAddress() async throws {
        let peer = try ModbusPeer(map: Self.map)
        let c = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "p01")
        do {
            _ = try await c.readHoldingRegisters(unit: 1, address: 0x400C, count: 2)
            Issue.record("expected an exception")
        } catch {
            #expect(error.kind == .exception(.illegalDataAddress))
            #expect(error.description.contains("p01"))
            #expect(error.description.contains("read holding registers (FC03)"))
            #expect(error.description.contains("0x400C"))
            #expect(error.description.contains("illegal data address (exception 2)"), "\(error)")
        }
        // The connection stays usable after an exception.
        #expect(try await c.readHoldingRegisters(unit: 1, address: 0x4000, count: 1) == [0x1234])
    }

    @Test("every exception code arrives as its own kind, by name")
    func everyException() async throws {
        let codes = ModbusException.allCases
        let devices: [[String: Any]] = codes.map { e in
            ["unit": Int(e.rawValue) + 10, "hr": [["address": 0, "values": [1]]], "exceptions": ["3": Int(e.rawValue)]]
        }
        let peer = try ModbusPeer(map: ["devices": devices])
        let c = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "meter")
        for e in codes {
            do {
                _ = try await c.readHoldingRegisters(unit: Int(e.rawValue) + 10, address: 0, count: 1)
                Issue.record("\(e): expected an exception")
            } catch {
                #expect(error.kind == .exception(e), "\(e): got \(error)")
                #expect(error.description.contains("\(e) (exception \(e.rawValue))"))
            }
        }
    }

    @Test("nobody listening: connection refused, then a backoff before the next attempt")
    func refused() async throws {
        let port = freeTCPPort()
        let c = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: port), name: "p02",
                                 timeouts: ModbusTimeouts(response: 0.2, backoff: 60, maxBackoff: 120))
        do {
            _ = try await c.readHoldingRegisters(unit: 1, address: 0, count: 1)
            Issue.record("expected connection refused")
        } catch {
            #expect(error.kind == .connectionRefused, "\(error)")
            #expect(error.description.contains("p02 (127.0.0.1:\(port))"))
        }
        do {
            _ = try await c.readHoldingRegisters(unit: 1, address: 0, count: 1)
            Issue.record("expected a backoff")
        } catch {
            guard case .backingOff(let seconds, _) = error.kind else { Issue.record("got \(error)"); return }
            #expect(seconds > 50 && seconds <= 60)
        }
    }

    @Test("a device that never answers times out, and the host goes on")
    func silent() async throws {
        let peer = try ModbusPeer(map: ["silent": true])
        let c = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "p03",
                                 timeouts: ModbusTimeouts(response: 0.2))
        do {
            _ = try await c.readInputRegisters(unit: 1, address: 0, count: 2)
            Issue.record("expected a timeout")
        } catch {
            #expect(error.kind == .timeout, "\(error)")
            #expect(error.description.contains("read input registers (FC04)"))
        }
    }

    @Test("requests the protocol cannot carry are refused before they are sent")
    func invalidRequests() async throws {
        let c = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: 1), name: "p04")
        await #expect(throws: ModbusError.self) { try await c.readHoldingRegisters(unit: 1, address: 0, count: 126) }
        await #expect(throws: ModbusError.self) { try await c.writeRegisters(unit: 1, address: 0, values: []) }
    }
}

@Suite("Modbus RTU over a pseudo-terminal pair (socat)")
struct ModbusRTUTests {
    @Test("two unit ids on one serial line, asked at once, answered in turn")
    func twoUnitsOnOneLine() async throws {
        let line = try SerialPair()
        let peer = try ModbusPeer(map: [
            "serial": line.a, "baud": 9600,
            "devices": [
                ["unit": 1, "hr": [["address": 0x4000, "values": [11, 12]]]],
                ["unit": 2, "ir": [["address": 0, "values": [21, 22]]], "hr": [["address": 5, "values": [0]]]],
            ] as [[String: Any]],
        ])
        let bus = ModbusConnection(endpoint: .rtu(path: line.b, baud: 9600), name: "rs485",
                                   timeouts: ModbusTimeouts(response: 1))
        async let one = bus.readHoldingRegisters(unit: 1, address: 0x4000, count: 2)
        async let two = bus.readInputRegisters(unit: 2, address: 0, count: 2)
        #expect(try await one == [11, 12])
        #expect(try await two == [21, 22])
        try await bus.writeRegister(unit: 2, address: 5, value: 7)
        #expect(peer.waitForLine(prefix: "WRITE", timeout: 5) == "WRITE 2 6 5 7")
        // A unit that is not on the line stays silent: a timeout, and the line goes on.
        await #expect(throws: ModbusError.self) { try await bus.readHoldingRegisters(unit: 9, address: 0, count: 1) }
        #expect(try await bus.readHoldingRegisters(unit: 1, address: 0x4001, count: 1) == [12])
        _ = peer
    }
}

/// Counts how many sessions run at once, and the most there ever were.
private final class Overlap: Sendable {
    private let state = Mutex((now: 0, most: 0))
    func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var most: Int { state.withLock { $0.most } }
}
