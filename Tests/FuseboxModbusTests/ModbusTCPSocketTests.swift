import Foundation
import FuseboxModbus
import FuseboxTesting
import FuseboxTestCases
import Testing

/// A broken answer from Cases/broken_answers.json: what the peer sends back to
/// a read of two input registers at 0 from unit 1, and what the client makes of it.
struct BrokenAnswer: Decodable, Sendable, CustomStringConvertible {
    var name: String
    var answer: String
    var registers: [UInt16]?
    var error: String?
    /// Connections the two requests take: 2 when the first answer broke the stream.
    var connections: Int
    var description: String { name }
}

/// Our Modbus TCP client (ModbusTCPSocket, poll() instead of libmodbus's
/// select()) where pymodbus cannot take it: answers no correct server sends.
/// (Descriptors above 1023: RunCommandTests, in a process of its own.)
@Suite("Modbus TCP: broken answers", .serialized)
struct ModbusTCPSocketTests {
    @Test("a broken answer is refused by name, and the next request starts on a new connection",
          arguments: JSONCases.load("Cases/broken_answers.json") as [BrokenAnswer])
    func brokenAnswer(_ c: BrokenAnswer) async throws {
        let peer = try ChildProcess(["python3", Expectation.repositoryRoot(from: #filePath) + "/Tests/Support/raw_modbus_peer.py", c.answer])
        let port = try #require(peer.waitForLine(prefix: "READY", timeout: 20)?.split(separator: " ").last.flatMap { Int($0) })
        let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: port), name: "raw",
                                          timeouts: ModbusTimeouts(response: 0.3, backoff: 0, maxBackoff: 0))
        for attempt in 1...2 {
            do {
                let registers = try await connection.readInputRegisters(unit: 1, address: 0, count: 2)
                #expect(registers == c.registers, "\(c.name), attempt \(attempt)")
            } catch {
                guard let expected = c.error else { Issue.record("\(c.name): \(error)"); continue }
                #expect(error.description.contains(expected), "\(c.name): \(error)")
                #expect(error.description.hasPrefix("raw (127.0.0.1:\(port)) unit 1: read input registers (FC04) at 0"), "\(error)")
            }
            // The request on the wire, byte for byte: FC04, address 0, count 2, to unit 1.
            let request = try #require(peer.waitForLine(prefix: "REQUEST", timeout: 10), "\(c.name): no request \(attempt)")
            #expect(request.hasSuffix("00000006010400000002"), "\(request)")
        }
        // A good answer or an exception keeps the connection; after a broken one the next request reconnects.
        let connects = peer.output.filter { $0 == "CONNECT" }.count
        #expect(connects == c.connections, "\(c.name): \(connects) connections")
        peer.signal(SIGKILL)
    }
}
