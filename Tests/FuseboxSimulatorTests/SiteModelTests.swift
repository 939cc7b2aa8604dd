import FuseboxCore
import FuseboxDevices
import FuseboxLua
import FuseboxModbus
import FuseboxSimulator
import Testing

@Suite("The site model")
struct SiteModelTests {
    func quiet(_ chargers: [SiteModel.Charger], base: Double = 10, pv: Double = 0) -> SiteModel {
        let m = SiteModel(chargers: chargers, baseLoad: PhaseValues(all: base), pvPeak: pv)
        m.noiseAmplitude = 0
        return m
    }

    @Test("the base load follows its daily shape: half at night, whole by day, in between at the half hours")
    func dailyShape() throws {
        let m = quiet([], base: 20)
        let office: [Double] = try #require(SiteModel.dailyShapes["office"])
        m.dailyShape = office
        m.step(3.5 * 3600)   // 03:30: the night factor
        #expect(abs(m.gridCurrent.l1 - 10) < 1e-9)
        m.step(8 * 3600)     // 11:30
        #expect(abs(m.gridCurrent.l2 - 20) < 1e-9)
        m.step(6.5 * 3600)   // 18:00: halfway from 0.85 (17:30) to 0.7 (18:30)
        #expect(abs(m.gridCurrent.l3 - 20 * 0.775) < 1e-9)
        m.step(86_400)       // the next day at 18:00: the same
        #expect(abs(m.gridCurrent.l3 - 20 * 0.775) < 1e-9)
        let flat = quiet([], base: 20)
        flat.step(3.5 * 3600)
        #expect(flat.gridCurrent.l1 == 20)
    }

    @Test("a car follows a new limit only after the reaction delay")
    func reactionDelay() {
        let m = quiet([SiteModel.Charger(id: "p01", maxCurrent: 16, reactionDelay: 3)])
        m.plug(.init(id: "car"), into: "p01")
        m.step(1)
        #expect(m.chargers[0].drawing == 16, "never written: the charger's max")
        m.write(limit: 10, to: "p01")
        m.step(2)
        #expect(m.chargers[0].drawing == 16, "2 s after the write: not yet")
        m.step(1)
        #expect(m.chargers[0].drawing == 10, "3 s after: followed")
        m.write(limit: 4, to: "p01")
        m.step(3)
        #expect(m.chargers[0].drawing == 0, "under 6 A a car cannot charge")
        #expect(m.chargers[0].status == .occupied)
    }

    @Test("a charger whose watchdog is not fed falls back to its fail-safe current")
    func watchdog() {
        let m = quiet([SiteModel.Charger(id: "p01", reactionDelay: 0, watchdog: 20, failsafeCurrent: 6)])
        m.plug(.init(id: "car"), into: "p01")
        m.write(limit: 16, to: "p01")
        m.step(19)
        #expect(m.chargers[0].drawing == 16)
        m.step(2)
        #expect(m.chargers[0].drawing == 6, "21 s without a write")
        m.write(limit: 12, to: "p01")
        m.step(1)
        #expect(m.chargers[0].drawing == 12, "fed again")
    }

    @Test("the grid meter adds up: base, step loads, cars on their phases, less PV")
    func meterAddsUp() {
        let m = quiet([SiteModel.Charger(id: "p01", reactionDelay: 0),
                       SiteModel.Charger(id: "p02", phases: [.l2, .l3, .l1], reactionDelay: 0)])
        m.steps = [.init(name: "heat pump", start: 10, end: 20, current: PhaseValues(all: 12))]
        m.plug(.init(id: "three-phase", phases: 3, maxCurrent: 16), into: "p01")
        m.plug(.init(id: "one-phase", phases: 1, maxCurrent: 10), into: "p02")   // on the charger's L1 = building L2
        m.step(1)
        #expect(m.gridCurrent == PhaseValues(26, 36, 26))
        m.step(10)
        #expect(m.gridCurrent == PhaseValues(38, 48, 38), "heat pump on")
        m.step(10)
        #expect(m.gridCurrent == PhaseValues(26, 36, 26), "heat pump off")
    }

    @Test("PV at noon on a clear day makes the grid export")
    func pv() {
        let m = quiet([], base: 5, pv: 13_800)
        m.step(12 * 3600)
        #expect(abs(m.pvPower - 13_800) < 1)
        #expect(abs(m.gridCurrent.l1 - (5 - 20)) < 0.01, "13.8 kW over three phases is 20 A each")
        m.step(8 * 3600)
        #expect(m.pvPower == 0, "20:00")
    }

    @Test("a full car stops")
    func fullCar() {
        let m = quiet([SiteModel.Charger(id: "p01", reactionDelay: 0)])
        m.plug(.init(id: "car", phases: 3, maxCurrent: 16, wanted: 1), into: "p01")   // 1 kWh at 11 kW
        for _ in 0..<400 { m.step(1) }
        #expect(m.chargers[0].drawing == 0)
        #expect(abs(m.chargers[0].sessionEnergy - 1) < 0.01)
    }
}

