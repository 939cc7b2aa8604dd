import Foundation
import FuseboxCore
import FuseboxModbus
import FuseboxYAML
import Yams

/// A simulated site as `sim.yaml` describes it (docs/simulator.md). Loading
/// reports every problem at once, each with its key path and what was expected.
public struct SimConfig: Sendable {
    public struct ChargerEntry: Sendable {
        public var id: String
        public var make: String
        public var port: Int?
        public var unit: Int
        public var charger: SiteModel.Charger
        /// How it misbehaves: none, silent, busy (exception 6), ignore_writes.
        public var fault: ModbusServer.Fault
        /// An OCPP station's key (security profile 1).
        public var key: String?

        public init(id: String, make: String, port: Int? = nil, unit: Int = 1, charger: SiteModel.Charger, fault: ModbusServer.Fault = .none,
                    key: String? = nil) {
            self.id = id
            self.make = make
            self.port = port
            self.unit = unit
            self.charger = charger
            self.fault = fault
            self.key = key
        }
    }

    public var seed: UInt64 = 1
    public var start: Double = 8 * 3600
    public var baseLoad = PhaseValues(all: 10)
    /// Hourly factors on the base load (nil: flat), by name or as 24 numbers.
    public var dailyShape: [Double]?
    public var noise = 0.5
    public var pvPeak = 0.0
    public var cloudy = false
    public var meterPort: Int?
    public var meterUnit = 1
    /// Phases whose current sensor is mounted backwards: the meter shows their current and power negated (a fault to commission against).
    public var meterReversed: [Phase] = []
    /// The PV inverter, served as a SunSpec device when it has a port.
    public var pvPort: Int?
    public var pvUnit = 1
    public var loads: [SiteModel.StepLoad] = []
    public var chargers: [ChargerEntry] = []
    public var visits: [SiteModel.Visit] = []
    /// Where its OCPP stations connect (the controller's endpoint, ws://HOST:PORT); nil: they wait to be told.
    public var ocppConnect: String?
    /// Simulated seconds between an OCPP station's MeterValues.
    public var ocppInterval = 10.0

    public struct Problems: Error, CustomStringConvertible {
        public var messages: [String]
        public var description: String { messages.joined(separator: "\n") }
    }

    /// The makes the simulator speaks, by driver name.
    public static let makes: [String: @Sendable (Int) -> any ChargerRegisterMap] = [
        "abb_terra": { ABBTerraMap(unit: $0) }, "bender": { BenderMap(unit: $0) },
        "webasto_unite": { WebastoUniteMap(unit: $0) }, "webasto_next": { WebastoNextMap(unit: $0) },
        "weidmueller_ac_smart": { WeidmuellerMap(unit: $0) }, "phoenix_ev_cc": { PhoenixMap(unit: $0) },
        "alfen_eve": { AlfenEveMap(unit: $0) },
    ]
    /// Makes reached through their vendor's cloud: served by a stand-in HTTP
    /// API (one for all such chargers of a site) instead of a Modbus server.
    public static let cloudMakes: Set<String> = ["zaptec"]
    /// Makes that speak OCPP 1.6J: they connect to the controller (`SimulatedOCPPStation`).
    public static let ocppMakes: Set<String> = ["ocpp", "ocpp_abb_terra_ac", "ocpp_alfen"]

    /// The chargers that are OCPP stations.
    public var ocppChargers: [ChargerEntry] { chargers.filter { SimConfig.ocppMakes.contains($0.make) } }

    /// The ids of the chargers reached through a cloud API.
    public var cloudChargers: [String] { chargers.filter { SimConfig.cloudMakes.contains($0.make) }.map(\.id) }

    /// An empty site: no chargers, no meter port, the defaults.
    public init() {}

    public init(yaml: String, file: String = "sim.yaml") throws(Problems) {
        let root: Any?
        do { root = try ConfigYAML.load(yaml) } catch {
            throw Problems(messages: ["\(file): not valid YAML: \(ConfigYAML.describe(error))"])
        }
        try self.init(tree: root as Any, file: file)
    }

