import Foundation
import CHTTP

/// Tests/Support/zaptec_peer.py: Python's http.server standing in for Zaptec's
/// cloud API. It prints "READY <port>" when it listens, then "REQ ..." for
/// each request; `/_test/...` endpoints change its state between steps.
// Unchecked: it holds a ChildProcess (itself safe) and immutable values; each control request makes its own client.
public final class ZaptecPeer: @unchecked Sendable {
    private let child: ChildProcess
    public let port: Int
    public var base: String { "http://127.0.0.1:\(port)" }

    public static let script = Expectation.repositoryRoot(from: #filePath) + "/Tests/Support/zaptec_peer.py"

    /// Starts the peer with `setup` (the JSON of zaptec_peer.py) and waits until it listens.
    public init(setup: [String: Any]) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("zaptec-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: setup).write(to: file)
        child = try ChildProcess(["python3", ZaptecPeer.script, file.path])
        guard let ready = child.waitForLine(prefix: "READY", timeout: 20) else {
            child.signal(SIGKILL)
            throw CaseError("the Zaptec stand-in did not start: \(child.errorOutput.suffix(2000))")
        }
        port = Int(ready.split(separator: " ")[1]) ?? 0
    }

    /// Every request line since the last mark, in order: waits for mark `n` to
    /// come back, so no request of the step is still on its way.
    public func requests(mark n: Int) throws -> [String] {
        try control("/_test/mark?n=\(n)")
        guard let lines = child.takeLines(through: "MARK \(n)", timeout: 10) else { throw CaseError("the stand-in did not answer mark \(n)") }
        return lines.filter { $0.hasPrefix("REQ ") }.map { String($0.dropFirst(4)) }
    }

    /// Merges observations: ["ZAP-1": ["710": "1"]].
    public func set(_ observations: [String: Any]) throws { try control("/_test/set", observations) }

    /// Forgets every token: the next API call gets 401.
    public func revoke() throws { try control("/_test/revoke") }

    /// A POST of the test's own, through libcurl (CHTTP): Foundation's
    /// URLSession leaves blocks behind that LeakSanitizer reports.
    private func control(_ path: String, _ body: [String: Any] = [:]) throws {
        let client = fb_http_new()
        defer { fb_http_free(client) }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        var parts = fb_url_parts()
        guard fb_http_set_url(client, base + path, &parts) == 0 else { throw CaseError("the stand-in's \(path): no URL") }
        let status = fb_http_perform(client, "POST", "Content-Type: application/json\n", json, json.utf8.count, 10_000, 65_536)
        guard status == 200 else { throw CaseError("the stand-in's \(path) answered \(status)") }
    }
}
