import Foundation
import FuseboxCore
import GRDB
import GRDBSQLite

/// The site's history in one SQLite file (WAL), through GRDB: a sample per
/// cycle for the grid and per charger, events, charging sessions, 1-minute
/// aggregates, and the chargers' settings for replay.
///
/// Every batch is one transaction, so a crash (kill -9, power cut) loses at most
/// the batch being written and leaves a database that opens and passes its
/// integrity check: SQLite's WAL does the hard part. The store keeps no state
/// of its own between calls (open sessions live in their table), so it is
/// `Sendable` and any task may query it while the recorder writes.
public final class HistoryStore: Sendable {
    public let path: String
    public let retention: Retention
    /// A pool for the controller's own file; a read-only queue for a file that
    /// is only read (`fusebox history export`), which must not change it.
    let pool: any DatabaseWriter

    /// `maxBytes` caps the file (an SD card shared with the system): beyond it a
    /// write fails as on a full disk, and retention makes room again.
    public init(path: String, retention: Retention = Retention(), maxBytes: Int? = nil) throws {
        self.path = path
        self.retention = retention
        var config = Configuration()
        config.label = "fusebox.history"
        // WAL with synchronous NORMAL: a power cut can lose the last transactions,
        // never corrupt the file; a fsync per cycle would wear out an SD card.
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            if let maxBytes {
                let page = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA max_page_count = \(max(1, maxBytes / page))")
            }
        }
        config.busyMode = .timeout(5)
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            try Self.migrator.migrate(pool)
            self.pool = pool
        } catch {
            throw HistoryError(message: "\(path): \(Self.explain(error))")
        }
    }

    /// Opens a history file to read it only: nothing in the file changes, not
    /// even a new table, and a file that is empty, not SQLite, or not a Fusebox
    /// history is refused with its name and the reason.
    public init(readingOnly path: String, retention: Retention = Retention()) throws {
        self.path = path
        self.retention = retention
        var config = Configuration()
        config.label = "fusebox.history.read"
        config.readonly = true
        config.busyMode = .timeout(5)
        if let why = FileContents.problem(path) { throw HistoryError(message: "\(path): cannot read it: \(why)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size > 0 else { throw HistoryError(message: "\(path): the file is empty, not a Fusebox history") }
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            let tables = try queue.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
            let missing = ["samples", "charger_samples", "sessions", "events", "chargers"].filter { !tables.contains($0) }
            guard missing.isEmpty else {
                throw HistoryError(message: "\(path): a SQLite database, but not a Fusebox history (no table \(missing.joined(separator: ", ")))")
            }
            pool = queue
        } catch let error as HistoryError {
            throw error
        } catch {
            throw HistoryError(message: "\(path): \(Self.explain(error))")
        }
    }

    /// SQLite's errors in words: "SQLite error 26" alone tells a user nothing.
    static func explain(_ error: any Error) -> String {
        guard let e = error as? DatabaseError else { return "\(error)" }
        switch e.resultCode {
        case .SQLITE_NOTADB: return "not a SQLite database (a Fusebox history is one)"
        case .SQLITE_CANTOPEN: return "cannot open it (no such folder, or no permission)"
        case .SQLITE_CORRUPT: return "the database is damaged (SQLite says: \(e.message ?? "corrupt"))"
        case .SQLITE_FULL: return "the disk is full, or the history reached its size limit"
        case .SQLITE_READONLY: return "the file is read-only"
        case .SQLITE_PERM, .SQLITE_AUTH: return "no permission"
        default: return e.message.map { "SQLite: \($0)" } ?? "\(e)"
        }
    }

    /// The times a history holds, seconds since 1970: up to the end of the year
    /// 9999. Beyond them, spans and steps overflow (the API and the command line
    /// hold their `from` and `to` to this).
    public static let times = 0.0...253_402_300_799.0
    public static let timesExpected = "seconds since 1970 from 0 to 253402300799 (the year 9999)"

    /// The longest averaging step a query takes: a year.
    public static let resolutionRange = 0.001...31_622_400.0

    private static func checkQuery(from: Double, to: Double, resolution: Double) throws -> Double {
        guard from.isFinite, to.isFinite else {
            throw HistoryError(message: "from and to must be finite times (seconds since 1970), got \(from) and \(to)")
        }
        guard resolution.isFinite, resolution <= resolutionRange.upperBound, resolution >= 0 else {
            throw HistoryError(message: "resolution: expected seconds from \(resolutionRange.lowerBound) to \(Int(resolutionRange.upperBound)), got \(resolution)")
        }
        return max(resolution, resolutionRange.lowerBound)
    }

    /// Bytes SQLite holds in this process (every connection's page cache and
    /// statements): what of the heap is the history's.
    public static var sqliteMemoryBytes: Int { Int(sqlite3_memory_used()) }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE samples (
                    time REAL PRIMARY KEY,
                    i1 REAL NOT NULL, i2 REAL NOT NULL, i3 REAL NOT NULL,
                    v1 REAL NOT NULL, v2 REAL NOT NULL, v3 REAL NOT NULL,
                    p1 REAL, p2 REAL, p3 REAL,
                    pv REAL,
                    ev1 REAL NOT NULL, ev2 REAL NOT NULL, ev3 REAL NOT NULL,
                    budget1 REAL NOT NULL, budget2 REAL NOT NULL, budget3 REAL NOT NULL,
                    limit1 REAL NOT NULL, limit2 REAL NOT NULL, limit3 REAL NOT NULL, margin REAL NOT NULL,
                    ripple TEXT NOT NULL, failsafe INTEGER NOT NULL, fallback INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE charger_samples (
                    charger TEXT NOT NULL, time REAL NOT NULL,
                    status TEXT NOT NULL, i1 REAL, i2 REAL, i3 REAL, setpoint REAL, energy REAL NOT NULL,
                    PRIMARY KEY (charger, time)
                ) WITHOUT ROWID;
                CREATE INDEX charger_samples_time ON charger_samples(time);
                CREATE TABLE minute_samples (
                    minute INTEGER PRIMARY KEY,
                    i1 REAL NOT NULL, i2 REAL NOT NULL, i3 REAL NOT NULL,
                    peak1 REAL NOT NULL, peak2 REAL NOT NULL, peak3 REAL NOT NULL,
                    ev1 REAL NOT NULL, ev2 REAL NOT NULL, ev3 REAL NOT NULL,
                    pv REAL NOT NULL,
                    budget1 REAL NOT NULL, budget2 REAL NOT NULL, budget3 REAL NOT NULL,
                    limit1 REAL NOT NULL, limit2 REAL NOT NULL, limit3 REAL NOT NULL
                );
                CREATE TABLE minute_chargers (
                    charger TEXT NOT NULL, minute INTEGER NOT NULL,
                    current REAL NOT NULL, setpoint REAL NOT NULL, energy REAL NOT NULL,
                    PRIMARY KEY (charger, minute)
                ) WITHOUT ROWID;
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL, subject TEXT, message TEXT NOT NULL
                );
                CREATE INDEX events_time ON events(time);
                CREATE TABLE sessions (
                    id INTEGER PRIMARY KEY, charger TEXT NOT NULL, start REAL NOT NULL, "end" REAL,
                    energy REAL NOT NULL, peak_power REAL NOT NULL,
                    energy_first REAL NOT NULL, last_seen REAL NOT NULL
                );
                CREATE INDEX sessions_start ON sessions(start);
                CREATE TABLE chargers (
                    id TEXT PRIMARY KEY, phases TEXT NOT NULL, min REAL NOT NULL, max REAL NOT NULL, priority INTEGER NOT NULL
                );
                CREATE TABLE meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
                """)
        }
        m.registerMigration("v2 commands") { db in
            // One row: what was set from outside, as JSON (SiteCommands).
            try db.execute(sql: """
                CREATE TABLE commands (id INTEGER PRIMARY KEY CHECK (id = 1), time REAL NOT NULL, json TEXT NOT NULL);
                """)
        }
        m.registerMigration("v3 outbox") { db in
            // Messages for the uplink, in order (HistoryStore+Outbox.swift). AUTOINCREMENT:
            // a sequence number is never given twice, not even after a restart.
            try db.execute(sql: """
                CREATE TABLE outbox (sequence INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL);
                """)
        }
        return m
    }

    // MARK: - Commands

    /// Keeps what was set from outside, replacing what was kept before. One small
    /// transaction of its own, written at once: a command must not wait for the
    /// next batch of samples to survive a power cut.
    public func saveCommands(_ commands: SiteCommands, at time: Double) throws {
        let json = String(decoding: try JSONEncoder().encode(commands), as: UTF8.self)
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO commands (id, time, json) VALUES (1, ?, ?)", arguments: [time, json])
        }
    }

    /// What was kept, or nil when nothing was ever set. A row that does not
    /// decode (written by a later version, say) throws, naming the table.
    public func loadCommands() throws -> (commands: SiteCommands, time: Double)? {
        guard let row = try pool.read({ db in try Row.fetchOne(db, sql: "SELECT time, json FROM commands WHERE id = 1") }) else {
            return nil
        }
        do {
            let json: String = try row.decode(forColumn: "json")
            let time: Double = try row.decode(forColumn: "time")
            return (try JSONDecoder().decode(SiteCommands.self, from: Data(json.utf8)), time)
        } catch {
            throw HistoryError(message: "\(path): the commands table holds what this version cannot read: \(error)")
        }
    }

    // MARK: - Writing

    /// Writes a batch of cycles and events in one transaction, keeps the charging
    /// sessions and the 1-minute aggregates up to date, and applies retention
    /// now and then.
    /// GRDB runs it on its writer's own queue, not on a thread of the cooperative pool.
    public func write(_ cycles: [HistoryCycle], events: [SiteEvent] = []) async throws {
        let retention = retention
        try await pool.write { db in
            let sample = try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let charger = try db.cachedStatement(sql: "INSERT OR REPLACE INTO charger_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            for c in cycles {
                let ev = c.evCurrent
                try sample.execute(arguments: [
                    c.time, c.current.l1, c.current.l2, c.current.l3, c.voltage.l1, c.voltage.l2, c.voltage.l3,
                    c.power?.l1, c.power?.l2, c.power?.l3, c.pvPower, ev.l1, ev.l2, ev.l3,
                    c.budget.l1, c.budget.l2, c.budget.l3, c.limit.l1, c.limit.l2, c.limit.l3, c.margin,
                    c.ripple.rawValue, c.failsafe, c.fallback,
                ])
                for s in c.chargers {
                    let i = s.current + Array(repeating: nil as Double?, count: max(0, 3 - s.current.count))
                    try charger.execute(arguments: [s.id, c.time, s.status.rawValue, i[0], i[1], i[2], s.setpoint, s.energy])
                }
            }
            let event = try db.cachedStatement(sql: "INSERT INTO events (time, kind, subject, message) VALUES (?, ?, ?, ?)")
            for e in events { try event.execute(arguments: [e.time, e.kind.rawValue, e.subject, e.message]) }
            try Self.trackSessions(cycles, db)
            if let last = cycles.last?.time {
                try Self.aggregate(until: last, db)
                let maintained = try Double.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'maintained'") ?? 0
                if last - maintained >= 600 { try Self.applyRetention(now: last, retention: retention, db) }
            }
        }
    }

    /// Sessions from status: a car plugging in opens one, the charger turning
    /// free closes it. A charger that does not answer leaves its session open.
    private static func trackSessions(_ cycles: [HistoryCycle], _ db: Database) throws {
        struct Open { var id: Int64; var first: Double; var energy: Double; var peak: Double; var seen: Double; var end: Double? }
        var open: [String: Open] = [:]
        for row in try Row.fetchAll(db, sql: #"SELECT id, charger, energy_first, energy, peak_power, last_seen FROM sessions WHERE "end" IS NULL"#) {
            open[try row.decode(forColumn: "charger")] = Open(
                id: try row.decode(forColumn: "id"), first: try row.decode(forColumn: "energy_first"), energy: try row.decode(forColumn: "energy"),
                peak: try row.decode(forColumn: "peak_power"), seen: try row.decode(forColumn: "last_seen"))
        }
        // Each session row is written once per batch, not once per cycle.
        var touched: [Open] = []
        let insert = try db.cachedStatement(sql: """
            INSERT INTO sessions (charger, start, "end", energy, peak_power, energy_first, last_seen) VALUES (?, ?, NULL, 0, ?, ?, ?)
            """)
        for c in cycles {
            for s in c.chargers {
                if var o = open[s.id] {
                    if s.connected {
                        // A counter that starts again from 0 was a session counter: take it as it is.
                        o.energy = s.energy >= o.first ? s.energy - o.first : s.energy
                        o.peak = max(o.peak, s.power(voltage: c.voltage))
                        o.seen = c.time
                        open[s.id] = o
                    } else if s.status == .free {
                        o.end = c.time
                        o.seen = c.time
                        touched.append(o)
                        open[s.id] = nil
                    }
                } else if s.connected {
                    let power = s.power(voltage: c.voltage)
                    try insert.execute(arguments: [s.id, c.time, power, s.energy, c.time])
                    open[s.id] = Open(id: db.lastInsertedRowID, first: s.energy, energy: 0, peak: power, seen: c.time)
                }
            }
        }
        let update = try db.cachedStatement(sql: #"UPDATE sessions SET "end" = ?, energy = ?, peak_power = ?, last_seen = ? WHERE id = ?"#)
        for o in touched + open.values { try update.execute(arguments: [o.end, o.energy, o.peak, o.seen, o.id]) }
    }

    /// 1-minute aggregates of every whole minute not yet aggregated.
    private static func aggregate(until time: Double, _ db: Database) throws {
        let done = try Double.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'aggregated'") ?? 0
        let upTo = (time / 60).rounded(.down) * 60
        guard upTo > done else { return }
        try db.execute(sql: """
            INSERT OR REPLACE INTO minute_samples
            SELECT CAST(time / 60 AS INTEGER) * 60, avg(i1), avg(i2), avg(i3), max(i1), max(i2), max(i3),
                   avg(ev1), avg(ev2), avg(ev3), avg(coalesce(pv, 0)),
                   min(budget1), min(budget2), min(budget3), min(limit1), min(limit2), min(limit3)
            FROM samples WHERE time >= ? AND time < ? GROUP BY CAST(time / 60 AS INTEGER)
            """, arguments: [done, upTo])
        try db.execute(sql: """
            INSERT OR REPLACE INTO minute_chargers
            SELECT charger, CAST(time / 60 AS INTEGER) * 60,
                   avg(max(coalesce(i1, 0), coalesce(i2, 0), coalesce(i3, 0))), avg(coalesce(setpoint, 0)), max(energy)
            FROM charger_samples WHERE time >= ? AND time < ? GROUP BY charger, CAST(time / 60 AS INTEGER)
            """, arguments: [done, upTo])
        try db.execute(sql: "INSERT OR REPLACE INTO meta VALUES ('aggregated', ?)", arguments: [upTo])
    }

    private static func applyRetention(now: Double, retention: Retention, _ db: Database) throws {
        let raw = now - retention.raw, old = now - retention.minute
        try db.execute(sql: "DELETE FROM samples WHERE time < ?", arguments: [raw])
        try db.execute(sql: "DELETE FROM charger_samples WHERE time < ?", arguments: [raw])
        try db.execute(sql: "DELETE FROM minute_samples WHERE minute < ?", arguments: [old])
        try db.execute(sql: "DELETE FROM minute_chargers WHERE minute < ?", arguments: [old])
        try db.execute(sql: "DELETE FROM events WHERE time < ?", arguments: [old])
        try db.execute(sql: #"DELETE FROM sessions WHERE "end" IS NOT NULL AND "end" < ?"#, arguments: [old])
        try db.execute(sql: "INSERT OR REPLACE INTO meta VALUES ('maintained', ?)", arguments: [now])
    }

    /// Applies retention now (it also runs by itself every 10 minutes of samples).
    public func applyRetention(now: Double) throws {
        try pool.write { db in try Self.applyRetention(now: now, retention: retention, db) }
    }

    /// Records the chargers' settings (on start and on configuration changes).
    public func saveChargers(_ chargers: [ChargerSettingsRecord]) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM chargers")
            for c in chargers {
                try db.execute(sql: "INSERT INTO chargers VALUES (?, ?, ?, ?, ?)",
                               arguments: [c.id, c.phases.map { String($0.rawValue) }.joined(separator: ","), c.min, c.max, c.priority])
            }
        }
    }

    // MARK: - Reading

    /// Grid samples from `from` to `to` (seconds since 1970), averaged over
    /// `resolution` seconds; 60 s or more read the 1-minute aggregates.
    public func samples(from: Double, to: Double, resolution: Double = 1) throws -> [SamplePoint] {
        let res = try Self.checkQuery(from: from, to: to, resolution: resolution)
        let sql = res >= 60
            ? """
              SELECT CAST(minute / ? AS INTEGER) * ? AS t, avg(i1), avg(i2), avg(i3), max(peak1), max(peak2), max(peak3),
                     avg(ev1), avg(ev2), avg(ev3), avg(pv), min(budget1), min(budget2), min(budget3), min(limit1), min(limit2), min(limit3)
              FROM minute_samples WHERE minute >= ? AND minute < ? GROUP BY t ORDER BY t
              """
            : """
              SELECT CAST(time / ? AS INTEGER) * ? AS t, avg(i1), avg(i2), avg(i3), max(i1), max(i2), max(i3),
                     avg(ev1), avg(ev2), avg(ev3), avg(coalesce(pv, 0)), min(budget1), min(budget2), min(budget3), min(limit1), min(limit2), min(limit3)
              FROM samples WHERE time >= ? AND time < ? GROUP BY t ORDER BY t
              """
        return try pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: [res, res, from, to]).map { r in
                func v(_ i: Int) throws -> Double { try r.decode(atIndex: i) }
                return SamplePoint(time: try v(0), current: PhaseValues(try v(1), try v(2), try v(3)), peak: PhaseValues(try v(4), try v(5), try v(6)),
                                   ev: PhaseValues(try v(7), try v(8), try v(9)), pvPower: try v(10),
                                   budget: PhaseValues(try v(11), try v(12), try v(13)), limit: PhaseValues(try v(14), try v(15), try v(16)))
            }
        }
    }

    /// One charger's samples, averaged over `resolution` seconds.
    public func chargerSamples(_ charger: String, from: Double, to: Double, resolution: Double = 1) throws -> [ChargerPoint] {
        let res = try Self.checkQuery(from: from, to: to, resolution: resolution)
        let sql = res >= 60
            ? """
              SELECT CAST(minute / ? AS INTEGER) * ? AS t, avg(current), avg(setpoint), max(energy)
              FROM minute_chargers WHERE charger = ? AND minute >= ? AND minute < ? GROUP BY t ORDER BY t
              """
            : """
              SELECT CAST(time / ? AS INTEGER) * ? AS t, avg(max(coalesce(i1, 0), coalesce(i2, 0), coalesce(i3, 0))),
                     avg(coalesce(setpoint, 0)), max(energy)
              FROM charger_samples WHERE charger = ? AND time >= ? AND time < ? GROUP BY t ORDER BY t
              """
        return try pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: [res, res, charger, from, to]).map {
                ChargerPoint(time: try $0.decode(atIndex: 0), current: try $0.decode(atIndex: 1), setpoint: try $0.decode(atIndex: 2),
                             energy: try $0.decode(atIndex: 3))
            }
        }
    }

    /// Raw cycles from `from` to `to`, with every charger: what replay runs on.
    public func cycles(from: Double, to: Double) throws -> [HistoryCycle] {
        try pool.read { db in
            var phases: [String: [Phase]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, phases FROM chargers") {
                phases[try row.at("id")] = Self.phases(try row.at("phases"))
            }
            var byTime: [Double: [ChargerSample]] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT charger, time, status, i1, i2, i3, setpoint, energy FROM charger_samples WHERE time >= ? AND time < ? ORDER BY charger",
                                      arguments: [from, to]) {
                let id: String = try r.at(0), time: Double = try r.at(1), status: String = try r.at(2)
                let p = phases[id] ?? [.l1, .l2, .l3]
                let currents: [Double?] = [try r.at(3), try r.at(4), try r.at(5)]
                byTime[time, default: []].append(ChargerSample(id: id, status: ChargerStatus(rawValue: status) ?? .unavailable, phases: p,
                                                               current: currents.prefix(p.count).map { $0 ?? 0 },
                                                               setpoint: try r.at(6), energy: try r.at(7)))
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM samples WHERE time >= ? AND time < ? ORDER BY time", arguments: [from, to]).map { r in
                func phase(_ name: String) throws -> PhaseValues { PhaseValues(try r.at(name + "1"), try r.at(name + "2"), try r.at(name + "3")) }
                let t: Double = try r.at("time")
                let p1: Double? = try r.at("p1"), p2: Double? = try r.at("p2"), p3: Double? = try r.at("p3")
                let ripple: String = try r.at("ripple")
                return HistoryCycle(
                    time: t, current: try phase("i"), voltage: try phase("v"),
                    power: p1.flatMap { a in p2.flatMap { b in p3.map { c in PhaseValues(a, b, c) } } }, pvPower: try r.at("pv"),
                    budget: try phase("budget"), limit: try phase("limit"),
                    margin: try r.at("margin"), ripple: RippleMode(rawValue: ripple) ?? .normal, failsafe: try r.at("failsafe"),
                    fallback: try r.at("fallback"), chargers: byTime[t] ?? [])
            }
        }
    }

    private static func phases(_ text: String) -> [Phase] {
        text.split(separator: ",").compactMap { Int($0).flatMap(Phase.init(rawValue:)) }
    }

    public func chargers() throws -> [ChargerSettingsRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, phases, min, max, priority FROM chargers ORDER BY id").map { r in
                ChargerSettingsRecord(id: try r.at(0), phases: Self.phases(try r.at(1)), min: try r.at(2), max: try r.at(3), priority: try r.at(4))
            }
        }
    }

    public func sessions(from: Double, to: Double, charger: String? = nil) throws -> [ChargingSession] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, charger, start, "end", energy, peak_power FROM sessions
                WHERE start < ? AND coalesce("end", last_seen) >= ? AND (? IS NULL OR charger = ?) ORDER BY start
                """, arguments: [to, from, charger, charger]).map { r in
                ChargingSession(id: try r.at(0), charger: try r.at(1), start: try r.at(2), end: try r.at(3), energy: try r.at(4), peakPower: try r.at(5))
            }
        }
    }

    public func events(from: Double, to: Double, limit: Int = 1000) throws -> [SiteEvent] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT time, kind, subject, message FROM events WHERE time >= ? AND time < ? ORDER BY time DESC, id DESC LIMIT ?",
                             arguments: [from, to, limit]).map { r in
                let kind: String = try r.at(1)
                return SiteEvent(time: try r.at(0), kind: SiteEvent.Kind(rawValue: kind) ?? .configChanged, subject: try r.at(2), message: try r.at(3))
            }
        }
    }

    /// The first and last sample times, if there are any.
    public func span() throws -> (first: Double, last: Double)? {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT min(time), max(time) FROM samples"), let a: Double = row[0], let b: Double = row[1] else {
                return nil
            }
            return (a, b)
        }
    }

    /// How many raw samples (one per cycle) the file holds.
    public func sampleCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM samples") ?? 0 }
    }

    /// `PRAGMA integrity_check`: "ok" for a sound file.
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }
}

private extension Row {
    /// A column's value, or an error that names it: GRDB's subscript stops the
    /// process on a NULL where a value was asked for (a file written by another
    /// program, an aggregate over nothing), this throws.
    func at<T: DatabaseValueConvertible>(_ index: Int) throws -> T { try decode(atIndex: index) }
    func at<T: DatabaseValueConvertible>(_ column: String) throws -> T { try decode(forColumn: column) }
}
