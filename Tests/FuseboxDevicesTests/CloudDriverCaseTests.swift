import Foundation
import FuseboxDevices
import FuseboxLua
import FuseboxTesting
import FuseboxTestCases
import Testing

/// One case from Cases/zaptec.json: the cloud's state (zaptec_peer.py, Python's
/// http.server), then steps at given times: a poll and what it must report,
/// an apply, and the exact requests each step makes.
extension NamedCase {
    static func zaptec() -> [NamedCase] { JSONCases.named("Cases/zaptec.json") }
}

@Suite("The zaptec driver against a stand-in for Zaptec's cloud (Python's http.server)", .serialized)
struct CloudDriverCaseTests {
    @Test("zaptec", arguments: NamedCase.zaptec())
    func run(_ c: NamedCase) async throws {
        let o = try #require(c.json.object)
        var setup = (anyValue(o["peer"] ?? .object([:])) as? [String: Any]) ?? [:]
        setup["username"] = setup["username"] ?? "fusebox"
        setup["password"] = setup["password"] ?? "s&cret="
        let peer = try ZaptecPeer(setup: setup)
        func withPort(_ s: String) -> String { s.replacingOccurrences(of: "PORT", with: "\(peer.port)") }

        var config: [String: LuaValue] = ["api": .string(peer.base), "charger_id": .string("ZAP-1"),
                                          "username": .string("fusebox"), "password": .string("s&cret=")]
        for (k, v) in o["config"]?.object ?? [:] { config[k] = luaValue(v) }
        let clock = ManualClock()
        let web = WebAccess(name: "dev", api: peer.base, allow: (o["allow"]?.array ?? []).compactMap(\.string).map(withPort))
        let device = try LuaDevice(id: "dev", script: DriverScript(file: root + "/drivers/zaptec.lua"), web: web,
                                   config: .record(config.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
                                   clock: { clock.now })
        for (n, stepValue) in (o["steps"]?.array ?? []).enumerated() {
            let step = try #require(stepValue.object)
            clock.now = step["time"]?.number ?? clock.now
            let label = "\(c.name), step \(n) at t=\(clock.now)"
            if let set = step["set"] { try peer.set((anyValue(set) as? [String: Any]) ?? [:]) }
            if step["revoke"] != nil { try peer.revoke() }
            await runDeviceStep(device, step, label: label, expand: withPort)
            let requests = try peer.requests(mark: n)
            if let expected = step["requests"]?.array?.compactMap(\.string) {
                #expect(requests == expected, "\(label): requests")
            }
        }
    }

    @Test("a cloud driver has no registers, and a Modbus driver has no HTTP")
    func transports() async throws {
        let web = WebAccess(name: "dev", api: "http://127.0.0.1:9")
        let registers = try DriverScript(source: """
            return { kind = "charger", transport = { type = "http" },
                     poll = function(dev) local r, err = dev:read_holding(0, 1); return nil, err end,
                     apply = function() return true end }
            """, origin: "registers.lua")
        let device = try LuaDevice(id: "z", script: registers, web: web)
        guard case .failure(let e) = await device.poll() else {
            Issue.record("a register read over HTTP succeeded"); return
        }
        #expect(e.description.contains("reached over HTTP: it has no registers"), "\(e)")
        #expect(throws: LuaError.self) {
            try DriverScript(source: "return { kind = 'meter', transport = { type = 'carrier-pigeon' }, poll = function() end }",
                             origin: "pigeon.lua")
        }
    }
}
