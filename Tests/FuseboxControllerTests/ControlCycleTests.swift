import FuseboxController
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import FuseboxTesting
import FuseboxTestCases
import Synchronization
import Testing

/// Cases/cycle.json: whole cycles of `ControlCycle` stepped on a clock the test
/// sets, against devices in memory (no simulator, no Modbus): a grid meter that
/// reads the building's base load plus what the chargers draw, and chargers
/// whose cars follow each limit at once. Each step sets the base load and who
/// does not answer, runs one cycle and checks what was written.
struct CycleCase: Decodable, Sendable, CustomStringConvertible {
    struct Step: Decodable, Sendable {
        var time: Double
        /// A per phase the building draws besides the chargers.
        var base: Double
        var meter: String?
        var silent: [String]?
        var expect: [String: Double]?
        var expect_total_at_most: Double?
        /// A text one of the cycle's errors holds, and an event kind it reports.
        var error: String?
        var event: String?
        /// An event kind the step must not report.
        var no_event: String?
        /// What a charger reports this step instead of what it draws: an older reading, with its age in s.
        var reading: [String: Reading]?
        /// Why the step expects what it does, for a reader of the case file.
        var note: String?
        /// A new configuration staged before this step's cycle, which must take it over.
        var configure: Configure?
    }
    struct Reading: Decodable, Sendable {
        var current: Double
        var age: Double
    }
    /// The fuse and the chargers of a new configuration (a charger that stays keeps its device).
    struct Configure: Decodable, Sendable {
        var limit: Double?
        var chargers: [String]?
    }
    var name: String
    var limit: Double
    var chargers: [String]
    var steps: [Step]
    var description: String { name }

    static func all() -> [CycleCase] { JSONCases.load("Cases/cycle.json") }
}

/// The building and its cars, as the fake devices see them.
final class FakeBuilding: Sendable {
    struct State {
        var base = 0.0
        var meterAnswers = true
        var silent: Set<String> = []
        var draw: [String: Double] = [:]
        /// A reading a charger reports instead of what it draws (an older one).
        var reported: [String: CycleCase.Reading] = [:]
    }
    let state = Mutex(State())
}

final class FakeMeter: SiteDevice {
    let id = "grid"
    let building: FakeBuilding
    var taskExecutor: (any TaskExecutor)? { nil }
    init(_ building: FakeBuilding) { self.building = building }

    func poll() async -> Result<DeviceReading, DeviceError> {
        building.state.withLock { s in
            guard s.meterAnswers else { return .failure(DeviceError(device: id, message: "no answer")) }
            let amps = s.base + s.draw.values.reduce(0, +)
            return .success(DeviceReading(current: [amps, amps, amps], voltage: [230, 230, 230]))
        }
    }

    func apply(amps: Double, phases: Int) async -> Result<Void, DeviceError> { .success(()) }
}

final class FakeCharger: SiteDevice {
    let id: String
    let building: FakeBuilding
    var taskExecutor: (any TaskExecutor)? { nil }
    init(_ id: String, _ building: FakeBuilding) { self.id = id; self.building = building }

    func poll() async -> Result<DeviceReading, DeviceError> {
        building.state.withLock { s in
            guard !s.silent.contains(id) else { return .failure(DeviceError(device: id, message: "no answer")) }
            if let r = s.reported[id] { return .success(DeviceReading(status: .charging, current: [r.current, r.current, r.current], age: r.age)) }
            let amps = s.draw[id] ?? 0
            return .success(DeviceReading(status: .charging, current: [amps, amps, amps]))
        }
    }

    /// The car follows at once; a charger that does not answer takes no write.
    func apply(amps: Double, phases: Int) async -> Result<Void, DeviceError> {
        building.state.withLock { s in
            guard !s.silent.contains(id) else { return .failure(DeviceError(device: id, message: "no answer")) }
            s.draw[id] = amps
            return .success(())
        }
    }
}

