extension SiteConfig {
    /// What differs between two configurations, in words, for the event that
    /// records a change ("p08 added; p03 removed; site.limit 63 -> 50 A").
    public static func changes(from old: SiteConfig, to new: SiteConfig) -> String {
        var said: [String] = []
        func compare<T: Equatable>(_ a: T, _ b: T, _ what: String, _ show: (T) -> String) {
            if a != b { said.append("\(what) \(show(a)) -> \(show(b))") }
        }
        compare(old.name, new.name, "site.name") { "\"\($0)\"" }
        compare(old.limits.current, new.limits.current, "site.limit.current") { "\($0) A" }
        compare(old.limits.margin, new.limits.margin, "site.limit.margin") { "\(ConfigReader.show($0)) A" }
        compare(old.limits.power, new.limits.power, "site.power_limit") { $0.map { "\(ConfigReader.show($0)) W" } ?? "none" }
        if old.failsafe != new.failsafe { said.append("site.failsafe changed") }
        if old.control != new.control { said.append("control changed") }
        if old.grid != new.grid { said.append("grid meter changed (\(new.grid.driver) at \(new.grid.address))") }
        if old.pv != new.pv { said.append(new.pv.map { "PV meter \($0.driver) at \($0.address)" } ?? "PV meter removed") }
        let oldIDs = old.chargers.map(\.id), newIDs = new.chargers.map(\.id)
        for c in new.chargers where !oldIDs.contains(c.id) { said.append("\(c.id) added (\(c.device.driver) at \(c.device.address))") }
        for id in oldIDs where !newIDs.contains(id) { said.append("\(id) removed") }
        for c in new.chargers {
            guard let o = old.chargers.first(where: { $0.id == c.id }), o != c else { continue }
            var fields: [String] = []
            if o.device.driver != c.device.driver { fields.append("driver \(o.device.driver) -> \(c.device.driver)") }
            if o.device.address != c.device.address || o.device.unit != c.device.unit {
                fields.append("address \(o.device.address) unit \(o.device.unit) -> \(c.device.address) unit \(c.device.unit)")
            }
            if o.device.settings != c.device.settings { fields.append("settings") }
            if o.min != c.min || o.max != c.max {
                fields.append("\(ConfigReader.show(o.min))-\(ConfigReader.show(o.max)) A -> \(ConfigReader.show(c.min))-\(ConfigReader.show(c.max)) A")
            }
            if o.phases != c.phases { fields.append("phases \(o.phases) -> \(c.phases)") }
            if o.priority != c.priority { fields.append("priority \(o.priority) -> \(c.priority)") }
            if o.enabled != c.enabled { fields.append(c.enabled ? "enabled" : "disabled") }
            said.append("\(c.id): " + fields.joined(separator: ", "))
        }
        if old.circuits != new.circuits { said.append("circuits changed") }
        compare(old.chain, new.chain, "policy.chain") { $0.joined(separator: ", ") }
        if old.policySettings != new.policySettings { said.append("policy settings changed") }
        if old.ripple != new.ripple || old.rippleInputs != new.rippleInputs { said.append("ripple changed") }
        if old.mqtt != new.mqtt {
            said.append(new.mqtt.map { "uplink \($0.broker)" + (old.mqtt == nil ? " added" : " changed") } ?? "uplink removed")
        }
        return said.isEmpty ? "nothing changed" : said.joined(separator: "; ")
    }
}
