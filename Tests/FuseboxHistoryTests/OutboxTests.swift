import Foundation
import FuseboxHistory
import Testing

/// The uplink's store and forward in a real SQLite file: in order, once, across
/// a reopening (a restart), and bounded with the gap visible in the numbers.
@Suite("The uplink's outbox in the history file")
struct OutboxTests {
    static func messages(_ n: Int, from first: Int = 0) -> [(topic: String, payload: Data, time: Double)] {
        (first..<(first + n)).map { ("fusebox/T1/grid", Data("{\"n\":\($0)}".utf8), Double($0)) }
    }

    @Test("queued in order, numbered once, taken off only when acknowledged; a reopened file goes on where it was")
    func inOrderAcrossARestart() throws {
        let path = temporaryDatabase()
        do {
            let store = try HistoryStore(path: path)
            #expect(try store.enqueue(Self.messages(5), limit: 100) == [1, 2, 3, 4, 5])
            #expect(try store.pending(limit: 10).map(\.payload) == Self.messages(5).map(\.payload))
            try store.acknowledge(through: 3)
            #expect(try store.pending(limit: 10).map(\.sequence) == [4, 5])
            #expect(try store.pending(after: 4, limit: 10).map(\.sequence) == [5])
        }
        let reopened = try HistoryStore(path: path)
        #expect(try reopened.pending(limit: 10).map(\.sequence) == [4, 5], "what was not acknowledged survives a restart")
        try reopened.acknowledge(through: 5)
        // Numbers are never given twice, not even after the queue was emptied and the file reopened.
        #expect(try reopened.enqueue(Self.messages(2, from: 5), limit: 100) == [6, 7])
        #expect(try reopened.outboxState() == (waiting: 2, dropped: 0))
    }

    @Test("over the bound the oldest go, counted; the receiver sees the gap in the numbers")
    func boundedWithAVisibleGap() throws {
        let store = try HistoryStore(path: temporaryDatabase())
        try store.enqueue(Self.messages(3), limit: 4)
        try store.acknowledge(through: 2)          // the receiver has 1 and 2
        try store.enqueue(Self.messages(7, from: 3), limit: 4)
        let waiting = try store.pending(limit: 100)
        #expect(waiting.map(\.sequence) == [7, 8, 9, 10])
        #expect(try store.outboxState() == (waiting: 4, dropped: 4))
        // 3 to 6 never arrive: after 2 comes 7.
        #expect(waiting.first.map { $0.sequence - 2 } == 5)
        #expect(waiting.map(\.time) == [6, 7, 8, 9], "the newest are kept")
    }
}
