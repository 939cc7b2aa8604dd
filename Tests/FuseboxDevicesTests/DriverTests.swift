import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import FuseboxModbus
import FuseboxTesting
import Testing

let root = Expectation.repositoryRoot(from: #filePath)

func uint32(_ v: Int) -> [Int] { RegisterCodec(.uint32).encode(Double(v))!.map(Int.init) }

/// A driver polled over a real pymodbus peer holding the device's register map.
func device(_ driver: String, map: [String: Any], unit: Int = 1) throws -> (LuaDevice, ModbusPeer) {
    let peer = try ModbusPeer(map: map)
    let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "dev")
    let script = try DriverScript(file: root + "/drivers/\(driver).lua")
    return (try LuaDevice(id: "dev", script: script, connection: connection, unit: unit), peer)
}

@Suite("Drivers against pymodbus peers holding the register maps of the drivers' headers", .serialized)
struct DriverTests {
    /// ABB Terra state register cases: (state byte, socket lock register, status).
    static let abbStates: [(Int, Int, ChargerStatus)] = [
        (0, 0, .free), (1, 0x0101, .occupied), (3, 0x0101, .occupied), (4, 0x0101, .charging),
        (5, 0x0101, .occupied), (5, 0, .free), (0x84, 0x0101, .charging), (9, 0, .unavailable),
    ]

    @Test("abb_terra: state byte to status, mA to A, W, Wh to kWh", arguments: Array(abbStates.indices))
    func abbTerraStatus(_ i: Int) async throws {
        let (state, lock, status) = Self.abbStates[i]
        var hr = [Int](repeating: 0, count: 22)            // 0x400A..0x401F
        hr[0] = lock                                        // 0x400A socket lock
        hr[3] = state << 8                                  // 0x400D: byte 2 of the state
        let measured = uint32(16000) + uint32(15500) + uint32(0)  // 0x4010 currents, mA
        for (k, v) in measured.enumerated() { hr[6 + k] = v }
        for (k, v) in uint32(7360).enumerated() { hr[18 + k] = v }   // 0x401C power, W
        for (k, v) in uint32(12345).enumerated() { hr[20 + k] = v }  // 0x401E energy, Wh
        let (charger, peer) = try device("abb_terra", map: ["devices": [
            ["unit": 1, "hr": [["address": 0x400A, "values": hr], ["address": 0x4100, "values": [0, 0]]]],
        ]])
        let r = try await charger.poll().get()
        #expect(r.status == status, "state \(state), lock \(lock)")
        #expect(r.current == [16, 15.5, 0])
        #expect(r.power == 7360)
        #expect(r.energy == 12.345)
        _ = peer
    }

    @Test("a device that does not answer: an error naming the device, and the next poll works again")
    func silentDevice() async throws {
        let peer = try ModbusPeer(map: ["silent": true])
        let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "p07",
                                          timeouts: ModbusTimeouts(response: 0.2))
        let meter = try LuaDevice(id: "grid", script: DriverScript(file: root + "/drivers/sdm630.lua"),
                                  connection: connection, unit: 1)
        switch await meter.poll() {
        case .success: Issue.record("expected a timeout")
        case .failure(let e):
            #expect(e.description.contains("grid"))
            #expect(e.description.contains("no answer (timeout)"), "\(e)")
            #expect(e.description.contains("read input registers (FC04) at 0"))
        }
    }

    @Test("a driver that errors or loops is contained, with the script and line")
    func brokenDriver() async throws {
        let peer = try ModbusPeer(map: ["devices": [["unit": 1, "ir": [["address": 0, "values": [0, 0]]]]]])
        let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "x")
        let looping = try DriverScript(source: """
            return { kind = "meter", poll = function(dev)
              dev:read_input(0, 2)
              while true do end
            end }
            """, origin: "looping.lua", limits: LuaLimits(instructions: 1_000_000, time: 1))
        let device = try LuaDevice(id: "m1", script: looping, connection: connection, unit: 1)
        guard case .failure(let e) = await device.poll() else { Issue.record("expected a budget error"); return }
        #expect(e.description.contains("looping.lua:3"), "\(e)")
        #expect(e.description.contains("budget"))
        // The connection is fine for the next device.
        #expect(try await connection.readInputRegisters(unit: 1, address: 0, count: 2) == [0, 0])
    }

    @Test("fusebox.decode gives what string.pack gives, for every type and word order, plain words or not")
    func decodeAgreesWithPack() async throws {
        // Random words and the edges of each type, each decoded by the prelude and
        // by string.pack/unpack directly; the poll reports how many disagreed.
        let check = try DriverScript(source: """
            local formats = { int16 = ">i2", uint16 = ">I2", int32 = ">i4", uint32 = ">I4",
                              float32 = ">f", float64 = ">d", int64 = ">i8", uint64 = ">I8" }
            local sizes = { int16 = 1, uint16 = 1, int32 = 2, uint32 = 2, float32 = 2, float64 = 4, int64 = 4, uint64 = 4 }
            local edges = { 0, 1, 0x7FFF, 0x8000, 0xFFFF }
            return { kind = "meter", poll = function(dev)
              local seed, checked, wrong = 7, 0, {}
              local function word(t)
                if t <= #edges then return edges[t] end
                seed = (seed * 1103515245 + 12345) % 2147483648
                return seed % 65536
              end
              for t = 1, 60 do
                for kind, n in pairs(sizes) do
                  for _, order in ipairs({ "high_first", "low_first", "none" }) do
                    local w, ref = {}, {}
                    for k = 1, n do w[k] = word(t > #edges and t or (t + k - 2) % #edges + 1) end
                    for k = 1, n do ref[k] = (order == "low_first") and w[n - k + 1] or w[k] end
                    local expected = string.unpack(formats[kind], string.pack(">" .. string.rep("I2", n), table.unpack(ref)))
                    local got = fusebox.decode(w, 1, kind, order ~= "none" and order or nil, 10)
                    checked = checked + 1
                    if got ~= expected * 10 and not (got ~= got and expected ~= expected) then
                      wrong[#wrong + 1] = kind .. " " .. order .. " " .. table.concat(w, ",")
                    end
                  end
                end
              end
              -- Not plain words: the same errors as before, from string.pack.
              for _, w in ipairs({ { 1.5, 0 }, { 70000, 0 }, { -1, 0 }, { 2 } }) do
                local ok, err = pcall(fusebox.decode, w, 1, "uint32")
                checked = checked + 1
                if ok then wrong[#wrong + 1] = "accepted " .. tostring(w[1]) .. "," .. tostring(w[2]) end
              end
              if #wrong > 0 then return nil, #wrong .. " of " .. checked .. " wrong: " .. table.concat(wrong, "; ") end
              return { power = checked }
            end }
            """, origin: "decode_check.lua")
        // No register is read: the connection is never opened.
        let device = try LuaDevice(id: "codec", script: check,
                                   connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: 9), name: "unused"), unit: 1)
        let reading = try await device.poll().get()
        #expect(reading.power == Double(60 * 8 * 3 + 4))
    }

    @Test("the driver contract is checked at load")
    func contract() throws {
        #expect(throws: LuaError.self) { try DriverScript(source: "return { kind = 'charger', poll = function() end }", origin: "no_apply.lua") }
        #expect(throws: LuaError.self) { try DriverScript(source: "return { kind = 'toaster', poll = function() end }", origin: "toaster.lua") }
        #expect(throws: LuaError.self) { try DriverScript(source: "return { kind = 'meter' }", origin: "no_poll.lua") }
    }
}
