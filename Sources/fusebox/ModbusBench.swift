import CModbus
import Foundation
import FuseboxDevices
import FuseboxModbus

/// The Modbus figures: one register read through our stack beside a raw
/// libmodbus loop against the same in-process server, and the wall time to poll
/// 100 devices at once, each over its own connection.
struct ModbusBench {
    var rounds: Int

    func run() async throws -> [String: Any] {
        let units = Array(1...100)
        let server = ModbusServer(units: units)
        try server.start()
        defer { server.stop() }
        for u in units { server.withBank(unit: u) { $0.write(.holdingRegisters, address: 0x400C, values: [0, 4]) } }

        // Raw: one libmodbus context, a blocking read loop on this thread.
        guard let raw = modbus_new_tcp("127.0.0.1", Int32(server.port)), modbus_connect(raw) == 0 else {
            throw Failure(message: "bench: cannot connect to the in-process Modbus server")
        }
        defer { modbus_close(raw); modbus_free(raw) }
        modbus_set_slave(raw, 1)
        var registers = [UInt16](repeating: 0, count: 2)
        let ours = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "bench")
        _ = try await ours.readHoldingRegisters(unit: 1, address: 0x400C, count: 2)

        let clock = ContinuousClock()
        var rawSamples: [Double] = [], ourSamples: [Double] = []
        let perBlock = 500
        for _ in 0..<rounds {
            for _ in 0..<perBlock {
                let d = clock.measure {
                    _ = registers.withUnsafeMutableBufferPointer { modbus_read_registers(raw, 0x400C, 2, $0.baseAddress) }
                }
                rawSamples.append(microseconds(d))
            }
            for _ in 0..<perBlock {
                let start = clock.now
                _ = try await ours.readHoldingRegisters(unit: 1, address: 0x400C, count: 2)
                ourSamples.append(microseconds(start.duration(to: clock.now)))
            }
        }

        // One register read through a Lua driver: connection + driver + sandbox.
        let reader = try DriverScript(source: """
            return { name = "bench", kind = "meter", poll = function(dev)
              local r, err = dev:read_holding(0x400C, 2)
              if not r then return nil, err end
              return { power = fusebox.decode(r, 1, "uint32") }
            end }
            """, origin: "bench.lua")
        let driven = try LuaDevice(id: "bench", script: reader, connection: ours, unit: 1)
        _ = try await driven.poll().get()
        var driverSamples: [Double] = []
        for _ in 0..<rounds {
            for _ in 0..<perBlock {
                let start = clock.now
                _ = try await driven.poll().get()
                driverSamples.append(microseconds(start.duration(to: clock.now)))
            }
        }

        // 100 devices, one connection each, polled together.
        let devices = units.map { ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "c\($0)") }
        for (i, d) in devices.enumerated() { _ = try await d.readHoldingRegisters(unit: units[i], address: 0x400C, count: 2) }
        // The same through the shipped ABB Terra driver (two reads a poll).
        let abb = try units.map { u in
            try LuaDevice(id: "c\(u)", script: DriverLibrary.shipped().load("abb_terra"),
                          connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "c\(u)"), unit: u)
        }
        for d in abb { _ = try await d.poll().get() }
        var pollDrivers: [Double] = []
        for _ in 0..<(rounds * 10) {
            let start = clock.now
            await withTaskGroup(of: Void.self) { group in
                for d in abb { group.addTask { _ = await d.poll() } }
            }
            pollDrivers.append(microseconds(start.duration(to: clock.now)))
        }
        var pollAll: [Double] = []
        for _ in 0..<(rounds * 10) {
            let start = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, d) in devices.enumerated() {
                    group.addTask { _ = try await d.readHoldingRegisters(unit: units[i], address: 0x400C, count: 2) }
                }
                try await group.waitForAll()
            }
            pollAll.append(microseconds(start.duration(to: clock.now)))
        }

        let rawMedian = median(rawSamples), ourMedian = median(ourSamples)
        let limit = (Thresholds.load()["modbus"] as? [String: Double])?["round_trip_ratio"]
        var result: [String: Any] = [
            "round_trip_raw_libmodbus_us": ["median": round2(rawMedian), "p99": round2(p99(rawSamples)), "samples": rawSamples.count],
            "round_trip_fusebox_us": ["median": round2(ourMedian), "p99": round2(p99(ourSamples)), "samples": ourSamples.count],
            "round_trip_ratio": round2(ourMedian / rawMedian),
            "round_trip_through_driver_us": ["median": round2(median(driverSamples)), "p99": round2(p99(driverSamples)),
                                             "samples": driverSamples.count],
            "round_trip_through_driver_ratio": round2(median(driverSamples) / rawMedian),
            "poll_100_chargers_abb_terra_driver_wall_ms": ["median": round2(median(pollDrivers) / 1000),
                                                           "p99": round2(p99(pollDrivers) / 1000), "samples": pollDrivers.count],
            "poll_100_devices_wall_ms": ["median": round2(median(pollAll) / 1000), "p99": round2(p99(pollAll) / 1000),
                                         "samples": pollAll.count],
            "note": "fusebox = a ModbusConnection read (queue hop and continuation); through_driver adds the Lua driver's poll",
        ]
        let driverRatio = median(driverSamples) / rawMedian
        if let limit { result["targets"] = ["round_trip_through_driver_ratio": ["limit": limit, "value": round2(driverRatio), "met": driverRatio <= limit]] }
        return result
    }

    func microseconds(_ d: Duration) -> Double { Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12 }
    func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
    func p99(_ v: [Double]) -> Double { let s = v.sorted(); return s[min(s.count - 1, Int(Double(s.count) * 0.99))] }
    func round2(_ v: Double) -> Double { (v * 100).rounded() / 100 }
}
