import Foundation
import FuseboxController
import FuseboxCore
import FuseboxLua
import FuseboxModbus
import FuseboxSimulator
import FuseboxYAML
import Yams

/// A control scenario stored as data (Tests/FuseboxControllerTests/Scenarios,
/// format in docs/scenarios.md): a simulated site, the controller's settings, a
/// timeline of events, and properties that must hold over the whole run. The
/// controller and the site run together in simulated time, faster than real
/// time; every cycle is also checked against the invariants and against the
/// physical grid current, since an allocation can pass the invariant check
/// while the site is still over its fuse.
public struct Scenario: Sendable, CustomStringConvertible {
    public enum Action: Sendable {
        case load(name: String, current: PhaseValues, duration: Double)
        case meter(silent: Bool)
        case charger(String, fault: ModbusServer.Fault)
        case contact(String, closed: Bool)
        case rippleAPI(RippleMode?, ttl: Double)
        case siteLimit(Double?, ttl: Double)
        case chargerLimit(String, Double?, ttl: Double)
        case policy(name: String, source: String)
        case arrive(charger: String, car: SiteModel.Car)
        case leave(charger: String)
    }

    public enum Check: Sendable {
        /// The physical grid may be over the fuse on some phase for at most this
        /// many seconds in a row (the chargers' and cars' reaction time).
        case overFuseAtMost(Double)
        /// From `after` on, every phase at or below limit - margin + tolerance.
        case underLimit(after: Double, tolerance: Double)
        /// At `at`, the limit written to `charger` (nil: every charger) within [min, max].
        case allocation(at: Double, charger: String?, min: Double, max: Double)
        /// An event of `kind` between `from` and `to`.
        case event(SiteEvent.Kind, from: Double, to: Double, subject: String?)
        /// No event of `kind` at all.
        case noEvent(SiteEvent.Kind)
        /// The fallback allocated the cycle at `at`.
        case fallback(at: Double)
        /// At `at`, between `min` and `max` cars draw current.
        case charging(at: Double, min: Int, max: Int)
        /// Never more than this many cars draw current at once.
        case drawingAtMost(Int)
        /// Every car that is plugged in has drawn current by `by`.
        case everyCarCharged(by: Double)
        /// Energy delivered to cars over the run, kWh, at least.
        case energyAtLeast(Double)
        /// Energy the cars took from the grid rather than from PV, kWh, at most.
        case evImportAtMost(Double)
    }

    public var name: String
    public var file: String
    public var sim: SimConfig
    public var controller: SiteConfig
    public var duration: Double
    public var events: [(at: Double, action: Action)]
    public var checks: [Check]
    public var description: String { "\((file as NSString).lastPathComponent): \(name)" }

    /// What a run showed: the failed checks (empty when it passed) and figures.
    public struct Report: Sendable {
        public var failures: [String] = []
        public var cycles = 0
        public var longestOverFuse = 0.0
        public var worstAfterSettling = 0.0
        public var energy = 0.0
        /// kWh the cars drew while the site imported: the part of their energy not from PV.
        public var evImport = 0.0
        public var events: [SiteEvent] = []
        /// Device and policy errors, each with the first time it was seen.
        public var errors: [String] = []
    }

    public static func load(file: String) throws -> Scenario {
        let text: String
        do { text = try ConfigYAML.text(FileContents.read(file), name: file) } catch { throw SiteConfig.Problems(messages: ["\(error)"]) }
        let root: Any?
        do { root = try ConfigYAML.load(text) } catch {   // JSON is YAML
            throw SiteConfig.Problems(messages: ["\(file): not valid YAML: \(ConfigYAML.describe(error))"])
        }
        return try Scenario(tree: root as Any, file: file)
    }

