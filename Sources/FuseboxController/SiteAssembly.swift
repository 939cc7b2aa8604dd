import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import FuseboxModbus
import FuseboxOCPP

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
    /// The Modbus connections, shared with the configurations before and after this one.
    public var pool = ConnectionPool()
    /// Where OCPP stations (`driver: ocpp`) connect: the running endpoint's, or none.
    public var ocpp: OCPPStations?
    /// The running site's devices, by `RunningDevice.key`: one whose configuration
    /// is unchanged is carried over as it runs instead of being made again.
    public var reuse: [String: RunningDevice] = [:]

    /// A device of a running site and the configuration it was made from.
    public struct RunningDevice: Sendable {
        public var config: SiteConfig.Device
        public var device: any SiteDevice
        /// The grid meter, the PV meter, or a charger by id.
        public static func key(_ path: String, _ d: SiteConfig.Device) -> String { path.hasPrefix("meters.") ? path : "charger " + d.id }
    }

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

    /// What was built, for the start-up log and for the next configuration.
    public struct Built {
        public var cycle: ControlCycle
        public var summary: [String]
        public var devices: [String: RunningDevice]

        public init(cycle: ControlCycle, summary: [String], devices: [String: RunningDevice]) {
            self.cycle = cycle
            self.summary = summary
            self.devices = devices
        }
    }

    /// Every part of the site, made or carried over; not yet running.
    public struct Assembled {
        public var settings: ControlCycle.Settings
        public var meter: any SiteDevice
        public var pv: (any SiteDevice)?
        public var stations: [ControlCycle.Station]
        public var chain: PolicyChain
        public var contacts: [(RippleContact, RippleSignal.Contact)]
        public var summary: [String]
        /// Every device, by `RunningDevice.key`.
        public var devices: [String: RunningDevice]
        /// The keys of the devices made new (not carried over), for a first reading before they run.
        public var made: [String]
        /// The Modbus endpoints the site uses.
        public var endpoints: Set<ModbusEndpoint>
    }

    public func build() throws(Problems) -> Built {
        let a = try assemble()
        let (summary, devices) = (a.summary, a.devices)
        let cycle = ControlCycle(settings: a.settings, meter: a.meter, pv: a.pv, stations: a.stations, chain: a.chain,
                                 contacts: a.contacts, meterDrivers: (config.grid.driver, config.pv?.driver ?? ""))
        return Built(cycle: cycle, summary: summary, devices: devices)
    }

    /// What a replacement made, for the one who asked for it.
    public struct Report: Sendable {
        public var summary: [String]
        public var devices: [String: RunningDevice]
        public var made: [String]
        public var endpoints: Set<ModbusEndpoint>
        public var change: String
    }

    /// The parts that replace `running`'s in a running cycle (`ControlCycle.stage`):
    /// the policy chain and the ripple contacts only when their configuration changed.
    /// `change` says why, when not only what changed ("version 3 restored");
    /// `asWritten` is the configuration as its file gives it, when this assembly adjusted it (the simulator's).
    public func replacement(of running: SiteConfig, asWritten: SiteConfig? = nil, by source: String?,
                            change: String? = nil) throws(Problems) -> sending (SiteParts, Report) {
        let a = try assemble()
        let chainSame = running.chain == config.chain && running.policySettings == config.policySettings
            && running.ripple.reducedPower == config.ripple.reducedPower
        let said = (change.map { $0 + ": " } ?? "") + SiteConfig.changes(from: running, to: asWritten ?? config) + (source.map { ", by \($0)" } ?? "")
        let report = Report(summary: a.summary, devices: a.devices, made: a.made, endpoints: a.endpoints, change: said)
        let parts = SiteParts(settings: a.settings, meter: a.meter, pv: a.pv, stations: a.stations,
                              chain: chainSame ? nil : a.chain, contacts: running.rippleInputs == config.rippleInputs ? nil : a.contacts,
                              meterDrivers: (config.grid.driver, config.pv?.driver ?? ""), change: said)
        return (parts, report)
    }

    /// Where a Modbus device answers: its address, or the simulator's.
    public func endpoint(of d: SiteConfig.Device) -> ModbusEndpoint? {
        if let e = endpointOverride(d) { return e }
        switch d.address {
        case .tcp(let host, let port): return .tcp(host: host, port: port)
        case .rtu(let path, let baud, let parity):
            return .rtu(path: path, baud: baud, parity: ModbusEndpoint.Parity(rawValue: parity) ?? .none)
        case .none, .web: return nil
        }
    }

    /// The Modbus endpoints `site` uses: its meters, chargers and ripple contacts.
    public func endpoints(of site: SiteConfig) -> Set<ModbusEndpoint> {
        var devices = [site.grid] + (site.pv.map { [$0] } ?? []) + site.chargers.map(\.device)
        for input in site.rippleInputs {
            if case .modbus(let address, let unit, _, _) = input.source {
                devices.append(SiteConfig.Device(id: "ripple", driver: "", address: address, unit: unit))
            }
        }
        return Set(devices.compactMap(endpoint(of:)))
    }

    public func assemble() throws(Problems) -> sending Assembled {
        var problems: [String] = []
        var endpoints = Set<ModbusEndpoint>()
        var summary: [String] = []
        var devices: [String: RunningDevice] = [:]
        var made: [String] = []

        func endpoint(_ d: SiteConfig.Device) -> ModbusEndpoint? { self.endpoint(of: d) }
        func connection(_ e: ModbusEndpoint, name: String) -> ModbusConnection {
            endpoints.insert(e)
            return pool.connection(e, name: name) { [timeouts, clock] e, name in
                ModbusConnection(endpoint: e, name: name, timeouts: timeouts, clock: clock)
            }
        }
        func device(_ d: SiteConfig.Device, path: String) -> (any SiteDevice)? {
            let key = RunningDevice.key(path, d)
            if let running = reuse[key], running.config == d {
                if let e = endpoint(d) { endpoints.insert(e) }
                devices[key] = running
                summary.append("\(d.id): \(d.driver) at \(d.address), unchanged")
                return running.device
            }
            guard let fresh = makeDevice(d, path: path) else { return nil }
            devices[key] = RunningDevice(config: d, device: fresh)
            made.append(key)
            return fresh
        }
        func makeDevice(_ d: SiteConfig.Device, path: String) -> (any SiteDevice)? {
            if d.isOCPP {
                guard let ocpp else { problems.append("\(path).driver: \(d.driver) needs the box's OCPP endpoint (an ocpp section)"); return nil }
                do {
                    let script = try drivers.load(d.driver)
                    guard script.kind == .ocpp else {
                        problems.append("\(path).driver: \(d.driver) is a \(script.kind) driver; an OCPP station's is kind = \"ocpp\"")
                        return nil
                    }
                    var remoteStart: String?
                    if case .map(let m) = d.settings, case .string(let tag)? = m["remote_start"], !tag.isEmpty { remoteStart = tag }
                    var availability = false
                    if case .map(let m) = d.settings, case .bool(true)? = m["availability"] { availability = true }
                    let made = try OCPPCharger(id: d.id, stations: ocpp, driver: script, timeout: config.ocpp?.timeout ?? 10, remoteStart: remoteStart,
                                               availability: availability)
                    summary.append("\(d.id): OCPP 1.6J station (\(d.driver)), connecting to this box as /\(d.id)")
                    return made
                } catch {
                    problems.append("\(path).driver: \(error)")
                    return nil
                }
            }
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

        let meter: (any SiteDevice)? = config.isSetUp ? device(config.grid, path: "meters.grid") : AbsentMeter()
        let pv = config.pv.flatMap { device($0, path: "meters.pv") }
        var stations: [ControlCycle.Station] = []
        for (n, c) in config.chargers.enumerated() {
            guard let d = device(c.device, path: "chargers[\(n)]") else { continue }
            stations.append(ControlCycle.Station(
                settings: ChargerSnapshot(id: c.id, status: .unavailable, phases: c.phases, min: c.min, max: c.max, priority: c.priority),
                device: d, driver: c.device.driver, enabled: c.enabled))
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
        let tcp = endpoints.filter { if case .tcp = $0 { true } else { false } }.count
        // The OCPP endpoint holds a socket per station, up to its limit.
        let ocppSockets = config.ocpp == nil ? 0 : SiteConfig.OCPP.maxConnections
        if tcp + ocppSockets + DescriptorLimit.reserve > descriptorLimit {
            let ocppPart = ocppSockets == 0 ? "" : ", \(ocppSockets) for OCPP stations"
            problems.append("chargers: \(tcp) Modbus TCP connections\(ocppPart) and \(DescriptorLimit.reserve) descriptors for the rest need "
                            + "\(tcp + ocppSockets + DescriptorLimit.reserve), but this process may open \(descriptorLimit) (ulimit -n): "
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
        return Assembled(settings: settings, meter: meter, pv: pv, stations: stations, chain: chain, contacts: contacts,
                         summary: summary, devices: devices, made: made, endpoints: endpoints)
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
