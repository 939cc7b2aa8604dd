import Foundation
import FuseboxCore
import FuseboxServer
import FuseboxTesting
import Hummingbird
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A TCP client on raw sockets: it sends what it is told, however little, and
/// tells whether the server has closed the connection.
struct RawConnection {
    let fd: Int32

    init?(port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { _ = Glibc.close(fd); return nil }
        self.fd = fd
    }

    func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    }

    /// What the server sent until it closed, or until `seconds` passed; `closed` says which.
    func read(for seconds: Double) -> (text: String, closed: Bool) {
        var out: [UInt8] = []
        let end = Date().addingTimeInterval(seconds)
        while true {
            let left = end.timeIntervalSinceNow
            guard left > 0 else { return (String(decoding: out, as: UTF8.self), false) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left * 1000) + 1) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (String(decoding: out, as: UTF8.self), true) }
            out += buffer[0..<n]
        }
    }

    func close() { _ = Glibc.close(fd) }

    /// `read(for:)` on a thread of its own: the server under test runs on the
    /// cooperative pool (two threads here), which a blocking read must not hold.
    func answer(within seconds: Double) async -> (text: String, closed: Bool) {
        await offPool { read(for: seconds) }
    }
}

extension [RawConnection] {
    /// The connections the server has closed (and what it sent them), as soon as
    /// at least one has, or none after `seconds`; one thread polls them all.
    func firstClosed(within seconds: Double) async -> [(fd: Int32, text: String)] {
        let fds = map(\.fd)
        return await offPool {
            var received: [Int32: [UInt8]] = [:], closed: [(fd: Int32, text: String)] = []
            let end = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while closed.isEmpty, end.timeIntervalSinceNow > 0 {
                var polled = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                guard poll(&polled, nfds_t(polled.count), Int32(end.timeIntervalSinceNow * 1000) + 1) > 0 else { continue }
                for p in polled where p.revents != 0 {
                    let n = recv(p.fd, &buffer, buffer.count, 0)
                    if n > 0 { received[p.fd, default: []] += buffer[0..<n] } else {
                        closed.append((p.fd, String(decoding: received[p.fd] ?? [], as: UTF8.self)))
                    }
                }
            }
            return closed
        }
    }
}


/// The whole server (TLS, the connection guard, the WebSocket) on a free
/// loopback port with `settings`, in this process; `body` gets the port.
func withServer(_ harness: APIHarness, _ settings: WebServerSettings, _ body: (Int) async throws -> Void) async throws {
    let (ports, announce) = AsyncStream.makeStream(of: Int.self)
    let app = try WebServer.application(feed: harness.feed, accounts: harness.accounts, settings: settings, onRunning: { announce.yield($0) })
    let server = Task { try await app.runService() }
    defer { server.cancel() }
    var port = 0
    for await p in ports { port = p; break }
    try await body(port)
}

@Suite("The web server keeps its resources for the controller", .serialized)
struct ConnectionLimitTests {
    func withServer(_ harness: APIHarness, _ limits: ConnectionLimits, _ body: (Int) async throws -> Void) async throws {
        var settings = WebServerSettings(listen: "127.0.0.1:0", serial: "T1")
        settings.connections = limits
        try await FuseboxServerTests.withServer(harness, settings, body)
    }

    @Test("connections beyond the limit per client are answered 503 and closed; the others are served (issue 16, finding 4)")
    func perClientLimit() async throws {
        let harness = try await APIHarness()
        try await withServer(harness, ConnectionLimits(headerTimeout: 30, requestTimeout: 30, idleTimeout: 30, total: 100, perClient: 8)) { port in
            var idle: [RawConnection] = []
            defer { for c in idle { c.close() } }
            // Nine that send nothing. The server's event loops admit them in no
            // fixed order, so which one is refused is not known: exactly one is.
            for _ in 0..<9 { if let c = RawConnection(port: port) { idle.append(c) } }
            #expect(idle.count == 9)
            let refused = await idle.firstClosed(within: 30)
            #expect(refused.count == 1, "\(refused.count) of 9 closed")
            let text = refused.first?.text ?? ""
            #expect(text.hasPrefix("HTTP/1.1 503") && text.contains("too many connections"), "\(text.prefix(200))")
            for c in idle where refused.contains(where: { $0.fd == c.fd }) { c.close() }
            idle.removeAll { c in refused.contains { $0.fd == c.fd } }
            #expect(idle.count == 8)
            // One leaves: a new one is served.
            idle.removeLast().close()
            var answered = ""
            for _ in 0..<50 where !answered.hasPrefix("HTTP/1.1 200") {
                // The server sees the close a moment later: try until it has (bounded).
                guard let next = RawConnection(port: port) else { continue }
                next.send("GET /api/health HTTP/1.1\r\nHost: fusebox\r\nConnection: close\r\n\r\n")
                answered = await next.answer(within: 1).text
                next.close()
            }
            #expect(answered.hasPrefix("HTTP/1.1 200"), "\(answered.prefix(200))")
        }
    }
}
