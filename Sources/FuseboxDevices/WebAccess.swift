import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The HTTP a cloud charger's driver may use (`dev:http`): requests to the
/// hosts its configuration allows and nowhere else, no redirects followed, no
/// cookies kept, answers cut at `maxResponse` bytes. Like a `ModbusConnection`
/// it owns a serial queue: a driver's calls run there whole, and a request
/// blocks that queue only, never the control cycle's.
public final class WebAccess: @unchecked Sendable {
    /// What errors call the device.
    public let name: String
    /// "host" or "host:port", lower case: where requests may go.
    public let allowed: Set<String>
    public let maxResponse: Int
    let queue: DispatchQueue
    private let session: URLSession

    /// `api` is the vendor's base URL (its host is allowed); `allow` adds hosts
    /// ("host" or "host:port") for, say, a token endpoint elsewhere.
    public init(name: String, api: String, allow: [String] = [], maxResponse: Int = 1 << 20) {
        self.name = name
        var hosts = Set(allow.map { $0.lowercased() })
        if let url = URL(string: api), let host = url.host?.lowercased() { hosts.insert(Self.authority(host, url.port)) }
        allowed = hosts
        self.maxResponse = maxResponse
        queue = DispatchQueue(label: "fusebox.http.\(name)")
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpShouldSetCookies = false
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }

    deinit { session.invalidateAndCancel() }

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
        guard allowed.contains(authority) || (u.port == nil && allowed.contains(host)) else {
            return .failure(WebError(message: "\(method) \(url): host \(authority) is not allowed for this device "
                                     + "(allowed: \(allowed.sorted().joined(separator: ", "))); add it to the charger's allow list"))
        }
        var request = URLRequest(url: u, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.httpMethod = method
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        request.httpBody = body
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        let task = session.dataTask(with: request) { data, response, error in
            outcome.set(data: data, response: response, error: error)
            done.signal()
        }
        task.resume()
        // The session's own timeout ends the task; this bound only guards against it never calling back.
        if done.wait(timeout: .now() + timeout + 1) == .timedOut {
            task.cancel()
            return .failure(WebError(message: "\(method) \(url): no answer within \(timeout) s"))
        }
        let (data, response, error) = outcome.get()
        if let error {
            let why = (error as? URLError).map { $0.code == .timedOut ? "no answer within \(timeout) s" : $0.localizedDescription }
                ?? "\(error)"
            return .failure(WebError(message: "\(method) \(url): \(why)"))
        }
        guard let http = response as? HTTPURLResponse else {
            return .failure(WebError(message: "\(method) \(url): not an HTTP answer"))
        }
        let bytes = data ?? Data()
        guard bytes.count <= maxResponse else {
            return .failure(WebError(message: "\(method) \(url): answer of \(bytes.count) bytes, at most \(maxResponse) taken"))
        }
        return .success(Answer(status: http.statusCode, body: bytes))
    }

    static func authority(_ host: String, _ port: Int?) -> String { port.map { "\(host):\($0)" } ?? host }
}

public struct WebError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A redirect could lead off the allowed hosts: the driver gets the 3xx instead.
private final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}

/// What a data task's handler left, read after the semaphore.
private final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    private var response: URLResponse?
    private var error: Error?

    func set(data: Data?, response: URLResponse?, error: Error?) {
        lock.lock()
        (self.data, self.response, self.error) = (data, response, error)
        lock.unlock()
    }

    func get() -> (Data?, URLResponse?, Error?) {
        lock.lock()
        defer { lock.unlock() }
        return (data, response, error)
    }
}
