import Foundation
import FuseboxCore
import Synchronization

/// The stations that talk OCPP 1.6J to this box: what each has said, its
/// connection, and Fusebox's calls to it waiting for their answers. One entry
/// per station id; a station that connects again (after a reboot, or a second
/// connection with the same id) takes the entry over, and the older
/// connection is no longer heard.
public final class OCPPStations: Sendable {
    private struct Entry {
        var station: OCPPStation
        /// The connection that speaks for it now, and where its calls go out.
        var connection: UUID?
        var outgoing: AsyncStream<String>.Continuation?
        /// Connections so far: a new one means the limit goes out again.
        var connections = 0
        /// When the station was last heard, seconds since 1970.
        var heard: Double?
        /// Its billing backend's connection, when it has one (docs/ocpp.md, "Proxy").
        var upstream: OCPPUpstream?
    }

    /// Station ids that may connect; nil: any. Follows the configuration in force. A station
    /// waiting to be accepted that is now allowed is asked to boot again, and is Accepted.
    public var allowed: Set<String>? {
        get { allowedIDs.withLock { $0 } }
        set {
            allowedIDs.withLock { $0 = newValue }
            let accepted = entries.withLock { e -> [String] in
                var ids: [String] = []
                for (id, entry) in e where entry.station.registration != "Accepted" && (newValue?.contains(id) ?? true) {
                    e[id]?.station.registration = "Accepted"
                    if entry.connection != nil { ids.append(id) }
                }
                return ids
            }
            for id in accepted {
                Task { _ = await self.call(id, "TriggerMessage", .object([("requestedMessage", .string("BootNotification"))]), timeout: timeout) }
            }
        }
    }

    /// The id tags Authorize and StartTransaction accept (`ocpp.id_tags`); nil: any. Follows the configuration in force.
    public var idTags: Set<String>? {
        get { tags.withLock { $0 } }
        set { tags.withLock { $0 = newValue } }
    }
    private let tags = Mutex<Set<String>?>(nil)

    /// Stations not configured may connect, and wait (Pending) for the installer to add them.
    public var selfRegistration: Bool {
        get { registering.load(ordering: .relaxed) }
        set { registering.store(newValue, ordering: .relaxed) }
    }
    private let registering = Atomic<Bool>(false)

    /// What the endpoint knows of a station, for the page.
    public struct Info: Sendable, Equatable, Codable {
        public var id: String
        /// It is one of the configuration's stations; false: it asked to join (self-registration).
        public var configured: Bool
        public var connected: Bool
        public var registration: String
        public var vendor: String?
        public var model: String?
        public var firmware: String?
        public var status: String?
        /// Seconds since 1970 it was last heard.
        public var heard: Double?
        /// Its configuration as it reported it (GetConfiguration at its last connection).
        public var configuration: [String: String]
    }

    /// Every station that has connected since the start, configured or waiting to be accepted.
    public var list: [Info] {
        let allowed = allowed
        return entries.withLock { e in
            e.map { id, entry in
                Info(id: id, configured: allowed?.contains(id) ?? true, connected: entry.connection != nil, registration: entry.station.registration,
                     vendor: entry.station.vendor, model: entry.station.model, firmware: entry.station.firmware,
                     status: entry.station.connectors[1] ?? entry.station.connectors[0], heard: entry.heard,
                     configuration: entry.station.configuration)
            }.sorted { $0.id < $1.id }
        }
    }

    /// Stations waiting to be accepted are kept at most this many (the oldest heard go first).
    public static let maxWaiting = 32
    private let allowedIDs: Mutex<Set<String>?>
    private let entries = Mutex<[String: Entry]>([:])
    private let waiting = Mutex<[String: CheckedContinuation<Result<StrictJSON.Value, OCPPError>, Never>]>([:])
    private let counter = Atomic<Int>(0)

    /// Per station, the key of OCPP's security profile 1 (HTTP Basic, `<id>:<key>`); a station without one connects without.
    public var keys: [String: String] {
        get { stationKeys.withLock { $0 } }
        set { stationKeys.withLock { $0 = newValue } }
    }
    private let stationKeys = Mutex<[String: String]>([:])

    public init(allowed: Set<String>?, keys: [String: String] = [:], upstreams: [String: OCPPUpstream.Target] = [:], timeout: Double = 10) {
        allowedIDs = Mutex(allowed)
        stationKeys.withLock { $0 = keys }
        targets = Mutex(upstreams)
        self.timeout = timeout
    }

