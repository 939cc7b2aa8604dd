import Foundation
import FuseboxTesting

struct BrokerDidNotStart: Error, CustomStringConvertible {
    var output: String
    var description: String { "mosquitto did not start: \(output)" }
}

/// Debian's mosquitto on loopback, on ports of its own, anonymous; started,
/// stopped, paused and started again by a test. `tls` adds a TLS listener
/// with a certificate for 127.0.0.1 signed by a CA the test made (`ca`).
final class Broker: @unchecked Sendable {
    let folder: String
    let port: Int
    let tlsPort: Int?
    private(set) var process: ChildProcess?

    var ca: String { folder + "/ca.pem" }

    /// With `auth`, two more listeners: TLS that requires a client certificate
    /// signed by the test's CA (`certificatePort`), and plain with a password
    /// file (`passwordPort`, user `box7`, password `s3cret`).
    private(set) var certificatePort: Int?
    private(set) var passwordPort: Int?

    init(tls: Bool = false, persistent: Bool = false, auth: Bool = false) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-mqtt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        port = freeTCPPort()
        tlsPort = tls || auth ? freeTCPPort() : nil
        // As root, mosquitto would become user mosquitto, who cannot read the test's folder: it stays who runs the tests.
        var conf = "per_listener_settings true\nlog_dest stdout\nuser \(NSUserName())\nlistener \(port) 127.0.0.1\nallow_anonymous true\n"
        if persistent {
            // Kept across a restart: a subscriber's session and what waits for it (however much).
            conf += "persistence true\npersistence_location \(folder)/\nautosave_interval 1\nmax_queued_messages 0\n"
        }
        let files = "cafile \(folder)/ca.pem\ncertfile \(folder)/server.pem\nkeyfile \(folder)/server.key\n"
        if let tlsPort {
            try await Self.makeCertificates(in: folder, client: auth)
            conf += "listener \(tlsPort) 127.0.0.1\nallow_anonymous true\n" + files
        }
        if auth {
            let certificatePort = freeTCPPort(), passwordPort = freeTCPPort()
            (self.certificatePort, self.passwordPort) = (certificatePort, passwordPort)
            conf += "listener \(certificatePort) 127.0.0.1\nallow_anonymous true\nrequire_certificate true\n" + files
            let p = try ChildProcess(["mosquitto_passwd", "-b", "-c", folder + "/passwords", "box7", "s3cret"])
            guard await p.exit(within: 30) == 0 else { throw BrokerDidNotStart(output: "mosquitto_passwd: \(p.errorOutput)") }
            conf += "listener \(passwordPort) 127.0.0.1\nallow_anonymous false\npassword_file \(folder)/passwords\n"
        }
        try conf.write(toFile: folder + "/mosquitto.conf", atomically: true, encoding: .utf8)
    }

    deinit {
        process?.signal(SIGKILL)
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A CA and a server certificate for 127.0.0.1, and with `client` a client's
    /// (client.pem, client.key), made with openssl for this test only.
    static func makeCertificates(in folder: String, client: Bool) async throws {
        var steps = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Fusebox test CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
             "-extfile", "san.ext"],
        ]
        if client {
            steps += [
                ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=box7"],
                ["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.pem", "-days", "2"],
            ]
        }
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: folder + "/san.ext", atomically: true, encoding: .utf8)
        for step in steps {
            let p = try ChildProcess(["openssl"] + step, directory: folder)
            guard await p.exit(within: 60) == 0 else { throw BrokerDidNotStart(output: "openssl \(step[0]): \(p.errorOutput)") }
        }
    }

    /// Starts it (again) and waits until it says it runs.
    func start() async throws {
        // Line-buffered, so that its log line saying it runs reaches us when it is written.
        let p = try ChildProcess(["stdbuf", "-oL", "mosquitto", "-c", folder + "/mosquitto.conf"])
        guard await p.line(containing: "running", within: 20) != nil else {
            p.signal(SIGKILL)
            throw BrokerDidNotStart(output: p.output.joined(separator: "\n") + p.errorOutput)
        }
        process = p
    }

    /// SIGKILL is a crash: a persistent broker has saved its sessions within the last second (autosave_interval).
    func stop() async {
        guard let p = process else { return }
        p.signal(SIGKILL)
        _ = await p.exit(within: 30)
        process = nil
    }

    /// Stopped, not gone: its connections stay open and nothing is read from them.
    func pause() { process?.signal(SIGSTOP) }
    func resume() { process?.signal(SIGCONT) }
}
