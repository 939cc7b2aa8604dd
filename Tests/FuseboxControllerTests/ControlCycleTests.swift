import FuseboxController
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import FuseboxModbus
import FuseboxSimulator
import FuseboxTesting
import Testing

let root = Expectation.repositoryRoot(from: #filePath)

@Suite("The control cycle on the simulated site", .serialized)
struct ControlCycleTests {
    func device(_ driver: String, port: Int, unit: Int) throws -> LuaDevice {
        try LuaDevice(id: driver, script: DriverScript(file: root + "/drivers/\(driver).lua"),
                      connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: port), name: driver), unit: unit)
    }

    @Test("a 12 A load step: back under the limit within the cars' reaction time plus two cycles; no invariant broken")
    func loadStep() async throws {
        let delay = 3.0
        let model = SiteModel(time: 0, chargers: [
            SiteModel.Charger(id: "p01", maxCurrent: 16, reactionDelay: delay),
            SiteModel.Charger(id: "p02", phases: [.l2, .l3, .l1], maxCurrent: 16, reactionDelay: delay),
        ], baseLoad: PhaseValues(18, 16, 17))
        model.noiseAmplitude = 0
        model.steps = [.init(name: "heat pump", start: 20, end: 1000, current: PhaseValues(all: 12))]
        model.plug(.init(id: "three-phase", phases: 3, maxCurrent: 16), into: "p01")
        model.plug(.init(id: "one-phase", phases: 1, maxCurrent: 16), into: "p02")
        let site = try SimulatedSite(model: model, maps: ["p01": ABBTerraMap(unit: 1), "p02": WebastoUniteMap(unit: 255)])
        defer { site.stop() }

        let limits = SiteLimits(current: PhaseValues(all: 40), margin: 2)
        let cycle = ControlCycle(
            limits: limits,
            meter: try device("sdm630", port: site.port(of: "grid")!, unit: 1),
            stations: [
                .init(settings: ChargerSnapshot(id: "p01", status: .free, phases: [.l1, .l2, .l3], max: 16),
                      device: try device("abb_terra", port: site.port(of: "p01")!, unit: 1)),
                .init(settings: ChargerSnapshot(id: "p02", status: .free, phases: [.l2, .l3, .l1], max: 16),
                      device: try device("webasto_unite", port: site.port(of: "p02")!, unit: 255)),
            ],
            chain: PolicyChain(scripts: [try PolicyLibrary(directories: [root + "/policies"]).load("fair_share")]))

        var worstAfterSettling = 0.0
        var records: [ControlCycle.Record] = []
        for second in 1...60 {
            site.tick(1)
            let record = await cycle.run(at: model.time)
            records.append(record)
            #expect(record.invariantViolations.isEmpty, "t=\(second): \(record.invariantViolations)")
            #expect(record.fallback == nil, "t=\(second): \(record.fallback ?? "")")
            #expect(record.errors.isEmpty, "t=\(second): \(record.errors)")
            let worst = model.gridCurrent.array.max()!
            // Limits written at the cycle of t reach the model at the next tick and
            // the cars `delay` later: at start-up (first write at t=1) and after the
            // step at t=20, the grid may be over until then, plus two cycles.
            let started = Double(second) >= 1 + 1 + delay + 2
            let settled = Double(second) >= 20 + 1 + delay + 2
            if (started && Double(second) < 20) || settled {
                #expect(worst <= limits.current.l1 + 1e-6, "t=\(second): grid at \(worst) A, over the fuse")
                if settled { worstAfterSettling = max(worstAfterSettling, worst) }
            }
        }
        // Before the step the cars use what is there: the connection is full to its margin.
        let before = records[15].allocation
        #expect(before[0] >= 6 && before[1] >= 6, "both cars charge: \(before)")
        #expect(worstAfterSettling <= 38 + 1e-6, "the margin is kept once settled: \(worstAfterSettling) A")
        #expect(worstAfterSettling >= 34, "and the capacity is used: \(worstAfterSettling) A")
    }

    @Test("the meter going silent: the chargers get the fail-safe current")
    func meterSilent() async throws {
        let model = SiteModel(time: 0, chargers: [SiteModel.Charger(id: "p01", reactionDelay: 0)], baseLoad: PhaseValues(all: 10))
        model.noiseAmplitude = 0
        model.plug(.init(id: "car"), into: "p01")
        let site = try SimulatedSite(model: model, maps: ["p01": ABBTerraMap(unit: 1)])
        defer { site.stop() }
        let meter = try LuaDevice(id: "grid", script: DriverScript(file: root + "/drivers/sdm630.lua"),
                                  connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: site.port(of: "grid")!),
                                                               name: "grid", timeouts: ModbusTimeouts(response: 0.1, backoff: 0.05, maxBackoff: 0.05)),
                                  unit: 1)
        let cycle = ControlCycle(
            limits: SiteLimits(current: PhaseValues(all: 63)), failsafe: FailsafeSettings(meterTimeout: 5, current: 0),
            meter: meter,
            stations: [.init(settings: ChargerSnapshot(id: "p01", status: .free), device: try device("abb_terra", port: site.port(of: "p01")!, unit: 1))],
            chain: PolicyChain(scripts: [try PolicyLibrary(directories: [root + "/policies"]).load("fair_share")]))
        for _ in 1...3 { site.tick(1); _ = await cycle.run(at: model.time) }
        #expect(model.chargers[0].commanded == 16)
        site.meter.setFault(.silent, unit: 1)
        var failsafeAt: Double?
        for _ in 1...10 {
            site.tick(1)
            let r = await cycle.run(at: model.time)
            #expect(r.invariantViolations.isEmpty)
            if failsafeAt == nil, r.allocation == [0] { failsafeAt = model.time }
        }
        // Last answer at t=3; fail-safe once the reading is 5 s old, within a cycle.
        #expect(failsafeAt == 8, "fail-safe at t=\(String(describing: failsafeAt))")
    }
}
