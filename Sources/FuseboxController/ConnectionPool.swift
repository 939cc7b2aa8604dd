import FuseboxModbus
import Synchronization

/// The site's Modbus connections, one per TCP endpoint or serial line, kept
/// across configurations: a device added later on an endpoint already in use
/// shares its connection (one owner per RS-485 line), and a device that stays
/// keeps the connection it has.
public final class ConnectionPool: Sendable {
    private let connections = Mutex<[ModbusEndpoint: ModbusConnection]>([:])

    public init() {}

    /// The connection to `endpoint`, made on first use.
    public func connection(_ endpoint: ModbusEndpoint, name: String, make: (ModbusEndpoint, String) -> ModbusConnection) -> ModbusConnection {
        connections.withLock { pool in
            if let c = pool[endpoint] { return c }
            let c = make(endpoint, name)
            pool[endpoint] = c
            return c
        }
    }

    public var endpoints: [ModbusEndpoint] { connections.withLock { Array($0.keys) } }

    /// Lets go of connections no running device uses (each closes with its last user).
    public func keep(only used: Set<ModbusEndpoint>) {
        connections.withLock { pool in pool = pool.filter { used.contains($0.key) } }
    }
}
