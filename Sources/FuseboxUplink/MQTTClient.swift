import CMosquitto
import Foundation
import Synchronization

/// How the uplink reaches its broker.
public struct MQTTSettings: Sendable {
    public var host: String
    public var port: Int
    public var clientID: String
    public var username: String?
    public var password: String?
    /// TLS; with the CA that signed the broker's certificate (PEM), else the system's CAs in /etc/ssl/certs.
    public var tls = false
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    /// Seconds between pings when nothing else is sent.
    public var keepalive = 30
    /// What the broker publishes for us if we vanish without saying goodbye (retained).
    public var will: (topic: String, payload: String)?
    /// Messages handed to the client and not yet acknowledged by the broker, at most.
    public var maxInFlight = 1000
    /// MQTT 5 (else 3.1.1).
    public var version5 = false

    public init(host: String, port: Int = 1883, clientID: String) {
        self.host = host
        self.port = port
        self.clientID = clientID
    }
}

/// One connection to an MQTT broker through Debian's libmosquitto, on the
/// library's own network thread (`mosquitto_loop_start`): nothing here ever
/// waits on the network in the caller's thread. It connects and reconnects by
/// itself (backoff 1 s up to 60 s); `publish` hands a message over and
/// returns at once, refusing it when `maxInFlight` messages still wait for
/// the broker's acknowledgement, so a broker that stops reading cannot make
/// memory grow.
// Unchecked: libmosquitto's publish, disconnect and loop control are safe from any thread once its loop thread runs
// (its documentation); our own state is in `Mutex`es and atomics.
public final class MQTTClient: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// A message from a subscription.
    public struct Incoming: Sendable {
        public var topic: String
        /// Empty when it was larger than `maxIncoming` (see `size`).
        public var payload: [UInt8]
        public var size: Int
        /// Kept by the broker from before we subscribed: possibly old.
        public var retained: Bool
        /// MQTT 5: where the sender wants the answer, and what to send back with it.
        public var responseTopic: String?
        public var correlation: [UInt8]?
    }

    /// Payloads larger than this are not copied; the message arrives with its size only.
    public static let maxIncoming = 64 * 1024
    /// Messages that arrived and were not taken yet, at most; more are dropped and counted.
    public static let inboxLimit = 256

    public enum Publish: Sendable, Equatable {
        /// Handed over, with the message id the acknowledgement will carry.
        case handedOver(Int32)
        /// `maxInFlight` messages wait for the broker already.
        case full
        case failed(String)
    }

    /// What the library's thread tells us; it outlives the handle.
    final class Events: Sendable {
        let connected = Atomic<Bool>(false)
        let inFlight = Atomic<Int>(0)
        let acknowledged = Mutex<[Int32]>([])
        let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])
        let lastError = Mutex<String?>(nil)
        /// Connections made so far: a new one means subscriptions and retained state to send again.
        let connections = Atomic<Int>(0)
        /// The broker answered the last attempt with a refusal (its reason is in `lastError`).
        let refused = Atomic<Bool>(false)
        let subscriptions = Mutex<[String]>([])
        let inbox = Mutex<[Incoming]>([])
        let inboxDropped = Atomic<Int>(0)

        func changed() {
            let ready = waiters.withLock { w -> [CheckedContinuation<Void, Never>] in defer { w = [] }; return w }
            for c in ready { c.resume() }
        }
    }

    public let settings: MQTTSettings
    private let handle: OpaquePointer
    private let events = Events()
    private let started = Atomic<Bool>(false)

    private static let library: Void = { _ = mosquitto_lib_init() }()

    public init(_ settings: MQTTSettings) throws(Failure) {
        Self.library
        self.settings = settings
        guard let handle = mosquitto_new(settings.clientID, true, Unmanaged.passUnretained(events).toOpaque()) else {
            throw Failure(description: "mqtt: cannot make a client (out of memory?)")
        }
        self.handle = handle
        func check(_ rc: Int32, _ what: String) throws(Failure) {
            if rc != MOSQ_ERR_SUCCESS.rawValue { throw Failure(description: "mqtt: \(what): \(String(cString: mosquitto_strerror(rc)))") }
        }
        do {
            if settings.version5 { try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V5)), "MQTT 5") }
            if let user = settings.username { try check(mosquitto_username_pw_set(handle, user, settings.password), "user and password") }
            if settings.tls || settings.caFile != nil {
                try check(mosquitto_tls_set(handle, settings.caFile, settings.caFile == nil ? "/etc/ssl/certs" : nil,
                                            settings.certificateFile, settings.keyFile, nil), "TLS files")
            }
            if let will = settings.will {
                try check(mosquitto_will_set(handle, will.topic, Int32(will.payload.utf8.count), will.payload, 1, true), "last will")
            }
            try check(mosquitto_reconnect_delay_set(handle, 1, 60, true), "reconnect delay")
        } catch {
            mosquitto_destroy(handle)
            throw error
        }
        mosquitto_connect_callback_set(handle) { mosq, context, rc in
            guard let context else { return }
            let events = Unmanaged<Events>.fromOpaque(context).takeUnretainedValue()
            if rc == 0 {
                // A clean session forgets subscriptions: made again on every connection.
                for topic in events.subscriptions.withLock({ $0 }) { mosquitto_subscribe(mosq, nil, topic, 1) }
                events.connections.add(1, ordering: .releasing)
            }
            events.connected.store(rc == 0, ordering: .releasing)
            if rc != 0 {
                events.lastError.withLock { $0 = String(cString: mosquitto_connack_string(rc)) }
                events.refused.store(true, ordering: .releasing)
            }
            events.changed()
        }
        mosquitto_message_v5_callback_set(handle) { _, context, message, properties in
            guard let context, let m = message?.pointee, let topic = m.topic else { return }
            let events = Unmanaged<Events>.fromOpaque(context).takeUnretainedValue()
            let size = Int(m.payloadlen)
            var payload: [UInt8] = []
            if size <= MQTTClient.maxIncoming, let bytes = m.payload { payload = Array(UnsafeRawBufferPointer(start: bytes, count: size)) }
            var responseTopic: String?, correlation: [UInt8]?
            if let properties {
                var text: UnsafeMutablePointer<CChar>?
                if mosquitto_property_read_string(properties, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), &text, false) != nil, let text {
                    responseTopic = String(cString: text)
                    free(text)
                }
                var data: UnsafeMutableRawPointer?, length: UInt16 = 0
                if mosquitto_property_read_binary(properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), &data, &length, false) != nil, let data {
                    correlation = Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
                    free(data)
                }
            }
            let incoming = Incoming(topic: String(cString: topic), payload: payload, size: size, retained: m.retain,
                                    responseTopic: responseTopic, correlation: correlation)
            let kept = events.inbox.withLock { inbox -> Bool in
                guard inbox.count < MQTTClient.inboxLimit else { return false }
                inbox.append(incoming)
                return true
            }
            if !kept { events.inboxDropped.add(1, ordering: .relaxed) }
            events.changed()
        }
        mosquitto_disconnect_callback_set(handle) { _, context, rc in
            guard let context else { return }
            let events = Unmanaged<Events>.fromOpaque(context).takeUnretainedValue()
            events.connected.store(false, ordering: .releasing)
            // After a refusal the broker's reason ("not authorised") says more than the disconnection that follows it.
            let refused = events.refused.exchange(false, ordering: .acquiringAndReleasing)
            if rc != 0 && !refused { events.lastError.withLock { $0 = String(cString: mosquitto_strerror(rc)) } }
            events.changed()
        }
        mosquitto_publish_callback_set(handle) { _, context, mid in
            guard let context else { return }
            let events = Unmanaged<Events>.fromOpaque(context).takeUnretainedValue()
            events.inFlight.subtract(1, ordering: .relaxed)
            events.acknowledged.withLock { $0.append(mid) }
            events.changed()
        }
    }

    deinit {
        stop()
        mosquitto_destroy(handle)
    }

    /// Starts the network thread and the first connection attempt; returns at once.
    public func start() throws(Failure) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let loop = mosquitto_loop_start(handle)
        guard loop == MOSQ_ERR_SUCCESS.rawValue else {
            throw Failure(description: "mqtt: cannot start the network thread: \(String(cString: mosquitto_strerror(loop)))")
        }
        let rc = mosquitto_connect_async(handle, settings.host, Int32(settings.port), Int32(settings.keepalive))
        guard rc != MOSQ_ERR_SUCCESS.rawValue else { return }
        let why = "\(settings.host):\(settings.port): \(String(cString: mosquitto_strerror(rc)))"
        // Only settings that can never work end it here. A failed first attempt (refused, unreachable,
        // a TLS handshake that failed, which may happen in this call or on the loop thread) is retried
        // by the loop thread, as a lost connection is: a broker that comes right later is reached.
        if rc == MOSQ_ERR_INVAL.rawValue || rc == MOSQ_ERR_NOMEM.rawValue { throw Failure(description: "mqtt: " + why) }
        events.lastError.withLock { $0 = why }
    }

    /// Says goodbye (the will is not sent) and stops the network thread.
    public func stop() {
        guard started.exchange(false, ordering: .acquiringAndReleasing) else { return }
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        events.connected.store(false, ordering: .releasing)
        events.changed()
    }

    public var isConnected: Bool { events.connected.load(ordering: .acquiring) }
    /// Connections made so far (1 after the first, 2 after a reconnect, ...).
    public var connections: Int { events.connections.load(ordering: .acquiring) }

    /// Subscribes with QoS 1 now if connected, and again after every reconnect.
    public func subscribe(_ topic: String) {
        events.subscriptions.withLock { $0.append(topic) }
        if isConnected { mosquitto_subscribe(handle, nil, topic, 1) }
    }

    /// The messages that arrived since the last call, in order; and how many were dropped for a full inbox.
    public func takeIncoming() -> [Incoming] { events.inbox.withLock { i in defer { i = [] }; return i } }
    public var incomingDropped: Int { events.inboxDropped.load(ordering: .relaxed) }
    public var inFlight: Int { events.inFlight.load(ordering: .relaxed) }
    /// Why the last connection failed or ended, if it did.
    public var lastError: String? { events.lastError.withLock { $0 } }

    /// Wakes whoever waits in `wait` to look again (new work of its own).
    public func nudge() { events.changed() }

    /// Whether messages or acknowledgements wait to be taken.
    public var hasIncoming: Bool { events.inbox.withLock { !$0.isEmpty } }
    public var hasAcknowledged: Bool { events.acknowledged.withLock { !$0.isEmpty } }

    /// The message ids the broker acknowledged since the last call, in the order it did.
    public func takeAcknowledged() -> [Int32] { events.acknowledged.withLock { a in defer { a = [] }; return a } }

    /// Hands a message to the network thread and returns at once.
    /// `correlation` (MQTT 5) goes with it as its correlation data: the answer to a request that gave some.
    public func publish(_ topic: String, _ payload: [UInt8], qos: Int32 = 1, retain: Bool = false, correlation: [UInt8]? = nil) -> Publish {
        guard events.inFlight.add(1, ordering: .relaxed).newValue <= settings.maxInFlight else {
            events.inFlight.subtract(1, ordering: .relaxed)
            return .full
        }
        var mid: Int32 = 0
        var properties: OpaquePointer? = nil
        defer { mosquitto_property_free_all(&properties) }
        if settings.version5, let correlation, correlation.count <= Int(UInt16.max) {
            _ = correlation.withUnsafeBytes { mosquitto_property_add_binary(&properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), $0.baseAddress, UInt16($0.count)) }
        }
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish_v5(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, qos, retain, properties)
        }
        // Not connected: libmosquitto keeps a QoS 1 message queued and sends it
        // when the connection is back, though it says NO_CONN. It is handed over.
        guard rc == MOSQ_ERR_SUCCESS.rawValue || (rc == MOSQ_ERR_NO_CONN.rawValue && qos > 0) else {
            events.inFlight.subtract(1, ordering: .relaxed)
            return .failed(String(cString: mosquitto_strerror(rc)))
        }
        if qos == 0 { events.inFlight.subtract(1, ordering: .relaxed) }
        return .handedOver(mid)
    }

    /// Waits until `condition` holds, re-checked whenever the network thread reports something, at most `seconds`.
    public func wait(upTo seconds: Double, until condition: @escaping @Sendable (MQTTClient) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !condition(self) {
            if ContinuousClock.now >= deadline { return false }
            // Woken by the next report, or by the deadline's timer.
            let timer = Task { [events] in
                // Cancelled (the wait ended another way): it must not wake anyone, or the next wait wakes at once, and so on.
                guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
                events.changed()
            }
            await withCheckedContinuation { c in
                // Checked under the waiters' lock: a report made meanwhile finds us in the list.
                let holds = events.waiters.withLock { w -> Bool in
                    if condition(self) { return true }
                    w.append(c)
                    return false
                }
                if holds { c.resume() }
            }
            timer.cancel()
        }
        return true
    }
}
