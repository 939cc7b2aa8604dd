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
    /// PEM files: the CA that signed the broker's certificate (TLS on), and optionally the client's own.
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
            if let ca = settings.caFile {
                try check(mosquitto_tls_set(handle, ca, nil, settings.certificateFile, settings.keyFile, nil), "TLS files")
            }
            if let will = settings.will {
                try check(mosquitto_will_set(handle, will.topic, Int32(will.payload.utf8.count), will.payload, 1, true), "last will")
            }
            try check(mosquitto_reconnect_delay_set(handle, 1, 60, true), "reconnect delay")
        } catch {
            mosquitto_destroy(handle)
            throw error
        }
        mosquitto_connect_callback_set(handle) { _, context, rc in
            guard let context else { return }
            let events = Unmanaged<Events>.fromOpaque(context).takeUnretainedValue()
            events.connected.store(rc == 0, ordering: .releasing)
            if rc != 0 { events.lastError.withLock { $0 = String(cString: mosquitto_connack_string(rc)) } }
            events.changed()
        }
        mosquitto_disconnect_callback_set(handle) { _, context, rc in
            guard let context else { return }
            let events = Unmanaged<Events>.fromOpaque(context).takeUnretainedValue()
            events.connected.store(false, ordering: .releasing)
            if rc != 0 { events.lastError.withLock { $0 = String(cString: mosquitto_strerror(rc)) } }
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
        var rc = mosquitto_loop_start(handle)
        if rc == MOSQ_ERR_SUCCESS.rawValue { rc = mosquitto_connect_async(handle, settings.host, Int32(settings.port), Int32(settings.keepalive)) }
        // A refused first attempt is retried by the loop thread; other errors are the settings'.
        if rc != MOSQ_ERR_SUCCESS.rawValue && rc != MOSQ_ERR_ERRNO.rawValue {
            throw Failure(description: "mqtt: \(settings.host):\(settings.port): \(String(cString: mosquitto_strerror(rc)))")
        }
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
    public var inFlight: Int { events.inFlight.load(ordering: .relaxed) }
    /// Why the last connection failed or ended, if it did.
    public var lastError: String? { events.lastError.withLock { $0 } }

    /// The message ids the broker acknowledged since the last call, in the order it did.
    public func takeAcknowledged() -> [Int32] { events.acknowledged.withLock { a in defer { a = [] }; return a } }

    /// Hands a message to the network thread and returns at once.
    public func publish(_ topic: String, _ payload: [UInt8], qos: Int32 = 1, retain: Bool = false) -> Publish {
        guard events.inFlight.add(1, ordering: .relaxed).newValue <= settings.maxInFlight else {
            events.inFlight.subtract(1, ordering: .relaxed)
            return .full
        }
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, qos, retain)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
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
                try? await Task.sleep(until: deadline, clock: .continuous)
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
