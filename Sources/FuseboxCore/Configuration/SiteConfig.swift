/// A site as `site.yaml` describes it (docs/design.md "Configuration", every key in
/// docs/configuration.md). Plain values: reading and checking the file is
/// `SiteConfig(tree:file:)`, building devices from it is the controller's job.
public struct SiteConfig: Sendable {
    /// Where a device answers: Modbus TCP, or Modbus RTU when `port` is a path.
    public enum Address: Sendable, Equatable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case rtu(path: String, baud: Int, parity: String)
        /// A cloud charger: the vendor's API at `api`, the only host its driver
        /// may reach besides those in `allow`.
        case web(api: String, allow: [String])
        /// A device the site does not reach itself (the simulator fills these in).
        case none

        public var description: String {
            switch self {
            case .tcp(let host, let port): "\(host):\(port)"
            case .rtu(let path, let baud, let parity): "\(path) \(baud) 8\(parity)1"
            case .web(let api, _): api
            case .none: "no address"
            }
        }
    }

    /// A meter or a charger: which driver speaks to it, and where.
    public struct Device: Sendable, Equatable {
        public var id: String
        public var driver: String
        public var address: Address
        public var unit: Int
        /// The driver's own settings (`dev.config` in the script).
        public var settings: ConfigValue

        public init(id: String, driver: String, address: Address, unit: Int = 1, settings: ConfigValue = .map([:])) {
            self.id = id
            self.driver = driver
            self.address = address
            self.unit = unit
            self.settings = settings
        }

        /// A station that connects to the box over OCPP: its driver is `ocpp`, or
        /// `ocpp_<make>` for one with quirks (drivers/ocpp_<make>.lua).
        public var isOCPP: Bool { driver == "ocpp" || driver.hasPrefix("ocpp_") }
    }

    public struct Charger: Sendable, Equatable {
        public var device: Device
        public var min: Double = 6
        public var max: Double = 16
        /// Its L1, L2, L3 on the building's phases; one entry for a single-phase station.
        public var phases: [Phase] = [.l1, .l2, .l3]
        public var priority: Int = 0
        public var enabled = true

        public init(device: Device, min: Double = 6, max: Double = 16, phases: [Phase] = [.l1, .l2, .l3], priority: Int = 0) {
            self.device = device
            self.min = min
            self.max = max
            self.phases = phases
            self.priority = priority
        }

        public var id: String { device.id }
    }

    /// How limits move between cycles: cut at once, raise slowly (docs/design.md, field facts).
    public struct Control: Sendable, Equatable {
        /// A per second a limit may rise; cuts are never slowed.
        public var rampUp: Double = 1
        /// A charger's limit is raised at most this often (chargers and cars take
        /// a new PWM current every 5 s at best).
        public var raiseEvery: Double = 5
        /// A car cut to 0 A stays paused at least this long before it restarts.
        public var restartPause: Double = 30
        /// After a cut, raises elsewhere wait (at most this long) until the cut
        /// shows in the measured current.
        public var settle: Double = 10
        /// Unchanged limits are written again this often, to feed charger watchdogs.
        public var refresh: Double = 30
        /// A cycle that takes longer than this is an overrun; nil means the period.
        public var deadline: Double?
        /// Seconds the cycle waits for one device's poll (and again for its
        /// write); nil: 40 % of the period.
        public var deviceDeadline: Double?

        public init() {}
    }

    /// One ripple-control contact: where it is read and what its active state means.
    public struct RippleInput: Sendable, Equatable {
        public enum Source: Sendable, Equatable {
            /// A discrete input (or a coil, when `coil`) of a Modbus I/O module or meter.
            case modbus(address: Address, unit: Int, register: Int, coil: Bool)
            /// A Linux GPIO line through the character device.
            case gpio(chip: String, line: Int)
            /// A sysfs-style file holding 0 or 1.
            case file(path: String)
        }
        public var source: Source
        /// true: the signal is on when the contact is closed (normally open wiring).
        public var activeWhenClosed = true
        /// What the site must do while the signal is on.
        public var mode: RippleMode = .locked
        /// The contact must hold a new state this long before it counts.
        public var debounce: Double = 1

        public init(source: Source, activeWhenClosed: Bool = true, mode: RippleMode = .locked, debounce: Double = 1) {
            self.source = source
            self.activeWhenClosed = activeWhenClosed
            self.mode = mode
            self.debounce = debounce
        }
    }

    public struct History: Sendable, Equatable {
        public var path = "fusebox.db"
        /// Seconds raw samples are kept; older ones survive as 1-minute aggregates.
        public var rawRetention: Double = 7 * 86_400
        public var minuteRetention: Double = 2 * 365 * 86_400
        /// Bytes the file may grow to; nil: as far as the disk allows.
        public var maxBytes: Int?
        public init() {}
    }

    public struct HTTP: Sendable, Equatable {
        public var listen = "0.0.0.0:4000"
        public var user = "admin"
        public var passwordHash: String?
        /// Accounts that see everything and change nothing (a site owner):
        /// user name and bcrypt hash of the password.
        public var viewers: [Viewer] = []
        /// PEM files for HTTPS; both or neither.
        public var tlsCertificate: String?
        public var tlsKey: String?
        /// Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed.
        public var trustedProxies: [String] = []
        /// Timeouts and connection counts of the web server.
        public var connections = ConnectionLimits()
        public init() {}
    }

    public struct Viewer: Sendable, Equatable {
        public var user: String
        public var passwordHash: String
        public init(user: String, passwordHash: String) {
            self.user = user
            self.passwordHash = passwordHash
        }
    }

    public var name = "Fusebox site"
    public var serial = ""
    public var period: Double = 1
    public var limits = SiteLimits(current: PhaseValues(all: 63), margin: 2)
    public var failsafe = FailsafeSettings()
    public var control = Control()
    public var grid = Device(id: "grid", driver: "sdm630", address: .none)
    public var pv: Device?
    public var circuits: [Circuit] = []
    public var chargers: [Charger] = []
    public var chain = ["ripple", "fair_share"]
    public var policySettings: [String: ConfigValue] = [:]
    public var ripple = RippleSettings()
    public var rippleInputs: [RippleInput] = []
    public var http = HTTP()
    public var history = History()
    /// The uplink; nil: none.
    public var mqtt: MQTT?
    /// The OCPP 1.6J endpoint stations connect to; nil: none.
    public var ocpp: OCPP?

    public struct OCPP: Sendable, Equatable {
        public var listen = "0.0.0.0:9000"
        /// Seconds a station may take to answer one of Fusebox's calls.
        public var timeout = 10.0
        /// Stations connected at once, at most: a car park's worth, all possibly through one gateway.
        public static let maxConnections = 256
        /// Stations not configured may connect and wait, Pending, for the installer to add them (the page's Setup).
        public var selfRegistration = false
        /// The id tags (cards) that may charge; nil: any (Authorize and StartTransaction accept all).
        public var idTags: [String]?
        /// Security profile 2: wss with this certificate chain and key (PEM files); nil: ws.
        public var tlsCertificate: String?
        public var tlsKey: String?
        public init() {}
        public var host: String { listen.split(separator: ":").dropLast().joined(separator: ":") }
        public var port: Int { Int(listen.split(separator: ":").last ?? "") ?? 9000 }
    }
    /// The site's own script folders; their files override shipped ones of the same name.
    public var policyDirectory: String?
    public var driverDirectory: String?

    public init() {}

    /// Reading a configuration reports every problem at once.
    public struct Problems: Error, CustomStringConvertible {
        public var messages: [String]
        public init(messages: [String]) { self.messages = messages }
        public var description: String { messages.joined(separator: "\n") }
    }
}
