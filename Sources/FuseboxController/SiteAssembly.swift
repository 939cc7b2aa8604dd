import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import FuseboxModbus

/// Builds the running controller from a checked `SiteConfig`: one Modbus
/// connection per TCP endpoint or serial line (several units on one RS-485 line
/// share its owner), a Lua driver per device, the policy chain with its
/// settings, and the ripple contacts. Every script is loaded here, so
/// `fusebox check` and `fusebox run` fail the same way, with every problem at once.
public struct SiteAssembly {
    public var config: SiteConfig
    public var drivers: DriverLibrary
    public var policies: PolicyLibrary
    /// Where a device answers when its address is `.none` (the simulator).
    public var endpointOverride: @Sendable (SiteConfig.Device) -> ModbusEndpoint?
    public var timeouts: ModbusTimeouts
    /// Seconds for the drivers' `dev.time` (simulated time in scenarios).
    public var clock: @Sendable () -> Double
    /// Files and sockets this process may open (`DescriptorLimit.raise()`, raised on first use).
    public var descriptorLimit: Int

    public init(config: SiteConfig, drivers: DriverLibrary? = nil, policies: PolicyLibrary? = nil,
                timeouts: ModbusTimeouts = ModbusTimeouts(),
                endpointOverride: @escaping @Sendable (SiteConfig.Device) -> ModbusEndpoint? = { _ in nil },
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.config = config
        self.drivers = drivers ?? .shipped(siteDirectory: config.driverDirectory)
        self.policies = policies ?? .shipped(siteDirectory: config.policyDirectory)
        self.timeouts = timeouts
        self.endpointOverride = endpointOverride
        self.clock = clock
        descriptorLimit = DescriptorLimit.raise()
    }

    public struct Problems: Error, CustomStringConvertible {
        public var messages: [String]
        public var description: String { messages.joined(separator: "\n") }
    }

    /// What was built, for the start-up log.
    public struct Built {
        public var cycle: ControlCycle
        public var summary: [String]
    }

