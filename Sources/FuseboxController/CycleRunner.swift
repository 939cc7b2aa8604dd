import Foundation
import FuseboxCore
import Logging
import ServiceLifecycle

/// How long one cycle's work took, and whether it missed its deadline.
public struct CycleTiming: Sendable {
    /// Seconds since 1970 when the cycle began.
    public var started: Double
    /// Seconds of work: sampling, polling, allocation and writes.
    public var work: Double
    public var overrun: Bool

    public init(started: Double, work: Double, overrun: Bool) {
        self.started = started
        self.work = work
        self.overrun = overrun
    }
}

/// What the runner publishes after each cycle: to history, the page, the log.
public struct PublishedCycle: Sendable {
    public var record: ControlCycle.Record
    public var timing: CycleTiming
    public var number: Int

    public init(record: ControlCycle.Record, timing: CycleTiming, number: Int) {
        self.record = record
        self.timing = timing
        self.number = number
    }
}

/// Runs the control cycle on the wall clock, one cycle per period, as a
/// `Service`: started in a `ServiceGroup`, stopped gracefully on SIGTERM or
/// SIGINT. A cycle that takes longer than its deadline is counted and logged;
/// the ticks it missed are skipped, never queued up. Each record is offered to
/// subscribers through a bounded buffer that drops the oldest, so history,
/// the web page and logging can never hold the cycle up.
// Unchecked: the subscribers, the statistics and the final events are under `lock`; the rest is immutable (the cycle is an actor).
public final class CycleRunner: Service, @unchecked Sendable {
    public let cycle: ControlCycle
    public let period: Double
    public let deadline: Double
    /// Stop after this many cycles (tests, `fusebox run --cycles`).
    public let limit: Int?
    private let logger: Logger
    private let lock = NSLock()
    private var subscribers: [(label: String, continuation: AsyncStream<PublishedCycle>.Continuation)] = []
    private var stats = CycleStats()
    private var finalEventsStorage: [SiteEvent] = []

    /// The events of stopping (after the last cycle), for readers once their stream has ended.
    public private(set) var finalEvents: [SiteEvent] {
        get { lock.withLock { finalEventsStorage } }
        set { lock.withLock { finalEventsStorage = newValue } }
    }

    public init(cycle: ControlCycle, period: Double, deadline: Double? = nil, limit: Int? = nil,
                logger: Logger = Logger(label: "fusebox.cycle")) {
        self.cycle = cycle
        self.period = period
        self.deadline = deadline ?? period
        self.limit = limit
        self.logger = logger
    }

    /// A stream of every cycle from now on; a slow reader loses the oldest.
    /// What is dropped for a reader is counted under its `label` (`statistics.dropped`).
    public func subscribe(label: String, buffer: Int = 64) -> AsyncStream<PublishedCycle> {
        let (stream, continuation) = AsyncStream.makeStream(of: PublishedCycle.self, bufferingPolicy: .bufferingNewest(buffer))
        lock.withLock { subscribers.append((label, continuation)) }
        return stream
    }

    public var statistics: CycleStats { lock.withLock { stats } }

    public func run() async throws {
        await cycle.note(SiteEvent(time: Date().timeIntervalSince1970, kind: .started,
                                   message: "controller started, one cycle every \(period) s"))
        // Above the web server's and the history's tasks: under a flood of
        // requests the cycle must still get the cores first.
        // (A task of its own, which a shutdown cancels by hand: cancellation does
        // not reach an unstructured task by itself.)
        await cancelWhenGracefulShutdown {
            let loop = Task(priority: .high) { await self.loop() }
            await withTaskCancellationHandler { await loop.value } onCancel: { loop.cancel() }
        }
        let errors = await cycle.standDown(at: Date().timeIntervalSince1970)
        for e in errors { logger.error("on stopping: \(e)") }
        let last = await cycle.takePendingEvents()
        finalEvents = last
        for l in lock.withLock({ subscribers }) { l.continuation.finish() }
    }

    private func loop() async {
        let clock = ContinuousClock()
        let step = Duration.milliseconds(Int64((period * 1000).rounded()))
        var next = clock.now
        var number = 0
        var lastOverrunEvent = -Double.infinity
        var overrunsSinceEvent = 0
        while !Task.isCancelled, limit.map({ number < $0 }) ?? true {
            let begun = clock.now
            let started = Date().timeIntervalSince1970
            let record = await cycle.run(at: started)
            let work = (clock.now - begun).seconds
            number += 1
            let overrun = work > deadline
            if overrun {
                overrunsSinceEvent += 1
                // One event a minute at most: an overloaded box must not flood its own log.
                if started - lastOverrunEvent >= 60 {
                    logger.warning("cycle \(number) took \(Int(work * 1000)) ms, deadline \(Int(deadline * 1000)) ms")
                    await cycle.note(SiteEvent(time: started, kind: .overrun,
                                               message: "\(overrunsSinceEvent) cycle(s) over the \(Int(deadline * 1000)) ms deadline, the last took \(Int(work * 1000)) ms"))
                    lastOverrunEvent = started
                    overrunsSinceEvent = 0
                }
            }
            let published = PublishedCycle(record: record, timing: CycleTiming(started: started, work: work, overrun: overrun),
                                            number: number)
            let listeners = lock.withLock {
                stats.add(work: work, overrun: overrun)
                return subscribers
            }
            for l in listeners {
                if case .dropped = l.continuation.yield(published) { lock.withLock { stats.dropped[l.label, default: 0] += 1 } }
            }

            next = next.advanced(by: step)
            let now = clock.now
            if next < now {
                // Missed ticks are skipped: the next cycle starts on the next whole period.
                let behind = (now - next).seconds
                next = next.advanced(by: step * (Int(behind / period) + 1))
            }
            do { try await Task.sleep(until: next, clock: clock) } catch { return }
        }
    }
}

/// Cycle latencies, overruns, count: for `fusebox-dev bench`, /metrics and the page.
public struct CycleStats: Sendable {
    public private(set) var cycles = 0
    public private(set) var overruns = 0
    /// Cycles a reader (history, the page, the log) lost because it fell behind, by reader.
    public var dropped: [String: Int] = [:]
    /// The last 4096 cycles' work, seconds.
    public private(set) var recent: [Double] = []
    private var next = 0

    public init() {}

    public mutating func add(work: Double, overrun: Bool) {
        cycles += 1
        if overrun { overruns += 1 }
        if recent.count < 4096 { recent.append(work) } else {
            recent[next] = work
            next = (next + 1) % 4096
        }
    }

    /// The q-quantile (0...1) of recent cycle work, seconds.
    public func quantile(_ q: Double) -> Double { Self.quantile(recent.sorted(), q) }

    /// The q-quantile (0...1) of `sorted` by nearest rank; 0 when empty.
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
