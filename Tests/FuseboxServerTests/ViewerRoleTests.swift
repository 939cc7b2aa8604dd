import Foundation
import FuseboxServer
import FuseboxTesting
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import HummingbirdTesting
import Testing

/// A viewer (the site owner, `http.viewers`) sees everything and changes
/// nothing: every operation of docs/openapi.yaml that changes something is
/// tried with a viewer's session and refused, and the installer's session
/// still changes the site.
@Suite("A viewer account changes nothing; each change names who made it", .serialized)
struct ViewerRoleTests {
    /// (method, path) of every operation in docs/openapi.yaml but GET, with
    /// its path parameters filled in; login and logout are everyone's.
    static func writingOperations() -> [(HTTPRequest.Method, String)] {
        let spec = Expectation.repositoryRoot(from: #filePath) + "/docs/openapi.yaml"
        guard let text = try? String(contentsOfFile: spec, encoding: .utf8) else { return [] }
        var path = "", found: [(HTTPRequest.Method, String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /api/"), line.hasSuffix(":") { path = String(line.dropFirst(2).dropLast()); continue }
            guard line.hasPrefix("    "), !line.hasPrefix("     "), !path.isEmpty else {
                if !line.hasPrefix(" ") { path = "" }
                continue
            }
            let word = line.trimmingCharacters(in: .whitespaces).dropLast()
            guard ["put", "post", "delete", "patch"].contains(word), path != "/api/login", path != "/api/logout",
                  let method = HTTPRequest.Method(rawValue: word.uppercased()) else { continue }
            found.append((method, path.replacingOccurrences(of: "{id}", with: "p01").replacingOccurrences(of: "{kind}", with: "policy")
                .replacingOccurrences(of: "{name}", with: "fair_share")))
        }
        return found
    }

    @Test("every writing operation is refused to a viewer, and each refusal says why")
    func viewerCannotWrite() async throws {
        let operations = Self.writingOperations()
        #expect(operations.count >= 14, "docs/openapi.yaml lists \(operations.count) writing operations")
        let harness = try await APIHarness(viewers: [("owner", Bcrypt.hash("owner-pass", cost: 4))])
        var settings = WebServerSettings(serial: "T1")
        settings.failedLoginDelay = .zero
        let app = Application(router: WebServer.router(feed: harness.feed, accounts: harness.accounts, settings: settings))
        try await app.test(.router) { client in
            func login(_ user: String, _ password: String) async throws -> (cookie: String, csrf: String, role: String) {
                let body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["user": user, "password": password]))
                let r = try await client.execute(uri: "/api/login", method: .post, headers: [.contentType: "application/json"], body: body)
                #expect(r.status == .ok, "login as \(user): \(r.status)")
                let object = try JSONSerialization.jsonObject(with: Data(String(buffer: r.body).utf8)) as? [String: Any] ?? [:]
                return (String((r.headers[.setCookie] ?? "").split(separator: ";").first ?? ""), object["csrf"] as? String ?? "",
                        object["role"] as? String ?? "")
            }
            let viewer = try await login("owner", "owner-pass")
            #expect(viewer.role == "read")
            let csrfHeader = HTTPField.Name("X-CSRF-Token")!
            for (method, path) in operations {
                let r = try await client.execute(uri: path, method: method,
                                                 headers: [.cookie: viewer.cookie, csrfHeader: viewer.csrf, .contentType: "application/json"],
                                                 body: ByteBuffer(string: "{}"))
                let text = String(buffer: r.body)
                #expect(r.status == .forbidden, "\(method) \(path) as a viewer: \(r.status) \(text.prefix(200))")
                #expect(text.contains("owner is a viewer"), "\(method) \(path): \(text.prefix(200))")
            }
            // A viewer reads what the installer reads.
            for path in ["/api/status", "/api/chargers", "/api/site/limit", "/api/ripple", "/api/scripts", "/api/session"] {
                let r = try await client.execute(uri: path, method: .get, headers: [.cookie: viewer.cookie])
                #expect(r.status == .ok, "GET \(path) as a viewer: \(r.status)")
            }
            // The installer's session changes the site through the same operation.
            let installer = try await login("admin", "T1")
            #expect(installer.role == "admin")
            let r = try await client.execute(uri: "/api/site/limit", method: .put,
                                             headers: [.cookie: installer.cookie, csrfHeader: installer.csrf, .contentType: "application/json"],
                                             body: ByteBuffer(string: #"{"amps": 30}"#))
            #expect(r.status == .ok, "PUT /api/site/limit as the installer: \(r.status)")
            // Each change is an event naming who made it.
            let headers: HTTPFields = [.cookie: installer.cookie, csrfHeader: installer.csrf, .contentType: "application/json"]
            let reload = try await client.execute(uri: "/api/scripts/policy/fair_share/reload", method: .post, headers: headers)
            #expect(reload.status == .ok, "reload as the installer: \(reload.status) \(String(buffer: reload.body).prefix(200))")
            let made = try await client.execute(uri: "/api/tokens", method: .post, headers: headers,
                                                body: ByteBuffer(string: #"{"name": "portal", "scope": "read"}"#))
            #expect(made.status == .created)
            try await harness.step(1)
            let events = try await client.execute(uri: "/api/events?from=0&to=99999999999", method: .get, headers: [.cookie: viewer.cookie])
            let list = try JSONSerialization.jsonObject(with: Data(String(buffer: events.body).utf8)) as? [[String: Any]] ?? []
            let messages = list.compactMap { $0["message"] as? String }
            for change in ["policy fair_share: reloaded, by admin on the page", "token \"portal\" (read) made, by admin on the page",
                           "site limit 30.0 A for 900.0 s, by admin on the page"] {
                #expect(messages.contains(change), "no event says \(change): \(messages)")
            }
            #expect(!messages.contains { $0.contains("by owner") }, "a viewer's refused change was recorded as made")
            // A viewer's password does not open the installer's account, nor the other way round.
            let wrong = try await client.execute(uri: "/api/login", method: .post, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"user": "admin", "password": "owner-pass"}"#))
            #expect(wrong.status == .unauthorized)
        }
    }
}