    /// From an already parsed tree: a scenario file embeds its site this way.
    public init(tree root: Any, file: String) throws(Problems) {
        var problems: [String] = []
        guard let top = root as? [String: Any] else { throw Problems(messages: ["\(file): expected a mapping at the top"]) }
        var r = ConfigReader()

        if let site = r.map(top["site"], "site") {
            seed = UInt64(r.int(site["seed"], "site.seed", default: 1, range: 0...Int.max))
            start = r.timeOfDay(site["start"], "site.start", default: 8 * 3600)
            baseLoad = r.phases(site["base_load"], "site.base_load", default: PhaseValues(all: 10), range: -1_000...1_000)
            noise = r.number(site["noise"], "site.noise", default: 0.5, range: 0...100)
            if let name = site["daily_shape"] as? String, name != "flat" {
                dailyShape = SiteModel.dailyShapes[name]
                if dailyShape == nil {
                    r.problem("site.daily_shape: expected flat, \(SiteModel.dailyShapes.keys.sorted().joined(separator: ", ")) or 24 factors, got \(ConfigReader.quoted(name))")
                }
            } else if site["daily_shape"] != nil, !(site["daily_shape"] is String) {
                let factors = r.list(site["daily_shape"], "site.daily_shape").compactMap { ($0 as? Double) ?? ($0 as? Int).map(Double.init) }
                if factors.count == 24, factors.allSatisfy({ (0...10).contains($0) }) { dailyShape = factors } else {
                    r.problem("site.daily_shape: expected flat, \(SiteModel.dailyShapes.keys.sorted().joined(separator: ", ")) or 24 factors from 0 to 10, got \(ConfigReader.shown(site["daily_shape"] ?? ""))")
                }
            }
            if let pv = r.map(site["pv"], "site.pv") {
                pvPeak = r.number(pv["peak"], "site.pv.peak", default: 0, range: 0...10_000_000)
                cloudy = r.bool(pv["cloudy"], "site.pv.cloudy", default: false)
                pvPort = r.optionalInt(pv["port"], "site.pv.port", range: 1...65535)
                pvUnit = r.int(pv["unit"], "site.pv.unit", default: 1, range: 0...247)
            }
        }
        if let meter = r.map(top["meter"], "meter") {
            meterPort = r.optionalInt(meter["port"], "meter.port", range: 1...65535)
            meterUnit = r.int(meter["unit"], "meter.unit", default: 1, range: 0...247)
            if meter["reversed"] != nil { meterReversed = r.phaseList(meter["reversed"], "meter.reversed") }
        }
        for (n, l) in r.list(top["loads"], "loads").enumerated() {
            let path = "loads[\(n)]"
            guard let l = r.map(l, path) else { continue }
            loads.append(SiteModel.StepLoad(
                name: r.string(l["name"], "\(path).name", default: "load \(n + 1)"),
                start: r.duration(l["start"], "\(path).start", default: 0),
                end: r.duration(l["end"], "\(path).end", default: .infinity),
                current: r.phases(l["current"], "\(path).current", default: .zero, range: -1_000...1_000)))
        }
        var ids = Set<String>()
        for (n, c) in r.list(top["chargers"], "chargers").enumerated() {
            let path = "chargers[\(n)]"
            guard let c = r.map(c, path) else { continue }
            let id = r.string(c["id"], "\(path).id", default: "")
            if id.isEmpty { r.problem("\(path).id: missing (required)") }
            else if !ids.insert(id).inserted { r.problem("\(path).id: \"\(id)\" is used twice") }
            let make = r.string(c["make"], "\(path).make", default: "")
            if SimConfig.makes[make] == nil && !SimConfig.cloudMakes.contains(make) && !SimConfig.ocppMakes.contains(make) {
                let known = Set(SimConfig.makes.keys).union(SimConfig.cloudMakes).union(SimConfig.ocppMakes).sorted()
                r.problem("\(path).make: expected one of \(known.joined(separator: ", ")), got \"\(make)\"")
            }
            if SimConfig.cloudMakes.contains(make) {
                for key in ["unit", "fault"] where c[key] != nil { r.problem("\(path).\(key): a \(make) charger is reached through its cloud API, it has no Modbus \(key)") }
            }
            if SimConfig.ocppMakes.contains(make) {
                for key in ["unit", "fault", "port"] where c[key] != nil { r.problem("\(path).\(key): an \(make) station connects to the controller over OCPP, it has no Modbus \(key)") }
            } else if c["key"] != nil {
                r.problem("\(path).key: only an OCPP station (make \(SimConfig.ocppMakes.sorted().joined(separator: ", "))) has a key")
            }
            var charger = SiteModel.Charger(
                id: id, phases: r.phaseList(c["phases"], "\(path).phases"),
                maxCurrent: r.number(c["max"], "\(path).max", default: 16, range: 6...80),
                reactionDelay: r.duration(c["delay"], "\(path).delay", default: 3),
                failsafeCurrent: r.number(c["failsafe"], "\(path).failsafe", default: 6, range: 0...80))
            if c["watchdog"] != nil { charger.watchdog = r.duration(c["watchdog"], "\(path).watchdog", default: 60) }
            chargers.append(ChargerEntry(id: id, make: make, port: r.optionalInt(c["port"], "\(path).port", range: 1...65535),
                                         unit: r.int(c["unit"], "\(path).unit", default: 1, range: 0...255), charger: charger,
                                         fault: SimConfig.fault(c, path, &r),
                                         key: c["key"] == nil ? nil : r.string(c["key"], "\(path).key", default: "")))
        }
        for (n, v) in r.list(top["cars"], "cars").enumerated() {
            let path = "cars[\(n)]"
            guard let v = r.map(v, path) else { continue }
            let at = r.string(v["charger"], "\(path).charger", default: "")
            if !ids.contains(at) { r.problem("\(path).charger: expected the id of a charger above, got \"\(at)\"") }
            let phases = r.int(v["phases"], "\(path).phases", default: 3, range: 1...3)
            if phases == 2 { r.problem("\(path).phases: expected 1 or 3, got 2") }
            visits.append(SiteModel.Visit(
                charger: at, arrive: r.duration(v["arrive"], "\(path).arrive", default: 0),
                leave: r.duration(v["leave"], "\(path).leave", default: .infinity),
                car: .init(id: r.string(v["id"], "\(path).id", default: "car \(n + 1)"), phases: phases,
                           maxCurrent: r.number(v["max"], "\(path).max", default: 16, range: 6...80),
                           wanted: r.number(v["wanted"], "\(path).wanted", default: 30, range: 0...200))))
        }
        if chargers.isEmpty { r.problem("chargers: expected at least one charger") }
        // Each charger is a server of its own (a listener and a wake pipe, and a
        // socket per client), and libmodbus waits with select(), which aborts on
        // a descriptor above 1023 (found by the scale bench at 1000 chargers).
        if chargers.count > SimConfig.maxChargers {
            r.problem("chargers: at most \(SimConfig.maxChargers) per simulator process, got \(chargers.count) (run several: fusebox-dev bench does)")
        }
        if let o = r.map(top["ocpp"], "ocpp") {
            r.onlyKnown(o, "ocpp", ["connect", "interval"])
            if o["connect"] != nil {
                let url = r.string(o["connect"], "ocpp.connect", default: "")
                if url.hasPrefix("ws://") || url.hasPrefix("wss://") { ocppConnect = url.hasSuffix("/") ? String(url.dropLast()) : url } else {
                    r.problem("ocpp.connect: expected the controller's endpoint as ws://HOST:PORT, got \(ConfigReader.quoted(url))")
                }
            }
            ocppInterval = r.number(o["interval"], "ocpp.interval", default: 10, range: 1...3600)
        }
        for key in top.keys where !["site", "meter", "loads", "chargers", "cars", "ocpp"].contains(key) {
            r.problem("\(ConfigReader.path("", key)): unknown key; expected site, meter, loads, chargers, cars or ocpp")
        }
        problems = r.problems
        if !problems.isEmpty { throw Problems(messages: problems.map { "\(file): \($0)" }) }
    }

