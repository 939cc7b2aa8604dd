import Foundation
import FuseboxTesting
import FuseboxUplink
import Testing

@Suite("MQTT through libmosquitto, against Debian's mosquitto", .serialized)
struct MQTTClientTests {
    static let watch = Expectation.repositoryRoot(from: #filePath) + "/Tests/Support/mqtt_watch.py"

    @Test("connects, publishes 200 messages with QoS 1, each acknowledged; paho sees them all, in order")
    func publishInOrder() async throws {
        let broker = try await Broker()
        try await broker.start()
        let port = broker.port
        let watcher = try ChildProcess(["python3", Self.watch, "127.0.0.1", String(port), "fusebox/T1/#", "200", "30"])
        #expect(await watcher.line(prefix: "READY", within: 20) != nil, "\(watcher.errorOutput)")

        let client = try MQTTClient(MQTTSettings(host: "127.0.0.1", port: port, clientID: "fusebox-T1"))
        try client.start()
        #expect(await client.wait(upTo: 10) { $0.isConnected }, "not connected: \(client.lastError ?? "")")
        var ids: [Int32] = []
        for n in 0..<200 {
            guard case .handedOver(let id) = client.publish("fusebox/T1/seq", Array("\(n)".utf8)) else { Issue.record("message \(n) refused"); return }
            ids.append(id)
        }
        #expect(await client.wait(upTo: 10) { $0.inFlight == 0 }, "\(client.inFlight) never acknowledged")
        #expect(Set(client.takeAcknowledged()) == Set(ids))
        #expect(await watcher.exit(within: 30) == 0, "\(watcher.output.suffix(5)) \(watcher.errorOutput)")
        let received = watcher.output.filter { $0.hasPrefix("fusebox/T1/seq ") }.map { $0.split(separator: " ")[1] }
        #expect(received == (0..<200).map { Substring(String($0)) }, "\(received.prefix(10))...")
        client.stop()
    }

    @Test("no broker: the client says so and publishing returns at once; past maxInFlight it refuses; when the broker comes, it connects")
    func noBroker() async throws {
        let broker = try await Broker()
        var settings = MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "fusebox-T2")
        settings.maxInFlight = 5
        let client = try MQTTClient(settings)
        try client.start()
        #expect(!client.isConnected)
        var outcomes: [MQTTClient.Publish] = []
        let started = ContinuousClock.now
        for n in 0..<8 { outcomes.append(client.publish("fusebox/T2/seq", Array("\(n)".utf8))) }
        #expect(ContinuousClock.now - started < .milliseconds(500), "publishing waited on the network")
        #expect(outcomes.filter { if case .full = $0 { true } else { false } }.count == 3, "\(outcomes)")
        try await broker.start()
        #expect(await client.wait(upTo: 30) { $0.isConnected }, "not connected after the broker came: \(client.lastError ?? "")")
        client.stop()
    }

    @Test("TLS with the test's CA, a client certificate where the broker requires one, a user and password; each refused without")
    func credentials() async throws {
        let broker = try await Broker(auth: true)
        try await broker.start()
        func attempt(_ port: Int?, _ id: String, _ configure: (inout MQTTSettings) -> Void) async throws -> (Bool, String?) {
            var settings = MQTTSettings(host: "127.0.0.1", port: try #require(port), clientID: id)
            configure(&settings)
            let client = try MQTTClient(settings)
            try client.start()
            defer { client.stop() }
            let connected = await client.wait(upTo: 3) { $0.isConnected }
            return (connected, client.lastError)
        }
        let ca = broker.ca, certificate = broker.folder + "/client.pem", key = broker.folder + "/client.key"
        #expect(try await attempt(broker.tlsPort, "tls", { $0.tls = true; $0.caFile = ca }).0, "TLS with the CA")
        #expect(try await attempt(broker.certificatePort, "cert", { $0.tls = true; $0.caFile = ca; $0.certificateFile = certificate; $0.keyFile = key }).0,
                "a client certificate")
        #expect(!(try await attempt(broker.certificatePort, "nocert", { $0.tls = true; $0.caFile = ca }).0), "no certificate where one is required")
        #expect(!(try await attempt(broker.tlsPort, "noca", { $0.tls = true; $0.caFile = certificate }).0), "a CA that did not sign the broker's")
        #expect(try await attempt(broker.passwordPort, "pw", { $0.username = "box7"; $0.password = "s3cret" }).0, "user and password")
        let (wrong, why) = try await attempt(broker.passwordPort, "badpw", { $0.username = "box7"; $0.password = "guess" })
        #expect(!wrong && (why ?? "").lowercased().contains("not authori"), "a wrong password: \(why ?? "no reason")")
        await broker.stop()
    }
}
