import Foundation
import FuseboxController
import FuseboxServer
import FuseboxTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

/// A configuration saved through the API while the simulated site's cycles
/// run: the answer comes once the cycle has taken it over, and the page's
/// feed and /metrics follow (a removed station leaves both).
@Suite("The Setup over REST, in process", .serialized)
struct SetupAPITests {
    @Test("PUT /api/config removes a station at the next cycle; status and /metrics forget it")
    func removeAStation() async throws {
        let harness = try await APIHarness()
        var settings = WebServerSettings(serial: "T1")
        settings.failedLoginDelay = .zero
        let app = Application(router: WebServer.router(feed: harness.feed, accounts: harness.accounts, settings: settings))
        try await app.test(.router) { client in
            let login = try await client.execute(uri: "/api/login", method: .post, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"user": "admin", "password": "T1"}"#))
            let cookie = String((login.headers[.setCookie] ?? "").split(separator: ";").first ?? "")
            let csrf = (try JSONSerialization.jsonObject(with: Data(String(buffer: login.body).utf8)) as? [String: Any])?["csrf"] as? String ?? ""
            let headers: HTTPFields = [.cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf, .contentType: "application/json"]

            let metricsBefore = String(buffer: try await client.execute(uri: "/metrics", method: .get, headers: headers).body)
            #expect(metricsBefore.contains(#"charger="p02""#))
            var config = try #require(try JSONSerialization.jsonObject(
                with: Data(String(buffer: try await client.execute(uri: "/api/config", method: .get, headers: headers).body).utf8)) as? [String: Any])
            config["chargers"] = (config["chargers"] as? [[String: Any]] ?? []).filter { $0["id"] as? String != "p02" }
            let body = try JSONSerialization.data(withJSONObject: config)

            // The save waits for the next cycle: the cycles run while it does.
            let done = Mutex<(Int, String)?>(nil)
            let put = Task {
                let r = try await client.execute(uri: "/api/config", method: .put, headers: headers, body: ByteBuffer(bytes: body))
                done.withLock { $0 = (Int(r.status.code), String(buffer: r.body)) }
            }
            for _ in 0..<200 where done.withLock({ $0 }) == nil { try await harness.step(1) }
            try await put.value
            let (status, text) = try #require(done.withLock { $0 })
            #expect(status == 200, "\(text)")
            #expect(text.contains("p02 removed"), "\(text)")
            try await harness.step(2)

            let chargers = String(buffer: try await client.execute(uri: "/api/chargers", method: .get, headers: headers).body)
            #expect(chargers.contains("p01") && !chargers.contains("p02"), "\(chargers)")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get, headers: headers).body)
            #expect(metrics.contains(#"charger="p01""#) && !metrics.contains(#"charger="p02""#), "\(metrics.prefix(2000))")
            let versions = String(buffer: try await client.execute(uri: "/api/config/versions", method: .get, headers: headers).body)
            #expect(versions.contains("\"number\":2") && versions.contains("p02 removed"), "\(versions)")
        }
    }
}
