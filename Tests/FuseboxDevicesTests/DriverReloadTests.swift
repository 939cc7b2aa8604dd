import Foundation
import FuseboxDevices
import FuseboxLua
import FuseboxModbus
import FuseboxTesting
import Testing

/// A meter driver that reports its version as its power, so a poll says which
/// driver made it.
func versionedMeter(_ version: Int, broken: String? = nil) throws -> DriverScript {
    try DriverScript(source: """
        return { name = "versioned", kind = "meter",
          poll = function(dev)
            local r, err = dev:read_input(0, 2)
            if not r then return nil, err end
            \(broken ?? "")
            dev.state.polls = (dev.state.polls or 0) + 1
            return { power = \(version), energy = dev.state.polls }
          end }
        """, origin: "versioned_v\(version).lua", limits: LuaLimits(instructions: 2_000_000, time: 2))
}

@Suite("Hot reload of a driver", .serialized)
struct DriverReloadTests {
    @Test("replacing a driver while it polls back to back misses no poll; broken replacements are refused")
    func reloadUnderLoad() async throws {
        let peer = try ModbusPeer(map: ["devices": [["unit": 1, "ir": [["address": 0, "values": [1, 2]]]]]])
        let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "meter")
        let device = try LuaDevice(id: "grid", script: versionedMeter(1), connection: connection, unit: 1)

        // Polls back to back (no pause at all: harsher than a 100 ms period).
        let poller = Task {
            var readings: [DeviceReading] = []
            var failures: [String] = []
            for _ in 0..<300 {
                switch await device.poll() {
                case .success(let r): readings.append(r)
                case .failure(let e): failures.append(e.description)
                }
            }
            return (readings, failures)
        }
        var refused: [String] = []
        var installed: [Int] = []
        for version in 2...7 {
            // Odd versions are broken: an error, a loop, a syntax error at load.
            let outcome: Result<DeviceReading, DeviceError>
            switch version {
            case 3: outcome = await device.reload(try versionedMeter(3, broken: "error('firmware quirk')"))
            case 5: outcome = await device.reload(try versionedMeter(5, broken: "while true do end"))
            case 7:
                #expect(throws: LuaError.self) { try versionedMeter(7, broken: "this is not lua") }
                continue
            default: outcome = await device.reload(try versionedMeter(version))
            }
            switch outcome {
            case .success(let r): installed.append(Int(r.power ?? -1))
            case .failure(let e): refused.append(e.description)
            }
        }
        let (readings, failures) = await poller.value
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        #expect(readings.count == 300)
        #expect(installed == [2, 4, 6])
        #expect(refused.count == 2)
        #expect(refused.first?.contains("versioned_v3.lua") == true && refused.first?.contains("firmware quirk") == true, "\(refused)")
        #expect(refused.last?.contains("budget") == true, "\(refused)")
        #expect(refused.allSatisfy { $0.contains("keeps running") })
        // Every poll came from an installed driver, in order, and the state carried
        // over: the poll counter never restarted.
        let versions = readings.map { Int($0.power ?? -1) }
        #expect(Set(versions).isSubset(of: [1, 2, 4, 6]))
        #expect(versions == versions.sorted(), "a poll went back to an older driver")
        let counts = readings.map { Int($0.energy ?? 0) }
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $1 > $0 }, "dev.state did not carry over")
        let last = try await device.poll().get()
        #expect(last.power == 6)
    }

    @Test("a charger driver cannot replace a meter driver")
    func kindMismatch() async throws {
        let peer = try ModbusPeer(map: ["devices": [["unit": 1, "ir": [["address": 0, "values": [1, 2]]]]]])
        let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "meter")
        let device = try LuaDevice(id: "grid", script: versionedMeter(1), connection: connection, unit: 1)
        let charger = try DriverScript(file: root + "/drivers/abb_terra.lua")
        guard case .failure(let e) = await device.reload(charger) else { Issue.record("expected a refusal"); return }
        #expect(e.description.contains("meter driver"))
        #expect(try await device.poll().get().power == 1)
    }
}
