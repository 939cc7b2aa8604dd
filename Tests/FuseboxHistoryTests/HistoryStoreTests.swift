import Foundation
import FuseboxCore
import FuseboxHistory
import FuseboxTesting
import Testing

func temporaryDatabase() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString).db").path
}

/// A site of two chargers: p01 has a car from t=10 to t=200 drawing 16 A on
/// three phases with its energy counter rising; p02 stays free.
func sessionCycles(start: Double = 1_000_000) -> [HistoryCycle] {
    (0..<300).map { k in
        let t = start + Double(k)
        let present = k >= 10 && k < 200
        let energy = present ? Double(k - 10) * 16 * 3 * 230 / 3_600_000 + 100 : 100 + 190 * 16 * 3 * 230 / 3_600_000
        return HistoryCycle(time: t, current: PhaseValues(all: present ? 26 : 10), limit: PhaseValues(all: 63), margin: 2,
                            chargers: [
                                ChargerSample(id: "p01", status: present ? .charging : .free, current: present ? [16, 16, 16] : [0, 0, 0],
                                              setpoint: present ? 16 : 0, energy: energy),
                                ChargerSample(id: "p02", status: .free, phases: [.l2], current: [0], setpoint: 0, energy: 5),
                            ])
    }
}

@Suite("History in SQLite")
struct HistoryStoreTests {
    @Test("commands set from outside are kept in the file: a second store on it (a restart) reads them back; the last saved wins")
    func commandsSurviveReopening() throws {
        let path = temporaryDatabase()
        do {
            let store = try HistoryStore(path: path)
            #expect(try store.loadCommands() == nil)
            var first = SiteCommands()
            first.siteLimit = .init(amps: 20, until: 5000)
            try store.saveCommands(first, at: 100)
            var second = first
            second.ripple = .init(mode: .locked, until: .infinity)
            second.enabled["p02"] = false
            second.priorities["p01"] = .init(value: 3, configured: 1)
            try store.saveCommands(second, at: 200)
        }
        let reopened = try HistoryStore(path: path)
        let (commands, time) = try #require(try reopened.loadCommands())
        #expect(time == 200)
        #expect(commands.ripple == .init(mode: .locked, until: .infinity))
        #expect(commands.siteLimit == .init(amps: 20, until: 5000))
        #expect(commands.enabled == ["p02": false])
        #expect(commands.priorities["p01"]?.value == 3)
        #expect(try reopened.integrityCheck() == "ok")
    }

    @Test("a car's visit is one session: start, end, energy from the counter, peak power")
    func sessions() async throws {
        let path = temporaryDatabase()
        let store = try HistoryStore(path: path)
        let cycles = sessionCycles()
        // In batches that split the session, as the recorder writes them.
        for chunk in stride(from: 0, to: cycles.count, by: 37) {
            try await store.write(Array(cycles[chunk..<min(chunk + 37, cycles.count)]))
        }
        let sessions = try store.sessions(from: 0, to: 2_000_000)
        #expect(sessions.count == 1)
        let s = try #require(sessions.first)
        #expect(s.charger == "p01" && s.start == 1_000_010 && s.end == 1_000_200)
        #expect(abs(s.energy - 189 * 16 * 3 * 230 / 3_600_000) < 1e-9, "\(s.energy) kWh")
        #expect(s.peakPower == 16 * 3 * 230)
        #expect(try store.integrityCheck() == "ok")
    }

    @Test("a session still open when the controller stops goes on after a restart")
    func sessionAcrossRestart() async throws {
        let path = temporaryDatabase()
        let cycles = sessionCycles()
        try await HistoryStore(path: path).write(Array(cycles[0..<100]))
        let reopened = try HistoryStore(path: path)
        try await reopened.write(Array(cycles[100...]))
        let sessions = try reopened.sessions(from: 0, to: 2_000_000)
        #expect(sessions.count == 1 && sessions.first?.end == 1_000_200)
    }

