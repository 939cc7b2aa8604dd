import CHeap
import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxLua
import FuseboxSimulation
import FuseboxSimulator

/// The demo site run for days of simulated time as fast as the machine goes,
/// with what a real site goes through every day: cars coming and going, a
/// clear or cloudy PV day, the utility reducing and then locking the chargers,
/// the grid meter silent for a minute at night, a driver hot-reloaded every
/// hour, and the history written and pruned. Every cycle is checked against
/// the invariants and against the physical grid; resident memory and the
/// history file are sampled every simulated hour (docs/reliability.md).
public struct Soak {
    public struct Settings: Sendable {
        public var days: Double = 7
        /// Seconds of simulated time per cycle: the controller's period.
        public var period: Double = 1
        public var seed: UInt64 = 1
        /// Raw samples kept (retention); shorter than the run so that pruning is exercised.
        public var retention: Double = 86_400
        public var historyPath: String
        /// The history file's cap (`history.max_size`).
        public var historyMaxBytes: Int = 256 << 20
        public var fuse: Double = 63
        public var chain: [String] = ["ripple", "fair_share"]
        /// Whether a cycle slower than the period fails the soak. A wall-clock
        /// check: right for the release week (`make soak`), not for the short
        /// debug day of `make test` on a shared machine (tests time nothing).
        public var overrunsFail = true
        /// Seconds of simulated time between two driver hot-reloads (0: none).
        public var reloadEvery: Double = 3600
        /// Called once per simulated hour with a line of progress.
        public var progress: (@Sendable (String) -> Void)?

        public init(historyPath: String) { self.historyPath = historyPath }
    }

    /// What a soak saw; `failures` is empty when every check held.
    public struct Report: Sendable, Codable {
        public var days: Double
        public var period: Double
        public var cycles = 0
        public var wallSeconds = 0.0
        public var invariantViolations = 0
        public var firstViolations: [String] = []
        /// Longest stretch, in simulated seconds, with the real grid over the fuse on some phase.
        public var longestOverFuse = 0.0
        /// Wall time of one cycle (the site's step and the controller's cycle), ms.
        public var cycleMedianMs = 0.0
        public var cycleP99Ms = 0.0
        public var cycleMaxMs = 0.0
        /// Cycles whose work took longer than the period.
        public var overruns = 0
        public var meterOutages = 0
        public var failsafeEntered = 0
        public var failsafeLeft = 0
        public var rippleChanges = 0
        public var driverReloads = 0
        public var driverReloadFailures: [String] = []
        /// Cycles in which a charger (never faulted in a soak) reported an error.
        public var chargerErrorCycles = 0
        public var firstChargerErrors: [String] = []
        public var sessions = 0
        public var energyKWh = 0.0
        /// Resident memory, MB, at the end of each simulated hour.
        public var rssMB: [Double] = []
        /// Least-squares slope of resident memory after the first simulated day, MB per day.
        public var rssSlopeMBPerDay: Double?
        /// Bytes malloc has handed out and not had back (mallinfo2), MB, each hour:
        /// beside the resident memory it tells growth (a leak, a list that grows)
        /// from memory the allocator keeps but nobody uses (fragmentation).
        public var heapInUseMB: [Double] = []
        public var heapSlopeMBPerDay: Double?
        /// Of the heap, what SQLite holds (its page caches: bounded, but they fill slowly).
        public var sqliteMB: [Double] = []
        /// Of the heap, what the Lua states hold (each under its own ceiling).
        public var luaMB: [Double] = []
        public var heapWithoutSQLiteSlopeMBPerDay: Double?
        public var heapWithoutSQLiteAndLuaSlopeMBPerDay: Double?
        public var historyBytes: [Int] = []
        public var historyMaxBytes = 0
        public var rawSamples = 0
        /// Raw samples the retention allows at most: one per cycle over the retention
        /// window, plus the 10 minutes between two prunings and a batch.
        public var rawSamplesBound = 0
        public var oldestRawAge = 0.0
        public var integrity = ""
        public var failures: [String] = []
    }

    public let sim: SimConfig
    public let settings: Settings

    public init(sim: SimConfig, settings: Settings) {
        self.sim = sim
        self.settings = settings
    }

