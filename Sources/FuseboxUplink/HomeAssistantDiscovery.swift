import Foundation
import FuseboxCore

/// Home Assistant's MQTT discovery: one retained config message per entity
/// under `<discovery prefix>/<component>/<node>/<object>/config`, each tied
/// to the availability topic and reading the uplink's own state topics, so
/// that Home Assistant shows the site without a line of YAML.
struct HomeAssistantDiscovery {
    struct Config {
        var topic: String
        var payload: Data
    }

    let topics: UplinkTopics
    let discoveryPrefix: String
    let serial: String
    let siteName: String

    /// Object ids and the node id take letters, digits, _ and - only.
    static func objectID(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            let c = Character(Unicode.Scalar(b))
            if b < 0x80, c.isLetter || c.isNumber || c == "_" || c == "-" { out.append(c) } else { out += "_" + String(b, radix: 16) }
        }
        return out
    }

    var node: String { "fusebox_" + Self.objectID(serial.isEmpty ? "unnamed" : serial) }

    /// The configs for a site with these stations (id, max A) and, if it has one, a PV meter.
    func configs(stations: [(id: String, max: Double)], pv: Bool) -> [Config] {
        let device: [String: Any] = ["identifiers": [node], "name": siteName, "manufacturer": "Fusebox", "model": "EV load manager",
                                     "serial_number": serial]
        var out: [Config] = []
        func add(_ component: String, _ object: String, _ fields: [String: Any]) {
            var m = fields
            m["unique_id"] = "\(node)_\(object)"
            m["object_id"] = "\(node)_\(object)"
            m["device"] = device
            m["availability_topic"] = topics.availability
            m["payload_available"] = "online"
            m["payload_not_available"] = "offline"
            let data = (try? JSONSerialization.data(withJSONObject: m, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            out.append(Config(topic: "\(discoveryPrefix)/\(component)/\(node)/\(object)/config", payload: data))
        }
        func sensor(_ object: String, _ name: String, topic: String, template: String, deviceClass: String?, unit: String?, stateClass: String?) {
            var m: [String: Any] = ["name": name, "state_topic": topic, "value_template": template]
            if let deviceClass { m["device_class"] = deviceClass }
            if let unit { m["unit_of_measurement"] = unit }
            if let stateClass { m["state_class"] = stateClass }
            add("sensor", object, m)
        }
        for (n, phase) in ["l1", "l2", "l3"].enumerated() {
            let p = phase.uppercased()
            sensor("grid_\(phase)_current", "Grid \(p) current", topic: topics.grid, template: "{{ value_json.current_a[\(n)] }}",
                   deviceClass: "current", unit: "A", stateClass: "measurement")
            sensor("grid_\(phase)_voltage", "Grid \(p) voltage", topic: topics.grid, template: "{{ value_json.voltage_v[\(n)] }}",
                   deviceClass: "voltage", unit: "V", stateClass: "measurement")
            sensor("grid_\(phase)_power", "Grid \(p) power", topic: topics.grid,
                   template: "{{ value_json.power_w[\(n)] if value_json.power_w else none }}", deviceClass: "power", unit: "W", stateClass: "measurement")
            sensor("grid_\(phase)_budget", "EV budget \(p)", topic: topics.grid, template: "{{ value_json.budget_a[\(n)] }}",
                   deviceClass: "current", unit: "A", stateClass: "measurement")
        }
        if pv {
            sensor("pv_power", "PV power", topic: topics.pv, template: "{{ value_json.power_w }}", deviceClass: "power", unit: "W", stateClass: "measurement")
        }
        add("select", "ripple_mode", [
            "name": "Ripple mode", "state_topic": topics.ripple, "value_template": "{{ value_json.mode }}",
            "command_topic": topics.rippleSet, "command_template": #"{"mode": "{{ value }}", "ttl": 3600}"#,
            "options": RippleMode.allCases.map(\.rawValue),
        ])
        for station in stations {
            let o = "station_" + Self.objectID(station.id), state = topics.station(station.id)
            add("sensor", o + "_status", [
                "name": "\(station.id) status", "state_topic": state, "value_template": "{{ value_json.status }}",
                "device_class": "enum", "options": ChargerStatus.allCases.map(\.rawValue),
            ])
            sensor(o + "_current", "\(station.id) current", topic: state, template: "{{ value_json.current_a | max }}",
                   deviceClass: "current", unit: "A", stateClass: "measurement")
            sensor(o + "_energy", "\(station.id) session energy", topic: state, template: "{{ value_json.session_energy_kwh }}",
                   deviceClass: "energy", unit: "kWh", stateClass: "total_increasing")
            add("number", o + "_limit", [
                "name": "\(station.id) limit", "state_topic": state, "value_template": "{{ value_json.limit_a }}",
                "command_topic": topics.stationSet(station.id, "limit"), "command_template": #"{"amps": {{ value }}, "ttl": 3600}"#,
                "min": 0, "max": station.max, "step": 1, "unit_of_measurement": "A", "device_class": "current", "mode": "box",
            ])
            add("switch", o + "_enabled", [
                "name": "\(station.id) enabled", "state_topic": state, "value_template": "{{ 'ON' if value_json.enabled else 'OFF' }}",
                "state_on": "ON", "state_off": "OFF",
                "command_topic": topics.stationSet(station.id, "enabled"),
                "payload_on": #"{"enabled": true}"#, "payload_off": #"{"enabled": false}"#,
            ])
        }
        return out
    }
}