@Suite("The control cycle, stepped with devices in memory")
struct ControlCycleTests {
    @Test("the case file is there and decodes")
    func casesExist() { #expect(CycleCase.all().count >= 3) }

    @Test("cycle", arguments: CycleCase.all())
    func run(_ c: CycleCase) async throws {
        let building = FakeBuilding()
        var stations = c.chargers.map {
            ControlCycle.Station(settings: ChargerSnapshot(id: $0, status: .free, min: 6, max: 16), device: FakeCharger($0, building))
        }
        // Limits move at once here: the cycle's own logic, not the pacing, is under test.
        var settings = ControlCycle.Settings(
            limits: SiteLimits(current: PhaseValues(all: c.limit)),
            failsafe: FailsafeSettings(meterTimeout: 5, current: 0),
            pacing: LimitPacer.Settings(rampUp: 100, raiseEvery: 1, restartPause: 0, settle: 0))
        let chain = PolicyChain(scripts: [try PolicyLibrary.shipped().load("fair_share")])
        let meter = FakeMeter(building)
        let cycle = ControlCycle(settings: settings, meter: meter, stations: stations, chain: chain)
        var ids = c.chargers

        for step in c.steps {
            building.state.withLock { s in
                s.base = step.base
                s.meterAnswers = step.meter != "silent"
                s.silent = Set(step.silent ?? [])
                s.reported = step.reading ?? [:]
            }
            let taken = Mutex<StagedOutcome?>(nil)
            if let change = step.configure {
                if let limit = change.limit { settings.limits.current = PhaseValues(all: limit) }
                if let next = change.chargers {
                    stations = next.map { id in
                        stations.first { $0.settings.id == id }
                            ?? ControlCycle.Station(settings: ChargerSnapshot(id: id, status: .free, min: 6, max: 16), device: FakeCharger(id, building))
                    }
                    // A charger removed stops drawing once it is left at the fail-safe current (0 A here).
                    ids = next
                }
                let parts = SiteParts(settings: settings, meter: meter, pv: nil, stations: stations, chain: nil, contacts: nil,
                                      meterDrivers: ("", ""), change: "step at \(step.time)")
                await cycle.stage(parts) { outcome in taken.withLock { $0 = outcome } }
            }
            let record = await cycle.run(at: step.time)
            let at = "\(c.name), t=\(step.time)"
            if step.configure != nil {
                #expect(taken.withLock { $0 } == .applied(at: step.time), "\(at): the new configuration did not take over at this cycle")
                #expect(record.snapshot.chargers.map(\.id) == ids, "\(at): the cycle ran \(record.snapshot.chargers.map(\.id))")
            }
            let written = Dictionary(uniqueKeysWithValues: zip(ids, record.allocation))
            for (id, amps) in step.expect ?? [:] {
                #expect(abs((written[id] ?? -1) - amps) < 0.01, "\(at): \(id) got \(written[id] ?? -1) A, expected \(amps) A")
            }
            if let most = step.expect_total_at_most {
                let total = record.allocation.reduce(0, +)
                #expect(total <= most + 0.01, "\(at): \(total) A in all, at most \(most) A fits")
                #expect(record.allocation.allSatisfy { $0 == 0 || $0 >= 6 }, "\(at): \(record.allocation): below 6 A but not 0")
            }
            if let error = step.error {
                #expect(record.errors.contains { $0.contains(error) }, "\(at): no error names \(error): \(record.errors)")
            }
            if let event = step.event {
                #expect(record.events.contains { $0.kind.rawValue == event }, "\(at): no \(event) event in \(record.events.map(\.kind))")
            }
            if let kind = step.no_event {
                #expect(!record.events.contains { $0.kind.rawValue == kind }, "\(at): a \(kind) event: \(record.events)")
            }
            #expect(record.invariantViolations.isEmpty, "\(at): \(record.invariantViolations)")
        }
    }
}
