import Foundation
import FuseboxCore
import FuseboxHistory
import Logging
import ServiceLifecycle

/// Writes every cycle to history, in batches, off the cycle: it reads the
/// runner's bounded stream (the runner counts what a full buffer drops), and a
/// failed write (a full disk, a read-only file system) loses that batch, is
/// recorded as an event and in the log, and control goes on.
// Unchecked: every property is immutable; the store serializes its own writes (GRDB).
public final class HistoryRecorder: Service, @unchecked Sendable {
    public let store: HistoryStore
    private let runner: CycleRunner
    private let stream: AsyncStream<PublishedCycle>
    /// A batch is written when it holds this many cycles or its oldest is this old.
    public let batchSize: Int
    public let flushAfter: Double
    private let logger: Logger

    public init(store: HistoryStore, runner: CycleRunner, batchSize: Int = 30, flushAfter: Double = 5,
                logger: Logger = Logger(label: "fusebox.history")) {
        self.store = store
        self.runner = runner
        self.batchSize = batchSize
        self.flushAfter = flushAfter
        self.logger = logger
        stream = runner.subscribe(label: "history", buffer: 4096)
    }

    public func run() async throws {
        // The chargers' settings, for replays; again whenever a new configuration takes over.
        func saveChargers() {
            try? store.saveChargers(runner.cycle.roster.map {
                ChargerSettingsRecord(id: $0.settings.id, phases: $0.settings.phases, min: $0.settings.min, max: $0.settings.max,
                                      priority: $0.settings.priority)
            })
        }
        saveChargers()
        var batch: [HistoryCycle] = []
        var events: [SiteEvent] = []
        var failing = false
        func flush() async {
            guard !batch.isEmpty || !events.isEmpty else { return }
            do {
                try await store.write(batch, events: events)
                if failing {
                    failing = false
                    await runner.cycle.note(SiteEvent(time: Date().timeIntervalSince1970, kind: .historyFull, message: "history writes again"))
                }
            } catch {
                logger.error("history: a batch of \(batch.count) cycles was lost: \(error)")
                if !failing {
                    failing = true
                    await runner.cycle.note(SiteEvent(time: Date().timeIntervalSince1970, kind: .historyFull,
                                                      message: "history cannot write (\(error)); control goes on"))
                }
            }
            batch.removeAll(keepingCapacity: true)
            events.removeAll()
        }
        for await published in stream {
            if let commands = published.record.commands {
                do { try store.saveCommands(commands, at: published.record.time) } catch {
                    logger.error("history: could not keep the commands (\(commands.summary(at: published.record.time).joined(separator: ", "))): \(error)")
                }
            }
            if published.record.events.contains(where: { $0.kind == .configChanged && $0.subject == "site" }) { saveChargers() }
            batch.append(HistoryCycle(published.record))
            events += published.record.events
            if batch.count >= batchSize || published.record.time - batch[0].time >= flushAfter { await flush() }
        }
        events += runner.finalEvents
        await flush()
        try? await gracefulShutdown()   // the stream ends first; the group stops us in turn
    }
}

extension HistoryCycle {
    /// A cycle record as history keeps it.
    public init(_ r: ControlCycle.Record) {
        let s = r.snapshot
        self.init(time: r.time, current: s.grid.current, voltage: s.grid.voltage, power: s.grid.power, pvPower: s.pv?.power,
                  budget: r.budget, limit: s.limits.current, margin: s.limits.margin, ripple: s.ripple, failsafe: s.meterSilent,
                  fallback: r.fallback != nil,
                  chargers: zip(s.chargers, r.allocation).map { c, amps in
                      ChargerSample(id: c.id, status: c.status, phases: c.phases, current: c.current, setpoint: amps, energy: c.sessionEnergy)
                  })
    }
}
