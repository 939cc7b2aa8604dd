import CHTTP
import Dispatch
import Foundation

/// The HTTP a cloud charger's driver may use (`dev:http`): requests to the
/// hosts its configuration allows and nowhere else, no redirects followed, no
/// cookies kept, answers cut at `maxResponse` bytes. Like a `ModbusConnection`
/// it owns a serial queue: a driver's calls run there whole, and a request
/// blocks that queue only, never the control cycle's. The client is libcurl's
/// easy interface (CHTTP), used on that queue only.
// Unchecked: the libcurl client is used on `queue` only (`request` checks it
// at run time); every other property is immutable.
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
        var parts = fb_url_parts()
        if fb_url_parts_of(api, &parts) == 0, let authority = Self.authority(parts) { hosts.insert(authority) }
        allowed = hosts
        self.maxResponse = maxResponse
        queue = DispatchQueue(label: "fusebox.http.\(name)")
        client = fb_http_new()
    }

    deinit { fb_http_free(client) }

    /// Stops the process when called off the device's queue (a programming
    /// error: the client is not thread-safe and belongs to the queue).
    public func checkOwner() { dispatchPrecondition(condition: .onQueue(queue)) }

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
        checkOwner()
        guard let client else { return .failure(WebError(message: "\(method) \(url): no HTTP client (libcurl did not start)")) }
        // libcurl's parser reads the URL once; the check and the request use that reading.
        var parts = fb_url_parts()
        guard fb_http_set_url(client, url, &parts) == 0, ["http", "https"].contains(Self.text(parts.scheme).lowercased()),
              let authority = Self.authority(parts) else {
            return .failure(WebError(message: "\(method) \(url): not an http or https URL"))
        }
        guard allowed.contains(authority) else {
            return .failure(WebError(message: "\(method) \(url): host \(authority) is not allowed for this device "
                                     + "(allowed: \(allowed.sorted().joined(separator: ", "))); add it to the charger's allow list"))
        }
        let lines = headers.map { "\($0.0): \($0.1)\n" }.joined()
        // The body with a NUL after it, so that even an empty one has an address.
        let payload = (body.map(Array.init) ?? []).map { CChar(bitPattern: $0) } + [0]
        let status = payload.withUnsafeBufferPointer { p in
            fb_http_perform(client, method, lines, body == nil ? nil : p.baseAddress, payload.count - 1,
                            Int(max(1, timeout * 1000)), maxResponse)
        }
        guard status >= 0 else {
            return .failure(WebError(message: "\(method) \(url): \(String(cString: fb_http_error(client)))"))
        }
        var length = 0
        let bytes = fb_http_body(client, &length)
        return .success(Answer(status: Int(status), body: bytes.map { Data(bytes: $0, count: length) } ?? Data()))
    }

    /// "host" or "host:port" (lower case) of a parsed URL; nil without a host.
    static func authority(_ parts: fb_url_parts) -> String? {
        let host = text(parts.host).lowercased(), port = text(parts.port)
        guard !host.isEmpty else { return nil }
        return port.isEmpty ? host : host + ":" + port
    }

    /// A NUL-terminated C field of fixed size as a String.
    static func text<T>(_ field: T) -> String {
        withUnsafeBytes(of: field) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}

public struct WebError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