    /// Per station, the billing backend Fusebox stands in front of. Follows the configuration in
    /// force; a station's new backend is used from its next connection.
    public var upstreams: [String: OCPPUpstream.Target] {
        get { targets.withLock { $0 } }
        set { targets.withLock { $0 = newValue } }
    }
    private let targets: Mutex<[String: OCPPUpstream.Target]>
    /// Seconds the backend may take to answer before the station gets Fusebox's answer.
    public let timeout: Double

    /// The configuration's backends (`settings: { upstream: ws://..., upstream_key: ... }` of an OCPP charger).
    public static func upstreams(of site: SiteConfig) -> [String: OCPPUpstream.Target] {
        var out: [String: OCPPUpstream.Target] = [:]
        for c in site.chargers where c.device.isOCPP {
            guard case .map(let m) = c.device.settings, case .string(let url)? = m["upstream"], !url.isEmpty else { continue }
            var key: String?
            if case .string(let k)? = m["upstream_key"], !k.isEmpty { key = k }
            out[c.id] = OCPPUpstream.Target(url: url, key: key)
        }
        return out
    }

    /// The backend's connection of station `id`, while it is connected through one.
    public func upstream(_ id: String) -> OCPPUpstream? { entries.withLock { $0[id]?.upstream } }

    /// Writes `text` to station `id`'s connection; false when it has none.
    func sendToStation(_ id: String, _ text: String) -> Bool {
        guard let out = entries.withLock({ $0[id]?.outgoing }) else { return false }
        if case .enqueued = out.yield(text) { return true }
        return false
    }

    /// The ids of the configuration's OCPP stations (`driver: ocpp`).
    public static func ids(of site: SiteConfig) -> Set<String> { Set(site.chargers.filter { $0.device.isOCPP }.map(\.id)) }

    /// The configuration's station keys (`settings: { auth_key: ... }` of a `driver: ocpp` charger).
    public static func keys(of site: SiteConfig) -> [String: String] {
        var out: [String: String] = [:]
        for c in site.chargers where c.device.isOCPP {
            if case .map(let m) = c.device.settings, case .string(let key)? = m["auth_key"], !key.isEmpty { out[c.id] = key }
        }
        return out
    }

