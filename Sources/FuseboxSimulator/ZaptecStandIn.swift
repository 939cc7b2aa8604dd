import Dispatch
import Foundation
import FuseboxCore
#if canImport(Glibc)
import Glibc
#endif

/// Zaptec's cloud API as the header of drivers/zaptec.lua gives it, on loopback, for the
/// simulated site's Zaptec chargers: OIDC discovery, the password grant (any
/// non-empty user and password), a charger's state as observations, the
/// current as a setting and stop/resume as commands. It serves every Zaptec
/// charger of the site on one port, as the real cloud does on one host.
// Unchecked: the chargers' states, limits, stops, tokens and the listening socket are read and written under `lock`.
public final class ZaptecStandIn: @unchecked Sendable {
    /// What the site's model is told: a limit for a charger (0 when stopped).
    public typealias Limit = @Sendable (_ charger: String, _ amps: Double) -> Void

    public private(set) var port: Int
    private let host: String
    private let onLimit: Limit
    private let lock = NSLock()
    private var states: [String: SimulatedChargerState] = [:]
    private var maxCurrent: [String: Double] = [:]
    private var stopped: Set<String> = []
    private var tokens: Set<String> = []
    private var listener: Int32 = -1

    public init(chargers: [String], host: String = "127.0.0.1", port: Int = 0, onLimit: @escaping Limit) {
        self.host = host
        self.port = port
        self.onLimit = onLimit
        for id in chargers { states[id] = SimulatedChargerState(status: .free) }
    }

    /// Listens; returns once the port is open (or throws why it is not). The
    /// server is plain threads over a socket, like the simulator's Modbus
    /// servers: a site is often built where a Swift task waits for it, and a
    /// server that needed the task pool to start could wait for itself.
    public func start() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SimulatorError("the Zaptec stand-in: no socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw SimulatorError("the Zaptec stand-in cannot listen on \(host):\(port): \(why)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        locked {
            port = Int(UInt16(bigEndian: address.sin_port))
            listener = fd
        }
        let thread = Thread { [weak self] in self?.accept(on: fd) }
        thread.name = "zaptec-stand-in"
        thread.start()
    }

    public func stop() {
        let fd: Int32 = locked {
            defer { listener = -1 }
            return listener
        }
        if fd >= 0 {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    private func accept(on fd: Int32) {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return   // closed by stop()
            }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let thread = Thread { [weak self] in
                defer { close(client) }
                self?.serve(client)
            }
            thread.start()
        }
    }

