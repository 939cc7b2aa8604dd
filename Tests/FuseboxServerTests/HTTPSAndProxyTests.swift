import Foundation
import FuseboxServer
import FuseboxTesting
import Testing

/// HTTPS from the configuration's certificate and key, and the login lockout
/// behind a reverse proxy (docs/web.md), on a real port.
@Suite("HTTPS and a reverse proxy", .serialized)
struct HTTPSAndProxyTests {
    func serve(_ settings: WebServerSettings, _ body: (Int, APIHarness) async throws -> Void) async throws {
        let harness = try await APIHarness()
        try await withServer(harness, settings) { port in try await body(port, harness) }
    }

    func login(_ port: Int, forwardedFor: String?, password: String) async -> String {
        guard let c = RawConnection(port: port) else { return "" }
        defer { c.close() }
        let body = #"{"user":"admin","password":"\#(password)"}"#
        c.send("POST /api/login HTTP/1.1\r\nHost: fusebox\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
               + (forwardedFor.map { "X-Forwarded-For: \($0)\r\n" } ?? "") + "Connection: close\r\n\r\n" + body)
        // Generous: the server shares the cooperative pool with the rest of the suite, which may hold it a while.
        return String(await c.answer(within: 30).text.prefix(12))
    }

    @Test("the login lockout counts the client a trusted proxy names, and ignores the header from anyone else (issue 16, finding 6)")
    func lockoutBehindProxy() async throws {
        for trusted in [true, false] {
            var settings = WebServerSettings(listen: "127.0.0.1:0", serial: "T1")
            settings.failedLoginDelay = .zero
            if trusted { settings.trustedProxies = ["127.0.0.1"] }
            try await serve(settings) { port, _ in
                for _ in 0..<5 { #expect(await login(port, forwardedFor: "203.0.113.7", password: "wrong") == "HTTP/1.1 401") }
                #expect(await login(port, forwardedFor: "203.0.113.7", password: "T1") == "HTTP/1.1 429", "trusted \(trusted): the failing client is locked out")
                // Another client behind the same proxy: locked out only when the header is not believed (all are one address then).
                let other = await login(port, forwardedFor: "198.51.100.9", password: "T1")
                #expect(other == (trusted ? "HTTP/1.1 200" : "HTTP/1.1 429"), "trusted \(trusted): \(other)")
            }
        }
    }

    /// A command run to its end off the cooperative pool (the server under test needs it).
    func run(_ arguments: [String]) async throws -> (status: Int32?, output: [String], error: String) {
        let child = try ChildProcess(arguments)
        let status = await offPool { child.waitForExit(timeout: 30) }
        return (status, child.output, child.errorOutput)
    }

    @Test("HTTPS with the configured certificate; the session cookie is Secure; a stalled handshake is closed (issue 16)")
    func https() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = try ChildProcess(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                                     "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"])
        let madeStatus = await offPool { made.waitForExit(timeout: 60) }
        #expect(madeStatus == 0, "\(made.errorOutput)")
        var settings = WebServerSettings(listen: "127.0.0.1:0", serial: "T1")
        settings.tls = (dir + "/cert.pem", dir + "/key.pem")
        settings.connections.headerTimeout = 1
        try await serve(settings) { port, _ in
            let health = try await run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}\\n", "https://127.0.0.1:\(port)/api/health"])
            #expect(health.status == 0 && health.output.joined() == "200", "\(health)")
            let login = try await run(["curl", "-sk", "-D", dir + "/headers.txt", "-o", "/dev/null", "-H", "Content-Type: application/json",
                                       "-d", #"{"user":"admin","password":"T1"}"#, "https://127.0.0.1:\(port)/api/login"])
            let headers = (try? String(contentsOfFile: dir + "/headers.txt", encoding: .utf8)) ?? ""
            let cookie = headers.split(whereSeparator: \.isNewline).first { $0.lowercased().hasPrefix("set-cookie:") }.map(String.init) ?? ""
            #expect(login.status == 0 && cookie.contains("Secure") && cookie.contains("HttpOnly"), "\(login) \(headers)")
            // Plain HTTP on the HTTPS port gets no page.
            let plain = try await run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\\n", "http://127.0.0.1:\(port)/api/health"])
            #expect(plain.output.joined() != "200", "\(plain)")
            // A connection that never starts its handshake is closed by the header timeout.
            let silent = try #require(RawConnection(port: port))
            defer { silent.close() }
            let started = Date()
            let end = await silent.answer(within: 5)
            #expect(end.closed && Date().timeIntervalSince(started) < 3, "closed \(end.closed) after \(Date().timeIntervalSince(started)) s")
        }
    }

    @Test("a certificate file that is not one is refused with its key and file")
    func badCertificate() async throws {
        var settings = WebServerSettings(listen: "127.0.0.1:0", serial: "T1")
        settings.tls = ("/nonexistent/cert.pem", "/nonexistent/key.pem")
        #expect(throws: WebServerError.self) { _ = try WebServer.tlsConfiguration(settings) }
        do { _ = try WebServer.tlsConfiguration(settings) } catch {
            #expect("\(error)".contains("http.tls.certificate") && "\(error)".contains("/nonexistent/cert.pem"), "\(error)")
        }
    }
}