    public func run() async throws -> Report {
        var sim = sim
        sim.start = 0   // midnight of day 0
        sim.visits = []
        sim.loads = []
        var controller = SiteConfig()
        controller.limits = SiteLimits(current: PhaseValues(all: settings.fuse), margin: 2)
        controller.chain = settings.chain
        controller.period = settings.period
        let run = try SimulatedRun(sim: sim, controller: controller)
        defer { run.stop() }
        let model = run.model
        let chargerIDs = Set(run.config.chargers.map(\.id))
        let drivers = Array(Set(run.config.chargers.map(\.device.driver) + [run.config.grid.driver])).sorted()
        let scripts = ScriptManager(cycle: run.cycle, policies: .shipped(), drivers: .shipped(), policyDirectory: nil, driverDirectory: nil)
        let store = try HistoryStore(path: settings.historyPath, retention: Retention(raw: settings.retention),
                                     maxBytes: settings.historyMaxBytes)

        var report = Report(days: settings.days, period: settings.period)
        report.historyMaxBytes = settings.historyMaxBytes
        var rng = SiteGenerator.Random(seed: settings.seed)
        var timeline = Timeline()
        let end = settings.days * 86_400
        for day in 0..<Int(settings.days.rounded(.up)) {
            let midnight = Double(day) * 86_400
            for c in run.config.chargers {
                // A car in the morning that leaves in the afternoon, and on some days one in the evening.
                let phases = rng.range(0, 1) < 0.3 ? 1 : 3
                func visit(_ from: Double, _ to: Double, _ stay: Double) {
                    let arrive = midnight + rng.range(from, to) * 3600
                    model.visits.append(.init(charger: c.id, arrive: arrive, leave: arrive + stay * 3600,
                                              car: .init(id: "\(c.id)-d\(day)-\(Int(arrive) % 86_400)", phases: phases,
                                                         maxCurrent: c.max, wanted: rng.range(5, 45))))
                }
                visit(6.5, 9.5, rng.range(5, 9))
                if rng.range(0, 1) < 0.5 { visit(18, 20, rng.range(2, 3.9)) }
            }
            model.steps.append(.init(name: "heat pump", start: midnight + 6 * 3600, end: midnight + 7.5 * 3600, current: PhaseValues(all: 9)))
            model.steps.append(.init(name: "cooker", start: midnight + 12 * 3600, end: midnight + 12.5 * 3600, current: PhaseValues(13, 0, 0)))
            timeline.add(midnight + 2 * 3600, .meter(silent: true))
            timeline.add(midnight + 2 * 3600 + 60, .meter(silent: false))
            timeline.add(midnight + 11 * 3600, .ripple(.reduced, ttl: 3600))
            timeline.add(midnight + 17.5 * 3600, .ripple(.locked, ttl: 900))
            timeline.add(midnight, .weather(cloudy: day % 3 == 2))
        }
        if settings.reloadEvery > 0 {
            for n in 1..<Int((end / settings.reloadEvery).rounded(.up)) {
                timeline.add(Double(n) * settings.reloadEvery + settings.reloadEvery / 2, .reload(drivers[n % drivers.count]))
            }
        }

        // A histogram, not a list: a week of cycle times kept one by one grew
        // the soak's own memory by 0.7 MB a day and hid the controller's.
        var works = WorkHistogram()
        var overSince: Double?
        var batch: [HistoryCycle] = []
        var events: [SiteEvent] = []
        var hourDone = 0.0
        let fuse = settings.fuse
        let started = DispatchTime.now().uptimeNanoseconds

        while model.time < end - 1e-9 {
            for action in timeline.due(by: model.time + settings.period / 2) {
                switch action {
                case .meter(let silent):
                    run.site.meter.setFault(silent ? .silent : .none, unit: run.site.meterUnit)
                    if silent { report.meterOutages += 1 }
                case .ripple(let mode, let ttl):
                    await run.cycle.setRipple(mode, ttl: ttl)
                case .weather(let cloudy):
                    model.cloudy = cloudy
                case .reload(let driver):
                    do {
                        try await scripts.reload(.driver, driver)
                        report.driverReloads += 1
                    } catch {
                        report.driverReloadFailures.append("t=\(model.time): \(driver): \(error)")
                    }
                }
            }

            let t0 = DispatchTime.now().uptimeNanoseconds
            let record = await run.step()
            let work = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            works.add(work)
            if work > settings.period { report.overruns += 1 }
            report.cycles += 1

            report.invariantViolations += record.invariantViolations.count
            for v in record.invariantViolations where report.firstViolations.count < 10 {
                report.firstViolations.append("t=\(model.time): \(v)")
            }
            let grid = model.gridCurrent
            if grid.array.contains(where: { $0 > fuse + 1e-6 }) {
                let since = overSince ?? model.time - settings.period
                overSince = since
                report.longestOverFuse = max(report.longestOverFuse, model.time - since)
            } else {
                overSince = nil
            }
            let chargerErrors = record.errors.filter { e in chargerIDs.contains { e.hasPrefix($0) } }
            if !chargerErrors.isEmpty {
                report.chargerErrorCycles += 1
                for e in chargerErrors where report.firstChargerErrors.count < 10 { report.firstChargerErrors.append("t=\(model.time): \(e)") }
            }
            for e in record.events {
                switch e.kind {
                case .failsafeEntered: report.failsafeEntered += 1
                case .failsafeLeft: report.failsafeLeft += 1
                case .rippleChanged: report.rippleChanges += 1
                default: break
                }
            }

            batch.append(HistoryCycle(record))
            events += record.events
            if batch.count >= 60 {
                try await store.write(batch, events: events)
                batch.removeAll(keepingCapacity: true)
                events.removeAll(keepingCapacity: true)
            }
            if model.time >= hourDone + 3600 - 1e-9 {
                hourDone += 3600
                report.rssMB.append(Self.residentMB())
                report.heapInUseMB.append(Self.heapInUseMB())
                report.sqliteMB.append(Double(HistoryStore.sqliteMemoryBytes) / 1_048_576)
                report.luaMB.append(Double(LuaSandbox.memoryOfAllStates) / 1_048_576)
                report.historyBytes.append(Self.fileBytes(settings.historyPath))
                let clock = Int(model.time) % 86_400
                settings.progress?(String(format: "day %d %02d:%02d  cycles %d  rss %.1f MB  heap %.2f MB (sqlite %.2f, lua %.2f)  history %.1f MB  violations %d  over fuse %.0f s  reloads %d",
                                          Int(model.time) / 86_400, clock / 3600, clock / 60 % 60, report.cycles, report.rssMB.last ?? 0, report.heapInUseMB.last ?? 0, report.sqliteMB.last ?? 0,
                                          report.luaMB.last ?? 0, Double(report.historyBytes.last ?? 0) / 1e6, report.invariantViolations, report.longestOverFuse,
                                          report.driverReloads))
            }
        }
        try await store.write(batch, events: events)
        report.wallSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9

        report.cycleMedianMs = works.quantile(0.5) * 1000
        report.cycleP99Ms = works.quantile(0.99) * 1000
        report.cycleMaxMs = works.max * 1000
        let sessions = try store.sessions(from: 0, to: end + 1)
        report.sessions = sessions.count
        report.energyKWh = sessions.reduce(0) { $0 + $1.energy }
        report.rawSamples = try store.sampleCount()
        report.oldestRawAge = model.time - ((try store.span())?.first ?? model.time)
        report.rawSamplesBound = Int((settings.retention + 600) / settings.period) + 60 + 1
        report.integrity = try store.integrityCheck()
        let perHour = report.rssMB.enumerated().filter { Double($0.offset + 1) > 24 }
        if perHour.count >= 3 {
            report.rssSlopeMBPerDay = Self.slope(perHour.map { (Double($0.offset + 1) / 24, $0.element) })
            let heap = report.heapInUseMB.enumerated().filter { Double($0.offset + 1) > 24 }
            report.heapSlopeMBPerDay = Self.slope(heap.map { (Double($0.offset + 1) / 24, $0.element) })
            let rest = heap.map { (Double($0.offset + 1) / 24, $0.element - report.sqliteMB[$0.offset]) }
            report.heapWithoutSQLiteSlopeMBPerDay = Self.slope(rest)
            report.heapWithoutSQLiteAndLuaSlopeMBPerDay = Self.slope(rest.map { ($0.0, $0.1 - report.luaMB[Int(($0.0 * 24).rounded()) - 1]) })
        }

        // The checks of a soak: what must hold however long the site runs.
        if report.invariantViolations > 0 { report.failures.append("\(report.invariantViolations) invariant violations, first: \(report.firstViolations.joined(separator: "; "))") }
        if settings.overrunsFail, report.overruns > 0 { report.failures.append("\(report.overruns) cycles took longer than the \(settings.period) s period") }
        if report.failsafeEntered != report.meterOutages {
            report.failures.append("\(report.meterOutages) meter outages but the fail-safe was entered \(report.failsafeEntered) times")
        }
        if report.failsafeLeft != report.failsafeEntered { report.failures.append("fail-safe entered \(report.failsafeEntered) times, left \(report.failsafeLeft)") }
        if !report.driverReloadFailures.isEmpty { report.failures.append("driver reloads refused: \(report.driverReloadFailures.prefix(5).joined(separator: "; "))") }
        if report.chargerErrorCycles > 0 {
            report.failures.append("chargers reported errors in \(report.chargerErrorCycles) cycles: \(report.firstChargerErrors.joined(separator: "; "))")
        }
        if report.rawSamples > report.rawSamplesBound {
            report.failures.append("\(report.rawSamples) raw samples kept, the retention allows \(report.rawSamplesBound)")
        }
        if report.oldestRawAge > settings.retention + 600 + settings.period * 61 {
            report.failures.append("the oldest raw sample is \(report.oldestRawAge) s old, retention is \(settings.retention) s")
        }
        if report.integrity != "ok" { report.failures.append("history integrity check: \(report.integrity)") }
        // The cars' reaction delay, and a car that starts at the charger's max before its first limit.
        if report.longestOverFuse > max(6, 2 * settings.period) + 1e-6 {
            report.failures.append("the grid was over the fuse for \(report.longestOverFuse) s in a row")
        }
        return report
    }

