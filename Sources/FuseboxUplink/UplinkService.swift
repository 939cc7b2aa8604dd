import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import Logging
import ServiceLifecycle
import Synchronization

/// The uplink as `fusebox run` keeps it: a `Service` beside the runner that
/// reads the runner's bounded stream (so the cycle never waits on MQTT) and
/// hands each cycle to the `Uplink` of the configuration in force. A new
/// configuration (the page's Setup, SIGHUP) that changes the `mqtt` section
/// replaces the connection at once; one without the section ends it.
// Unchecked: `running` is under a `Mutex`; changes are taken one at a time by `run`; the rest is immutable.
public final class UplinkService: Service, @unchecked Sendable {
    private struct Running {
        var uplink: Uplink
        /// nil until `run` starts it.
        var task: Task<Void, any Error>?
        var site: SiteConfig
    }

    private let cycle: ControlCycle
    private let store: HistoryStore
    private let runner: CycleRunner
    private let stream: AsyncStream<PublishedCycle>
    private let logger: Logger
    private let running = Mutex<Running?>(nil)
    /// Why the section in force has no connection (settings libmosquitto refused).
    private let failure = Mutex<(broker: String, why: String)?>(nil)
    private let changes: AsyncStream<SiteConfig>
    private let changed: AsyncStream<SiteConfig>.Continuation

    public init(site: SiteConfig, cycle: ControlCycle, store: HistoryStore, runner: CycleRunner, logger: Logger = Logger(label: "fusebox.uplink")) {
        self.cycle = cycle
        self.store = store
        self.runner = runner
        self.logger = logger
        stream = runner.subscribe(label: "uplink", buffer: 256)
        (changes, changed) = AsyncStream.makeStream(of: SiteConfig.self, bufferingPolicy: .bufferingNewest(4))
        // Made now, started by `run`: the uplink of the file is there (and its settings checked) before the group runs.
        if let made = make(site) { running.withLock { $0 = Running(uplink: made, task: nil, site: site) } }
    }

    /// The uplink of `site`'s `mqtt` section from now on; returns at once.
    public func reconfigure(_ site: SiteConfig) { changed.yield(site) }

    public var uplink: Uplink? { running.withLock { $0?.uplink } }

    public func report() -> UplinkReport? {
        if let u = uplink { return u.report() }
        return failure.withLock { f in
            f.map { UplinkReport(broker: $0.broker, prefix: "", connected: false, waiting: 0, dropped: 0, lastError: $0.why) }
        }
    }

    public func run() async throws {
        running.withLock { r in
            if let u = r?.uplink, r?.task == nil { r?.task = Task { try await u.run() } }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await site in self.changes { await self.switchTo(site) } }
            for await published in stream { await uplink?.take(published) }
            // The runner has stopped: its last events go too, and what waits gets a moment to leave.
            await uplink?.take(events: runner.finalEvents, at: Date().timeIntervalSince1970)
            await uplink?.drain(within: 3)
            changed.finish()
        }
        await switchTo(nil)
        try? await gracefulShutdown()   // the stream ends first; the group stops us in turn
    }

    private func switchTo(_ site: SiteConfig?) async {
        let before = running.withLock { $0 }
        if let before, let site, before.site.mqtt == site.mqtt, before.site.serial == site.serial, before.site.name == site.name { return }
        if before == nil, site?.mqtt == nil {
            failure.withLock { $0 = nil }
            return
        }
        if let before {
            before.task?.cancel()
            _ = try? await before.task?.value
            running.withLock { $0 = nil }
        }
        guard let site, site.mqtt != nil else {
            failure.withLock { $0 = nil }
            if before != nil { logger.info("uplink: off (the configuration has no mqtt section)") }
            return
        }
        guard let uplink = make(site) else { return }
        running.withLock { $0 = Running(uplink: uplink, task: Task { try await uplink.run() }, site: site) }
        logger.info("uplink: now \(uplink.broker), topics under \(uplink.topics.prefix)")
    }

    /// The uplink of `site`'s section, or nil (none, or settings libmosquitto refused: `failure` says why).
    private func make(_ site: SiteConfig) -> Uplink? {
        failure.withLock { $0 = nil }
        guard let settings = site.mqtt else { return nil }
        do {
            return try Uplink(site: site, settings: settings, cycle: cycle, store: store, logger: logger)
        } catch {
            failure.withLock { $0 = (settings.broker, error.description) }
            logger.error("uplink: \(settings.broker): \(error); running without it")
            return nil
        }
    }
}
