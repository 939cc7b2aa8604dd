import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxLua
import FuseboxDevices
import FuseboxServer
import FuseboxSimulation
import FuseboxSimulator
import FuseboxTesting
import FuseboxYAML
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The REST API in process, against the real controller driving a simulated
/// site: Cases/api.json is a sequence of requests, each with who sends it and
/// what must come back. State carries from one step to the next (a limit set in
/// one is seen in a later one, after `cycles` control cycles).
final class APIHarness: @unchecked Sendable {
    let run: SimulatedRun
    let store: HistoryStore
    let feed: SiteFeed
    let setup: SiteSetup
    let accounts: Accounts
    let folder: URL
    var cycles = 0

    init(viewers: [(user: String, passwordHash: String)] = []) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("policies"), withIntermediateDirectories: true)
        let sim = try SimConfig(yaml: """
            site: { noise: 0.2, base_load: 10 }
            chargers: [ { id: p01, make: abb_terra, delay: 1s }, { id: p02, make: abb_terra, delay: 1s, phases: [2, 3, 1] } ]
            cars: [ { charger: p01, arrive: 0s }, { charger: p02, arrive: 0s } ]
            """)
        var controller = SiteConfig()
        controller.name = "API test site"
        controller.limits = SiteLimits(current: PhaseValues(all: 40), margin: 2)
        controller.policyDirectory = folder.appendingPathComponent("policies").path
        controller.control.restartPause = 0
        run = try SimulatedRun(sim: sim, controller: controller)
        store = try HistoryStore(path: folder.appendingPathComponent("history.db").path)
        accounts = Accounts(user: "admin", passwordHash: nil, serial: "T1", tokenFile: folder.appendingPathComponent("tokens.json").path,
                            viewers: viewers)
        let scripts = ScriptManager(cycle: run.cycle, policies: .shipped(siteDirectory: controller.policyDirectory), drivers: .shipped(),
                                    policyDirectory: controller.policyDirectory, driverDirectory: nil)
        // The configuration as a file, for the Setup's endpoints.
        let file = folder.appendingPathComponent("site.yaml").path
        try ConfigYAML.dump(run.addressedConfig.tree).write(toFile: file, atomically: true, encoding: .utf8)
        let (config, tree) = try SiteConfig.read(file: file)
        setup = SiteSetup(file: file, config: config, tree: tree,
                          built: SiteAssembly.Built(cycle: run.cycle, summary: run.summary, devices: run.devices), pool: run.pool,
                          assembly: run.assembly)
        feed = SiteFeed(name: controller.name, cycle: run.cycle, runner: nil, history: store, scripts: scripts, setup: setup)
        try await step(20)
    }

    /// Control cycles in simulated time, each published to the feed and written to history.
    func step(_ n: Int) async throws {
        for _ in 0..<n {
            let record = await run.step()
            cycles += 1
            await feed.take(PublishedCycle(record: record, timing: CycleTiming(started: record.time, work: 0.002, overrun: false), number: cycles))
            try await store.write([HistoryCycle(record)], events: record.events)
        }
    }

    deinit {
        run.stop()
        try? FileManager.default.removeItem(at: folder)
    }
}

