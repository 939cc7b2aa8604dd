import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxModbus

/// Finds Modbus TCP devices at the addresses an installer typed, and only
/// there: first which of them take a TCP connection (bounded concurrency,
/// short timeouts), then, on each that does, which shipped driver recognises
/// the device through its `identify` (reads only). What it finds comes with a
/// proposed entry for site.yaml.
public struct DeviceFinder: Sendable {
    /// What to look at: IPv4 addresses (a list, `10.0.0.0/24` or `10.0.0.10-40`), TCP ports, unit ids.
    public struct Request: Sendable {
        public var hosts: [String]
        public var ports: [Int]
        public var units: [Int]
        /// Charger ids in use, which a proposal must not take.
        public var takenIDs: [String]

        public init(hosts: [String], ports: [Int] = [502], units: [Int] = [1, 255], takenIDs: [String] = []) {
            self.hosts = hosts
            self.ports = ports
            self.units = units
            self.takenIDs = takenIDs
        }
    }

    public struct Found: Sendable, Codable, Equatable {
        public var host: String
        public var port: Int
        public var unit: Int
        public var driver: String
        /// "charger" or "meter".
        public var kind: String
        public var identity: DeviceIdentity
        /// Where it would go in site.yaml: "chargers", "meters.grid" or "meters.pv".
        public var place: String
        /// Its entry there, as site.yaml would give it.
        public var proposal: Proposal
    }

    public struct Proposal: Sendable, Codable, Equatable {
        /// A charger's id: the next free one (p01, p02, ...); nil for a meter.
        public var id: String?
        public var driver: String
        public var host: String
        public var port: Int
        public var unit: Int
    }

    public struct Report: Sendable, Codable {
        /// Endpoints (address and port) tried.
        public var tried: Int
        /// Those that took a connection, as host:port.
        public var open: [String]
        public var found: [Found]
        public var milliseconds: Double
    }

    public struct Refused: Error, Sendable, CustomStringConvertible {
        public var field: String
        public var description: String
    }

    /// At most this many addresses (a /24), ports and unit ids in one request.
    public static let maxHosts = 256, maxPorts = 64, maxUnits = 4, maxEndpoints = 1024
    public var drivers: DriverLibrary
    /// Seconds a TCP connection may take, and a Modbus answer.
    public var connectTimeout = 0.3
    public var responseTimeout = 0.3
    /// Endpoints looked at at once.
    public var concurrency = 16

    public init(drivers: DriverLibrary) { self.drivers = drivers }

