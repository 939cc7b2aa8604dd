import Foundation
import FuseboxCore
import FuseboxModbus

/// The site model behind real Modbus TCP servers, one port per device as in a
/// car park: each charger speaks its make's register map, the grid meter is an
/// SDM630. Limits the controller writes go into the model; `tick` moves the
/// model on and publishes every device's registers.
// Unchecked: `tick` (the model, the PV meter's energy, the time) is driven by one caller at a time, the simulation's loop; the writes the Modbus servers' threads hand in are kept under `lock`.
public final class SimulatedSite: @unchecked Sendable {
    public let model: SiteModel
    public let meter: ModbusServer
    public let meterUnit: Int
    /// Phases whose current sensor is mounted backwards (`SimConfig.meterReversed`).
    public let meterReversed: [Phase]
    /// The PV inverter as a SunSpec device, when the site has one on a port.
    public let pv: ModbusServer?
    private let pvUnit: Int
    private var pvEnergy = 0.0
    private var lastTime: Double
    public private(set) var chargers: [(id: String, server: ModbusServer, device: SimulatedCharger)] = []
    /// The cloud API of the chargers that have one (Zaptec), when the site has such chargers.
    public private(set) var cloud: ZaptecStandIn?
    private var cloudIDs: Set<String> = []
    /// The stations that speak OCPP: they connect to the controller (`connectOCPP`).
    public private(set) var ocppStations: [SimulatedOCPPStation] = []
    private let lock = NSLock()
    /// Writes since the last tick: a limit, or nil for any other write (a feed).
    private var writes: [(id: String, amps: Double?)] = []

    /// `ports` gives a fixed TCP port per charger id and "grid"; others get a free port.
    /// `faults` makes a charger misbehave (see `ModbusServer.Fault`). With
    /// `servePV`, the PV inverter gets a port ("pv" in `ports`, else a free one).
    public init(model: SiteModel, maps: [String: any ChargerRegisterMap], ports: [String: Int] = [:],
                host: String = "127.0.0.1", meterUnit: Int = 1, faults: [String: ModbusServer.Fault] = [:],
                servePV: Bool = false, pvUnit: Int = 1, cloudChargers: [String] = [], meterReversed: [Phase] = [],
                ocppStations ocpp: [SimConfig.ChargerEntry] = [], ocppInterval: Double = 10) throws {
        self.model = model
        self.meterUnit = meterUnit
        self.meterReversed = meterReversed
        self.pvUnit = pvUnit
        lastTime = model.time
        meter = ModbusServer(host: host, port: ports["grid"] ?? 0, units: [meterUnit])
        try meter.start()
        if servePV {
            let server = ModbusServer(host: host, port: ports["pv"] ?? 0, units: [pvUnit])
            try server.start()
            pv = server
        } else {
            pv = nil
        }
        for c in model.chargers {
            guard let map = maps[c.id] else { continue }
            let box = Box()
            let server = ModbusServer(host: host, port: ports[c.id] ?? 0, units: [map.unit], onWrite: { [weak self] w in
                guard let device = box.device, let self else { return }
                device.take(w)
                self.queue(c.id, map.limit(from: w))
            })
            try server.start()
            if let fault = faults[c.id] { server.setFault(fault, unit: map.unit) }
            let device = SimulatedCharger(map: map, server: server)
            box.device = device
            chargers.append((c.id, server, device))
        }
        if !cloudChargers.isEmpty {
            let stand = ZaptecStandIn(chargers: cloudChargers, host: host, port: cloudChargers.lazy.compactMap { ports[$0] }.first ?? 0) {
                [weak self] id, amps in self?.queue(id, amps)
            }
            try stand.start()
            cloud = stand
            cloudIDs = Set(cloudChargers)
        }
        for c in ocpp {
            ocppStations.append(SimulatedOCPPStation(id: c.id, make: c.make, key: c.key, interval: ocppInterval) { [weak self] amps in
                self?.queue(c.id, amps)
            })
        }
        model.step(0)   // cars due at the start are in before anything is served
        publish()
    }

