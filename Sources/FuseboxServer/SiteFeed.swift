import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxOCPP
import NIOCore
import Prometheus
import ServiceLifecycle

/// The running site as the web server sees it: the latest cycle (for
/// `GET /api/status`), a stream of updates per WebSocket client, the metrics,
/// and the controller's commands. A `Service` that reads the runner's bounded
/// stream, so a slow page never holds a cycle up.
// Unchecked: the latest status, its JSON, the warnings and the listeners are under `lock`; the rest is immutable.
public final class SiteFeed: Service, @unchecked Sendable {
    public let name: String
    public let cycle: ControlCycle
    public let runner: CycleRunner?
    public let history: HistoryStore?
    public let scripts: ScriptManager
    /// The configuration, for the page's Setup; nil where there is no file to change (`fusebox sim`).
    public let setup: SiteSetup?
    public let metrics: SiteMetrics
    private let stream: AsyncStream<PublishedCycle>?
    private let lock = NSLock()
    private var latestStatus: LiveStatus?
    /// The latest status as JSON, encoded once per cycle however many clients read it.
    private var latestJSON: ByteBuffer?
    private var warnings: [String] = []
    private var listeners: [UUID: AsyncStream<LiveStatus>.Continuation] = [:]

    /// How the MQTT uplink stands, asked once a cycle; nil: the site has none.
    private let uplink: @Sendable () -> UplinkReport?

    /// The OCPP endpoint's stations, when the site has one.
    public let ocpp: OCPPStations?

    public init(name: String, cycle: ControlCycle, runner: CycleRunner?, history: HistoryStore?, scripts: ScriptManager,
                setup: SiteSetup? = nil, uplink: @escaping @Sendable () -> UplinkReport? = { nil }, ocpp: OCPPStations? = nil) {
        self.name = name
        self.ocpp = ocpp
        self.uplink = uplink
        self.setup = setup
        self.cycle = cycle
        self.runner = runner
        self.history = history
        self.scripts = scripts
        metrics = SiteMetrics()
        stream = runner?.subscribe(label: "web", buffer: 16)
    }

    public func run() async throws {
        guard let stream else { return }
        for await published in stream { await take(published) }
        lock.withLock { for l in listeners.values { l.finish() } }
        try? await gracefulShutdown()
    }

    /// One cycle in: the status, the metrics, the WebSocket clients.
    public func take(_ published: PublishedCycle) async {
        let overrides = await cycle.overrides()
        let fresh = published.record.events.filter { $0.kind == .commissioning }.map { "\($0.subject ?? ""): \($0.message)" }
        let report = uplink()
        let status: LiveStatus = lock.withLock {
            warnings += fresh
            return LiveStatus(site: name, published: published, overrides: overrides, warnings: warnings, uplink: report)
        }
        metrics.record(published, dropped: runner?.statistics.dropped ?? [:])
        let encoded = (try? Self.encoder.encode(status)).map { ByteBuffer(bytes: $0) }
        let targets = lock.withLock {
            latestStatus = status
            latestJSON = encoded
            return Array(listeners.values)
        }
        for l in targets { l.yield(status) }
    }

    public var status: LiveStatus? { lock.withLock { latestStatus } }
    public var statusJSON: ByteBuffer? { lock.withLock { latestJSON } }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// Every status from now on; the newest wins when a client is slow.
    public func updates() -> AsyncStream<LiveStatus> {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: LiveStatus.self, bufferingPolicy: .bufferingNewest(2))
        continuation.onTermination = { [weak self] _ in self?.lock.withLock { _ = self?.listeners.removeValue(forKey: id) } }
        lock.withLock {
            listeners[id] = continuation
            if let latestStatus { continuation.yield(latestStatus) }
        }
        return stream
    }

    public var clients: Int { lock.withLock { listeners.count } }
}

/// `/metrics` in Prometheus text format.
// Unchecked: the metrics are Prometheus' own (thread-safe); the gauges made on the fly (by reader, by charger) are kept under `lock`.
public final class SiteMetrics: @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    private let cycleTime: DurationHistogram
    private let cycles: Counter
    private let overruns: Counter
    private let current: [Gauge]
    private let budget: [Gauge]
    private let limit: [Gauge]
    /// By charger id, made as chargers appear (a new configuration may add some).
    private var allocation: [String: Gauge] = [:]
    private let deviceErrors: Counter
    private let fallbacks: Counter
    private let lock = NSLock()
    private var dropGauges: [String: Gauge] = [:]

    init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        cycleTime = registry.makeDurationHistogram(
            descriptor: Self.name("fusebox_cycle_seconds", "Work of one control cycle"),
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20), .milliseconds(50),
                      .milliseconds(100), .milliseconds(200), .milliseconds(500), .seconds(1)])
        cycles = registry.makeCounter(descriptor: Self.name("fusebox_cycles_total", "Control cycles run"))
        overruns = registry.makeCounter(descriptor: Self.name("fusebox_cycle_overruns_total", "Cycles over their deadline"))
        current = (1...3).map { registry.makeGauge(descriptor: Self.name("fusebox_grid_current_amperes", "Grid current per phase"), labels: [("phase", "L\($0)")]) }
        budget = (1...3).map { registry.makeGauge(descriptor: Self.name("fusebox_budget_amperes", "Current left for the cars per phase"), labels: [("phase", "L\($0)")]) }
        limit = (1...3).map { registry.makeGauge(descriptor: Self.name("fusebox_limit_amperes", "The limit in force per phase"), labels: [("phase", "L\($0)")]) }
        deviceErrors = registry.makeCounter(descriptor: Self.name("fusebox_device_errors_total", "Device errors seen in cycles"))
        fallbacks = registry.makeCounter(descriptor: Self.name("fusebox_policy_fallbacks_total", "Cycles allocated by the fallback"))
    }

    func record(_ p: PublishedCycle, dropped: [String: Int]) {
        let r = p.record
        cycleTime.record(.nanoseconds(Int64(p.timing.work * 1e9)))
        cycles.increment()
        if p.timing.overrun { overruns.increment() }
        for (k, phase) in Phase.allCases.enumerated() {
            current[k].set(r.snapshot.grid.current[phase])
            budget[k].set(r.budget[phase])
            limit[k].set(r.snapshot.limits.current[phase])
        }
        let gauges = lock.withLock {
            // A station a new configuration removed leaves /metrics too.
            let ids = Set(r.snapshot.chargers.map(\.id))
            for (id, gauge) in allocation where !ids.contains(id) {
                registry.unregisterGauge(gauge)
                allocation[id] = nil
            }
            return r.snapshot.chargers.map { c in
                let gauge = allocation[c.id] ?? registry.makeGauge(
                    descriptor: Self.name("fusebox_charger_limit_amperes", "The limit written to each charger"), labels: [("charger", c.id)])
                allocation[c.id] = gauge
                return gauge
            }
        }
        for (gauge, amps) in zip(gauges, r.allocation) { gauge.set(amps) }
        if !r.errors.isEmpty { deviceErrors.increment(by: Int64(r.errors.count)) }
        if r.fallback != nil { fallbacks.increment() }
        lock.withLock {
            for (reader, count) in dropped {
                let gauge = dropGauges[reader] ?? registry.makeGauge(
                    descriptor: Self.name("fusebox_dropped_cycles", "Cycles a reader (history, web, log) lost by falling behind"),
                    labels: [("reader", reader)])
                dropGauges[reader] = gauge
                gauge.set(Double(count))
            }
        }
    }

    private static func name(_ metric: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: metric, unitName: "", helpText: help)
    }

    public func text() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
