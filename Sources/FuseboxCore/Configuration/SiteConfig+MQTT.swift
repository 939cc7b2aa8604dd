extension SiteConfig {
    /// The uplink to a fleet portal or Home Assistant (`mqtt:` in site.yaml;
    /// docs/mqtt.md). Off when the section is missing.
    public struct MQTT: Sendable, Equatable {
        /// `mqtt://host[:port]` (1883) or `mqtts://host[:port]` (TLS, 8883).
        public var host = ""
        public var port = 1883
        public var tls = false
        /// PEM files: the CA that signed the broker's certificate (else the system's
        /// CAs in /etc/ssl/certs), and optionally the box's own certificate and key.
        public var caFile: String?
        public var certificateFile: String?
        public var keyFile: String?
        public var user: String?
        public var password: String?
        /// Empty: `fusebox-<serial>`.
        public var clientID = ""
        /// Empty: `fusebox/<serial>/`. Always ends in `/`.
        public var prefix = ""
        /// "3.1.1" or "5".
        public var version = "3.1.1"
        public var keepalive: Double = 30
        /// Seconds between samples; 0: every cycle.
        public var interval: Double = 0
        /// A sample that moved less than this (A, W / 230) since the last one sent is skipped, up to `heartbeat`.
        public var deadband: Double = 0
        public var heartbeat: Double = 60
        /// Messages kept while the broker cannot be reached; past it the oldest go.
        public var outboxLimit = 200_000
        public var discovery = false
        public var discoveryPrefix = "homeassistant"

        public init() {}

        /// Defaults and the broker of `url` (`mqtt://HOST[:PORT]` or `mqtts://...`); nil if it is not one.
        public init?(broker url: String) {
            guard let (tls, host, port) = SiteConfig.brokerURL(url) else { return nil }
            (self.tls, self.host, self.port) = (tls, host, port)
        }

        /// The prefix for a site with this serial.
        public func topicPrefix(serial: String) -> String {
            prefix.isEmpty ? "fusebox/\(serial.isEmpty ? "unnamed" : serial)/" : prefix
        }

        /// `mqtt://host:port` or `mqtts://host:port` (an IPv6 address in brackets): as site.yaml gives it, and as shown.
        public var broker: String { "\(tls ? "mqtts" : "mqtt")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

        public func client(serial: String) -> String { clientID.isEmpty ? "fusebox-\(serial.isEmpty ? "unnamed" : serial)" : clientID }
    }

    mutating func readMQTT(_ r: inout ConfigReader, _ value: Any?) {
        guard let m = r.map(value, "mqtt") else { return }
        r.onlyKnown(m, "mqtt", ["broker", "tls", "user", "password", "client_id", "prefix", "version", "keepalive", "interval",
                                "deadband", "heartbeat", "outbox_limit", "discovery", "discovery_prefix"])
        var q = MQTT()
        let broker = r.string(m["broker"], "mqtt.broker", default: "")
        if m["broker"] == nil { r.problem("mqtt.broker: missing (required): mqtt://HOST[:PORT] or mqtts://HOST[:PORT]") }
        else if let (tls, host, port) = Self.brokerURL(broker) { (q.tls, q.host, q.port) = (tls, host, port) }
        else { r.problem("mqtt.broker: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (port 1 to 65535), got \(ConfigReader.quoted(broker))") }
        if let t = r.map(m["tls"], "mqtt.tls") {
            r.onlyKnown(t, "mqtt.tls", ["ca", "certificate", "key"])
            if t["ca"] != nil { q.caFile = r.string(t["ca"], "mqtt.tls.ca", default: "") }
            if t["certificate"] != nil { q.certificateFile = r.string(t["certificate"], "mqtt.tls.certificate", default: "") }
            if t["key"] != nil { q.keyFile = r.string(t["key"], "mqtt.tls.key", default: "") }
            if (q.certificateFile == nil) != (q.keyFile == nil) {
                r.problem("mqtt.tls: expected both certificate and key (the box's own), or neither")
            }
            if !q.tls { r.problem("mqtt.tls: TLS files for a broker without TLS: write the broker as mqtts://") }
        }
        if m["user"] != nil { q.user = r.string(m["user"], "mqtt.user", default: "") }
        if m["password"] != nil {
            if m["user"] == nil { r.problem("mqtt.password: a password needs a user (mqtt.user)") }
            q.password = r.string(m["password"], "mqtt.password", default: "")
        }
        q.clientID = r.string(m["client_id"], "mqtt.client_id", default: "")
        if q.clientID.utf8.count > 64 { r.problem("mqtt.client_id: expected at most 64 bytes, got \(q.clientID.utf8.count)") }
        if m["prefix"] != nil {
            var p = r.string(m["prefix"], "mqtt.prefix", default: "")
            if !p.hasSuffix("/") { p += "/" }
            if p == "/" || p.hasPrefix("/") || p.contains("+") || p.contains("#") || p.contains("//") || p.unicodeScalars.contains(where: { $0.value < 32 }) {
                r.problem("mqtt.prefix: expected topic levels such as fusebox/site-1/ (no +, #, empty level or leading /), got \(ConfigReader.shown(m["prefix"] ?? ""))")
            } else {
                q.prefix = p
            }
        }
        if let v = m["version"] {
            let text = (v as? Double).map { $0 == 5 ? "5" : ConfigReader.show($0) } ?? (v as? Int).map(String.init) ?? "\(v)"
            if ["5", "3.1.1"].contains(text) { q.version = text } else { r.problem("mqtt.version: expected 3.1.1 or 5, got \(ConfigReader.shown(v))") }
        }
        q.keepalive = r.duration(m["keepalive"], "mqtt.keepalive", default: q.keepalive)
        if q.keepalive < 5 || q.keepalive > 3600 { r.problem("mqtt.keepalive: expected 5s to 1h, got \(ConfigReader.shown(m["keepalive"] ?? q.keepalive))") }
        q.interval = r.duration(m["interval"], "mqtt.interval", default: q.interval)
        if q.interval < 0 || q.interval > 3600 { r.problem("mqtt.interval: expected 0 (every cycle) to 1h, got \(ConfigReader.shown(m["interval"] ?? q.interval))") }
        q.deadband = r.number(m["deadband"], "mqtt.deadband", default: 0, range: 0...100)
        q.heartbeat = r.duration(m["heartbeat"], "mqtt.heartbeat", default: q.heartbeat)
        if q.heartbeat < 1 || q.heartbeat > 86_400 { r.problem("mqtt.heartbeat: expected 1s to 1 day, got \(ConfigReader.shown(m["heartbeat"] ?? q.heartbeat))") }
        q.outboxLimit = r.int(m["outbox_limit"], "mqtt.outbox_limit", default: q.outboxLimit, range: 100...10_000_000)
        q.discovery = r.bool(m["discovery"], "mqtt.discovery", default: false)
        q.discoveryPrefix = r.string(m["discovery_prefix"], "mqtt.discovery_prefix", default: q.discoveryPrefix)
        if q.discoveryPrefix.isEmpty || q.discoveryPrefix.contains("+") || q.discoveryPrefix.contains("#") {
            r.problem("mqtt.discovery_prefix: expected a topic level such as homeassistant, got \(ConfigReader.quoted(q.discoveryPrefix))")
        }
        mqtt = q
    }

    /// (TLS, host, port) of `mqtt://host[:port]` or `mqtts://host[:port]`.
    static func brokerURL(_ text: String) -> (Bool, String, Int)? {
        let tls: Bool, rest: Substring
        if text.hasPrefix("mqtts://") { (tls, rest) = (true, text.dropFirst(8)) }
        else if text.hasPrefix("mqtt://") { (tls, rest) = (false, text.dropFirst(7)) }
        else { return nil }
        let hostPort = rest.hasSuffix("/") ? rest.dropLast() : rest
        var host = String(hostPort), port = tls ? 8883 : 1883
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            host = String(hostPort[..<colon])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains("/"), !host.contains(" "), !host.contains("@") else { return nil }
        return (tls, host, port)
    }

    /// The section as site.yaml gives it (the password included: the tree is
    /// written back to the file; the page hides it as it hides every secret).
    var mqttTree: [String: Any]? {
        guard let q = mqtt else { return nil }
        var m: [String: Any] = ["broker": q.broker,
                                "version": q.version, "keepalive": q.keepalive, "interval": q.interval, "deadband": q.deadband,
                                "heartbeat": q.heartbeat, "outbox_limit": q.outboxLimit, "discovery": q.discovery,
                                "discovery_prefix": q.discoveryPrefix]
        var tls: [String: Any] = [:]
        if let ca = q.caFile { tls["ca"] = ca }
        if let c = q.certificateFile { tls["certificate"] = c }
        if let k = q.keyFile { tls["key"] = k }
        if !tls.isEmpty { m["tls"] = tls }
        if let u = q.user { m["user"] = u }
        if let p = q.password { m["password"] = p }
        if !q.clientID.isEmpty { m["client_id"] = q.clientID }
        if !q.prefix.isEmpty { m["prefix"] = q.prefix }
        return m
    }
}
