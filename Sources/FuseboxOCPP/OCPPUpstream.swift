import Foundation
import FuseboxCore
import Synchronization

/// Fusebox in front of a station's billing backend (docs/ocpp.md, "Proxy"):
/// the connection to `<url>/<station id>` opened as the station while the
/// station is connected. What the station sends goes up unchanged (ids,
/// payloads, order) and the backend's answers come back unchanged; what the
/// backend sends goes down unchanged and the station's answers go back up.
/// While the backend is away, the station's calls are answered here and kept
/// (at most `queueLimit`), then sent in order, one at a time, when it returns;
/// a transaction it opened meanwhile is known to the backend by the id the
/// backend gives it then, and later messages are rewritten to that id.
/// The backend's charging profiles are watched, so that Fusebox's own profile
/// sits above them and never allows more than they do.
public final class OCPPUpstream: Sendable {
    public struct Target: Sendable, Equatable {
        public var url: String
        public var key: String?
        public init(url: String, key: String? = nil) {
            self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
            self.key = key
        }
    }

    public let station: String
    public let target: Target
    public let timeout: Double
    public static let queueLimit = 10_000
    /// The backend's calls that may wait for the station's answer at once.
    public static let maxBackendCalls = 256
    /// Writes a frame to the station's connection; false when it has none.
    private let toStation: @Sendable (String) -> Bool
    /// A transaction the backend numbered: the station's state takes its id.
    private let onTransaction: @Sendable (_ local: Int, _ backend: Int) -> Void

    /// A call of the station on its way to the backend.
    private struct Call {
        var id: String
        var action: String
        var payload: StrictJSON.Value
        /// What Fusebox would answer, given to the station if the backend does not answer in time.
        var local: OCPPFrame?
        /// Answered here already (the backend was away, or late): the backend's answer is not the station's.
        var answered: Bool
        var localTransaction: Int?
    }
    private struct State {
        var out: AsyncStream<String>.Continuation?
        /// What waits for the backend, oldest first (answered here already).
        var queue: [Call] = []
        var dropped = 0
        /// Calls the backend did not answer within the timeout.
        var unanswered = 0
        /// The first attempt to reach the backend since the station connected is under way: a call
        /// waits for it (a station boots as soon as it connects) rather than being answered here.
        var firstAttempt = false
        /// Sent to the backend and not answered yet (one at a time, as OCPP-J has it).
        var inFlight: Call?
        /// The backend's calls to the station not answered yet.
        var backendCalls: Set<String> = []
        /// Transactions the station opened while the backend was away: its id here, the backend's.
        var transactionIDs: [Int: Int] = [:]
        var connections = 0
        var forwarded = 0
        /// The backend's charging profiles: the highest stack level, and the lowest limit (A) in force.
        var backendStack: Int?
        var backendLimit: Double?
        var profileChanges = 0
    }
    private let state = Mutex(State())
    private let loop = Mutex<Task<Void, Never>?>(nil)

    public init(station: String, target: Target, timeout: Double = 10,
                toStation: @escaping @Sendable (String) -> Bool, onTransaction: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) {
        self.station = station
        self.target = target
        self.timeout = timeout
        self.toStation = toStation
        self.onTransaction = onTransaction
    }

    public struct Report: Sendable, Equatable {
        public var connected: Bool
        public var connections: Int
        public var queued: Int
        public var dropped: Int
        public var forwarded: Int
        public var backendStack: Int?
        public var backendLimit: Double?
        public var profileChanges: Int
    }

    public var report: Report {
        state.withLock {
            Report(connected: $0.out != nil, connections: $0.connections, queued: $0.queue.count, dropped: $0.dropped, forwarded: $0.forwarded,
                   backendStack: $0.backendStack, backendLimit: $0.backendLimit, profileChanges: $0.profileChanges)
        }
    }

    // MARK: The connection to the backend

    /// Opens the backend's connection as the station, and keeps it open (reconnecting each second) until `close`.
    public func open() {
        state.withLock { $0.firstAttempt = true }
        let task = Task { [self] in
            await OCPPClientConnection.keep(url: target.url, identity: station, key: target.key, maxFrame: 1 << 20, label: "fusebox.ocpp.upstream",
                                            opened: { self.connected($0) }, received: { self.fromBackend($0) }, closed: { self.attemptEnded() })
        }
        loop.withLock { $0?.cancel(); $0 = task }
    }