    /// One request per connection, answered with "Connection: close".
    private func serve(_ fd: Int32) {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var headerEnd: Int?
        while headerEnd == nil {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0, data.count < 65_536 else { return }
            data += buffer[0..<n]
            headerEnd = Self.find([13, 10, 13, 10], in: data)
        }
        guard let end = headerEnd else { return }
        let head = String(decoding: data[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = head.first?.split(separator: " ") ?? []
        guard requestLine.count >= 2 else { return write(fd, Self.json(["Message": "bad request"], status: 400)) }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = min(Int(headers["content-length"] ?? "0") ?? 0, 65_536)
        var body = Array(data[(end + 4)...])
        while body.count < length {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { return }
            body += buffer[0..<n]
        }
        let path = String(requestLine[1].split(separator: "?").first ?? "")
        write(fd, answer(method: String(requestLine[0]), path: path, headers: headers,
                         body: String(decoding: body.prefix(length), as: UTF8.self)))
    }

    private func write(_ fd: Int32, _ response: [UInt8]) {
        var sent = 0
        while sent < response.count {
            let n = response[sent...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            sent += n
        }
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }

    /// What a charger shows next.
    public func show(_ id: String, _ state: SimulatedChargerState) {
        lock.lock()
        states[id] = state
        lock.unlock()
    }

    // MARK: - the API

    private func answer(method: String, path: String, headers: [String: String], body: String) -> [UInt8] {
        let parts = path.split(separator: "/").map(String.init)
        switch (method, parts.count) {
        case ("GET", _) where path == "/.well-known/openid-configuration":
            let base = "http://\(host):\(locked { port })"
            return Self.json(["issuer": base, "token_endpoint": base + "/oauth/token"])
        case ("POST", _) where path == "/oauth/token":
            var form: [String: String] = [:]
            for pair in body.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                if kv.count == 2 { form[kv[0]] = kv[1] }
            }
            guard form["grant_type"] == "password", !(form["username"] ?? "").isEmpty, !(form["password"] ?? "").isEmpty else {
                return Self.json(["error": "invalid_grant"], status: 400)
            }
            let token = UUID().uuidString
            _ = locked { tokens.insert(token) }
            return Self.json(["access_token": token, "token_type": "Bearer", "expires_in": 86_400])
        default:
            break
        }
        guard parts.count >= 4, parts[0] == "api", parts[1] == "chargers" else { return Self.json(["Message": "not found"], status: 404) }
        guard let auth = headers["authorization"], auth.hasPrefix("Bearer "), locked({ tokens.contains(String(auth.dropFirst(7))) }) else {
            return Self.json(["Message": "Unauthorized"], status: 401)
        }
        let id = parts[2]
        switch (method, parts[3], parts.count) {
        case ("GET", "state", 4):
            guard let list = observations(id) else { return Self.json(["Message": "no such charger"], status: 404) }
            return Self.json(list)
        case ("POST", "update", 4):
            guard let update = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
                return Self.json(["Message": "expected a JSON object"], status: 400)
            }
            guard let amps = (update["maxChargeCurrent"] as? NSNumber)?.doubleValue, amps.isFinite, amps >= 0 else {
                return Self.json(["Message": "maxChargeCurrent must be a number of A"], status: 400)
            }
            guard let effective = setMax(id, amps) else { return Self.json(["Message": "no such charger"], status: 404) }
            onLimit(id, effective)
            return Self.json([:])
        case ("POST", "sendCommand", 5):
            guard parts[4] == "506" || parts[4] == "507" else { return Self.json(["Message": "unknown command"], status: 400) }
            guard let effective = command(id, stop: parts[4] == "506") else {
                return Self.json(["Message": "no such charger"], status: 404)
            }
            onLimit(id, effective)
            return Self.json([:])
        default:
            return Self.json(["Message": "not found"], status: 404)
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    private func observations(_ id: String) -> [[String: Any]]? {
        locked {
            guard let s = states[id] else { return nil }
            let mode = switch s.status {
            case .free: 1
            case .occupied: stopped.contains(id) ? 5 : 2
            case .charging, .discharging: 3
            case .unavailable: 0
            }
            var list: [(Int, String)] = [(710, "\(mode)"), (718, stopped.contains(id) ? "1" : "0"),
                                         (513, "\(s.power)"), (553, "\(s.sessionEnergy)"), (510, "\(maxCurrent[id] ?? 32)")]
            for k in 0..<3 { list.append((507 + k, "\(s.current(phase: k))")) }
            return list.map { ["ChargerId": id, "StateId": $0.0, "ValueAsString": $0.1] }
        }
    }

    /// The limit in force after the update, or nil for an unknown charger.
    private func setMax(_ id: String, _ amps: Double) -> Double? {
        locked {
            guard states[id] != nil else { return nil }
            maxCurrent[id] = amps
            return stopped.contains(id) ? 0 : amps
        }
    }

    private func command(_ id: String, stop: Bool) -> Double? {
        locked {
            guard states[id] != nil else { return nil }
            if stop { stopped.insert(id) } else { stopped.remove(id) }
            return stop ? 0 : maxCurrent[id] ?? 32
        }
    }

    private static func json(_ value: Any, status: Int = 200) -> [UInt8] {
        let data = (try? JSONSerialization.data(withJSONObject: value)) ?? Data("{}".utf8)
        let reason = [200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"][status] ?? "Error"
        let head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json\r\nContent-Length: \(data.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + Array(data)
    }
}

public struct SimulatorError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
