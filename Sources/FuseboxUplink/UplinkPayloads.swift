import FuseboxCore

/// What the uplink publishes, as JSON: units are in the field names
/// (`_a`, `_v`, `_w`, `_kwh`), times are seconds since 1970. Each message
/// also carries `seq`, the site's sequence number, added as it is sent.
/// docs/mqtt.md shows each with an example.
enum UplinkPayload {
    struct Grid: Codable, Equatable {
        var time: Double
        var current_a: [Double]
        var voltage_v: [Double]
        /// Null when the meter gives none.
        var power_w: [Double]?
        /// A per phase left for the cars this cycle.
        var budget_a: [Double]
        /// The limit in force per phase: the fuse, or a site limit set from outside below it.
        var limit_a: [Double]
        var margin_a: Double
        /// A site limit set from outside, while it holds.
        var site_limit_a: Double?
        var site_limit_until: Double?
        /// The meter has been silent too long: every station is at the fail-safe current.
        var failsafe: Bool
    }

    struct PV: Codable, Equatable {
        var time: Double
        var power_w: Double
        var surplus_w: Double
    }

    struct Ripple: Codable, Equatable {
        var time: Double
        /// normal, reduced or locked: what is in force.
        var mode: String
        /// contact (an input of the site), remote (set over REST or MQTT), or none.
        var source: String
        /// The mode set over REST or MQTT, while it holds (a contact can make it stricter, never milder).
        var remote_mode: String?
    }

    struct Station: Codable, Equatable {
        var time: Double
        var id: String
        /// free, occupied, charging, discharging or unavailable.
        var status: String
        var limit_a: Double
        /// Why the limit is what it is (see docs/mqtt.md).
        var reason: String
        var current_a: [Double]
        var session_energy_kwh: Double
        var enabled: Bool
        var priority: Int
        var responding: Bool
        var max_a: Double
        var remote_limit_a: Double?
        var remote_until: Double?
    }

    struct Event: Codable, Equatable {
        var time: Double
        var kind: String
        var subject: String?
        var message: String
    }

    struct Session: Codable, Equatable {
        var station: String
        var start: Double
        var end: Double
        var energy_kwh: Double
        var peak_current_a: Double
    }
}
