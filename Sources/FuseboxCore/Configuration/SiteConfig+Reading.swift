import Foundation

extension SiteConfig {
    /// Reads a parsed site.yaml (or the controller part of a scenario file),
    /// collecting every problem with its key path and what was expected.
    /// `addresses: false` accepts meters and chargers without a host or port
    /// (the simulator serves them) and a site without chargers.
    public init(tree root: Any, file: String, addresses: Bool = true) throws(Problems) {
        self.init()
        guard let top = root as? [String: Any] else { throw Problems(messages: ["\(file): expected a mapping at the top"]) }
        var r = ConfigReader()
        r.onlyKnown(top, "", ["site", "control", "meters", "circuits", "chargers", "policy", "ripple", "http", "history", "scripts", "mqtt", "ocpp"])

        if let site = r.map(top["site"], "site") {
            r.onlyKnown(site, "site", ["name", "serial", "period", "limit", "power_limit", "failsafe"])
            name = r.string(site["name"], "site.name", default: name)
            serial = r.string(site["serial"], "site.serial", default: "")
            period = r.duration(site["period"], "site.period", default: 1)
            if period < 0.1 || period > 60 { r.problem("site.period: expected 100ms to 60s, got \(ConfigReader.shown(site["period"] ?? period))") }
            if let limit = r.map(site["limit"], "site.limit") {
                r.onlyKnown(limit, "site.limit", ["current", "margin"])
                if limit["current"] == nil { r.problem("site.limit.current: missing (required): the fuse, A per phase") }
                limits.current = r.phases(limit["current"], "site.limit.current", default: limits.current, range: 1...4000)
                limits.margin = r.number(limit["margin"], "site.limit.margin", default: 2, range: 0...1000)
                // A margin as large as the fuse leaves the cars nothing, always: a typo, not a choice.
                let fuse = limits.current.array.min() ?? 0
                if limits.margin >= fuse && fuse > 0 {
                    r.problem("site.limit.margin: expected less than the smallest fuse (\(ConfigReader.show(fuse)) A), got \(ConfigReader.show(limits.margin))")
                }
            } else {
                r.problem("site.limit: missing (required): { current: A per phase, margin: A }")
            }
            if site["power_limit"] != nil {
                limits.power = r.number(site["power_limit"], "site.power_limit", default: 0, range: 0...100_000_000)
            }
            if let fs = r.map(site["failsafe"], "site.failsafe") {
                r.onlyKnown(fs, "site.failsafe", ["meter_timeout", "current"])
                failsafe.meterTimeout = r.duration(fs["meter_timeout"], "site.failsafe.meter_timeout", default: 5)
                failsafe.current = r.number(fs["current"], "site.failsafe.current", default: 0, range: 0...80)
            }
        } else {
            r.problem("site: missing (required): name, serial, limit")
        }

        if let c = r.map(top["control"], "control") {
            r.onlyKnown(c, "control", ["ramp_up", "raise_every", "restart_pause", "settle", "refresh", "deadline", "device_deadline"])
            control.rampUp = r.number(c["ramp_up"], "control.ramp_up", default: 1, range: 0.01...1000)
            control.raiseEvery = r.duration(c["raise_every"], "control.raise_every", default: 5)
            control.restartPause = r.duration(c["restart_pause"], "control.restart_pause", default: 30)
            control.settle = r.duration(c["settle"], "control.settle", default: 10)
            control.refresh = r.duration(c["refresh"], "control.refresh", default: 30)
            if c["deadline"] != nil { control.deadline = r.duration(c["deadline"], "control.deadline", default: period) }
            if c["device_deadline"] != nil {
                let d = r.duration(c["device_deadline"], "control.device_deadline", default: period * 0.4)
                // Two of them (a poll, then a write) must fit in one period.
                if d < 0.01 || d > period / 2 {
                    r.problem("control.device_deadline: expected 10ms to half the period (\(ConfigReader.show(period / 2)) s), got \(ConfigReader.shown(c["device_deadline"] ?? d))")
                } else {
                    control.deviceDeadline = d
                }
            }
        }

        var ids = Set<String>()
        if let meters = r.map(top["meters"], "meters") {
            r.onlyKnown(meters, "meters", ["grid", "pv"])
            if let g = Self.device(&r, meters["grid"], "meters.grid", id: "grid", addresses: addresses) { grid = g }
            pv = Self.device(&r, meters["pv"], "meters.pv", id: "pv", addresses: addresses)
        } else if addresses && top["chargers"] != nil {
            r.problem("meters.grid: missing (required): the grid meter, e.g. { driver: sdm630, host: 10.0.0.5, port: 502, unit: 1 }")
        }

        for (n, c) in r.list(top["chargers"], "chargers").enumerated() {
            let path = "chargers[\(n)]"
            guard let m = r.map(c, path) else { continue }
            r.onlyKnown(m, path, ["id", "driver", "host", "port", "unit", "baud", "parity", "api", "allow", "settings",
                                  "min", "max", "phases", "priority", "enabled"])
            let id = r.string(m["id"], "\(path).id", default: "")
            if id.isEmpty { r.problem("\(path).id: missing (required)") }
            else if !ids.insert(id).inserted { r.problem("\(path).id: \"\(id)\" is used twice") }
            guard let device = Self.device(&r, c, path, id: id, addresses: addresses, checked: true) else { continue }
            var charger = Charger(device: device)
            charger.min = r.number(m["min"], "\(path).min", default: 6, range: 0...80)
            charger.max = r.number(m["max"], "\(path).max", default: 16, range: 0...80)
            if charger.max < charger.min { r.problem("\(path).max: expected at least min (\(charger.min) A), got \(charger.max)") }
            charger.phases = r.phaseList(m["phases"], "\(path).phases")
            charger.priority = r.int(m["priority"], "\(path).priority", default: 0, range: -1000...1000)
            charger.enabled = r.bool(m["enabled"], "\(path).enabled", default: true)
            chargers.append(charger)
        }
        // A site with neither meters nor chargers is one not set up yet, and one with
        // its meter alone is being set up: both run, waiting for the page's Setup.

        func circuit(_ v: Any, _ path: String, depth: Int) -> Circuit? {
            guard let m = r.map(v, path) else { return nil }
            r.onlyKnown(m, path, ["id", "limit", "margin", "chargers", "circuits"])
            let id = r.string(m["id"], "\(path).id", default: "")
            if id.isEmpty { r.problem("\(path).id: missing (required)") }
            if m["limit"] == nil { r.problem("\(path).limit: missing (required): the circuit's fuse, A per phase") }
            let members = r.strings(m["chargers"], "\(path).chargers")
            for (k, member) in members.enumerated() where !ids.contains(member) {
                r.problem("\(path).chargers[\(k)]: expected the id of a charger, got \"\(member)\"")
            }
            var inner: [Circuit] = []
            if depth < 8 {
                for (k, sub) in r.list(m["circuits"], "\(path).circuits").enumerated() {
                    if let c = circuit(sub, "\(path).circuits[\(k)]", depth: depth + 1) { inner.append(c) }
                }
            } else if m["circuits"] != nil {
                r.problem("\(path).circuits: expected at most 8 levels of sub-distribution")
            }
            let limit = r.phases(m["limit"], "\(path).limit", default: .zero, range: 0...10_000)
            let margin = r.number(m["margin"], "\(path).margin", default: 0, range: 0...1000)
            let fuse = limit.array.min() ?? 0
            if margin > 0 && margin >= fuse && fuse > 0 {
                r.problem("\(path).margin: expected less than the circuit's smallest fuse (\(ConfigReader.show(fuse)) A), got \(ConfigReader.show(margin))")
            }
            return Circuit(id: id, limit: limit, margin: margin, chargers: members, circuits: inner)
        }
        for (n, c) in r.list(top["circuits"], "circuits").enumerated() {
            if let made = circuit(c, "circuits[\(n)]", depth: 0) { circuits.append(made) }
        }
        var placed: [String: String] = [:]
        for c in circuits.flatMap(\.flattened) {
            for member in c.chargers {
                if let other = placed[member] { r.problem("circuits: charger \"\(member)\" is in both \(other) and \(c.id)") }
                placed[member] = c.id
            }
        }

        if let p = r.map(top["policy"], "policy") {
            r.onlyKnown(p, "policy", ["chain", "settings"])
            if p["chain"] != nil {
                chain = r.strings(p["chain"], "policy.chain")
                if chain.isEmpty { r.problem("policy.chain: expected at least one policy, e.g. [ripple, fair_share]") }
            }
            if let s = r.map(p["settings"], "policy.settings") {
                for (name, value) in s {
                    if !chain.contains(name) {
                        r.problem("\(ConfigReader.path("policy.settings", name)): expected settings of a policy in the chain (\(chain.joined(separator: ", ")))")
                    }
                    guard let v = ConfigValue(tree: value), case .map = v else {
                        r.problem("\(ConfigReader.path("policy.settings", name)): expected a mapping of settings")
                        continue
                    }
                    policySettings[name] = v
                }
            }
        }

        if let rp = r.map(top["ripple"], "ripple") {
            r.onlyKnown(rp, "ripple", ["input", "inputs", "group", "reduced_power"])
            if rp["group"] != nil {
                let group = r.strings(rp["group"], "ripple.group")
                for (k, member) in group.enumerated() where !ids.contains(member) {
                    r.problem("ripple.group[\(k)]: expected the id of a charger, got \"\(member)\"")
                }
                ripple.group = group
            }
            if rp["reduced_power"] != nil {
                ripple.reducedPower = r.number(rp["reduced_power"], "ripple.reduced_power", default: 4200, range: 0...10_000_000)
            }
            if rp["input"] != nil && rp["inputs"] != nil { r.problem("ripple: expected input or inputs, not both") }
            let inputs: [Any] = rp["input"].map { [$0] } ?? r.list(rp["inputs"], "ripple.inputs")
            for (n, i) in inputs.enumerated() {
                let path = rp["input"] != nil ? "ripple.input" : "ripple.inputs[\(n)]"
                if let input = Self.rippleInput(&r, i, path, addresses: addresses) { rippleInputs.append(input) }
            }
        }
        // One number for what `reduced` allows: the ripple policy and the clamp read the same.
        if ripple.reducedPower == nil, let w = policySettings["ripple"]?["reduced_power"]?.number { ripple.reducedPower = w }

        if let h = r.map(top["http"], "http") {
            r.onlyKnown(h, "http", ["listen", "user", "password_hash", "viewers", "tls", "trusted_proxies", "header_timeout", "request_timeout",
                                    "idle_timeout", "max_connections", "max_connections_per_client"])
            http.listen = r.string(h["listen"], "http.listen", default: http.listen)
            if http.listen.split(separator: ":").last.flatMap({ Int($0) }).map({ !(0...65535).contains($0) }) ?? true {
                r.problem("http.listen: expected ADDRESS:PORT such as 0.0.0.0:4000, got \(ConfigReader.quoted(http.listen))")
            }
            http.user = r.string(h["user"], "http.user", default: "admin")
            if h["password_hash"] != nil { http.passwordHash = r.string(h["password_hash"], "http.password_hash", default: "") }
            for (n, item) in r.list(h["viewers"], "http.viewers").enumerated() {
                let path = "http.viewers[\(n)]"
                guard let v = r.map(item, path) else { continue }
                r.onlyKnown(v, path, ["user", "password_hash"])
                let user = r.string(v["user"], path + ".user", default: "")
                let hash = r.string(v["password_hash"], path + ".password_hash", default: "")
                if user.isEmpty {
                    r.problem("\(path).user: missing (required): the viewer's user name")
                } else if user == http.user || http.viewers.contains(where: { $0.user == user }) {
                    r.problem("\(path).user: \(ConfigReader.quoted(user)) is taken already; every account needs a name of its own")
                }
                if !hash.hasPrefix("$2") {
                    r.problem("\(path).password_hash: expected a bcrypt hash from `fusebox password-hash`, such as $2b$12$...")
                }
                http.viewers.append(SiteConfig.Viewer(user: user, passwordHash: hash))
            }
            if let (certificate, key) = Self.serverTLS(&r, h["tls"], "http.tls") {
                http.tlsCertificate = certificate
                http.tlsKey = key
            }
            for (n, proxy) in r.strings(h["trusted_proxies"], "http.trusted_proxies").enumerated() {
                // An address, as the server sees the connection's peer: 127.0.0.1, ::1, 10.0.0.2.
                if proxy.isEmpty || proxy.contains("/") || !proxy.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) {
                    r.problem("http.trusted_proxies[\(n)]: expected an IP address such as 127.0.0.1, got \(ConfigReader.quoted(proxy))")
                } else {
                    http.trustedProxies.append(proxy)
                }
            }
            let timeouts: [(String, WritableKeyPath<ConnectionLimits, Double>)] = [
                ("header_timeout", \.headerTimeout), ("request_timeout", \.requestTimeout), ("idle_timeout", \.idleTimeout)]
            for (key, keyPath) in timeouts where h[key] != nil {
                let d = r.duration(h[key], "http.\(key)", default: http.connections[keyPath: keyPath])
                if d < 1 || d > 3600 { r.problem("http.\(key): expected 1s to 1h, got \(ConfigReader.shown(h[key] ?? d))") }
                else { http.connections[keyPath: keyPath] = d }
            }
            http.connections.total = r.int(h["max_connections"], "http.max_connections", default: http.connections.total,
                                           range: 4...ConnectionLimits.maxTotal)
            http.connections.perClient = r.int(h["max_connections_per_client"], "http.max_connections_per_client",
                                               default: http.connections.perClient, range: 1...ConnectionLimits.maxTotal)
        }
        if let h = r.map(top["history"], "history") {
            r.onlyKnown(h, "history", ["path", "retention", "max_size"])
            history.path = r.string(h["path"], "history.path", default: history.path)
            if h["max_size"] != nil {
                let mb = r.number(h["max_size"], "history.max_size", default: 1024, range: 1...1_000_000)
                history.maxBytes = Int(mb * 1_048_576)
            }
            if let ret = r.map(h["retention"], "history.retention") {
                r.onlyKnown(ret, "history.retention", ["raw", "minute"])
                history.rawRetention = r.duration(ret["raw"], "history.retention.raw", default: history.rawRetention)
                history.minuteRetention = r.duration(ret["minute"], "history.retention.minute", default: history.minuteRetention)
            }
        }
        if let s = r.map(top["scripts"], "scripts") {
            r.onlyKnown(s, "scripts", ["policies", "drivers"])
            if s["policies"] != nil { policyDirectory = r.string(s["policies"], "scripts.policies", default: "") }
            if s["drivers"] != nil { driverDirectory = r.string(s["drivers"], "scripts.drivers", default: "") }
        }