    /// Closes it (the station left); what waits in the queue stays for the next connection.
    public func close() {
        loop.withLock { $0?.cancel(); $0 = nil }
        disconnected()
    }

    private func connected(_ out: AsyncStream<String>.Continuation) {
        state.withLock { s in
            s.out = out
            s.connections += 1
            s.firstAttempt = false
        }
        flush()
    }

    /// A connection ended, or an attempt failed. After the first attempt, what waited for it is answered here.
    private func attemptEnded() {
        disconnected()
        let held = state.withLock { s -> [OCPPFrame] in
            guard s.firstAttempt else { return [] }
            s.firstAttempt = false
            var answers: [OCPPFrame] = []
            for k in s.queue.indices where !s.queue[k].answered {
                if let local = s.queue[k].local { answers.append(local) }
                s.queue[k].answered = true
            }
            return answers
        }
        for answer in held { _ = toStation(answer.text) }
    }

    /// The backend is gone: a call in flight gets Fusebox's answer (the station must not wait
    /// for it) and goes first when it is back; it may then reach the backend twice.
    private func disconnected() {
        let local = state.withLock { s -> OCPPFrame? in
            s.out?.finish()
            s.out = nil
            s.backendCalls = []
            guard var call = s.inFlight else { return nil }
            s.inFlight = nil
            let local = call.answered ? nil : call.local
            call.answered = true
            s.queue.insert(call, at: 0)
            return local
        }
        if let local { _ = toStation(local.text) }
    }

    // MARK: From the station

    /// A call from the station, with what Fusebox would answer. True: it went to the backend,
    /// whose answer will reach the station; false: the backend is away, answer it with `local` now (it is kept and sent later).
    public func forward(_ callID: String, action: String, payload: StrictJSON.Value, local: OCPPFrame?, localTransaction: Int?) -> Bool {
        var call = Call(id: callID, action: action, payload: payload, local: local, answered: false, localTransaction: localTransaction)
        let sent = state.withLock { s -> Bool? in
            // Held until the first attempt to reach the backend ends: then sent, or answered here.
            if s.out == nil, s.firstAttempt, s.queue.allSatisfy({ !$0.answered }) {
                s.queue.append(call)
                return nil
            }
            // Live only when nothing older waits: the order is the station's.
            guard let out = s.out, s.inFlight == nil, s.queue.isEmpty else {
                call.answered = true
                s.queue.append(call)
                if s.queue.count > Self.queueLimit {
                    s.queue.removeFirst()
                    s.dropped += 1
                }
                return false
            }
            s.inFlight = call
            s.forwarded += 1
            out.yield(OCPPFrame.call(id: callID, action: action, payload: Self.rewrite(payload, s.transactionIDs)).text)
            return true
        }
        guard let sent else {
            expire(callID)
            return true
        }
        if sent { expire(callID) }
        return sent
    }

    /// The station's answer to one of the backend's calls: up, unchanged. False: not one of the backend's.
    public func answerFromStation(_ callID: String, text: String) -> Bool {
        state.withLock { s in
            guard s.backendCalls.remove(callID) != nil else { return false }
            s.out?.yield(text)
            return true
        }
    }

