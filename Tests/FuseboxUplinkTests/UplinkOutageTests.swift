import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxSimulation
import FuseboxSimulator
import FuseboxTesting
import FuseboxUplink
import Testing

/// A simulated site stepped in simulated time, its uplink publishing to Debian's
/// mosquitto, and Tests/Support/mqtt_count.py (paho-mqtt) counting what arrives.
final class UplinkSite: @unchecked Sendable {
    let run: SimulatedRun
    let store: HistoryStore
    let uplink: Uplink
    let folder: String
    private var number = 0
    private var task: Task<Void, any Error>?

    init(serial: String, broker: Broker, sim: String, configure: (inout SiteConfig.MQTT) -> Void = { _ in }) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-uplink-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var controller = SiteConfig()
        controller.serial = serial
        controller.limits = SiteLimits(current: PhaseValues(all: 63), margin: 2)
        run = try SimulatedRun(sim: try SimConfig(yaml: sim), controller: controller)
        store = try HistoryStore(path: folder + "/history.db")
        var mqtt = SiteConfig.MQTT()
        mqtt.host = "127.0.0.1"
        mqtt.port = broker.port
        configure(&mqtt)
        uplink = try Uplink(site: run.config, settings: mqtt, cycle: run.cycle, store: store)
    }

    func start() { task = Task { [uplink] in try await uplink.run() } }

    func stop() async {
        task?.cancel()
        _ = try? await task?.value
        run.stop()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// `n` cycles, each handed to the uplink as the runner would.
    @discardableResult
    func step(_ n: Int, each: (ControlCycle.Record) -> Void = { _ in }) async -> ControlCycle.Record? {
        var last: ControlCycle.Record?
        for _ in 0..<n {
            let r = await run.step()
            number += 1
            await uplink.take(PublishedCycle(record: r, timing: CycleTiming(started: r.time, work: 0, overrun: false), number: number))
            each(r)
            last = r
        }
        return last
    }
}

@Suite("The uplink's store and forward across a broker outage", .serialized)
struct UplinkOutageTests {
    static let counter = Expectation.repositoryRoot(from: #filePath) + "/Tests/Support/mqtt_count.py"

    @Test("the broker is killed for 6 simulated minutes: every sample, event and session of the outage arrives afterwards, in order, once")
    func outage() async throws {
        let broker = try await Broker(persistent: true)
        try await broker.start()
        let site = try UplinkSite(serial: "T-OUT", broker: broker, sim: """
            site: { noise: 0.2, base_load: [8, 8, 8] }
            chargers: [ { id: p01, make: abb_terra }, { id: p02, make: abb_terra } ]
            cars: [ { charger: p01, arrive: 0s, leave: 3m, phases: 3, max: 16, wanted: 50 },
                    { charger: p02, arrive: 2m, leave: 5m, phases: 3, max: 16, wanted: 50 } ]
            """)
        let stop = site.folder + "/stop"
        let counter = try ChildProcess(["python3", Self.counter, "127.0.0.1", String(broker.port), "fusebox/T-OUT/#", "fusebox-test-counter-\(UUID().uuidString.prefix(8))", stop, "300"])
        #expect(await counter.line(prefix: "READY", within: 20) != nil, "\(counter.errorOutput)")
        site.start()

        await site.step(30)
        await site.uplink.drain(within: 20)
        #expect(site.uplink.state().waiting == 0, "before the outage everything is sent")
        try await Task.sleep(for: .seconds(1.5))   // the broker's autosave keeps the counter's session
        await broker.stop()
        let before = try site.store.lastSequence()

        // Six minutes without a broker: a car leaves (a session), one comes and goes, a command is given (an event).
        let outageStarted = ContinuousClock.now
        await site.step(180)
        try await SiteControl(cycle: site.run.cycle).apply(.siteLimit(amps: 40, ttl: 60), by: "test")
        await site.step(180)
        let stepped = ContinuousClock.now - outageStarted
        let last = try site.store.lastSequence()
        let state = site.uplink.state()
        #expect(state.waiting == Int(last - before), "all of the outage waits in the outbox: \(state)")
        #expect(!state.connected)

        try await broker.start()
        let restarted = ContinuousClock.now
        await site.uplink.drain(within: 60)
        let drained = ContinuousClock.now - restarted
        #expect(site.uplink.state().waiting == 0, "after the outage the outbox empties: \(site.uplink.state())")
        #expect(await counter.line(prefix: "SEQ \(last) ", within: 60) != nil, "the last message never arrived")
        _ = FileManager.default.createFile(atPath: stop, contents: nil)
        #expect(await counter.exit(within: 30) == 0, "\(counter.errorOutput)")
        await site.stop()
        await broker.stop()

        var seen: [Int64] = [], topicOf: [Int64: String] = [:]
        for line in counter.output where line.hasPrefix("SEQ ") {
            let words = line.split(separator: " ")
            guard words.count == 3, let n = Int64(words[1]) else { continue }
            seen.append(n)
            topicOf[n] = String(words[2])
        }
        let distinct = Set(seen)
        #expect(distinct == Set(1...last), "missing: \(Set(1...last).subtracting(distinct).sorted().prefix(20))")
        #expect(seen == seen.sorted(), "out of order")
        #expect(seen.count == distinct.count, "\(seen.count - distinct.count) arrived twice")
        let outage = (before + 1)...last
        let kinds = Set(outage.compactMap { topicOf[$0]?.split(separator: "/").dropFirst(2).first.map(String.init) })
        #expect(kinds.isSuperset(of: ["grid", "stations", "ripple", "events", "sessions"]), "\(kinds)")
        #expect(outage.filter { topicOf[$0] == "fusebox/T-OUT/sessions" }.count >= 1)
        print("outage: \(outage.count) messages made while the broker was down (360 cycles stepped in \(stepped)), all \(last) received once, in order; the outbox emptied \(drained) after the broker came back")
    }
}
