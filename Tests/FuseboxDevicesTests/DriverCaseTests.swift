import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import FuseboxModbus
import FuseboxTesting
import FuseboxTestCases
import Testing

/// One driver case from Cases/drivers.json: a device's register map as
/// the driver's header gives it, then steps at given times: a poll and what
/// it must report, an apply, and the exact writes each step makes.
typealias DriverCase = NamedCase

extension NamedCase {
    static func drivers() -> [NamedCase] { JSONCases.named("Cases/drivers.json") }
}

final class ManualClock: @unchecked Sendable {
    var now = 0.0
}

func luaValue(_ v: JSONValue) -> LuaValue {
    switch v {
    case .null: .nil
    case .bool(let b): .boolean(b)
    case .number(let n): n == n.rounded() && abs(n) < 1e15 ? .integer(Int64(n)) : .number(n)
    case .string(let s): .string(s)
    case .array(let a): .array(a.map(luaValue))
    case .object(let o): .record(o.sorted { $0.key < $1.key }.map { ($0.key, luaValue($0.value)) })
    }
}

func anyValue(_ v: JSONValue) -> Any {
    switch v {
    case .null: NSNull()
    case .bool(let b): b
    case .number(let n): n == n.rounded() && abs(n) < 1e15 ? Int(n) as Any : n as Any
    case .string(let s): s
    case .array(let a): a.map(anyValue)
    case .object(let o): o.mapValues(anyValue)
    }
}

@Suite("Driver cases from Cases/drivers.json, each against a pymodbus peer", .serialized)
struct DriverCaseTests {
    @Test("the case file covers every shipped Modbus driver")
    func coverage() throws {
        let cases = DriverCase.drivers()
        let drivers = Set(cases.compactMap { $0.json.object?["driver"]?.string })
        let shipped = try FileManager.default.contentsOfDirectory(atPath: root + "/drivers")
            .filter { $0.hasSuffix(".lua") }.map { String($0.dropLast(4)) }
        // OCPP stations' quirk files have their own tests (OCPPQuirksTests, OCPPRunTests).
        for name in shipped {
            let script = try DriverScript(file: root + "/drivers/\(name).lua")
            guard script.transport == .modbus, script.kind != .ocpp else { continue }
            #expect(drivers.contains(name), "no case for driver \(name)")
        }
        // Cloud drivers have their own cases (CloudDriverCaseTests, Cases/zaptec.json).
        #expect(shipped.contains("zaptec"))
    }

    @Test("driver", arguments: DriverCase.drivers())
    func run(_ c: DriverCase) async throws {
        let o = try #require(c.json.object)
        let unit = Int(o["unit"]?.number ?? 1)
        var map = (anyValue(o["map"] ?? .object([:])) as? [String: Any]) ?? [:]
        map["unit"] = unit
        let peer = try ModbusPeer(map: ["devices": [map]])
        let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "dev",
                                          timeouts: ModbusTimeouts(response: 0.3))
        let sentinel = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "sentinel")
        let clock = ManualClock()
        let script = try DriverScript(file: root + "/drivers/\(o["driver"]?.string ?? "").lua")
        let device = try LuaDevice(id: "dev", script: script, connection: connection, unit: unit,
                                   config: luaValue(o["config"] ?? .object([:])), clock: { clock.now })
        for (n, stepValue) in (o["steps"]?.array ?? []).enumerated() {
            let step = try #require(stepValue.object)
            clock.now = step["time"]?.number ?? clock.now
            let label = "\(c.name), step \(n) at t=\(clock.now)"
            await runDeviceStep(device, step, label: label)
            // Every write of this step, exactly: the sentinel's write comes after them.
            try await sentinel.writeRegister(unit: 247, address: 0, value: UInt16(n + 1))
            let writes = peer.takeLines(through: "WRITE 247 6 0 \(n + 1)", timeout: 10)?.filter { $0.hasPrefix("WRITE") }
            let expected = step["writes"]?.array?.compactMap(\.string) ?? []
            #expect(writes == expected, "\(label): writes")
        }
    }
}

/// One step of a driver case, Modbus or cloud: a poll and what it must report,
/// a poll that must fail with a message (`expand` fills in a peer's port), an apply.
func runDeviceStep(_ device: LuaDevice, _ step: [String: JSONValue], label: String,
                   expand: (String) -> String = { $0 }) async {
    func close(_ a: [Double], _ b: [Double]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }
    }
    if let poll = step["poll"]?.object {
        switch await device.poll() {
        case .failure(let e):
            Issue.record("\(label): \(e)")
        case .success(let r):
            if let s = poll["status"]?.string { #expect(r.status?.rawValue == s, "\(label): status") }
            if let a = poll["current"]?.array?.compactMap(\.number) { #expect(close(r.current, a), "\(label): current \(r.current)") }
            if let a = poll["voltage"]?.array?.compactMap(\.number) { #expect(close(r.voltage, a), "\(label): voltage \(r.voltage)") }
            if let p = poll["power"]?.number { #expect(close([r.power ?? .nan], [p]), "\(label): power \(String(describing: r.power))") }
            if let e = poll["energy"]?.number { #expect(close([r.energy ?? .nan], [e]), "\(label): energy \(String(describing: r.energy))") }
        }
    }
    if let message = step["poll_error"]?.string.map(expand) {
        if case .failure(let e) = await device.poll() {
            #expect(e.description.contains(message), "\(label): \(e)")
        } else {
            Issue.record("\(label): expected an error containing \(message)")
        }
    }
    if let amps = step["apply"]?.number {
        if case .failure(let e) = await device.apply(amps: amps) { Issue.record("\(label): apply: \(e)") }
    }
}