        readMQTT(&r, top["mqtt"])
        if let o = r.map(top["ocpp"], "ocpp") {
            r.onlyKnown(o, "ocpp", ["listen", "timeout", "tls", "self_registration", "id_tags"])
            var settings = OCPP()
            if let (certificate, key) = Self.serverTLS(&r, o["tls"], "ocpp.tls") {
                settings.tlsCertificate = certificate
                settings.tlsKey = key
            }
            settings.listen = r.string(o["listen"], "ocpp.listen", default: settings.listen)
            settings.timeout = r.number(o["timeout"], "ocpp.timeout", default: settings.timeout, range: 1...120)
            settings.selfRegistration = r.bool(o["self_registration"], "ocpp.self_registration", default: false)
            if o["id_tags"] != nil {
                let tags = r.strings(o["id_tags"], "ocpp.id_tags")
                for (k, tag) in tags.enumerated() where tag.isEmpty || tag.count > 20 {
                    r.problem("ocpp.id_tags[\(k)]: expected an id tag of 1 to 20 characters (OCPP 1.6's IdToken), got \(ConfigReader.quoted(tag))")
                }
                settings.idTags = tags
            }
            if settings.listen.split(separator: ":").last.flatMap({ Int($0) }).map({ !(0...65535).contains($0) }) ?? true {
                r.problem("ocpp.listen: expected ADDRESS:PORT such as 0.0.0.0:9000, got \(ConfigReader.quoted(settings.listen))")
            }
            ocpp = settings
        }
        // An OCPP station's own settings: its key, and the billing backend Fusebox stands in front of.
        for (n, c) in chargers.enumerated() where c.device.isOCPP {
            guard case .map(let m) = c.device.settings else { continue }
            for key in m.keys.sorted() where !["auth_key", "upstream", "upstream_key", "remote_start", "availability"].contains(key) {
                r.problem("chargers[\(n)].settings.\(key): unknown key; an OCPP station takes auth_key, availability, remote_start, upstream and upstream_key")
            }
            if let flag = m["availability"], flag != .bool(true), flag != .bool(false) {
                r.problem("chargers[\(n)].settings.availability: expected true or false, got \(flag.shownInConfig)")
            }
            if let tag = m["remote_start"] {
                guard case .string(let s) = tag, !s.isEmpty, s.count <= 20 else {
                    r.problem("chargers[\(n)].settings.remote_start: expected the id tag to start transactions with (1 to 20 characters), got \(tag.shownInConfig)")
                    continue
                }
            }
            if let url = m["upstream"] {
                guard case .string(let s) = url, s.hasPrefix("ws://") || s.hasPrefix("wss://"), URL(string: s)?.host != nil else {
                    r.problem("chargers[\(n)].settings.upstream: expected the billing backend's URL, ws://HOST[:PORT]/PATH or wss://..., got \(url.shownInConfig)")
                    continue
                }
            }
        }
        for (n, c) in chargers.enumerated() where c.device.isOCPP && ocpp == nil {
            r.problem("chargers[\(n)].driver: \(c.device.driver): OCPP stations connect to the box: add an ocpp section (ocpp: { listen: 0.0.0.0:9000 })")
        }