    public func build() throws(Problems) -> Built {
        var problems: [String] = []
        var connections: [ModbusEndpoint: ModbusConnection] = [:]
        var summary: [String] = []

        func endpoint(_ d: SiteConfig.Device) -> ModbusEndpoint? {
            if let e = endpointOverride(d) { return e }
            switch d.address {
            case .tcp(let host, let port): return .tcp(host: host, port: port)
            case .rtu(let path, let baud, let parity):
                return .rtu(path: path, baud: baud, parity: ModbusEndpoint.Parity(rawValue: parity) ?? .none)
            case .none, .web: return nil
            }
        }
        func connection(_ e: ModbusEndpoint, name: String) -> ModbusConnection {
            if let c = connections[e] { return c }
            let c = ModbusConnection(endpoint: e, name: name, timeouts: timeouts, clock: clock)
            connections[e] = c
            return c
        }
        func device(_ d: SiteConfig.Device, path: String) -> LuaDevice? {
            if case .web(let api, let allow) = d.address { return cloudDevice(d, api: api, allow: allow, path: path) }
            guard let e = endpoint(d) else { problems.append("\(path): no address to reach \(d.id) at"); return nil }
            do {
                let script = try drivers.load(d.driver)
                if script.transport == .http {
                    problems.append("\(path).api: driver \(d.driver) talks to the vendor's cloud: give the API URL as api, not host and port")
                    return nil
                }
                let made = try LuaDevice(id: d.id, script: script, connection: connection(e, name: d.id), unit: d.unit,
                                         config: d.settings.luaValue, clock: clock)
                summary.append("\(d.id): \(d.driver) at \(e) unit \(d.unit)")
                return made
            } catch {
                problems.append("\(path).driver: \(error)")
                return nil
            }
        }

        func cloudDevice(_ d: SiteConfig.Device, api: String, allow: [String], path: String) -> LuaDevice? {
            do {
                let script = try drivers.load(d.driver)
                guard script.transport == .http else {
                    problems.append("\(path).api: driver \(d.driver) speaks Modbus: give host and port (or a serial port), not api")
                    return nil
                }
                // The driver reads the API's address with its other settings.
                var settings = d.settings
                if case .map(var m) = settings, m["api"] == nil { m["api"] = .string(api); settings = .map(m) }
                let web = WebAccess(name: d.id, api: api, allow: allow)
                let made = try LuaDevice(id: d.id, script: script, web: web, config: settings.luaValue, clock: clock)
                summary.append("\(d.id): \(d.driver) at \(api)")
                return made
            } catch {
                problems.append("\(path).driver: \(error)")
                return nil
            }
        }

        let meter = device(config.grid, path: "meters.grid")
        let pv = config.pv.flatMap { device($0, path: "meters.pv") }
        var stations: [ControlCycle.Station] = []
        for (n, c) in config.chargers.enumerated() {
            guard let d = device(c.device, path: "chargers[\(n)]") else { continue }
            stations.append(ControlCycle.Station(
                settings: ChargerSnapshot(id: c.id, status: .unavailable, phases: c.phases, min: c.min, max: c.max, priority: c.priority),
                device: d, driver: c.device.driver))
        }

        var scripts: [PolicyScript] = []
        for (n, name) in config.chain.enumerated() {
            do { scripts.append(try policies.load(name)) } catch { problems.append("policy.chain[\(n)]: \(error)") }
        }
        summary.append("policies: \(config.chain.joined(separator: " -> "))")

        var contacts: [(RippleContact, RippleSignal.Contact)] = []
        for (n, input) in config.rippleInputs.enumerated() {
            let path = config.rippleInputs.count == 1 ? "ripple.input" : "ripple.inputs[\(n)]"
            let contact: RippleContact
            switch input.source {
            case .file(let file): contact = FileContact(path: file)
            case .modbus(let address, let unit, let register, let coil):
                let d = SiteConfig.Device(id: "ripple", driver: "", address: address, unit: unit)
                guard let e = endpoint(d) else { problems.append("\(path): no address to read the contact at"); continue }
                contact = ModbusContact(connection: connection(e, name: "ripple"), unit: unit, address: register, coil: coil)
            case .gpio(let chip, let line):
                contact = GPIOContact(chip: chip, line: line)
            }
            contacts.append((contact, RippleSignal.Contact(activeWhenClosed: input.activeWhenClosed, mode: input.mode,
                                                           debounce: input.debounce)))
            summary.append("\(contact.name): \(input.activeWhenClosed ? "closed" : "open") means \(input.mode.rawValue)")
        }

        // Each TCP endpoint holds a socket for as long as the controller runs: more
        // than the process may open would fail mid-run, connection by connection.
        let tcp = connections.keys.filter { if case .tcp = $0 { true } else { false } }.count
        if tcp + DescriptorLimit.reserve > descriptorLimit {
            problems.append("chargers: \(tcp) Modbus TCP connections and \(DescriptorLimit.reserve) descriptors for the rest need "
                            + "\(tcp + DescriptorLimit.reserve), but this process may open \(descriptorLimit) (ulimit -n): "
                            + "raise LimitNOFILE= in the systemd unit, or reach chargers through gateways that serve several unit ids on one connection")
        }
        guard problems.isEmpty, let meter else { throw Problems(messages: problems) }
        var settingsByPolicy: [String: LuaValue] = [:]
        for (name, value) in config.policySettings { settingsByPolicy[name] = value.luaValue }
        if let w = config.ripple.reducedPower, config.chain.contains("ripple") {
            // The ripple policy and the clamp read one number (site.yaml's ripple.reduced_power).
            var ripple = config.policySettings["ripple"] ?? .map([:])
            if case .map(var m) = ripple { m["reduced_power"] = .number(w); ripple = .map(m) }
            settingsByPolicy["ripple"] = ripple.luaValue
        }
        let chain = PolicyChain(scripts: scripts, settings: settingsByPolicy)
        let settings = ControlCycle.Settings(
            limits: config.limits, circuits: config.circuits, failsafe: config.failsafe, ripple: config.ripple,
            pacing: LimitPacer.Settings(rampUp: config.control.rampUp, raiseEvery: config.control.raiseEvery,
                                        restartPause: config.control.restartPause, settle: config.control.settle),
            refresh: config.control.refresh,
            deviceDeadline: config.control.deviceDeadline ?? config.period * 0.4)
        let cycle = ControlCycle(settings: settings, meter: meter, pv: pv, stations: stations, chain: chain, contacts: contacts,
                                 meterDrivers: (config.grid.driver, config.pv?.driver ?? ""))
        return Built(cycle: cycle, summary: summary)
    }
}

extension ConfigValue {
    /// As a script sees it: maps become tables with string keys, lists sequences.
    public var luaValue: LuaValue {
        switch self {
        case .bool(let b): .boolean(b)
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? .integer(Int64(d)) : .number(d)
        case .string(let s): .string(s)
        case .list(let l): .array(l.map(\.luaValue))
        case .map(let m): .record(m.sorted { $0.key < $1.key }.map { ($0.key, $0.value.luaValue) })
        }
    }
}