    public init(tree: Any, file: String) throws {
        guard let top = tree as? [String: Any] else { throw SiteConfig.Problems(messages: ["\(file): expected an object at the top"]) }
        var r = ConfigReader()
        r.onlyKnown(top, "", ["name", "sim", "controller", "duration", "events", "expect"])
        name = r.string(top["name"], "name", default: (file as NSString).lastPathComponent)
        self.file = file
        duration = r.duration(top["duration"], "duration", default: 60)
        if duration > 30 * 86_400 {
            r.problem("duration: expected at most 30 days of simulated time (fusebox-dev soak runs longer), got \(duration) s")
            duration = 60
        }
        var simProblems: [String] = []
        do { sim = try SimConfig(tree: top["sim"] ?? [String: Any](), file: file + " sim") } catch {
            simProblems = error.messages
            sim = SimConfig()   // a stand-in: the problems are thrown below, with the controller's
        }
        var controllerProblems: [String] = []
        do { controller = try SiteConfig(tree: top["controller"] ?? ["site": ["limit": ["current": 63]]], file: file + " controller",
                                         addresses: false) } catch {
            controllerProblems = error.messages
            controller = SiteConfig()
        }

        events = []
        for (n, e) in r.list(top["events"], "events").enumerated() {
            let path = "events[\(n)]"
            guard let m = r.map(e, path) else { continue }
            let at = r.duration(m["at"], "\(path).at", default: 0)
            let ttl = r.duration(m["ttl"], "\(path).ttl", default: 3600)
            let action: Action?
            if let l = r.map(m["load"], "\(path).load") {
                action = .load(name: r.string(l["name"], "\(path).load.name", default: "load"),
                               current: r.phases(l["current"], "\(path).load.current", default: .zero, range: -1_000...1_000),
                               duration: r.duration(l["for"], "\(path).load.for", default: .infinity))
            } else if m["meter"] != nil {
                action = .meter(silent: r.choice(m["meter"], "\(path).meter", ["silent", "answers"], default: "silent") == "silent")
            } else if let id = m["charger"] as? String, m["fault"] != nil {
                action = .charger(id, fault: SimConfig.fault(m, path, &r))
            } else if let c = m["contact"] as? String {
                action = .contact(c, closed: r.bool(m["closed"], "\(path).closed", default: true))
            } else if m["ripple"] != nil {
                let mode = r.choice(m["ripple"], "\(path).ripple", ["normal", "reduced", "locked", "clear"], default: "clear")
                action = .rippleAPI(RippleMode(rawValue: mode), ttl: ttl)
            } else if m["site_limit"] != nil {
                action = .siteLimit(m["site_limit"] is NSNull ? nil : r.number(m["site_limit"], "\(path).site_limit", default: 63, range: 0...4000), ttl: ttl)
            } else if let id = m["charger"] as? String, m["limit"] != nil {
                action = .chargerLimit(id, r.number(m["limit"], "\(path).limit", default: 0, range: 0...80), ttl: ttl)
            } else if let p = m["policy"] as? String {
                action = .policy(name: p, source: r.string(m["source"], "\(path).source", default: ""))
            } else if let a = r.map(m["arrive"], "\(path).arrive") {
                action = .arrive(charger: r.string(a["charger"], "\(path).arrive.charger", default: ""),
                                 car: .init(id: r.string(a["id"], "\(path).arrive.id", default: "car \(n)"),
                                            phases: r.int(a["phases"], "\(path).arrive.phases", default: 3, range: 1...3),
                                            maxCurrent: r.number(a["max"], "\(path).arrive.max", default: 16, range: 6...80),
                                            wanted: r.number(a["wanted"], "\(path).arrive.wanted", default: 30, range: 0...200)))
            } else if let id = m["leave"] as? String {
                action = .leave(charger: id)
            } else {
                r.problem("\(path): expected one of load, meter, charger+fault, contact, ripple, site_limit, charger+limit, policy, arrive, leave")
                action = nil
            }
            if let action { events.append((at, action)) }
        }

        checks = []
        for (n, e) in r.list(top["expect"], "expect").enumerated() {
            let path = "expect[\(n)]"
            guard let m = r.map(e, path), let key = m.keys.sorted().first(where: { !["tolerance", "charger", "min", "max", "from", "to", "subject", "at"].contains($0) }) else {
                r.problem("\(path): expected a check such as { over_fuse_at_most: 6 }")
                continue
            }
            let at = r.duration(m["at"], "\(path).at", default: 0)
            switch key {
            case "over_fuse_at_most": checks.append(.overFuseAtMost(r.duration(m[key], "\(path).\(key)", default: 0)))
            case "under_limit_after":
                checks.append(.underLimit(after: r.duration(m[key], "\(path).\(key)", default: 0),
                                          tolerance: r.number(m["tolerance"], "\(path).tolerance", default: 0, range: 0...100)))
            case "allocation":
                let charger = r.string(m[key], "\(path).\(key)", default: "*")
                checks.append(.allocation(at: at, charger: charger == "*" ? nil : charger,
                                          min: r.number(m["min"], "\(path).min", default: 0, range: 0...1000),
                                          max: r.number(m["max"], "\(path).max", default: 1000, range: 0...1000)))
            case "event", "no_event":
                let kindName = r.string(m[key], "\(path).\(key)", default: "")
                guard let kind = SiteEvent.Kind(rawValue: kindName) else {
                    r.problem("\(path).\(key): expected an event kind (\(SiteEvent.Kind.allCases.map(\.rawValue).joined(separator: ", "))), got \(kindName)")
                    continue
                }
                if key == "no_event" { checks.append(.noEvent(kind)); continue }
                checks.append(.event(kind, from: r.duration(m["from"], "\(path).from", default: 0),
                                     to: r.duration(m["to"], "\(path).to", default: .infinity),
                                     subject: m["subject"].map { r.string($0, "\(path).subject", default: "") }))
            case "fallback_at": checks.append(.fallback(at: r.duration(m[key], "\(path).\(key)", default: 0)))
            case "charging_at":
                checks.append(.charging(at: r.duration(m[key], "\(path).\(key)", default: 0),
                                        min: r.int(m["min"], "\(path).min", default: 0, range: 0...10_000),
                                        max: r.int(m["max"], "\(path).max", default: 10_000, range: 0...10_000)))
            case "drawing_at_most": checks.append(.drawingAtMost(r.int(m[key], "\(path).\(key)", default: 0, range: 0...10_000)))
            case "every_car_charged_by": checks.append(.everyCarCharged(by: r.duration(m[key], "\(path).\(key)", default: 0)))
            case "energy_at_least": checks.append(.energyAtLeast(r.number(m[key], "\(path).\(key)", default: 0, range: 0...1e9)))
            case "ev_import_at_most": checks.append(.evImportAtMost(r.number(m[key], "\(path).\(key)", default: 0, range: 0...1e9)))
            default: r.problem("\(ConfigReader.path(path, key)): unknown check")
            }
        }
        if checks.isEmpty { r.problem("expect: a scenario must expect something") }
        let problems = simProblems + controllerProblems + r.problems.map { "\(file): \($0)" }
        if !problems.isEmpty { throw SiteConfig.Problems(messages: problems) }
    }