    /// Resident memory of this process, MB (Linux).
    public static func residentMB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }

    /// What malloc has handed out and not had back, MB (glibc's mallinfo2:
    /// small blocks in use plus mmapped large ones).
    public static func heapInUseMB() -> Double {
        Double(fb_heap_in_use()) / 1_048_576
    }

    /// The history's size on disk: the database and its write-ahead log.
    static func fileBytes(_ path: String) -> Int {
        [path, path + "-wal"].reduce(0) { sum, p in
            sum + ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0)
        }
    }

    /// Least-squares slope of y over x.
    public static func slope(_ points: [(Double, Double)]) -> Double {
        let n = Double(points.count)
        let mx = points.reduce(0) { $0 + $1.0 } / n, my = points.reduce(0) { $0 + $1.1 } / n
        let sxy = points.reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let sxx = points.reduce(0) { $0 + ($1.0 - mx) * ($1.0 - mx) }
        return sxx > 0 ? sxy / sxx : 0
    }
}

/// Cycle times in fixed memory: buckets 1 % wide from 1 µs up, so a quantile
/// is within 1 % of the exact one.
struct WorkHistogram {
    private static let floor = 1e-6, ratio = 1.01
    private var counts = [Int](repeating: 0, count: 2400)   // up to 1e-6 * 1.01^2400, some 23 s
    private(set) var total = 0
    private(set) var max = 0.0

