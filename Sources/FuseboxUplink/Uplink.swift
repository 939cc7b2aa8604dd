import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import Logging
import ServiceLifecycle
import Synchronization

/// One connection of the uplink to a fleet portal or Home Assistant over MQTT
/// (docs/mqtt.md), fed cycle by cycle through `take` (by `UplinkService`, which
/// reads the runner's bounded stream, so the cycle never waits on it). What it
/// has to say goes into the outbox in the history file first, and leaves it
/// only when the broker has acknowledged it: a broker out of reach for hours
/// loses nothing within the outbox's bound, and every message carries the
/// site's sequence number.
// Unchecked: the sampler is under a `Mutex`; the forwarding state is the forward loop's alone; the rest is immutable or atomic.
public final class Uplink: Service, @unchecked Sendable {
    public let settings: SiteConfig.MQTT
    public let topics: UplinkTopics
    public let client: MQTTClient
    private let store: HistoryStore
    private let cycle: ControlCycle
    private let sampler: Mutex<UplinkSampler>
    private let commands: UplinkCommands
    private let discovery: HomeAssistantDiscovery?
    private let hasPV: Bool
    private let logger: Logger
    private let newWork = Atomic<Bool>(false)
    private let lost = Atomic<Int>(0)
    /// Messages handed to the client and not yet acknowledged, at most.
    public static let window = 500
    // The forward loop's own (it alone reads and writes them).
    private var rate = CommandRate()
    /// When Home Assistant's "online" last made us send discovery again.
    private var lastAnnounced = ContinuousClock.now - .seconds(60)

    public init(site: SiteConfig, settings: SiteConfig.MQTT, cycle: ControlCycle, store: HistoryStore,
                logger: Logger = Logger(label: "fusebox.uplink")) throws(MQTTClient.Failure) {
        self.settings = settings
        topics = UplinkTopics(prefix: settings.topicPrefix(serial: site.serial))
        var m = MQTTSettings(host: settings.host, port: settings.port, clientID: settings.client(serial: site.serial))
        m.tls = settings.tls
        m.caFile = settings.caFile
        m.certificateFile = settings.certificateFile
        m.keyFile = settings.keyFile
        m.username = settings.user
        m.password = settings.password
        m.keepalive = Int(settings.keepalive)
        m.version5 = settings.version == "5"
        m.will = (topics.availability, "offline")
        m.maxInFlight = Self.window + 100   // room for answers and announcements beside the outbox's window
        client = try MQTTClient(m)
        self.store = store
        self.cycle = cycle
        sampler = Mutex(UplinkSampler(topics: topics, settings: settings))
        commands = UplinkCommands(topics: topics, control: SiteControl(cycle: cycle))
        discovery = settings.discovery ? HomeAssistantDiscovery(topics: topics, discoveryPrefix: settings.discoveryPrefix,
                                                                  serial: site.serial, siteName: site.name) : nil
        hasPV = site.pv != nil
        self.logger = logger
        for topic in topics.subscriptions { client.subscribe(topic) }
        if settings.discovery { client.subscribe(settings.discoveryPrefix + "/status") }
    }

    /// Connects and forwards until the service group shuts down or the task
    /// is cancelled; then says `offline` and disconnects.
    public func run() async throws {
        try client.start()
        logger.info("uplink: \(client.settings.host):\(client.settings.port) as \(client.settings.clientID), topics under \(topics.prefix)")
        await cancelWhenGracefulShutdown { await self.forward() }
        await goodbye()
    }

    /// The broker as site.yaml gives it, for the page.
    public var broker: String { settings.broker }

    public func report() -> UplinkReport {
        let s = state()
        return UplinkReport(broker: broker, prefix: topics.prefix, connected: s.connected, waiting: s.waiting, dropped: s.dropped, lastError: s.lastError)
    }

    /// One cycle in: its messages into the outbox, in order.
    public func take(_ published: PublishedCycle) async {
        let overrides = await cycle.overrides()
        let messages = sampler.withLock { $0.messages(for: published.record, overrides: overrides) }
        enqueue(messages)
    }

    func take(events: [SiteEvent], at time: Double) async {
        enqueue(events.map {
            UplinkSampler.Message(topic: topics.events, payload: (try? UplinkSampler.encoder.encode(
                UplinkPayload.Event(time: $0.time, kind: $0.kind.rawValue, subject: $0.subject, message: $0.message))) ?? Data(), time: time)
        })
    }

    private func enqueue(_ messages: [UplinkSampler.Message]) {
        guard !messages.isEmpty else { return }
        do {
            try store.enqueue(messages.map { ($0.topic, $0.payload, $0.time) }, limit: settings.outboxLimit)
        } catch {
            if lost.add(messages.count, ordering: .relaxed).oldValue == 0 { logger.error("uplink: cannot queue messages (\(error)); they are lost") }
        }
        newWork.store(true, ordering: .releasing)
        client.nudge()
    }

    /// What the uplink has to do and how it stands, for the page and the tests.
    public struct State: Sendable, Equatable {
        public var connected: Bool
        public var waiting: Int
        public var dropped: Int
        public var lastError: String?
    }

    public func state() -> State {
        let (waiting, dropped) = (try? store.outboxState()) ?? (0, 0)
        return State(connected: client.isConnected, waiting: waiting, dropped: dropped + lost.load(ordering: .relaxed), lastError: client.lastError)
    }

