import Foundation
import FuseboxController
import FuseboxModbus
import FuseboxTesting
import Testing

@Suite("Ripple contacts")
struct RippleContactTests {
    @Test("a file contact reads 1 and 0, and names the file when it cannot")
    func file() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("contact-\(UUID().uuidString)").path
        let contact = FileContact(path: path)
        guard case .failure(let missing) = await contact.read() else { Issue.record("a missing file read as a state"); return }
        #expect(missing.description.contains(path))
        try "1\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await contact.read().get() == true)
        try "0".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await contact.read().get() == false)
        try "maybe".write(toFile: path, atomically: true, encoding: .utf8)
        guard case .failure(let odd) = await contact.read() else { Issue.record("\"maybe\" read as a state"); return }
        #expect(odd.description.contains("expected 0 or 1"))
    }

    @Test("a GPIO contact on a missing chip, or on a device that is no GPIO chip, says which and why")
    func gpioFailures() async {
        let missing = GPIOContact(chip: "/dev/gpiochip-none", line: 4)
        guard case .failure(let e1) = await missing.read() else { Issue.record("read a missing chip"); return }
        #expect(e1.description.contains("/dev/gpiochip-none") && e1.description.contains("No such file"), "\(e1)")
        let notAChip = GPIOContact(chip: "/dev/null", line: 4)
        guard case .failure(let e2) = await notAChip.read() else { Issue.record("read /dev/null as a GPIO chip"); return }
        #expect(e2.description.contains("/dev/null line 4") && e2.description.contains("cannot request it as an input"), "\(e2)")
    }
}

@Suite("Ripple contacts over Modbus, against pymodbus")
struct ModbusContactTests {
    @Test("a discrete input and a coil of an I/O module read as the contact; a missing address is an error naming it")
    func modbus() async throws {
        let peer = try ModbusPeer(map: ["devices": [[
            "unit": 3,
            "di": [["address": 0, "values": [false, true]]],
            "co": [["address": 8, "values": [true]]],
        ]]])
        let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: peer.port), name: "io")
        #expect(try await ModbusContact(connection: connection, unit: 3, address: 0, coil: false).read().get() == false)
        #expect(try await ModbusContact(connection: connection, unit: 3, address: 1, coil: false).read().get() == true)
        #expect(try await ModbusContact(connection: connection, unit: 3, address: 8, coil: true).read().get() == true)
        guard case .failure(let e) = await ModbusContact(connection: connection, unit: 3, address: 40, coil: false).read() else {
            Issue.record("an address the module does not have read as a state")
            return
        }
        #expect(e.description.contains("discrete input 40"), "\(e)")
    }
}
