import Foundation
import FuseboxOCPP
import FuseboxServer
import FuseboxTesting
import Testing

/// The central system's endpoint in this process, and Tests/Support/ocpp_station.py
/// (the `ocpp` package from PyPI, 2.1.0, with `websockets`) as the stations.
@Suite("OCPP 1.6J stations against the central system's endpoint", .serialized)
struct OCPPServerTests {
    static let script = Expectation.repositoryRoot(from: #filePath) + "/Tests/Support/ocpp_station.py"

    @Test("an independent charge point: boot, status, a transaction with meter values; bad frames, a flood, a 1 MB frame, a second connection, refusals")
    func independentStation() async throws {
        let stations = OCPPStations(allowed: ["cp1", "cp2", "cp3"], keys: ["cp3": "s3cret-key"])
        let (ports, announce) = AsyncStream.makeStream(of: Int.self)
        let app = try OCPPServer.application(stations: stations, host: "127.0.0.1", port: 0, onRunning: { announce.yield($0) })
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        var port = 0
        for await p in ports { port = p; break }

        let station = try ChildProcess(["python3", Self.script, "ws://127.0.0.1:\(port)"])
        let status = await station.exit(within: 120)
        #expect(status == 0, "\(station.output.joined(separator: "\n"))\n\(station.errorOutput.suffix(3000))")
        #expect(station.output.filter { $0.hasPrefix("OK ") }.count == 7, "\(station.output)")

        // What the station said is what the central system holds.
        let cp1 = try #require(stations.station("cp1"))
        #expect(cp1.vendor == "ABB" && cp1.model == "Terra AC")
        #expect(cp1.status == .charging)
        #expect(cp1.current == [15.8, 15.9, 16.0] && cp1.energy == 1500)
        #expect(cp1.transaction != nil)
        #expect(!stations.isConnected("cp1") && !stations.isConnected("cp2"), "every connection ended is let go")
        #expect(stations.station("intruder") == nil, "an id not allowed never gets an entry")
    }

    @Test("security profile 2: wss with the site's certificate and the station's key; without either, refused")
    func profile2() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-ocpp-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = try ChildProcess(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                                     "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"])
        #expect(await made.exit(within: 60) == 0, "\(made.errorOutput)")
        let tls = try WebServer.tlsConfiguration(certificate: dir + "/cert.pem", key: dir + "/key.pem", section: "ocpp.tls")
        let stations = OCPPStations(allowed: ["cp7"], keys: ["cp7": "k7-secret"])
        let (ports, announce) = AsyncStream.makeStream(of: Int.self)
        let app = try OCPPServer.application(stations: stations, host: "127.0.0.1", port: 0, tls: tls, onRunning: { announce.yield($0) })
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        var port = 0
        for await p in ports { port = p; break }
        let station = try ChildProcess(["python3", Expectation.repositoryRoot(from: #filePath) + "/Tests/Support/ocpp_tls.py",
                                        "127.0.0.1:\(port)", dir + "/cert.pem", "cp7", "k7-secret"])
        #expect(await station.exit(within: 60) == 0, "\(station.output.joined(separator: "\n"))\n\(station.errorOutput.suffix(3000))")
        #expect(station.output.filter { $0.hasPrefix("OK ") }.count == 5, "\(station.output)")
        #expect(stations.station("cp7")?.model == "TLS station")
    }
}