@Suite("The REST API, in process", .serialized)
struct APICaseTests {
    static var cases: [[String: Any]] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases/api.json")
        guard let data = try? Data(contentsOf: url), let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return list
    }

    @Test("Cases/api.json, in order: every endpoint, bad input and auth failure")
    func api() async throws {
        #expect(Self.cases.count >= 60, "Cases/api.json is missing or short")
        let harness = try await APIHarness()
        var settings = WebServerSettings(serial: "T1")
        settings.failedLoginDelay = .zero
        let app = Application(router: WebServer.router(feed: harness.feed, accounts: harness.accounts, settings: settings))
        try await app.test(.router) { client in
            var cookie = "", csrf = "", token = "", tokenID = ""
            for c in Self.cases {
                let name = c["name"] as? String ?? "?"
                if let n = c["cycles"] as? Int { try await harness.step(n) }
                var method = HTTPRequest.Method(rawValue: c["method"] as? String ?? "GET")!
                var path = c["path"] as? String ?? "/"
                var headers: HTTPFields = [:]
                var body: ByteBuffer?
                if let b = c["body"] {
                    body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: b))
                    headers[.contentType] = "application/json"
                }
                if let t = c["text"] as? String { body = ByteBuffer(string: String(repeating: t, count: c["repeat"] as? Int ?? 1)) }
                // Bytes a JSON string cannot hold (bad UTF-8), as hex.
                if let hex = c["hex"] as? String {
                    body = ByteBuffer(bytes: stride(from: 0, to: hex.count - 1, by: 2).compactMap {
                        UInt8(hex.dropFirst($0).prefix(2), radix: 16)
                    })
                }
                if let type = c["contentType"] as? String { headers[.contentType] = type }

                // Steps that log in, create or revoke a token.
                if c["login"] != nil || c["loginWith"] != nil {
                    method = .post
                    path = "/api/login"
                    body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["user": "admin", "password": c["loginWith"] as? String ?? "T1"]))
                    headers = [.contentType: "application/json"]
                } else if let tokenName = c["createToken"] as? String {
                    method = .post
                    path = "/api/tokens"
                    body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["name": tokenName, "scope": c["scope"] as? String ?? "admin"]))
                    headers = [.contentType: "application/json", .cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf]
                } else if c["revokeToken"] != nil {
                    method = .delete
                    path = "/api/tokens/\(tokenID)"
                    headers = [.cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf]
                }
                switch c["as"] as? String {
                case "session": headers[.cookie] = cookie; headers[HTTPField.Name("X-CSRF-Token")!] = csrf
                case "session-no-csrf": headers[.cookie] = cookie
                case "bearer": headers[.authorization] = "Bearer " + token
                case "bearer-lower-case": headers[.authorization] = "bearer " + token
                case "wrong-bearer": headers[.authorization] = "Bearer fbx_" + String(repeating: "0", count: 64)
                default: break
                }

                let response = try await client.execute(uri: path, method: method, headers: headers, body: body)
                let text = String(buffer: response.body)
                #expect(response.status.code == c["status"] as? Int, "\(name): \(method) \(path) -> \(response.status.code) \(text.prefix(300))")
                let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])

                if c["login"] != nil, response.status == .ok {
                    let setCookie = response.headers[.setCookie] ?? ""
                    #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"), "\(name): \(setCookie)")
                    cookie = String(setCookie.split(separator: ";")[0])
                    csrf = (parsed as? [String: Any])?["csrf"] as? String ?? ""
                }
                if c["createToken"] != nil, let object = parsed as? [String: Any] {
                    token = object["token"] as? String ?? ""
                    tokenID = object["id"] as? String ?? ""
                }
                if let needle = c["lacks"] as? String { #expect(!text.contains(needle), "\(name): \"\(needle)\" in \(text.prefix(300))") }
                if let needle = c["contains"] as? String { #expect(text.contains(needle), "\(name): no \"\(needle)\" in \(text.prefix(300))") }
                for (field, value) in c["header"] as? [String: String] ?? [:] {
                    #expect(response.headers[HTTPField.Name(field)!] == value, "\(name): header \(field)")
                }
                for (keyPath, expected) in c["json"] as? [String: Any] ?? [:] {
                    let problem = JSONMatch.check(parsed, keyPath: keyPath, expected: expected)
                    #expect(problem == nil, "\(name): \(keyPath): \(problem ?? "") in \(text.prefix(400))")
                }
            }
        }
    }
}

/// `"a.b.0": expected` against parsed JSON: a plain value must be equal; an
/// object may say `contains`, `min`, `max`, `count` or `minCount`.
enum JSONMatch {
    static func check(_ root: Any?, keyPath: String, expected: Any) -> String? {
        var value = root
        for part in keyPath.split(separator: ".") {
            if let i = Int(part), let list = value as? [Any] { value = i < list.count ? list[i] : nil }
            else { value = (value as? [String: Any])?[String(part)] }
        }
        if let rule = expected as? [String: Any] {
            if let needle = rule["contains"] as? String, !((value as? String)?.contains(needle) ?? false) { return "\(String(describing: value)) lacks \"\(needle)\"" }
            if let lo = (rule["min"] as? NSNumber)?.doubleValue, !((value as? NSNumber).map { $0.doubleValue >= lo - 1e-9 } ?? false) { return "\(String(describing: value)) < \(lo)" }
            if let hi = (rule["max"] as? NSNumber)?.doubleValue, !((value as? NSNumber).map { $0.doubleValue <= hi + 1e-9 } ?? false) { return "\(String(describing: value)) > \(hi)" }
            if let n = rule["count"] as? Int, (value as? [Any])?.count != n { return "count \(String(describing: (value as? [Any])?.count)), expected \(n)" }
            if let n = rule["minCount"] as? Int, ((value as? [Any])?.count ?? 0) < n { return "count \(String(describing: (value as? [Any])?.count)), expected at least \(n)" }
            return nil
        }
        if expected is NSNull { return value == nil || value is NSNull ? nil : "\(String(describing: value)), expected null" }
        if let list = expected as? [Any] {
            guard let got = value as? [Any], got.count == list.count else { return "\(String(describing: value)), expected \(list)" }
            for (a, b) in zip(got, list) where !equal(a, b) { return "\(got), expected \(list)" }
            return nil
        }
        return equal(value as Any, expected) ? nil : "\(String(describing: value)), expected \(expected)"
    }

    static func equal(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = a as? NSNumber, let y = b as? NSNumber { return abs(x.doubleValue - y.doubleValue) < 1e-9 }
        return false
    }
}
