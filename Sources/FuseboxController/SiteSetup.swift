import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxYAML

/// The site's configuration while it runs: read it, change it, test a device,
/// list and restore earlier versions, reload the file (SIGHUP). One path for
/// the page, the API and the signal: a new configuration is checked as
/// `fusebox check` checks it, built beside the cycle (devices that did not
/// change carried over), the devices it adds are read once, and only then is
/// it written (`ConfigVersions`) and handed to the cycle, which takes it over
/// at its next boundary. Whatever fails on the way, the configuration in
/// force stays in force and the answer says why.
public actor SiteSetup {
    /// What a save or a restore came to.
    public struct Outcome: Sendable {
        /// 200 in force; 409 a device did not answer (saved with `acceptSilent` only), or
        /// another change is under way; 422 the configuration is refused; 500 it could not be written; 503 the controller stopped.
        public var status: Int
        public var problems: [String] = []
        public var tests: [DeviceTest] = []
        public var version: ConfigVersions.Version?
        /// The cycle's time when it took over.
        public var applied: Double?
        /// What changed, in words.
        public var change: String = ""
        /// Parts that take effect at the next start (the period, history, script folders).
        public var restartNeeded: [String] = []
    }

    public nonisolated let file: String
    public nonisolated let versions: ConfigVersions
    public let cycle: ControlCycle
    /// An assembly of a configuration with the site's ways of reaching devices (the demo's simulator).
    private let assembly: @Sendable (SiteConfig) -> SiteAssembly
    private let pool: ConnectionPool
    private var config: SiteConfig
    /// The configuration in force as its file gives it (`ConfigYAML.plain`).
    private var tree: [String: Any]
    private var devices: [String: SiteAssembly.RunningDevice]
    private var busy = false
    /// Told of each configuration that takes over (the uplink follows its section).
    private var observers: [@Sendable (SiteConfig) async -> Void] = []
    /// Seconds a device a new configuration adds has to answer its first reading.
    public var probeTimeout: Double = 3

    /// Sections the page and the API do not change: a mistake in the web
    /// server's own settings would lock the installer out of the page.
    public static let fileOnly = ["http"]

    /// `handler` is called with each configuration that takes over, after the cycle has it; it must return soon.
    public func onApplied(_ handler: @escaping @Sendable (SiteConfig) async -> Void) {
        observers.append(handler)
    }

    public init(file: String, config: SiteConfig, tree: [String: Any], built: SiteAssembly.Built, pool: ConnectionPool,
                assembly: @escaping @Sendable (SiteConfig) -> SiteAssembly) {
        self.file = file
        versions = ConfigVersions(file: file)
        cycle = built.cycle
        self.config = config
        self.tree = tree
        devices = built.devices
        self.pool = pool
        self.assembly = assembly
    }

    /// The configuration in force, as JSON in the shape of site.yaml, without
    /// the `fileOnly` sections and with every secret (a cloud account's
    /// password) shown as `hidden`: sent back unchanged, it keeps its value.
    public func document() -> Data {
        var shown = tree
        for key in Self.fileOnly { shown[key] = nil }
        return (try? JSONSerialization.data(withJSONObject: Self.hidingSecrets(shown), options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    /// Keys whose text values are secrets.
    public static let secretKeys: Set<String> = ["password", "secret", "token", "api_key", "client_secret", "auth_key"]
    /// What a secret reads as in `document()`.
    public static let hidden = "(hidden)"

    static func hidingSecrets(_ value: Any) -> Any {
        switch value {
        case let m as [String: Any]:
            var out: [String: Any] = [:]
            for (k, v) in m { out[k] = secretKeys.contains(k) && v is String ? hidden : hidingSecrets(v) }
            return out
        case let l as [Any]: return l.map(hidingSecrets)
        default: return value
        }
    }

    /// `value` with each secret still `hidden` given its value in `kept` (the
    /// configuration in force); list entries with an `id` are matched by id.
    static func keepingSecrets(_ value: Any, from kept: Any?) -> Any {
        switch value {
        case let m as [String: Any]:
            let old = kept as? [String: Any] ?? [:]
            var out: [String: Any] = [:]
            for (k, v) in m {
                if secretKeys.contains(k), v as? String == hidden { out[k] = old[k] ?? "" } else { out[k] = keepingSecrets(v, from: old[k]) }
            }
            return out
        case let l as [Any]:
            let old = kept as? [Any] ?? []
            return l.enumerated().map { n, item in
                if let id = (item as? [String: Any])?["id"] as? String {
                    return keepingSecrets(item, from: old.first { ($0 as? [String: Any])?["id"] as? String == id })
                }
                return keepingSecrets(item, from: n < old.count ? old[n] : nil)
            }
        default: return value
        }
    }

    public var inForce: SiteConfig { config }

    // MARK: - The commissioning check

    /// The last commissioning check, running or finished, for the page.
    public struct CommissioningReport: Sendable, Codable {
        /// "none" (no check since the start), "running", "done", or "stopped" (the controller stopped first).
        public var state: String
        /// Whether each station is switched on alone, or only the readings are checked.
        public var stations: Bool
        public var by: String?
        /// The cycles' times (seconds since 1970) it started and finished at.
        public var started: Double?
        public var finished: Double?
        public var doing: String
        public var findings: [CommissioningCheck.Finding]
    }

    public private(set) var commissioning: CommissioningReport?
    /// What the page reads before any check has run.
    public static let noCheck = CommissioningReport(state: "none", stations: false, doing: "no check since the start; POST /api/config/commissioning starts one",
                                                    findings: [])

    /// Starts a check at the next cycle; nil when one is running already.
    public func startCommissioning(stations: Bool, by source: String?) -> CommissioningReport? {
        if commissioning?.state == "running" { return nil }
        let report = CommissioningReport(state: "running", stations: stations, by: source, doing: "waiting for the next cycle", findings: [])
        commissioning = report
        Task { await runCommissioning(stations: stations) }
        return report
    }

    /// One cycle at a time: the check sees the cycle's snapshot and sets the caps for the next.
    private func runCommissioning(stations: Bool) async {
        var check = CommissioningCheck(stations: stations)
        var last: SiteSnapshot?
        while !check.isDone {
            guard let snapshot = await cycle.nextSnapshot() else {
                commissioning?.state = "stopped"
                commissioning?.doing = "the controller stopped"
                return
            }
            if commissioning?.started == nil { commissioning?.started = snapshot.time }
            await cycle.setTestCaps(check.observe(snapshot))
            commissioning?.doing = check.doing
            commissioning?.findings = check.findings
            last = snapshot
        }
        commissioning?.state = "done"
        commissioning?.finished = last?.time
        let fix = check.findings.filter { $0.verdict == .fix }
        let summary = fix.isEmpty ? "nothing to fix" : "\(fix.count) to fix: " + fix.map { "\($0.subject) \($0.message)" }.joined(separator: "; ")
        await cycle.note(SiteEvent(time: last?.time ?? 0, kind: .commissioning, subject: "site",
                                   message: "commissioning check (\(stations ? "readings and each station" : "readings"))"
                                       + (commissioning?.by.map { " by \($0)" } ?? "") + ": " + summary))
    }

    /// Modbus devices at the addresses of `request`, recognised by the drivers'
    /// `identify`, each with a proposed entry (charger ids not yet in use).
    public func find(_ request: DeviceFinder.Request) async throws(DeviceFinder.Refused) -> DeviceFinder.Report {
        var request = request
        request.takenIDs = config.chargers.map(\.id)
        return try await DeviceFinder(drivers: assembly(config).drivers).find(request)
    }

    /// The drivers a meter or a charger may name: the shipped ones and the site's own.
    public func driverNames() -> [String] { assembly(config).drivers.names }

    /// A configuration from the page or the API: JSON in the shape of site.yaml.
    public func save(json: Data, by source: String?, acceptSilent: Bool = false) async -> Outcome {
        let value: StrictJSON.Value
        do { value = try StrictJSON.parse(json) } catch { return Outcome(status: 422, problems: ["body: not valid JSON: \(error)"]) }
        guard case .object = value, let body = Self.tree(value) as? [String: Any] else {
            return Outcome(status: 422, problems: ["body: expected a JSON object in the shape of site.yaml"])
        }
        for key in Self.fileOnly where body[key] != nil {
            return Outcome(status: 422, problems: ["\(key): the web server's settings change in \(file) only (a mistake here would lock you out of the page); leave \(key) out"])
        }
        var merged = Self.keepingSecrets(body, from: tree) as? [String: Any] ?? body
        for key in Self.fileOnly { merged[key] = tree[key] }
        return await change(to: merged, by: source, acceptSilent: acceptSilent, writeFile: true, change: nil)
    }

    /// Puts an earlier version back in force (and in the file), as a new version.
    public func restore(_ number: Int, by source: String?) async -> Outcome {
        let text: String
        do { text = try versions.text(of: number) } catch { return Outcome(status: 404, problems: ["\(error)"]) }
        guard let loaded = try? ConfigYAML.load(text), let restored = ConfigYAML.plain(loaded as Any) as? [String: Any] else {
            return Outcome(status: 422, problems: ["version \(number): not a configuration"])
        }
        var merged = restored
        for key in Self.fileOnly { merged[key] = tree[key] }
        // The version's own text, comments and all, unless the web server's settings changed since.
        var same = true
        for key in Self.fileOnly where json(restored[key]) != json(tree[key]) { same = false }
        return await change(to: merged, by: source, acceptSilent: true, writeFile: true, change: "version \(number) restored",
                            text: same ? text : nil)
    }

    /// SIGHUP: the file as it is now, when it differs from what is in force.
    /// Devices that do not answer do not stop it (whoever edited the file meant it).
    public func reloadFile(by source: String?) async -> Outcome {
        let text: String
        do { text = try ConfigYAML.text(FileContents.read(file), name: file) } catch { return Outcome(status: 422, problems: ["\(error)"]) }
        let loaded: Any?
        do { loaded = try ConfigYAML.load(text) } catch {
            return Outcome(status: 422, problems: ["\(file): not valid YAML: \(ConfigYAML.describe(error))"])
        }
        guard let fresh = ConfigYAML.plain(loaded as Any) as? [String: Any] else {
            return Outcome(status: 422, problems: ["\(file): expected a mapping at the top"])
        }
        return await change(to: fresh, by: source, acceptSilent: true, writeFile: false, change: nil)
    }

    /// One device read once (the page's Test button): `tree` as a meter or
    /// charger entry of site.yaml. Reads only.
    public func test(tree value: Any, path: String) async -> (DeviceTest?, [String]) {
        let id = ((value as? [String: Any])?["id"] as? String) ?? "device"
        // A secret sent back as `hidden` is the one of the device of that id in force.
        let inForce = (tree["chargers"] as? [Any])?.first { ($0 as? [String: Any])?["id"] as? String == id }
            ?? (tree["meters"] as? [String: Any])?[id]
        var entry = Self.keepingSecrets(value, from: inForce) as? [String: Any] ?? [:]
        entry["id"] = nil
        for key in ["min", "max", "phases", "priority", "enabled"] { entry[key] = nil }
        let d: SiteConfig.Device
        do { d = try SiteConfig.device(tree: entry, path: path, id: id) } catch { return (nil, error.messages) }
        var one = config
        one.chargers = []
        one.pv = nil
        one.grid = d
        var a = assembly(one)
        a.pool = pool
        let made: SiteAssembly.Assembled
        do { made = try a.assemble() } catch {
            return (nil, error.messages.map { $0.replacingOccurrences(of: "meters.grid", with: path) })
        }
        let result = await DeviceTest.run(made.meter, config: d, within: probeTimeout)
        pool.keep(only: a.endpoints(of: config))
        return (result, [])
    }

    private func json(_ value: Any?) -> Data? {
        value.flatMap { try? JSONSerialization.data(withJSONObject: ["v": $0], options: [.sortedKeys]) }
    }

    private func change(to fresh: [String: Any], by source: String?, acceptSilent: Bool, writeFile: Bool, change: String?,
                        text given: String? = nil) async -> Outcome {
        guard !busy else { return Outcome(status: 409, problems: ["another change of the configuration is under way; try again"]) }
        busy = true
        defer { busy = false }

        let next: SiteConfig
        let name = (file as NSString).lastPathComponent
        do { next = try SiteConfig(tree: fresh, file: name) } catch {
            // Each message starts with its key path, as `fusebox check` prints it after the file's name.
            return Outcome(status: 422, problems: error.messages.map { $0.hasPrefix(name + ": ") ? String($0.dropFirst(name.count + 2)) : $0 })
        }
        // The same configuration again (a SIGHUP after an edit that changed nothing, a save of what runs): nothing to do.
        if SiteConfig.changes(from: config, to: next) == "nothing changed" && Self.restartNeeded(config, next).isEmpty {
            return Outcome(status: 200, change: "nothing changed")
        }
        var a = assembly(next)
        a.pool = pool
        a.reuse = devices
        let parts: SiteParts, report: SiteAssembly.Report
        do { (parts, report) = try a.replacement(of: config, asWritten: next, by: source, change: change) } catch {
            pool.keep(only: a.endpoints(of: config))
            return Outcome(status: 422, problems: error.messages)
        }
        var outcome = Outcome(status: 200, change: report.change)
        outcome.restartNeeded = Self.restartNeeded(config, next)

        // A device the new configuration adds answers once before it takes over.
        // All at once: three silent stations cost one timeout, not three.
        let probed = report.made.sorted().compactMap { report.devices[$0] }, timeout = probeTimeout
        let tests = await withTaskGroup(of: (Int, DeviceTest).self) { group in
            for (n, d) in probed.enumerated() { group.addTask { (n, await DeviceTest.run(d.device, config: d.config, within: timeout)) } }
            var done: [(Int, DeviceTest)] = []
            for await t in group { done.append(t) }
            return done.sorted { $0.0 < $1.0 }.map(\.1)
        }
        outcome.tests = tests
        if tests.contains(where: { !$0.answered }) && !acceptSilent {
            pool.keep(only: a.endpoints(of: config))
            outcome.status = 409
            outcome.problems = tests.filter { !$0.answered }.map { t in
                "\(Self.field(of: t, in: next)): \(t.error ?? "no answer"); \(t.advice ?? "")"
            }
            return outcome
        }

        if writeFile {
            let header = "Saved by Fusebox\(source.map { " (\($0))" } ?? "") on \(ISO8601DateFormatter().string(from: Date())).\n"
                + "Earlier versions, a hand-written one included: \((versions.folder as NSString).lastPathComponent)/ (the page lists them)."
            do {
                let text = try given ?? ConfigYAML.dump(fresh, header: header)
                outcome.version = try versions.save(text, at: Date().timeIntervalSince1970, by: source, change: report.change)
            } catch {
                pool.keep(only: a.endpoints(of: config))
                outcome.status = 500
                outcome.problems = ["\(error)"]
                return outcome
            }
        }

        switch await cycle.stage(parts) {
        case .applied(let time):
            outcome.applied = time
            config = next
            tree = fresh
            devices = report.devices
            pool.keep(only: report.endpoints)
            for observe in observers { await observe(next) }
            // The new wiring's readings are checked at once; the station test waits to be asked for (it pauses charging).
            _ = startCommissioning(stations: false, by: "the save")
            return outcome
        case .superseded, .stopped:
            outcome.status = 503
            outcome.problems = ["the controller stopped before the new configuration took over"]
            return outcome
        }
    }

    /// The key the page marks for a device that did not answer: `chargers[2].port`, `meters.grid.unit`.
    static func field(of test: DeviceTest, in site: SiteConfig) -> String {
        let base = site.chargers.firstIndex { $0.id == test.id }.map { "chargers[\($0)]" }
            ?? (test.id == site.pv?.id ? "meters.pv" : "meters.grid")
        let key = switch test.likelyCause {
        case "port": "port"
        case "unit": "unit"
        case "address": "host"
        default: "driver"
        }
        return base + "." + key
    }

    /// What a running process cannot change: it reads them once, at start.
    static func restartNeeded(_ old: SiteConfig, _ new: SiteConfig) -> [String] {
        var parts: [String] = []
        if old.period != new.period { parts.append("site.period") }
        if old.history != new.history { parts.append("history") }
        if old.policyDirectory != new.policyDirectory || old.driverDirectory != new.driverDirectory { parts.append("scripts") }
        if old.http != new.http { parts.append("http") }   // the file's own (SIGHUP): the web server reads it at start
        if old.ocpp != new.ocpp { parts.append("ocpp") }   // its endpoint is opened at start
        return parts
    }

    /// A strict JSON value as a configuration tree, with the types a YAML file gives.
    public static func tree(_ v: StrictJSON.Value) -> Any {
        switch v {
        case .null: NSNull()
        case .bool(let b): b
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? Int(d) as Any : d as Any
        case .string(let s): s
        case .array(let l): l.map(tree)
        case .object(let pairs): Dictionary(pairs.map { ($0.0, tree($0.1)) }, uniquingKeysWith: { a, _ in a })
        }
    }
}
