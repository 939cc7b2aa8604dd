import Foundation
import FuseboxModbus

/// A charger of one make behind a Modbus server: it shows its state on the
/// make's registers and takes the limit a controller writes. The physical
/// model that moves the state (the car following the limit after a delay) is
/// the site model's (`SiteModel`).
// Unchecked: the limit a controller wrote is kept under `lock`; the map and the server are immutable references (the server locks its own banks).
public final class SimulatedCharger: @unchecked Sendable {
    public let map: any ChargerRegisterMap
    private let server: ModbusServer
    private let lock = NSLock()
    private var limitValue: Double?

    /// `server` must answer for `map.unit`; the charger listens to its writes.
    public init(map: any ChargerRegisterMap, server: ModbusServer) {
        self.map = map
        self.server = server
    }

    public func show(_ state: SimulatedChargerState) {
        server.withBank(unit: map.unit) { map.publish(state, into: &$0) }
    }

    /// Feed the server's write reports here (its `onWrite`).
    public func take(_ write: ModbusServer.Write) {
        guard write.unit == map.unit, let amps = map.limit(from: write) else { return }
        lock.lock()
        limitValue = amps
        lock.unlock()
    }

    /// The limit last written, A.
    public var limit: Double? {
        lock.lock()
        defer { lock.unlock() }
        return limitValue
    }
}
