extension SiteConfig {
    /// The configuration as site.yaml would give it, all but `http` (the
    /// accounts stay in the file they were written in): `SiteConfig(tree:file:)`
    /// reads it back to an equal configuration. For writing a configuration
    /// made in code (the demo's) to a file the page can then change.
    public var tree: [String: Any] {
        var site: [String: Any] = ["name": name, "period": period,
                                   "limit": ["current": Self.phases(limits.current), "margin": limits.margin] as [String: Any],
                                   "failsafe": ["meter_timeout": failsafe.meterTimeout, "current": failsafe.current]]
        if !serial.isEmpty { site["serial"] = serial }
        if let power = limits.power { site["power_limit"] = power }
        var top: [String: Any] = ["site": site]
        var control: [String: Any] = ["ramp_up": self.control.rampUp, "raise_every": self.control.raiseEvery,
                                      "restart_pause": self.control.restartPause, "settle": self.control.settle, "refresh": self.control.refresh]
        if let d = self.control.deadline { control["deadline"] = d }
        if let d = self.control.deviceDeadline, d.isFinite { control["device_deadline"] = d }
        top["control"] = control
        if case .none = grid.address {} else {
            var meters: [String: Any] = ["grid": Self.device(grid)]
            if let pv { meters["pv"] = Self.device(pv) }
            top["meters"] = meters
        }
        if !chargers.isEmpty {
            top["chargers"] = chargers.map { c -> [String: Any] in
                var m = Self.device(c.device)
                m["id"] = c.id
                m["min"] = c.min
                m["max"] = c.max
                m["phases"] = c.phases.map(\.rawValue)
                if c.priority != 0 { m["priority"] = c.priority }
                if !c.enabled { m["enabled"] = false }
                return m
            }
        }
        if !circuits.isEmpty { top["circuits"] = circuits.map(Self.circuit) }
        var policy: [String: Any] = ["chain": chain]
        if !policySettings.isEmpty { policy["settings"] = policySettings.mapValues(\.tree) }
        top["policy"] = policy
        var ripple: [String: Any] = [:]
        if let group = self.ripple.group { ripple["group"] = group }
        if let w = self.ripple.reducedPower { ripple["reduced_power"] = w }
        if !rippleInputs.isEmpty { ripple["inputs"] = rippleInputs.map(Self.rippleInput) }
        if !ripple.isEmpty { top["ripple"] = ripple }
        var history: [String: Any] = ["path": self.history.path,
                                      "retention": ["raw": self.history.rawRetention, "minute": self.history.minuteRetention]]
        if let bytes = self.history.maxBytes { history["max_size"] = Double(bytes) / 1_048_576 }
        top["history"] = history
        var scripts: [String: Any] = [:]
        if let p = policyDirectory { scripts["policies"] = p }
        if let d = driverDirectory { scripts["drivers"] = d }
        if !scripts.isEmpty { top["scripts"] = scripts }
        if let mqtt = mqttTree { top["mqtt"] = mqtt }
        if let ocpp {
            var o: [String: Any] = ["listen": ocpp.listen]
            if ocpp.timeout != OCPP().timeout { o["timeout"] = ocpp.timeout }
            if ocpp.selfRegistration { o["self_registration"] = true }
            if let tags = ocpp.idTags { o["id_tags"] = tags }
            if let certificate = ocpp.tlsCertificate, let key = ocpp.tlsKey { o["tls"] = ["certificate": certificate, "key": key] }
            top["ocpp"] = o
        }
        return top
    }

    private static func phases(_ p: PhaseValues) -> Any { p.l1 == p.l2 && p.l2 == p.l3 ? p.l1 as Any : p.array as Any }

    private static func address(_ a: Address, unit: Int, into m: inout [String: Any]) {
        switch a {
        case .tcp(let host, let port): m["host"] = host; m["port"] = port; m["unit"] = unit
        case .rtu(let path, let baud, let parity):
            m["port"] = path; m["baud"] = baud; m["unit"] = unit
            m["parity"] = parity == "E" ? "even" : parity == "O" ? "odd" : "none"
        case .web(let api, let allow): m["api"] = api; if !allow.isEmpty { m["allow"] = allow }
        case .none: break
        }
    }

    private static func device(_ d: Device) -> [String: Any] {
        var m: [String: Any] = ["driver": d.driver]
        address(d.address, unit: d.unit, into: &m)
        if case .map(let s) = d.settings, !s.isEmpty { m["settings"] = d.settings.tree }
        return m
    }

    private static func circuit(_ c: Circuit) -> [String: Any] {
        var m: [String: Any] = ["id": c.id, "limit": phases(c.limit)]
        if c.margin > 0 { m["margin"] = c.margin }
        if !c.chargers.isEmpty { m["chargers"] = c.chargers }
        if !c.circuits.isEmpty { m["circuits"] = c.circuits.map(circuit) }
        return m
    }

    private static func rippleInput(_ i: RippleInput) -> [String: Any] {
        var m: [String: Any] = ["active": i.activeWhenClosed ? "closed" : "open", "mode": i.mode.rawValue, "debounce": i.debounce]
        switch i.source {
        case .modbus(let a, let unit, let register, let coil):
            m["type"] = coil ? "modbus-coil" : "modbus-di"
            m["address"] = register
            address(a, unit: unit, into: &m)
        case .gpio(let chip, let line): m["type"] = "gpio"; m["chip"] = chip; m["line"] = line
        case .file(let path): m["type"] = "file"; m["path"] = path
        }
        return m
    }
}

extension ConfigValue {
    /// As a parsed file gives it.
    public var tree: Any {
        switch self {
        case .bool(let b): b
        case .number(let d): d
        case .string(let s): s
        case .list(let l): l.map(\.tree)
        case .map(let m): m.mapValues(\.tree)
        }
    }
}

extension SiteConfig {
    /// Whether the site has a grid meter or a charger yet (a new box has neither until its Setup).
    public var isSetUp: Bool {
        if !chargers.isEmpty { return true }
        if case .none = grid.address { return false }
        return true
    }
}