    /// Chargers one simulator process can serve (see the check in init).
    public static let maxChargers = 250

    /// The names of the faults a simulated device can be told to have.
    public static let faultNames = ["none", "silent", "busy", "ignore_writes", "slow", "exception"]

    /// A device's fault from `fault:` (one of `faultNames`), with `answer_delay:` for
    /// slow and `exception:` (a Modbus exception by name or code) for exception.
    public static func fault(_ m: [String: Any], _ path: String, _ r: inout ConfigReader) -> ModbusServer.Fault {
        switch r.choice(m["fault"], "\(path).fault", faultNames, default: "none") {
        case "silent": return .silent
        case "busy": return .exception(.serverDeviceBusy)
        case "ignore_writes": return .ignoreWrites
        case "slow": return .slow(r.duration(m["answer_delay"], "\(path).answer_delay", default: 0.5))
        case "exception":
            let names = Dictionary(uniqueKeysWithValues: ModbusException.allCases.map {
                ($0.description.replacingOccurrences(of: " ", with: "_"), $0)
            })
            if let code = m["exception"] as? Int, let e = ModbusException(rawValue: UInt8(clamping: code)) { return .exception(e) }
            let name = r.string(m["exception"], "\(path).exception", default: "server_device_failure")
            guard let e = names[name] else {
                r.problem("\(path).exception: expected a Modbus exception code or one of \(names.keys.sorted().joined(separator: ", ")), got \(ConfigReader.quoted(name))")
                return .none
            }
            return .exception(e)
        default: return .none
        }
    }

    /// Reads and checks a sim.yaml file.
    public static func load(file: String) throws(Problems) -> SimConfig {
        let text: String
        do { text = try ConfigYAML.text(FileContents.read(file), name: file) } catch { throw Problems(messages: ["\(error)"]) }
        return try SimConfig(yaml: text, file: file)
    }

    /// The model, the register maps by charger id, and the fixed ports.
    public func build() -> (SiteModel, [String: any ChargerRegisterMap], [String: Int]) {
        let model = SiteModel(time: start, chargers: chargers.map(\.charger), baseLoad: baseLoad, steps: loads.map {
            SiteModel.StepLoad(name: $0.name, start: start + $0.start, end: start + $0.end, current: $0.current)
        }, pvPeak: pvPeak, cloudy: cloudy, seed: seed)
        model.noiseAmplitude = noise
        model.dailyShape = dailyShape
        model.visits = visits.map { SiteModel.Visit(charger: $0.charger, arrive: start + $0.arrive, leave: start + $0.leave, car: $0.car) }
        var maps: [String: any ChargerRegisterMap] = [:]
        var ports: [String: Int] = [:]
        for c in chargers {
            if let make = SimConfig.makes[c.make] { maps[c.id] = make(c.unit) }
            if let p = c.port { ports[c.id] = p }
        }
        if let meterPort { ports["grid"] = meterPort }
        return (model, maps, ports)
    }
}
