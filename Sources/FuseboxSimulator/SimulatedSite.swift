import Foundation
import FuseboxCore
import FuseboxModbus

/// The site model behind real Modbus TCP servers, one port per device as in a
/// car park: each charger speaks its make's register map, the grid meter is an
/// SDM630. Limits the controller writes go into the model; `tick` moves the
/// model on and publishes every device's registers.
public final class SimulatedSite: @unchecked Sendable {
    public let model: SiteModel
    public let meter: ModbusServer
    public let meterUnit: Int
    public private(set) var chargers: [(id: String, server: ModbusServer, device: SimulatedCharger)] = []
    private let lock = NSLock()
    private var writes: [(id: String, amps: Double)] = []

    /// `ports` gives a fixed TCP port per charger id and "grid"; others get a free port.
    public init(model: SiteModel, maps: [String: any ChargerRegisterMap], ports: [String: Int] = [:],
                host: String = "127.0.0.1", meterUnit: Int = 1) throws(ModbusError) {
        self.model = model
        self.meterUnit = meterUnit
        meter = ModbusServer(host: host, port: ports["grid"] ?? 0, units: [meterUnit])
        try meter.start()
        for c in model.chargers {
            guard let map = maps[c.id] else { continue }
            let box = Box()
            let server = ModbusServer(host: host, port: ports[c.id] ?? 0, units: [map.unit], onWrite: { [weak self] w in
                guard let device = box.device, let self else { return }
                device.take(w)
                if let amps = map.limit(from: w) { self.queue(c.id, amps) }
            })
            try server.start()
            let device = SimulatedCharger(map: map, server: server)
            box.device = device
            chargers.append((c.id, server, device))
        }
        model.step(0)   // cars due at the start are in before anything is served
        publish()
    }

    /// The TCP port of a charger's (or, for "grid", the meter's) server.
    public func port(of id: String) -> Int? {
        id == "grid" ? meter.port : chargers.first { $0.id == id }?.server.port
    }

    /// Applies the writes that arrived, advances `dt` seconds, publishes.
    public func tick(_ dt: Double) {
        lock.lock()
        let pending = writes
        writes.removeAll()
        lock.unlock()
        for w in pending { model.write(limit: w.amps, to: w.id) }
        model.step(dt)
        publish()
    }

    public func stop() {
        meter.stop()
        for c in chargers { c.server.stop() }
    }

    private func queue(_ id: String, _ amps: Double) {
        lock.lock()
        writes.append((id, amps))
        lock.unlock()
    }

    private func publish() {
        for c in chargers {
            guard let i = model.chargers.firstIndex(where: { $0.id == c.id }) else { continue }
            c.device.show(model.state(of: i))
        }
        let current = model.gridCurrent
        meter.withBank(unit: meterUnit) {
            SDM630Map().publish(voltage: model.voltage, current: current, power: model.gridPower,
                                importEnergy: 0, into: &$0)
        }
    }

    private final class Box: @unchecked Sendable { var device: SimulatedCharger? }
}