    @Test("range queries average at the asked resolution; a minute and more reads the 1-minute aggregates")
    func ranges() async throws {
        let store = try HistoryStore(path: temporaryDatabase())
        try await store.write(sessionCycles(start: 6_000_000))   // a whole minute boundary
        let tens = try store.samples(from: 6_000_000, to: 6_000_300, resolution: 10)
        #expect(tens.count == 30)
        #expect(tens[0].current.l1 == 10 && tens[1].current.l1 == 26 && tens[1].ev.l1 == 16)
        let minutes = try store.samples(from: 6_000_000, to: 6_000_300, resolution: 60)
        // Whole minutes only: 06:00 to 06:04 are complete, the last one is still raw.
        #expect(minutes.count == 4, "\(minutes.map(\.time))")
        #expect(abs(minutes[0].current.l1 - (10 * 10 + 26 * 50) / 60.0) < 1e-9)
        #expect(minutes[0].peak.l1 == 26)
        let p01 = try store.chargerSamples("p01", from: 6_000_000, to: 6_000_300, resolution: 60)
        #expect(p01.count == 4 && abs(p01[0].current - 16 * 50 / 60.0) < 1e-9)
    }

    @Test("retention: raw samples go after their time, minute aggregates and sessions stay")
    func retention() async throws {
        let store = try HistoryStore(path: temporaryDatabase(), retention: Retention(raw: 3600, minute: 86_400))
        try await store.write(sessionCycles(start: 6_000_000))
        try store.applyRetention(now: 6_000_000 + 7200)
        #expect(try store.samples(from: 0, to: 7_000_000, resolution: 1).isEmpty)
        #expect(try store.samples(from: 0, to: 7_000_000, resolution: 60).count == 4)
        #expect(try store.sessions(from: 0, to: 7_000_000).count == 1)
        try store.applyRetention(now: 6_000_000 + 2 * 86_400)
        #expect(try store.samples(from: 0, to: 7_000_000, resolution: 60).isEmpty)
        #expect(try store.sessions(from: 0, to: 7_000_000).isEmpty)
    }

    @Test("a capped file fills up: the write fails as on a full disk, and what was written stays readable")
    func full() async throws {
        let store = try HistoryStore(path: temporaryDatabase(), maxBytes: 200_000)
        var failed: Error?
        var t = 1_000_000.0
        for _ in 0..<200 where failed == nil {
            let cycles = (0..<100).map { k in
                HistoryCycle(time: t + Double(k), current: PhaseValues(all: 20), limit: PhaseValues(all: 63),
                             chargers: (0..<10).map { ChargerSample(id: "c\($0)", status: .charging, current: [10, 10, 10], energy: 1) })
            }
            t += 100
            do { try await store.write(cycles) } catch { failed = error }
        }
        #expect(failed.map { "\($0)".contains("full") } == true, "\(String(describing: failed))")
        #expect(try store.integrityCheck() == "ok")
        #expect(try store.samples(from: 0, to: t, resolution: 1).count > 0)
    }
}

@Suite("History survives kill -9", .serialized)
struct HistoryCrashTests {
    @Test("kill -9 at random moments during heavy writes, 20 times: the file opens, passes integrity_check and keeps every batch reported written")
    func killNine() async throws {
        let binary = Expectation.fuseboxBinary("fusebox-dev", from: #filePath)
        let path = temporaryDatabase()
        var confirmed = 0
        for round in 1...20 {
            let child = try ChildProcess([binary, "history-stress", "--history", path, "--chargers", "30", "--batch", "100"])
            let wait = Int.random(in: 1...3)
            var last = 0
            for _ in 0..<wait {
                guard let line = await child.line(prefix: "WROTE", within: 60) else { break }
                last = Int(line.split(separator: " ")[1]) ?? last
            }
            #expect(last > 0, "round \(round): the writer never reported a batch: \(child.errorOutput)")
            // Somewhere inside the next batch's transaction, most likely.
            child.signal(SIGKILL)
            _ = await child.exit(within: 30)
            confirmed += last
            let store = try HistoryStore(path: path)
            #expect(try store.integrityCheck() == "ok", "round \(round)")
            let rows = try store.samples(from: 0, to: 1e12, resolution: 1).count
            #expect(rows >= confirmed, "round \(round): \(rows) samples, \(confirmed) confirmed written")
            confirmed = rows   // the next writer goes on from what is there
        }
    }
}
