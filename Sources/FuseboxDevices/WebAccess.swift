import CHTTP
import Dispatch
import Foundation

/// The HTTP a cloud charger's driver may use (`dev:http`): requests to the
/// hosts its configuration allows and nowhere else, no redirects followed, no
/// cookies kept, answers cut at `maxResponse` bytes. Like a `ModbusConnection`
/// it owns a serial queue: a driver's calls run there whole, and a request
/// blocks that queue only, never the control cycle's. The client is libcurl's
/// easy interface (CHTTP), used on that queue only.
public final class WebAccess: @unchecked Sendable {
    /// What errors call the device.
    public let name: String
    /// "host" or "host:port", lower case: where requests may go.
    public let allowed: Set<String>
    public let maxResponse: Int
    let queue: DispatchQueue
    /// Used on `queue` only.
    private let client: OpaquePointer?

    /// `api` is the vendor's base URL (its host is allowed); `allow` adds hosts
    /// ("host" or "host:port") for, say, a token endpoint elsewhere.
    public init(name: String, api: String, allow: [String] = [], maxResponse: Int = 1 << 20) {
        self.name = name
        var hosts = Set(allow.map { $0.lowercased() })
        if let url = URL(string: api), let host = url.host?.lowercased() { hosts.insert(Self.authority(host, url.port)) }
        allowed = hosts
        self.maxResponse = maxResponse
        queue = DispatchQueue(label: "fusebox.http.\(name)")
        client = fb_http_new()
    }

    deinit { fb_http_free(client) }

    /// Runs `body` on the device's queue: a driver's whole call, its requests included.
    func serially<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
            queue.async { done.resume(returning: body()) }
        }
    }

    public struct Answer: Sendable {
        public var status: Int
        public var body: Data
    }

    /// One request, blocking the caller (the device's queue) until it is
    /// answered or `timeout` seconds have passed.
    public func request(method: String, url: String, headers: [(String, String)], body: Data?, timeout: Double) -> Result<Answer, WebError> {
        guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = u.host?.lowercased(), !host.isEmpty else {
            return .failure(WebError(message: "\(method) \(url): not an http or https URL"))
        }
        let authority = Self.authority(host, u.port)
        guard allowed.contains(authority) else {
            return .failure(WebError(message: "\(method) \(url): host \(authority) is not allowed for this device "
                                     + "(allowed: \(allowed.sorted().joined(separator: ", "))); add it to the charger's allow list"))
        }
        guard let client else { return .failure(WebError(message: "\(method) \(url): no HTTP client (libcurl did not start)")) }
        let lines = headers.map { "\($0.0): \($0.1)\n" }.joined()
        // The body with a NUL after it, so that even an empty one has an address.
        let payload = (body.map(Array.init) ?? []).map { CChar(bitPattern: $0) } + [0]
        let status = payload.withUnsafeBufferPointer { p in
            fb_http_perform(client, method, url, lines, body == nil ? nil : p.baseAddress, payload.count - 1,
                            Int(max(1, timeout * 1000)), maxResponse)
        }
        guard status >= 0 else {
            return .failure(WebError(message: "\(method) \(url): \(String(cString: fb_http_error(client)))"))
        }
        var length = 0
        let bytes = fb_http_body(client, &length)
        return .success(Answer(status: Int(status), body: bytes.map { Data(bytes: $0, count: length) } ?? Data()))
    }

    static func authority(_ host: String, _ port: Int?) -> String { port.map { "\(host):\($0)" } ?? host }
}

public struct WebError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
