import Foundation
import GRDB

/// One message waiting for the uplink, with the site's sequence number.
public struct OutboxMessage: Sendable, Equatable {
    /// Given in order, once: a receiver that sees a number skipped knows it missed something.
    public var sequence: Int64
    public var time: Double
    public var topic: String
    public var payload: Data
}

/// The uplink's store and forward, in the history file: what the controller
/// has to say (samples, events, sessions) is queued here in order and taken
/// off only when the broker has acknowledged it, so a broker that cannot be
/// reached for hours loses nothing within the bound, and a restart loses
/// nothing at all. Past the bound the oldest go first, counted: their numbers
/// are then missing on the receiving side, which is how a portal sees the gap.
extension HistoryStore {
    /// Queues `messages` in order; returns their sequence numbers. Beyond
    /// `limit` messages waiting, the oldest are dropped in the same transaction.
    @discardableResult
    public func enqueue(_ messages: [(topic: String, payload: Data, time: Double)], limit: Int) throws -> [Int64] {
        guard !messages.isEmpty else { return [] }
        return try pool.write { db in
            var sequences: [Int64] = []
            for m in messages {
                try db.execute(sql: "INSERT INTO outbox (time, topic, payload) VALUES (?, ?, ?)", arguments: [m.time, m.topic, m.payload])
                sequences.append(db.lastInsertedRowID)
            }
            let waiting = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox") ?? 0
            if waiting > limit {
                let over = waiting - max(0, limit)
                try db.execute(sql: "DELETE FROM outbox WHERE sequence IN (SELECT sequence FROM outbox ORDER BY sequence LIMIT ?)", arguments: [over])
                try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('outbox_dropped', ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                               arguments: [Double(over)])
            }
            return sequences
        }
    }

    /// The oldest messages waiting, after `sequence`, in order.
    public func pending(after sequence: Int64 = 0, limit: Int) throws -> [OutboxMessage] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT sequence, time, topic, payload FROM outbox WHERE sequence > ? ORDER BY sequence LIMIT ?",
                             arguments: [sequence, limit]).map {
                OutboxMessage(sequence: $0["sequence"], time: $0["time"], topic: $0["topic"], payload: $0["payload"])
            }
        }
    }

    /// The broker has every message up to `sequence`: they leave the queue.
    public func acknowledge(through sequence: Int64) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM outbox WHERE sequence <= ?", arguments: [sequence]) }
    }

    /// The sequence number given last (0: none yet).
    public func lastSequence() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") ?? 0 }
    }

    /// How many messages wait, and how many were dropped over the bound since the file was made.
    public func outboxState() throws -> (waiting: Int, dropped: Int) {
        try pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox") ?? 0,
             Int(try Double.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'outbox_dropped'") ?? 0))
        }
    }
}