    mutating func add(_ seconds: Double) {
        let i = seconds <= Self.floor ? 0 : Swift.min(counts.count - 1, Int(log(seconds / Self.floor) / log(Self.ratio)) + 1)
        counts[i] += 1
        total += 1
        max = Swift.max(max, seconds)
    }

    /// The upper edge of the bucket that holds the q-quantile.
    func quantile(_ q: Double) -> Double {
        guard total > 0 else { return 0 }
        let rank = Swift.max(1, Int((Double(total) * q).rounded(.up)))
        var seen = 0
        for (i, n) in counts.enumerated() {
            seen += n
            if seen >= rank { return Swift.min(max, Self.floor * pow(Self.ratio, Double(i))) }
        }
        return max
    }
}

/// What happens to the soak's site, in time order.
private struct Timeline {
    enum Action {
        case meter(silent: Bool)
        case ripple(RippleMode, ttl: Double)
        case weather(cloudy: Bool)
        case reload(String)
    }

    private var entries: [(at: Double, action: Action)] = []
    private var sorted = false

    mutating func add(_ at: Double, _ action: Action) {
        entries.append((at, action))
        sorted = false
    }

    /// Removes and returns every action due by `time`.
    mutating func due(by time: Double) -> [Action] {
        if !sorted {
            entries.sort { $0.at > $1.at }   // latest first: the due ones come off the end
            sorted = true
        }
        var out: [Action] = []
        while let last = entries.last, last.at <= time { out.append(entries.removeLast().action) }
        return out
    }
}