    /// Runs the scenario to its end and checks every property.
    public func run() async throws -> Report {
        // Contacts named "@name" in the controller's ripple inputs become files
        // in a fresh folder, which `contact` events write.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-scenario-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var controller = controller
        for (i, input) in controller.rippleInputs.enumerated() {
            if case .file(let path) = input.source, path.hasPrefix("@") {
                let file = folder.appendingPathComponent(String(path.dropFirst())).path
                try Data("0\n".utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
                controller.rippleInputs[i].source = .file(path: file)
            }
        }

        let run = try SimulatedRun(sim: sim, controller: controller)
        defer { run.stop() }
        let model = run.model
        let fuse = run.config.limits.current
        let margin = run.config.limits.margin
        let period = run.config.period
        var report = Report()
        var pending = events.sorted { $0.at < $1.at }
        var overFuseSince: Double?
        var everDrew = Set<String>()
        var pluggedAt: [String: Double] = [:]
        var records: [(t: Double, allocation: [Double], fallback: Bool, drawing: Int)] = []
        let ids = run.config.chargers.map(\.id)

        while run.elapsed < duration - 1e-9 {
            // Events due before this cycle's measurement.
            while let next = pending.first, next.at <= run.elapsed + period / 2 {
                pending.removeFirst()
                await apply(next.action, to: run, folder: folder)
            }
            let record = await run.step()
            let t = run.elapsed
            report.cycles += 1
            report.events += record.events
            for e in record.errors where !report.errors.contains(where: { $0.hasSuffix(e) }) { report.errors.append("t=\(t): \(e)") }
            for v in record.invariantViolations { report.failures.append("t=\(t): invariant broken: \(v)") }

            let grid = model.gridCurrent
            let over = Phase.allCases.contains { grid[$0] > fuse[$0] + 1e-6 }
            if over { overFuseSince = overFuseSince ?? t - period } else { overFuseSince = nil }
            if let since = overFuseSince { report.longestOverFuse = max(report.longestOverFuse, t - since) }
            for c in model.chargers {
                if c.car != nil, pluggedAt[c.id] == nil { pluggedAt[c.id] = t }
                if c.car == nil { pluggedAt[c.id] = nil }
                if c.drawing > 0 { everDrew.insert(c.id) }
            }
            let drawing = model.chargers.filter { $0.drawing > 0 }.count
            let evPower = model.evCurrent.array.reduce(0, +) * 230
            let gridPower = model.gridPower.array.reduce(0, +)
            report.evImport += max(0, min(evPower, gridPower)) * period / 3_600_000
            records.append((t, record.allocation, record.fallback != nil, drawing))

            for check in checks {
                switch check {
                case .underLimit(let after, let tolerance) where t >= after:
                    let worst = Phase.allCases.map { grid[$0] - (fuse[$0] - margin) }.max() ?? 0
                    report.worstAfterSettling = max(report.worstAfterSettling, worst)
                    if worst > tolerance + 1e-6 {
                        report.failures.append("t=\(t): grid \(grid) is \(worst) A over limit - margin (tolerance \(tolerance))")
                    }
                case .everyCarCharged(let by):
                    for (id, at) in pluggedAt where t >= at + by && !everDrew.contains(id) {
                        report.failures.append("t=\(t): the car at \(id), plugged in at t=\(at), has not charged within \(by) s")
                        everDrew.insert(id)   // once per car
                    }
                default: break
                }
            }
        }
        report.energy = model.chargers.reduce(0) { $0 + $1.sessionEnergy }

        func record(at t: Double) -> (t: Double, allocation: [Double], fallback: Bool, drawing: Int)? {
            records.min { abs($0.t - t) < abs($1.t - t) }
        }
        for check in checks {
            switch check {
            case .overFuseAtMost(let s) where report.longestOverFuse > s + 1e-6:
                report.failures.append("the grid was over the fuse for \(report.longestOverFuse) s in a row, at most \(s) s expected")
            case .allocation(let at, let charger, let lo, let hi):
                guard let r = record(at: at) else { continue }
                for (i, id) in ids.enumerated() where charger == nil || charger == id {
                    if r.allocation[i] < lo - 1e-6 || r.allocation[i] > hi + 1e-6 {
                        report.failures.append("t=\(r.t): \(id) was given \(r.allocation[i]) A, expected \(lo) to \(hi) A")
                    }
                }
            case .event(let kind, let from, let to, let subject):
                let start = sim.start
                let found = report.events.contains {
                    $0.kind == kind && $0.time - start >= from - 1e-6 && $0.time - start <= to + 1e-6 && (subject == nil || $0.subject == subject)
                }
                if !found {
                    report.failures.append("no \(kind.rawValue) event\(subject.map { " for \($0)" } ?? "") between t=\(from) and t=\(to); saw "
                                           + report.events.map { "t=\($0.time - start) \($0)" }.joined(separator: "; "))
                }
            case .noEvent(let kind):
                for e in report.events where e.kind == kind { report.failures.append("unexpected event at t=\(e.time - sim.start): \(e)") }
            case .fallback(let at):
                if let r = record(at: at), !r.fallback { report.failures.append("t=\(r.t): expected the fallback to allocate, the policy did") }
            case .charging(let at, let lo, let hi):
                if let r = record(at: at), r.drawing < lo || r.drawing > hi {
                    report.failures.append("t=\(r.t): \(r.drawing) cars charging, expected \(lo) to \(hi)")
                }
            case .drawingAtMost(let n):
                if let worst = records.max(by: { $0.drawing < $1.drawing }), worst.drawing > n {
                    report.failures.append("t=\(worst.t): \(worst.drawing) cars charging at once, at most \(n) expected")
                }
            case .energyAtLeast(let kWh) where report.energy < kWh:
                report.failures.append("\(report.energy) kWh delivered, at least \(kWh) expected")
            case .evImportAtMost(let kWh) where report.evImport > kWh:
                report.failures.append("the cars took \(report.evImport) kWh from the grid, at most \(kWh) expected (of \(report.energy) kWh)")
            default: break
            }
        }
        return report
    }

    private func apply(_ action: Action, to run: SimulatedRun, folder: URL) async {
        let model = run.model
        switch action {
        case .load(let name, let current, let duration):
            model.steps.append(.init(name: name, start: model.time, end: model.time + duration, current: current))
        case .meter(let silent):
            run.site.meter.setFault(silent ? .silent : .none, unit: run.site.meterUnit)
        case .charger(let id, let fault):
            guard let c = run.site.chargers.first(where: { $0.id == id }) else { return }
            c.server.setFault(fault, unit: c.device.map.unit)
        case .contact(let name, let closed):
            // Written whole and renamed into place: the reader never sees half a file.
            try? Data((closed ? "1\n" : "0\n").utf8).write(to: folder.appendingPathComponent(String(name.dropFirst())), options: .atomic)
        case .rippleAPI(let mode, let ttl):
            await run.cycle.setRipple(mode, ttl: ttl)
        case .siteLimit(let amps, let ttl):
            await run.cycle.setSiteLimit(amps, ttl: ttl)
        case .chargerLimit(let id, let amps, let ttl):
            _ = await run.cycle.setChargerLimit(id, amps: amps, ttl: ttl)
        case .policy(let name, let source):
            do {
                let script = try PolicyScript(source: source, origin: name + ".lua")
                _ = await run.cycle.replacePolicy(script)
            } catch {
                await run.cycle.note(SiteEvent(time: model.time, kind: .reloadRefused, subject: name, message: "\(error)"))
            }
        case .arrive(let charger, let car):
            model.plug(car, into: charger)
        case .leave(let charger):
            model.unplug(charger)
        }
    }
}