    /// A call the backend has not answered in time: the station gets Fusebox's answer if it still
    /// waits, and the next call goes; a late answer from the backend is dropped.
    private func expire(_ callID: String) {
        let seconds = timeout
        Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            guard let self else { return }
            let local = self.state.withLock { s -> OCPPFrame?? in
                // Still held for the backend's first connection: answered here, sent when it comes.
                if let k = s.queue.firstIndex(where: { $0.id == callID }) {
                    guard !s.queue[k].answered else { return nil }
                    s.queue[k].answered = true
                    return .some(s.queue[k].local)
                }
                guard let call = s.inFlight, call.id == callID else { return nil }
                s.inFlight = nil
                s.unanswered += 1
                return .some(call.answered ? nil : call.local)
            }
            guard let local else { return }
            if let local { _ = self.toStation(local.text) }
            self.flush()
        }
    }

    // MARK: From the backend

    private func fromBackend(_ text: String) {
        guard let frame = try? OCPPFrame.parse(text) else { return }
        switch frame {
        case .call(let callID, let action, let payload):
            // A backend that sends call after call to a station that does not answer is told so, not remembered without end.
            let full = state.withLock { $0.backendCalls.count >= Self.maxBackendCalls }
            if full {
                let refusal = OCPPFrame.error(id: callID, code: .genericError, description: "\(Self.maxBackendCalls) calls already wait for \(station)'s answer")
                _ = state.withLock { $0.out?.yield(refusal.text) }
                return
            }
            state.withLock { s in
                s.backendCalls.insert(callID)
                if action == "SetChargingProfile" { Self.noteProfile(payload, &s) }
                if action == "ClearChargingProfile" {
                    s.backendLimit = nil
                    s.backendStack = nil
                    s.profileChanges += 1
                }
            }
            if !toStation(text) {
                _ = state.withLock { $0.backendCalls.remove(callID) }
                let refusal = OCPPFrame.error(id: callID, code: .genericError, description: "\(station) is not connected to its load manager")
                _ = state.withLock { $0.out?.yield(refusal.text) }
            }
        case .result(let callID, let payload):
            answered(callID, text: text, transaction: Self.transactionID(payload))
        case .error(let callID, _, _):
            answered(callID, text: text, transaction: nil)
        }
    }

    private func answered(_ callID: String, text: String, transaction: Int?) {
        let (relay, adopted) = state.withLock { s -> (Bool, (Int, Int)?) in
            guard let call = s.inFlight, call.id == callID else { return (false, nil) }
            s.inFlight = nil
            var adopted: (Int, Int)?
            if call.action == "StartTransaction", let backend = transaction, let local = call.localTransaction {
                // Answered here: the station has Fusebox's id, rewritten to the backend's on the way up.
                // Relayed: the station takes the backend's id, and so does Fusebox's record of it.
                if call.answered { s.transactionIDs[local] = backend } else { adopted = (local, backend) }
            }
            return (!call.answered, adopted)
        }
        if let (local, backend) = adopted { onTransaction(local, backend) }
        if relay { _ = toStation(text) }
        flush()
    }

    /// Sends what waited, oldest first, one call at a time: the next when the backend has answered the one before.
    private func flush() {
        state.withLock { s -> String? in
            guard let out = s.out, s.inFlight == nil, !s.queue.isEmpty else { return nil }
            let call = s.queue.removeFirst()
            s.inFlight = call
            s.forwarded += 1
            out.yield(OCPPFrame.call(id: call.id, action: call.action, payload: Self.rewrite(call.payload, s.transactionIDs)).text)
            return call.id
        }.map(expire)
    }

    // MARK: Reading payloads

    /// A transaction id the station has from Fusebox, as the backend knows it.
    static func rewrite(_ payload: StrictJSON.Value, _ ids: [Int: Int]) -> StrictJSON.Value {
        guard !ids.isEmpty, case .object(let members) = payload else { return payload }
        return .object(members.map { key, value in
            if key == "transactionId", case .number(let n) = value, let backend = ids[Int(n)] { return (key, .number(Double(backend))) }
            return (key, value)
        })
    }

    static func transactionID(_ payload: StrictJSON.Value) -> Int? {
        guard case .object(let m) = payload, case .number(let n)? = m.first(where: { $0.0 == "transactionId" })?.1 else { return nil }
        return Int(n)
    }

    /// A backend's SetChargingProfile: its stack level, and its first period's limit in A.
    private static func noteProfile(_ payload: StrictJSON.Value, _ s: inout State) {
        func member(_ v: StrictJSON.Value?, _ key: String) -> StrictJSON.Value? {
            guard case .object(let m)? = v else { return nil }
            return m.first { $0.0 == key }?.1
        }
        let profile = member(payload, "csChargingProfiles")
        if case .number(let stack)? = member(profile, "stackLevel") { s.backendStack = max(s.backendStack ?? 0, Int(stack)) }
        let schedule = member(profile, "chargingSchedule")
        if case .array(let periods)? = member(schedule, "chargingSchedulePeriod"), case .number(let limit)? = member(periods.first, "limit") {
            let phases: Double = if case .number(let n)? = member(periods.first, "numberPhases") { max(1, n) } else { 3 }
            let amps = member(schedule, "chargingRateUnit") == .string("W") ? limit / (230 * phases) : limit
            s.backendLimit = amps
        }
        s.profileChanges += 1
    }
}