@Suite("The simulated site behind Modbus, driven through our drivers", .serialized)
struct SimulatedSiteTests {
    @Test("a limit written by a driver reaches the car after the delay, and the meter shows it")
    func endToEnd() async throws {
        let model = SiteModel(chargers: [SiteModel.Charger(id: "p01", reactionDelay: 3)], baseLoad: PhaseValues(all: 10))
        model.noiseAmplitude = 0
        model.plug(.init(id: "car"), into: "p01")
        let site = try SimulatedSite(model: model, maps: ["p01": ABBTerraMap(unit: 1)])
        defer { site.stop() }
        func device(_ driver: String, _ id: String) throws -> LuaDevice {
            try LuaDevice(id: id, script: DriverScript(file: root + "/drivers/\(driver).lua"),
                          connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: site.port(of: id)!), name: id),
                          unit: 1)
        }
        let charger = try device("abb_terra", "p01")
        let grid = try device("sdm630", "grid")
        site.tick(1)
        #expect(try await charger.poll().get().current == [16, 16, 16])
        #expect(try await grid.poll().get().current == [26, 26, 26])

        try await charger.apply(amps: 10).get()
        site.tick(1)
        #expect(try await charger.poll().get().current == [16, 16, 16], "1 s after the write")
        site.tick(3)
        let r = try await charger.poll().get()
        #expect(r.current == [10, 10, 10])
        #expect(r.status == .charging)
        #expect(try await grid.poll().get().current == [20, 20, 20])
    }
}

@Suite("The simulated site: PV inverter and faults, through our drivers", .serialized)
struct SimulatedSiteExtrasTests {
    func device(_ driver: String, port: Int, unit: Int = 1, timeout: Double = 0.5) throws -> LuaDevice {
        try LuaDevice(id: driver, script: DriverScript(file: root + "/drivers/\(driver).lua"),
                      connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: port), name: driver,
                                                   timeouts: ModbusTimeouts(response: timeout)),
                      unit: unit)
    }

    @Test("the PV inverter is found by SunSpec discovery and reports the model's power")
    func pvInverter() async throws {
        let model = SiteModel(time: 12 * 3600, chargers: [], baseLoad: PhaseValues(all: 5), pvPeak: 9000)
        let site = try SimulatedSite(model: model, maps: [:], servePV: true)
        defer { site.stop() }
        site.tick(60)
        let r = try await device("sunspec", port: site.port(of: "pv")!).poll().get()
        #expect(abs((r.power ?? 0) - model.pvPower) <= 1, "\(String(describing: r.power)) vs \(model.pvPower)")
        #expect((r.energy ?? 0) > 0)
        #expect(r.voltage == [230, 230, 230])
    }

    @Test("a charger the site makes silent or busy fails its driver's poll, named")
    func faults() async throws {
        let model = SiteModel(chargers: [SiteModel.Charger(id: "p01"), SiteModel.Charger(id: "p02")])
        let site = try SimulatedSite(model: model, maps: ["p01": ABBTerraMap(unit: 1), "p02": ABBTerraMap(unit: 1)],
                                     faults: ["p01": .silent, "p02": .exception(.serverDeviceBusy)])
        defer { site.stop() }
        guard case .failure(let silent) = try await device("abb_terra", port: site.port(of: "p01")!, timeout: 0.2).poll() else {
            Issue.record("expected a timeout"); return
        }
        #expect(silent.description.contains("no answer (timeout)"), "\(silent)")
        guard case .failure(let busy) = try await device("abb_terra", port: site.port(of: "p02")!).poll() else {
            Issue.record("expected an exception"); return
        }
        #expect(busy.description.contains("server device busy (exception 6)"), "\(busy)")
    }
}

@Suite("The site model: a new limit replaces the old one only after the delay")
struct SiteModelLimitTests {
    @Test("between a write and its effect the previous limit holds, never the charger's max")
    func previousLimitHolds() {
        let m = SiteModel(chargers: [SiteModel.Charger(id: "p01", maxCurrent: 16, reactionDelay: 3)], baseLoad: .zero)
        m.noiseAmplitude = 0
        m.plug(.init(id: "car"), into: "p01")
        m.write(limit: 8, to: "p01")
        m.step(3)
        #expect(m.chargers[0].drawing == 8)
        m.write(limit: 10, to: "p01")   // a change
        m.step(1)
        #expect(m.chargers[0].drawing == 8, "still the old limit, not 16")
        m.step(2)
        #expect(m.chargers[0].drawing == 10)
        m.write(limit: 10, to: "p01")   // a refresh of the same value
        m.step(1)
        #expect(m.chargers[0].drawing == 10)
    }
}