    /// The site `config` describes, served: its ports (or free ones with
    /// `anyPort`), its faults, its PV inverter when it has a port.
    public convenience init(config: SimConfig, anyPort: Bool = false) throws {
        let (model, maps, ports) = config.build()
        var fixed = anyPort ? [:] : ports
        if !anyPort, let p = config.pvPort { fixed["pv"] = p }
        try self.init(model: model, maps: maps, ports: fixed, meterUnit: config.meterUnit,
                      faults: Dictionary(uniqueKeysWithValues: config.chargers.map { ($0.id, $0.fault) }),
                      servePV: config.pvPort != nil, pvUnit: config.pvUnit, cloudChargers: config.cloudChargers,
                      meterReversed: config.meterReversed, ocppStations: config.ocppChargers, ocppInterval: config.ocppInterval)
        if let url = config.ocppConnect { connectOCPP(to: url) }
    }

    /// Its OCPP stations connect to the controller's endpoint at `url` (ws://HOST:PORT), and stay connected.
    public func connectOCPP(to url: String) {
        for s in ocppStations { s.connect(to: url) }
    }

    /// The TCP port of a charger's (or, for "grid", the meter's) server.
    public func port(of id: String) -> Int? {
        if id == "grid" { return meter.port }
        if id == "pv" { return pv?.port }
        if cloudIDs.contains(id) { return cloud?.port }
        return chargers.first { $0.id == id }?.server.port
    }

    /// Applies the writes that arrived, advances `dt` seconds, publishes.
    public func tick(_ dt: Double) {
        lock.lock()
        let pending = writes
        writes.removeAll()
        lock.unlock()
        for w in pending {
            if let amps = w.amps { model.write(limit: amps, to: w.id) } else { model.feed(w.id) }
        }
        model.step(dt)
        publish()
    }

    public func stop() {
        meter.stop()
        pv?.stop()
        for c in chargers { c.server.stop() }
        cloud?.stop()
        for s in ocppStations { s.stop() }
    }

    private func queue(_ id: String, _ amps: Double?) {
        lock.lock()
        writes.append((id, amps))
        lock.unlock()
    }

    private func publish() {
        for c in chargers {
            guard let i = model.chargers.firstIndex(where: { $0.id == c.id }) else { continue }
            c.device.show(model.state(of: i))
        }
        if let cloud {
            for (i, c) in model.chargers.enumerated() where cloudIDs.contains(c.id) { cloud.show(c.id, model.state(of: i)) }
        }
        for s in ocppStations {
            guard let i = model.chargers.firstIndex(where: { $0.id == s.id }) else { continue }
            s.report(model.state(of: i), carPresent: model.chargers[i].car != nil, time: model.time)
        }
        // What the meter shows: a sensor mounted backwards turns its phase's current and power around.
        var current = model.gridCurrent, power = model.gridPower
        for p in meterReversed {
            current[p] = -current[p]
            power[p] = -power[p]
        }
        meter.withBank(unit: meterUnit) {
            SDM630Map().publish(voltage: model.voltage, current: current, power: power, importEnergy: 0, into: &$0)
        }
        if let pv {
            pvEnergy += model.pvPower * max(0, model.time - lastTime) / 3_600_000
            let (power, energy, voltage) = (model.pvPower, pvEnergy, model.voltage)
            pv.withBank(unit: pvUnit) { SunSpecInverterMap().publish(power: power, energy: energy, voltage: voltage, into: &$0) }
        }
        lastTime = model.time
    }

    /// Weak: the charger holds its server, whose write hook holds this box; a
    /// strong reference here made a cycle, and every simulated site leaked its
    /// servers (LeakSanitizer found 74 of them, 29 MB, in one test run).
    // Unchecked: set once, before the server that reads it starts.
    private final class Box: @unchecked Sendable { weak var device: SimulatedCharger? }
}