    /// Waits until the outbox is empty and every message acknowledged, at most `seconds`.
    public func drain(within seconds: Double) async {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if client.isConnected, ((try? store.outboxState())?.waiting ?? 1) == 0 { return }
            _ = await client.wait(upTo: 0.1) { _ in false }
        }
    }

    // MARK: - The forward loop: the only code that talks to the client after start

    private struct Forwarding {
        /// Message id -> sequence, for what was handed over and not acknowledged.
        var handed: [Int32: Int64] = [:]
        /// The sequences handed over, in order, not yet all acknowledged.
        var order: [Int64] = []
        var acknowledged = Set<Int64>()
        var lastHanded: Int64 = 0
        var connections = 0
        /// Whether the outbox may hold messages not handed over yet: read only then.
        var mayHaveMore = true
        /// Acknowledged in memory, not yet taken off the outbox; written at most once a second.
        var acknowledgedThrough: Int64 = 0
        var written: Int64 = 0
        var lastWrite = ContinuousClock.now
    }

    private func forward() async {
        var f = Forwarding()
        while !Task.isCancelled {
            let connections = f.connections
            _ = await client.wait(upTo: 0.5) { [self] c in
                c.hasIncoming || c.hasAcknowledged || newWork.load(ordering: .acquiring) || c.connections != connections
            }
            if newWork.exchange(false, ordering: .acquiringAndReleasing) { f.mayHaveMore = true }
            if client.connections != f.connections {
                f.connections = client.connections
                announce()
            }
            for m in client.takeIncoming() { await answer(m) }
            acknowledge(&f)
            if f.mayHaveMore { handOver(&f) }
        }
        f.lastWrite = .now - .seconds(2)
        acknowledge(&f)
    }

    /// On each connection: `online` (retained), the uplink's own state, and discovery.
    private func announce() {
        _ = client.publish(topics.availability, Array("online".utf8), retain: true)
        let s = state()
        _ = client.publish(topics.uplink, Array(#"{"waiting":\#(s.waiting),"dropped":\#(s.dropped)}"#.utf8), retain: true)
        sendDiscovery()
    }

    private func sendDiscovery() {
        guard let discovery else { return }
        let stations = cycle.roster.map { (id: $0.settings.id, max: $0.settings.max) }
        for c in discovery.configs(stations: stations, pv: hasPV) { _ = client.publish(c.topic, Array(c.payload), retain: true) }
    }

    private func answer(_ m: MQTTClient.Incoming) async {
        if let discovery = settings.discovery ? discovery : nil, m.topic == discovery.discoveryPrefix + "/status" {
            // Sent again when Home Assistant starts; at most every 10 s, whoever repeats "online".
            if m.payload == Array("online".utf8), ContinuousClock.now - lastAnnounced >= .seconds(10) {
                lastAnnounced = .now
                sendDiscovery()
            }
            return
        }
        let allowed = rate.allow()
        guard let a = await commands.handle(m, now: await cycle.time, refused: allowed ? nil : CommandRate.refusal) else { return }
        _ = client.publish(a.topic, Array(a.payload), correlation: a.correlation)
        // Handled once: a retained command is cleared, so that it does not come again at the next connection.
        if m.retained { _ = client.publish(m.topic, [], retain: true) }
    }

    private func acknowledge(_ f: inout Forwarding) {
        for mid in client.takeAcknowledged() {
            if let seq = f.handed.removeValue(forKey: mid) { f.acknowledged.insert(seq) }
        }
        while let first = f.order.first, f.acknowledged.remove(first) != nil {
            f.order.removeFirst()
            f.acknowledgedThrough = first
        }
        // One write a second, not one per acknowledgement: a crash may then send the last second's messages again
        // (at least once, with their numbers), and a hundred sites on one broker do not write a thousand times a second.
        guard f.acknowledgedThrough > f.written, ContinuousClock.now - f.lastWrite >= .seconds(1) else { return }
        do {
            try store.acknowledge(through: f.acknowledgedThrough)
            f.written = f.acknowledgedThrough
            f.lastWrite = .now
        } catch {
            logger.error("uplink: cannot mark messages sent: \(error)")
        }
    }

    private func handOver(_ f: inout Forwarding) {
        // While the link is down the outbox keeps what comes; the client keeps only what was in flight.
        let room = Self.window - f.order.count
        guard room > 0, client.isConnected else { return }
        let next: [OutboxMessage]
        do { next = try store.pending(after: f.lastHanded, limit: room) } catch {
            logger.error("uplink: cannot read the outbox: \(error)")
            return
        }
        f.mayHaveMore = next.count == room
        for m in next {
            switch client.publish(m.topic, Self.stamped(m.payload, sequence: m.sequence)) {
            case .handedOver(let mid):
                f.handed[mid] = m.sequence
                f.order.append(m.sequence)
                f.lastHanded = m.sequence
            case .full:
                f.mayHaveMore = true
                return
            case .failed(let why):
                logger.error("uplink: \(m.topic): \(why)")
                f.mayHaveMore = true
                return
            }
        }
    }

    /// The payload with the site's sequence number as its first field.
    static func stamped(_ payload: Data, sequence: Int64) -> [UInt8] {
        var bytes = Array(payload)
        guard bytes.first == UInt8(ascii: "{") else { return bytes }
        bytes.removeFirst()
        let head = Array(#"{"seq":\#(sequence)"#.utf8) + (bytes.first == UInt8(ascii: "}") ? [] : [UInt8(ascii: ",")])
        return head + bytes
    }

    /// `offline` said by us (a clean disconnect sends no will), then the client stops.
    private func goodbye() async {
        if client.isConnected {
            _ = client.publish(topics.availability, Array("offline".utf8), retain: true)
            _ = await client.wait(upTo: 2) { $0.inFlight == 0 }
        }
        client.stop()
    }
}
