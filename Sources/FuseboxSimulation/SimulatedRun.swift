import Foundation
import FuseboxController
import FuseboxCore
import FuseboxModbus
import FuseboxOCPP
import FuseboxSimulator

/// The controller driving a simulated site, stepped in simulated time: what
/// `fusebox demo`, the scenario files and `fusebox-dev bench --only cycle` run. The
/// site is served on loopback Modbus TCP and the controller reaches it through
/// its real drivers, exactly as it would a car park.
public final class SimulatedRun {
    public let sim: SimConfig
    public let site: SimulatedSite
    /// The controller's configuration: the given one, with meters and chargers
    /// taken from the simulated site where it names none.
    public let config: SiteConfig
    public let cycle: ControlCycle
    public let clock: SimulatedClock
    public let summary: [String]
    public var model: SiteModel { site.model }
    /// The connections and devices the cycle runs, for a `SiteSetup` that changes them live.
    public let pool: ConnectionPool
    public let devices: [String: SiteAssembly.RunningDevice]
    /// `config` with the simulated devices' loopback addresses written out: a file the page's Setup can change.
    public let addressedConfig: SiteConfig
    /// An assembly of a new configuration as this run makes one (its timeouts, its clock, no device deadline).
    public let assembly: @Sendable (SiteConfig) -> SiteAssembly
    /// The controller's side of the site's OCPP stations, when it has any: whoever runs
    /// this serves it (`OCPPServer`) and tells the site where (`site.connectOCPP`).
    public let ocpp: OCPPStations?

    public init(sim: SimConfig, controller: SiteConfig = SiteConfig(), anyPort: Bool = true,
                timeouts: ModbusTimeouts = ModbusTimeouts(response: 0.2, backoff: 0.05, maxBackoff: 1)) throws {
        self.sim = sim
        let served = try SimulatedSite(config: sim, anyPort: anyPort)
        site = served
        var config = controller
        if config.chargers.isEmpty {
            config.chargers = sim.chargers.map { c in
                if SimConfig.ocppMakes.contains(c.make) {
                    let settings = ConfigValue.map(c.key.map { ["auth_key": .string($0)] } ?? [:])
                    return SiteConfig.Charger(device: .init(id: c.id, driver: c.make, address: .none, settings: settings),
                                              max: c.charger.maxCurrent, phases: c.charger.phases)
                }
                guard SimConfig.cloudMakes.contains(c.make), let port = served.port(of: c.id) else {
                    return SiteConfig.Charger(device: .init(id: c.id, driver: c.make, address: .none, unit: c.unit),
                                              max: c.charger.maxCurrent, phases: c.charger.phases)
                }
                // The stand-in takes any account; the charger's id in the cloud is its id here.
                let settings = ConfigValue.map(["charger_id": .string(c.id), "username": .string("fusebox"), "password": .string("simulated")])
                return SiteConfig.Charger(device: .init(id: c.id, driver: c.make, address: .web(api: "http://127.0.0.1:\(port)", allow: []),
                                                        settings: settings),
                                          max: c.charger.maxCurrent, phases: c.charger.phases)
            }
        }
        // Simulated time runs at any speed: a real-time deadline on its devices
        // would depend on how busy the machine is. It waits for every device
        // unless the configuration sets one.
        if config.control.deviceDeadline == nil { config.control.deviceDeadline = .infinity }
        if config.grid.driver.isEmpty { config.grid.driver = "sdm630" }
        if case .none = config.grid.address { config.grid.unit = sim.meterUnit }
        if config.pv == nil, sim.pvPort != nil { config.pv = .init(id: "pv", driver: "sunspec", address: .none, unit: sim.pvUnit) }
        if config.ocpp == nil, config.chargers.contains(where: { $0.device.isOCPP }) {
            var endpoint = SiteConfig.OCPP()
            endpoint.listen = "127.0.0.1:0"
            config.ocpp = endpoint
        }
        let ocpp = config.ocpp.map { _ in OCPPStations(allowed: OCPPStations.ids(of: config), keys: OCPPStations.keys(of: config)) }
        self.ocpp = ocpp
        self.config = config
        let clock = SimulatedClock(site.model.time)
        self.clock = clock
        let site = self.site
        let pool = ConnectionPool()
        self.pool = pool
        var assembly = SiteAssembly(config: config, timeouts: timeouts, endpointOverride: { d in
            guard case .none = d.address, let port = site.port(of: d.id) else { return nil }
            return .tcp(host: "127.0.0.1", port: port)
        }, clock: { clock.now })
        assembly.pool = pool
        assembly.ocpp = ocpp
        func addressed(_ d: SiteConfig.Device) -> SiteConfig.Device {
            guard case .none = d.address, let port = site.port(of: d.id) else { return d }
            var out = d
            out.address = .tcp(host: "127.0.0.1", port: port)
            return out
        }
        var written = config
        written.grid = addressed(config.grid)
        written.pv = config.pv.map(addressed)
        written.chargers = config.chargers.map { c in var c = c; c.device = addressed(c.device); return c }
        written.control.deviceDeadline = controller.control.deviceDeadline
        addressedConfig = written
        self.assembly = { next in
            var next = next
            if next.control.deviceDeadline == nil { next.control.deviceDeadline = .infinity }
            var a = SiteAssembly(config: next, timeouts: timeouts, clock: { clock.now })
            a.pool = pool
            a.ocpp = ocpp
            return a
        }
        do {
            let built = try assembly.build()
            cycle = built.cycle
            summary = built.summary
            devices = built.devices.mapValues { d in var d = d; d.config = addressed(d.config); return d }
        } catch {
            site.stop()
            throw error
        }
    }

    /// Seconds since the simulation started.
    public var elapsed: Double { site.model.time - sim.start }

    /// One period of simulated time, then one control cycle.
    public func step() async -> ControlCycle.Record {
        site.tick(config.period)
        clock.now = site.model.time
        return await cycle.run(at: site.model.time)
    }

    public func stop() { site.stop() }
}

/// Simulated time, read by the drivers on their connections' queues.
// Unchecked: the time is read and written under `lock`.
public final class SimulatedClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Double
    public init(_ value: Double) { self.value = value }
    public var now: Double {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}