    /// The IPv4 addresses `entries` name: single addresses, `a.b.c.d/n` (n at least 24), `a.b.c.x-y`.
    public static func addresses(_ entries: [String]) throws(Refused) -> [String] {
        var out: [String] = []
        for (n, raw) in entries.enumerated() {
            let entry = raw.trimmingCharacters(in: .whitespaces), field = "hosts[\(n)]"
            func octets(_ text: Substring) -> [UInt32]? {
                let parts = text.split(separator: ".", omittingEmptySubsequences: false)
                guard parts.count == 4 else { return nil }
                let values = parts.compactMap { p -> UInt32? in p.count <= 3 && p.allSatisfy(\.isNumber) ? UInt32(p).flatMap { $0 <= 255 ? $0 : nil } : nil }
                return values.count == 4 ? values : nil
            }
            func text(_ v: UInt32) -> String { "\(v >> 24).\((v >> 16) & 255).\((v >> 8) & 255).\(v & 255)" }
            let expected = "expected an IPv4 address (192.168.1.20), a range (192.168.1.20-40) or a network of at most 256 addresses (192.168.1.0/24)"
            if let slash = entry.firstIndex(of: "/") {
                guard let o = octets(entry[..<slash]), let bits = UInt32(entry[entry.index(after: slash)...]), bits <= 32 else {
                    throw Refused(field: field, description: "\(field): \(expected), got \(ConfigReader.quoted(entry))")
                }
                guard bits >= 24 else {
                    throw Refused(field: field, description: "\(field): /\(bits) is \(1 << (32 - bits)) addresses; at most a /24 (256) at once")
                }
                let base = (o[0] << 24 | o[1] << 16 | o[2] << 8 | o[3]) & (bits == 32 ? ~0 : ~((1 << (32 - bits)) - 1))
                let count = UInt32(1) << (32 - bits)
                // A network's own address and its broadcast address are no device's.
                let range = count >= 4 ? (base + 1)..<(base + count - 1) : base..<(base + count)
                out += range.map(text)
            } else if let dash = entry.firstIndex(of: "-") {
                guard let o = octets(entry[..<dash]), let last = UInt32(entry[entry.index(after: dash)...]), last <= 255, last >= o[3] else {
                    throw Refused(field: field, description: "\(field): \(expected), got \(ConfigReader.quoted(entry))")
                }
                out += (o[3]...last).map { "\(o[0]).\(o[1]).\(o[2]).\($0)" }
            } else {
                guard octets(Substring(entry)) != nil else {
                    throw Refused(field: field, description: "\(field): \(expected), got \(ConfigReader.quoted(entry))")
                }
                out.append(entry)
            }
            if out.count > maxHosts {
                throw Refused(field: "hosts", description: "hosts: \(out.count) addresses or more; at most \(maxHosts) at once")
            }
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }

    /// Checks `request` whole; nothing is contacted.
    public static func check(_ request: Request) throws(Refused) -> [(String, Int)] {
        let hosts = try addresses(request.hosts)
        if hosts.isEmpty { throw Refused(field: "hosts", description: "hosts: expected at least one address") }
        if request.ports.isEmpty || request.ports.count > maxPorts || !request.ports.allSatisfy({ (1...65535).contains($0) }) {
            throw Refused(field: "ports", description: "ports: expected 1 to \(maxPorts) TCP ports from 1 to 65535")
        }
        if request.units.isEmpty || request.units.count > maxUnits || !request.units.allSatisfy({ (0...255).contains($0) }) {
            throw Refused(field: "units", description: "units: expected 1 to \(maxUnits) unit ids from 0 to 255")
        }
        let endpoints = hosts.flatMap { h in request.ports.map { (h, $0) } }
        if endpoints.count > maxEndpoints {
            throw Refused(field: "ports", description: "\(hosts.count) addresses times \(request.ports.count) ports is \(endpoints.count) endpoints; at most \(maxEndpoints) at once")
        }
        return endpoints
    }

    public func find(_ request: Request) async throws(Refused) -> Report {
        let endpoints = try Self.check(request)
        let started = ContinuousClock.now
        let identifying = drivers.names.filter { name in
            (try? drivers.load(name)).map { $0.canIdentify && $0.transport == .modbus } ?? false
        }
        var open: [(String, Int)] = [], found: [Found] = []
        await withTaskGroup(of: (String, Int, [Found])?.self) { group in
            var next = endpoints.makeIterator(), running = 0
            func start() {
                guard let (host, port) = next.next() else { return }
                running += 1
                group.addTask { [self] in
                    guard await Self.acceptsConnection(host: host, port: port, within: connectTimeout) else { return nil }
                    return (host, port, await identify(host: host, port: port, units: request.units, drivers: identifying))
                }
            }
            for _ in 0..<concurrency { start() }
            while running > 0, let result = await group.next() {
                running -= 1
                if let (host, port, matches) = result {
                    open.append((host, port))
                    found += matches
                }
                start()
            }
        }
        let order = { (a: (String, Int), b: (String, Int)) in
            a.0 == b.0 ? a.1 < b.1 : a.0.split(separator: ".").compactMap { Int($0) }.lexicographicallyPrecedes(b.0.split(separator: ".").compactMap { Int($0) })
        }
        found.sort { order(($0.host, $0.port), ($1.host, $1.port)) || ($0.host == $1.host && $0.port == $1.port && $0.unit < $1.unit) }
        // Chargers get the next free ids, in the order of their addresses.
        var taken = Set(request.takenIDs), number = 0
        for k in found.indices where found[k].kind == "charger" {
            var id: String
            repeat { number += 1; id = String(format: "p%02d", number) } while taken.contains(id)
            taken.insert(id)
            found[k].proposal.id = id
        }
        return Report(tried: endpoints.count, open: open.sorted(by: order).map { "\($0.0):\($0.1)" }, found: found,
                      milliseconds: ((ContinuousClock.now - started).seconds * 10).rounded() / 10)
    }

    /// Every driver's `identify` on each unit of one endpoint, one after the
    /// other, each on a connection of its own (a unit that does not answer
    /// must not leave the next try a connection backing off).
    private func identify(host: String, port: Int, units: [Int], drivers names: [String]) async -> [Found] {
        var found: [Found] = []
        for name in names {
            for unit in units {
                let connection = ModbusConnection(endpoint: .tcp(host: host, port: port), name: "\(host):\(port)",
                                                  timeouts: ModbusTimeouts(response: responseTimeout, backoff: 0.05, maxBackoff: 0.2))
                guard let script = try? drivers.load(name),
                      let device = try? LuaDevice(id: "\(host):\(port)", script: script, connection: connection, unit: unit),
                      let identity = await device.identify() else { continue }
                let place = script.kind == .charger ? "chargers"
                    : (identity.model ?? "").contains("inverter") ? "meters.pv" : "meters.grid"
                found.append(Found(host: host, port: port, unit: unit, driver: name, kind: script.kind.rawValue, identity: identity, place: place,
                                   proposal: Proposal(id: nil, driver: name, host: host, port: port, unit: unit)))
                break   // the first unit it answers on is the device's
            }
        }
        return found
    }

    /// Whether `host:port` takes a TCP connection within `seconds`. The wait
    /// blocks a thread of its own: on Linux the tasks' threads (the cycle's)
    /// and Dispatch's global queues are one pool, which a blocked wait would hold.
    static func acceptsConnection(host: String, port: Int, within seconds: Double) async -> Bool {
        await withCheckedContinuation { done in
            Thread { done.resume(returning: tcpAcceptsConnection(host: host, port: port, within: seconds)) }.start()
        }
    }
}