    /// Whether a connection for `id` with this `Authorization` header may go on:
    /// the station's key when it has one (Basic, `<id>:<key>`), anything when it has none.
    public func admits(_ id: String, authorization: String?) -> Bool {
        guard allowed?.contains(id) ?? true else { return selfRegistration }
        guard let key = keys[id] else { return true }
        guard let header = authorization, header.lowercased().hasPrefix("basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)) else { return false }
        let given = Array(decoded), expected = Array("\(id):\(key)".utf8)
        // Compared whole, not stopping at the first difference.
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Keeps what station `id` reported of its configuration.
    public func noteConfiguration(_ id: String, _ values: [String: String]) {
        entries.withLock { $0[id]?.station.configuration = values }
    }

    /// What station `id` has said so far, if it ever connected.
    public func station(_ id: String) -> OCPPStation? { entries.withLock { $0[id]?.station } }

    public func isConnected(_ id: String) -> Bool { entries.withLock { $0[id]?.connection != nil } }

    /// How many times `id` has connected (0: never).
    public func connections(_ id: String) -> Int { entries.withLock { $0[id]?.connections ?? 0 } }

    public func lastHeard(_ id: String) -> Double? { entries.withLock { $0[id]?.heard } }

    /// A new connection for `id`, and what to write to it; the one before it is no longer heard.
    public func attach(_ id: String) -> (UUID, AsyncStream<String>) {
        let connection = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(256))
        let target = targets.withLock { $0[id] }
        let known = allowed?.contains(id) ?? true
        let (before, opened, closed) = entries.withLock { e -> (AsyncStream<String>.Continuation?, OCPPUpstream?, OCPPUpstream?) in
            if e[id] == nil {
                // A station that asked to join waits, Pending; the ones waiting are few.
                if !known {
                    let waiting = e.filter { $0.value.station.registration != "Accepted" && $0.value.connection == nil }
                    if waiting.count >= Self.maxWaiting, let oldest = waiting.min(by: { ($0.value.heard ?? 0) < ($1.value.heard ?? 0) }) {
                        e[oldest.key] = nil
                    }
                }
                e[id] = Entry(station: OCPPStation(id: id))
            }
            if !known { e[id]?.station.registration = "Pending" }
            let old = e[id]?.outgoing
            e[id]?.connection = connection
            e[id]?.outgoing = continuation
            e[id]?.connections += 1
            // Its backend's connection opens with it (a new backend from the configuration replaces the old one).
            var closed: OCPPUpstream?
            if let current = e[id]?.upstream, current.target != target {
                closed = current
                e[id]?.upstream = nil
            }
            if let target, e[id]?.upstream == nil {
                e[id]?.upstream = OCPPUpstream(station: id, target: target, timeout: timeout, toStation: { [weak self] text in
                    self?.sendToStation(id, text) ?? false
                }, onTransaction: { [weak self] local, backend in
                    self?.entries.withLock { $0[id]?.station.adoptTransaction(local, as: backend) }
                })
            }
            return (old, e[id]?.upstream, closed)
        }
        before?.finish()
        closed?.close()
        opened?.open()
        return (connection, stream)
    }

    public func detach(_ id: String, _ connection: UUID) {
        let (gone, upstream) = entries.withLock { e -> (AsyncStream<String>.Continuation?, OCPPUpstream?) in
            guard e[id]?.connection == connection else { return (nil, nil) }
            e[id]?.connection = nil
            defer { e[id]?.outgoing = nil }
            return (e[id]?.outgoing, e[id]?.upstream)
        }
        gone?.finish()
        // The backend sees the station leave as it left; what waits for the backend stays.
        upstream?.close()
    }

    /// A frame from `connection`: the answer to send back (for a call), and
    /// whether the connection still speaks for the station.
    public func received(_ id: String, _ connection: UUID, _ text: String, now: Double) -> (OCPPFrame?, current: Bool) {
        // Read once, outside the lock every station shares.
        let frame: OCPPFrame
        do { frame = try OCPPFrame.parse(text) } catch {
            let current = entries.withLock { $0[id]?.connection == connection }
            return (current ? error.frame : nil, current)
        }
        let (answer, current, upstream) = entries.withLock { e -> (OCPPFrame?, Bool, OCPPUpstream?) in
            guard e[id]?.connection == connection, var entry = e[id] else { return (nil, false, nil) }
            entry.station.idTags = idTags
            let answer = entry.station.answer(frame, now: now)
            entry.heard = now
            e[id] = entry
            return (answer, true, entry.upstream)
        }
        guard current else { return (nil, false) }
        switch frame {
        case .call(let callID, let action, let payload):
            // Through its backend: the backend's answer is the station's, unless the backend is away.
            if let upstream {
                var localTransaction: Int?
                if action == "StartTransaction", case .result(_, let p)? = answer { localTransaction = OCPPUpstream.transactionID(p) }
                if upstream.forward(callID, action: action, payload: payload, local: answer, localTransaction: localTransaction) { return (nil, true) }
            }
        case .result(let callID, let payload):
            if upstream?.answerFromStation(callID, text: text) == true { break }
            resolve(id, callID, .success(payload))
        case .error(let callID, let code, let description):
            if upstream?.answerFromStation(callID, text: text) == true { break }
            resolve(id, callID, .failure(OCPPError(code, description, id: callID)))
        }
        return (answer, current)
    }

    private func resolve(_ station: String, _ callID: String, _ result: Result<StrictJSON.Value, OCPPError>) {
        waiting.withLock { $0.removeValue(forKey: station + "\u{0}" + callID) }?.resume(returning: result)
    }

    /// Calls `action` on station `id` and waits for its answer, at most `timeout` seconds.
    /// Not connected, no answer in time, or an OCPP error: a failure that says which.
    public func call(_ id: String, _ action: String, _ payload: StrictJSON.Value, timeout: Double) async -> Result<StrictJSON.Value, OCPPError> {
        let callID = "fb\(counter.add(1, ordering: .relaxed).newValue)"
        let key = id + "\u{0}" + callID
        guard let out = entries.withLock({ $0[id]?.outgoing }) else {
            return .failure(OCPPError(.genericError, "\(id): not connected"))
        }
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(for: .milliseconds(Int(timeout * 1000)))) != nil else { return }
            self?.resolve(id, callID, .failure(OCPPError(.genericError, "\(id): no answer to \(action) within \(ConfigReader.show(timeout)) s")))
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { c in
            waiting.withLock { $0[key] = c }
            switch out.yield(OCPPFrame.call(id: callID, action: action, payload: payload).text) {
            case .enqueued: break
            default: resolve(id, callID, .failure(OCPPError(.genericError, "\(id): its connection is not taking calls")))
            }
        }
    }
}
