import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxModbus
import Synchronization
import Testing

/// A Test on the Setup page, the first reading of a device a new configuration
/// adds, and `fusebox check --live` read a device without writing to it: a
/// Webasto Unite's driver sets its fail-safe timeout in `init` and feeds its
/// watchdog in `poll`, and none of that may reach the station.
@Suite("Reading a device writes nothing to it")
struct ReadWithoutWritesTests {
    @Test("read() sends no write; poll() after it runs init and feeds the watchdog")
    func unite() async throws {
        let writes = Mutex<[ModbusServer.Write]>([])
        let server = ModbusServer(units: [255]) { w in writes.withLock { $0.append(w) } }
        try server.start()
        defer { server.stop() }
        // A station at rest: the registers its driver reads, as the Unite shows them.
        server.withBank(unit: 255) { bank in
            bank[.holdingRegisters, 2002] = 20                                     // fail-safe timeout, s
            for k in 0..<3 { bank[.inputRegisters, 1014 + 2 * k] = 230 }           // volts
        }
        let script = try DriverLibrary.shipped().load("webasto_unite")
        let device = try LuaDevice(id: "p02", script: script,
                                   connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "p02"), unit: 255)
        for _ in 0..<3 {
            let reading = await device.read()
            guard case .success(let r) = reading else { Issue.record("read: \(reading)"); return }
            #expect(r.status == .free && r.voltage == [230, 230, 230])
        }
        #expect(writes.withLock { $0 }.isEmpty, "read() wrote \(writes.withLock { $0 })")

        guard case .success = await device.poll() else { Issue.record("poll failed"); return }
        let written = writes.withLock { $0 }.map(\.address)
        #expect(written.contains(6000), "poll() feeds the watchdog (HR 6000): \(written)")
    }
}
