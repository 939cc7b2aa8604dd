import Foundation
import FuseboxCore
import FuseboxHistory
import GRDB
import Testing

/// History queries at the extremes of their input, and files written by
/// another program: each answers or throws an error, never traps (issue 16,
/// finding 1: an infinite step made NULL times, which GRDB's subscript stops
/// the process on).
@Suite("History queries at their extremes")
struct HistoryQueryFaultTests {
    static let extremes: [Double] = [-.infinity, -1e308, -1, 0, 1e-300, 0.001, 1, 60, 999_999, 1_000_100, 31_622_400, 253_402_300_799, 1e308, .infinity, .nan]

    @Test("every from, to and resolution of the extremes, on grid and charger samples: an answer or an error")
    func extremes() async throws {
        let path = temporaryDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try HistoryStore(path: path)
        try await store.write(sessionCycles())
        var answered = 0, refused = 0
        for from in Self.extremes {
            for to in Self.extremes {
                for resolution in Self.extremes {
                    do {
                        let grid = try store.samples(from: from, to: to, resolution: resolution)
                        let charger = try store.chargerSamples("p01", from: from, to: to, resolution: resolution)
                        #expect((grid + []).allSatisfy { $0.time.isFinite } && charger.allSatisfy { $0.time.isFinite })
                        answered += 1
                    } catch {
                        #expect("\(error)".contains("resolution") || "\(error)".contains("finite"), "\(error)")
                        refused += 1
                    }
                }
            }
        }
        // Both happen: the check does not simply refuse everything.
        #expect(answered > 100 && refused > 100, "\(answered) answered, \(refused) refused")
        // The widest finite range at the longest step holds every sample in one or two points.
        let wide = try store.samples(from: 0, to: 253_402_300_799, resolution: 31_622_400)
        #expect(!wide.isEmpty && wide.count <= 2, "\(wide.count) points")
    }

    @Test("a history file another program wrote with NULLs where values belong: the read throws and names the column")
    func nullsWrittenByAnotherProgram() async throws {
        let path = temporaryDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try HistoryStore(path: path)
            try await store.write(sessionCycles())
        }
        // Another program replaces the events table with one that has no NOT NULL.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "DROP TABLE events")
            try db.execute(sql: "CREATE TABLE events (id INTEGER PRIMARY KEY, time REAL, kind TEXT, subject TEXT, message TEXT)")
            try db.execute(sql: "INSERT INTO events (time, kind, subject, message) VALUES (1000100, 'device_error', NULL, NULL)")
        }
        try queue.close()
        let store = try HistoryStore(readingOnly: path)
        #expect(throws: (any Error).self) { _ = try store.events(from: 0, to: 2e6) }
        do { _ = try store.events(from: 0, to: 2e6) } catch {
            #expect("\(error)".contains("message") || "\(error)".contains("NULL"), "\(error)")
        }
    }
}