        if !r.problems.isEmpty { throw Problems(messages: r.problems.map { "\(file): \($0)" }) }
    }

    /// One meter or charger as the site's file gives it (`{ driver, host, port, unit, ... }`),
    /// checked as in a whole file: for testing a device before it is saved.
    public static func device(tree: Any, path: String, id: String) throws(Problems) -> Device {
        var r = ConfigReader()
        let d = device(&r, tree, path, id: id, addresses: true)
        guard let d, r.problems.isEmpty else { throw Problems(messages: r.problems.isEmpty ? ["\(path): expected a mapping"] : r.problems) }
        return d
    }

    private static func address(_ r: inout ConfigReader, _ m: [String: Any], _ path: String, required: Bool) -> Address {
        if m["api"] != nil || m["allow"] != nil {
            for key in ["host", "port", "baud", "parity", "unit"] where m[key] != nil {
                r.problem("\(path).\(key): a cloud device (api) has no \(key)")
            }
            let api = r.string(m["api"], "\(path).api", default: "")
            guard let url = URL(string: api), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
                  let host = url.host, !host.isEmpty else {
                r.problem("\(path).api: expected the vendor's API URL, such as https://api.zaptec.com, got \(ConfigReader.quoted(api))")
                return .none
            }
            var allow: [String] = []
            for (n, h) in r.list(m["allow"], "\(path).allow").enumerated() {
                guard let host = h as? String, !host.isEmpty, !host.contains("/"), !host.contains("@") else {
                    r.problem("\(path).allow[\(n)]: expected a host name, or host:port, got \(ConfigReader.shown(h))")
                    continue
                }
                allow.append(host)
            }
            return .web(api: api, allow: allow)
        }
        if let p = m["port"] as? String {
            if m["host"] != nil { r.problem("\(path).host: a serial line (port \(p)) has no host") }
            let baud = r.int(m["baud"], "\(path).baud", default: 9600, range: 300...921_600)
            let parity = r.choice(m["parity"], "\(path).parity", ["none", "even", "odd"], default: "none")
            return .rtu(path: p, baud: baud, parity: parity == "none" ? "N" : parity == "even" ? "E" : "O")
        }
        if m["port"] == nil && m["host"] == nil {
            if required { r.problem("\(path).port: missing (required): a TCP port with host, or a serial device path") }
            return .none
        }
        for key in ["baud", "parity"] where m[key] != nil { r.problem("\(path).\(key): only a serial line has \(key)") }
        let host = r.string(m["host"], "\(path).host", default: "127.0.0.1")
        if !Self.isHost(host) {
            r.problem("\(path).host: expected an IP address (192.168.1.20) or a host name, got \(ConfigReader.quoted(host))")
        }
        return .tcp(host: host, port: r.int(m["port"], "\(path).port", default: 502, range: 1...65535))
    }

    private static func device(_ r: inout ConfigReader, _ v: Any?, _ path: String, id: String, addresses: Bool,
                               checked: Bool = false) -> Device? {
        guard let m = r.map(v, path) else { return nil }
        if !checked { r.onlyKnown(m, path, ["driver", "host", "port", "unit", "baud", "parity", "api", "allow", "settings"]) }
        let driver = r.string(m["driver"], "\(path).driver", default: "")
        if driver.isEmpty && addresses { r.problem("\(path).driver: missing (required): the name of a driver script") }
        else if !driver.isEmpty && !Self.isScriptName(driver) {
            r.problem("\(path).driver: expected the name of a driver (letters, digits, _ and -, as in abb_terra), got \(ConfigReader.quoted(driver))")
        }
        var settings = ConfigValue.map([:])
        if let s = m["settings"] {
            if let v = ConfigValue(tree: s), case .map = v { settings = v } else { r.problem("\(path).settings: expected a mapping") }
        }
        // An OCPP station connects to the box: it has no address to be reached at.
        return Device(id: id, driver: driver, address: driver == "ocpp" || driver.hasPrefix("ocpp_") ? .none : address(&r, m, path, required: addresses),
                      unit: r.int(m["unit"], "\(path).unit", default: 1, range: 0...255), settings: settings)
    }

    /// A server's `tls: { certificate, key }` (the page's, the OCPP endpoint's): both PEM files required.
    private static func serverTLS(_ r: inout ConfigReader, _ v: Any?, _ path: String) -> (certificate: String, key: String)? {
        guard let tls = r.map(v, path) else { return nil }
        r.onlyKnown(tls, path, ["certificate", "key"])
        if tls["certificate"] == nil { r.problem("\(path).certificate: missing (required): the PEM file of the certificate chain") }
        if tls["key"] == nil { r.problem("\(path).key: missing (required): the PEM file of the private key") }
        return (r.string(tls["certificate"], "\(path).certificate", default: ""), r.string(tls["key"], "\(path).key", default: ""))
    }

    private static func rippleInput(_ r: inout ConfigReader, _ v: Any, _ path: String, addresses: Bool) -> RippleInput? {
        guard let m = r.map(v, path) else { return nil }
        let type = r.choice(m["type"], "\(path).type", ["modbus-di", "modbus-coil", "gpio", "file"], default: "")
        var known = ["type", "active", "mode", "debounce"]
        let source: RippleInput.Source
        switch type {
        case "modbus-di", "modbus-coil":
            known += ["host", "port", "unit", "baud", "parity", "address"]
            source = .modbus(address: address(&r, m, path, required: addresses),
                             unit: r.int(m["unit"], "\(path).unit", default: 1, range: 0...255),
                             register: r.int(m["address"], "\(path).address", default: 0, range: 0...65535),
                             coil: type == "modbus-coil")
        case "gpio":
            known += ["chip", "line"]
            source = .gpio(chip: r.string(m["chip"], "\(path).chip", default: "/dev/gpiochip0"),
                           line: r.int(m["line"], "\(path).line", default: 0, range: 0...1023))
        case "file":
            known += ["path"]
            if m["path"] == nil { r.problem("\(path).path: missing (required): the file holding 0 or 1") }
            source = .file(path: r.string(m["path"], "\(path).path", default: ""))
        default:
            if m["type"] == nil { r.problem("\(path).type: missing (required): modbus-di, modbus-coil, gpio or file") }
            return nil
        }
        r.onlyKnown(m, path, known)
        let active = r.choice(m["active"], "\(path).active", ["closed", "open"], default: "closed")
        let mode = r.choice(m["mode"], "\(path).mode", ["reduced", "locked"], default: "locked")
        return RippleInput(source: source, activeWhenClosed: active == "closed", mode: RippleMode(rawValue: mode) ?? .locked,
                           debounce: r.duration(m["debounce"], "\(path).debounce", default: 1))
    }
}

extension SiteConfig {
    /// An IPv4 or IPv6 address, or a host name (RFC 1123: letters, digits and
    /// hyphens, dot-separated, the last label not all digits, so that
    /// `10.0.0.300` is no host).
    public static func isHost(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1 { return true }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        guard !text.isEmpty, text.utf8.count <= 253, let last = labels.last, !last.allSatisfy(\.isNumber) else { return false }
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D }
        }
    }

    /// A script is named, never given as a path: `driver: ../../etc/passwd`
    /// must not read a file outside the script folders.
    public static func isScriptName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
        }
    }
}

