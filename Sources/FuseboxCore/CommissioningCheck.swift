/// The guided commissioning check, as an installer does it by hand: first the
/// meter's readings (voltages, the direction of each phase's power, current and
/// voltage in step), then, when asked, each station alone: every station is
/// paused, the one under test may charge, and the grid phases that move show
/// where its phases really are and whether a current sensor reads backwards.
/// Fed one snapshot per cycle (`observe`); it answers the caps the cycle must
/// hold for the next one, and says what to fix in an electrician's words.
public struct CommissioningCheck: Sendable {
    public struct Finding: Sendable, Codable, Equatable {
        public enum Verdict: String, Sendable, Codable { case ok, fix, unknown }
        /// "L2", "grid meter", or a station's id.
        public var subject: String
        public var verdict: Verdict
        public var message: String
    }

    public struct Settings: Sendable {
        /// Cycles every station must draw under 1 A before a baseline is taken.
        public var quietCycles = 3
        /// Cycles a station under test must hold a steady draw before it is measured.
        public var steadyCycles = 3
        /// Cycles to wait for the stations to stop, or for one to start (its
        /// restart pause, 30 s by default, and the car's reaction come first).
        public var timeout = 120
        /// A the station under test must draw to be measured.
        public var minimumDraw = 5.0
        public init() {}
    }

    private enum Stage: Sendable {
        case readings
        case pausing(station: Int, cycles: Int, quiet: Int)
        case testing(station: Int, baseline: PhaseValues, cycles: Int, steady: Int, last: Double)
        case done
    }

    public let settings: Settings
    /// Whether each station is switched on alone, or only the readings are checked.
    public let stations: Bool
    public private(set) var findings: [Finding] = []
    /// What it is doing now, for the page.
    public private(set) var doing = "waiting for the next cycle"
    private var stage = Stage.readings
    private var order: [String] = []
    private var reversed = Set<Phase>()

    public init(stations: Bool, settings: Settings = Settings()) {
        self.stations = stations
        self.settings = settings
    }

    public var isDone: Bool { if case .done = stage { true } else { false } }

    /// One cycle's snapshot in; the caps (A) the cycle must hold from now on,
    /// by station id; nil when the check holds none (it has finished).
    public mutating func observe(_ s: SiteSnapshot) -> [String: Double]? {
        switch stage {
        case .readings:
            checkReadings(s)
            order = s.chargers.map(\.id)
            guard stations, !order.isEmpty, !s.meterSilent else { return finish() }
            stage = .pausing(station: 0, cycles: 0, quiet: 0)
            doing = "pausing every station"
            return pauseAll(s)
        case .pausing(let i, let cycles, let quiet):
            let drawing = s.chargers.filter { $0.responding && ($0.current.max() ?? 0) >= 1 }
            let stillQuiet = drawing.isEmpty ? quiet + 1 : 0
            if stillQuiet >= settings.quietCycles {
                return startTesting(i, s)
            }
            if cycles + 1 >= settings.timeout {
                for c in drawing {
                    note(c.id, .fix, "draws \(Self.amps(c.current.max() ?? 0)) A with a limit of 0 A: it does not follow its limit; check its load-management setting (Modbus or EMS control on)")
                }
                return startTesting(i, s)
            }
            stage = .pausing(station: i, cycles: cycles + 1, quiet: stillQuiet)
            return pauseAll(s)
        case .testing(let i, let baseline, let cycles, let steady, let last):
            guard let c = s.chargers.first(where: { $0.id == order[i] }) else { return next(after: i, s) }
            let draw = c.current.reduce(0, +)
            let nowSteady = draw >= settings.minimumDraw && abs(draw - last) < 1 ? steady + 1 : 0
            if nowSteady >= settings.steadyCycles {
                judge(c, delta: s.grid.current.map { p, amps in amps - baseline[p] })
                return next(after: i, s)
            }
            if cycles + 1 >= settings.timeout {
                note(c.id, .unknown, c.responding
                     ? "did not start charging within \(settings.timeout) cycles (now \(c.status.rawValue)): is the car full, or waiting for a card? Check again with a car that charges"
                     : "does not answer: test it on the Setup page")
                return next(after: i, s)
            }
            stage = .testing(station: i, baseline: baseline, cycles: cycles + 1, steady: nowSteady, last: draw)
            return caps(allBut: c.id, s)
        case .done:
            return nil
        }
    }

    // MARK: - the readings

    private mutating func checkReadings(_ s: SiteSnapshot) {
        let g = s.grid
        guard !s.meterSilent, g.age.isFinite else {
            note("grid meter", .fix, "does not answer: test it on the Setup page (address, port, unit)")
            return
        }
        // The thresholds of the warnings while running: one judgement of a phase's reading.
        let judge = Commissioning()
        let noPV = (s.pv?.power ?? 0) < judge.pvNone
        for p in Phase.allCases {
            let v = g.voltage[p], i = g.current[p], w = g.power?[p]
            if v < 180 || v > 270 {
                note("\(p)", .fix, "reads \(Int(v.rounded())) V: its voltage tap is not connected, or the meter is set for another grid (230/400 V expected)")
                continue
            }
            guard let w else {
                note("\(p)", .unknown, "\(Int(v.rounded())) V, \(Self.amps(i)) A; the meter gives no power per phase, so the direction of its current sensor cannot be read")
                continue
            }
            switch judge.classify(current: i, voltage: v, power: w, noPV: noPV) {
            case .outOfStep(let pf):
                note("\(p)", .fix, "current and voltage are not in step (power factor \(Self.amps(abs(pf)))): its current sensor sits on another phase than its voltage tap; move the sensor to the cable of \(p)")
            case .backwards:
                note("\(p)", .fix, "exports \(Int(-w)) W with no PV producing: its current sensor is mounted backwards; turn it round so its arrow points toward the building (or swap its k and l wires)")
                reversed.insert(p)
            case .tooSmall, .plausible:
                note("\(p)", .ok, "\(Int(v.rounded())) V, \(Self.amps(i)) A, \(Self.kilowatts(w)) kW" + (w < 0 ? " (export, with PV producing)" : ""))
            }
        }
    }

    // MARK: - one station at a time

    private func pauseAll(_ s: SiteSnapshot) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: s.chargers.map { ($0.id, 0.0) })
    }

    private func caps(allBut id: String, _ s: SiteSnapshot) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: s.chargers.filter { $0.id != id }.map { ($0.id, 0.0) })
    }

    private mutating func startTesting(_ i: Int, _ s: SiteSnapshot) -> [String: Double]? {
        guard let c = s.chargers.first(where: { $0.id == order[i] }) else { return next(after: i, s) }
        guard c.responding, c.status == .occupied || c.status == .charging else {
            note(c.id, .unknown, c.responding ? "no car connected (\(c.status.rawValue)): connect one, or a test adapter, and check again"
                                               : "does not answer: test it on the Setup page")
            return next(after: i, s)
        }
        doing = "\(c.id) charging alone (\(i + 1) of \(order.count))"
        stage = .testing(station: i, baseline: s.grid.current, cycles: 0, steady: 0, last: 0)
        return caps(allBut: c.id, s)
    }

    private mutating func next(after i: Int, _ s: SiteSnapshot) -> [String: Double]? {
        guard i + 1 < order.count else { return finish() }
        stage = .pausing(station: i + 1, cycles: 0, quiet: 0)
        doing = "pausing every station"
        return pauseAll(s)
    }

    private mutating func finish() -> [String: Double]? {
        stage = .done
        doing = "done"
        return nil
    }

    /// What the grid did while station `c` alone drew its current.
    private mutating func judge(_ c: ChargerSnapshot, delta: PhaseValues) {
        let draw = c.current.reduce(0, +), largest = c.current.max() ?? 0
        let seen = Phase.allCases.reduce(0.0) { $0 + abs(delta[$1]) }
        guard seen >= 0.4 * draw else {
            note(c.id, .fix, "the grid meter saw \(Self.amps(seen)) A of its \(Self.amps(draw)) A: it is not behind the meter's current sensors (fed from elsewhere, or the sensors sit on another cable)")
            return
        }
        // A phase that went down while the station drew on it reads backwards.
        for p in Phase.allCases where delta[p] < -0.5 * largest && !reversed.contains(p) {
            reversed.insert(p)
            note("\(p)", .fix, "its current sensor reads backwards: \(p) went down by \(Self.amps(-delta[p])) A while \(c.id) alone drew \(Self.amps(largest)) A; turn the sensor round so its arrow points toward the building (or swap its k and l wires)")
        }
        let moved = delta.map { _, amps in abs(amps) }
        // The wirings that explain the phases that moved as well as any (a
        // balanced three-phase draw fits every order of the phases alike).
        func error(_ wiring: [Phase]) -> Double {
            var predicted = PhaseValues.zero
            for (k, p) in wiring.enumerated() where k < c.current.count { predicted[p] += c.current[k] }
            return Phase.allCases.reduce(0.0) { $0 + (moved[$1] - predicted[$1]) * (moved[$1] - predicted[$1]) }
        }
        let candidates = Self.wirings(count: c.phases.count)
        let least = candidates.map(error).min() ?? 0
        let fitting = candidates.filter { error($0) <= least + 2 + 0.02 * draw * draw }
        let names = { (w: [Phase]) in w.map { "\($0)" }.joined(separator: ", ") }
        if fitting.contains(c.phases) {
            let on = c.phases.enumerated().filter { $0.offset < c.current.count && c.current[$0.offset] >= 1 }.map { "\($0.element)" }
            note(c.id, .ok, "drew \(Self.amps(draw)) A alone; the grid moved on \(on.joined(separator: ", ")), as configured"
                 + (fitting.count > 1 && on.count > 1 ? " (the order of its phases shows only with a one-phase car)" : ""))
            return
        }
        // What every fitting wiring agrees on, phase by phase of the station.
        var wrong: [String] = []
        for k in c.phases.indices where k < c.current.count && c.current[k] >= 1 {
            let on = Set(fitting.map { $0[k] })
            if on.count == 1, let p = on.first, p != c.phases[k] {
                wrong.append("its L\(k + 1) is on the building's \(p), not \(c.phases[k])")
            }
        }
        let rotations: [[Phase]] = c.phases.count == 3 ? [[.l1, .l2, .l3], [.l2, .l3, .l1], [.l3, .l1, .l2]] : []
        let likely = fitting.first { rotations.contains($0) } ?? fitting.first ?? c.phases
        note(c.id, .fix, (wrong.isEmpty ? "the grid moved on other phases than configured (\(names(c.phases)))" : wrong.joined(separator: "; "))
             + ": set its wiring to \(names(likely)) (phases: [\(likely.map { String($0.rawValue) }.joined(separator: ", "))])"
             + (fitting.count > 1 ? ", the likeliest of \(fitting.count) that fit what the grid showed" : ""))
    }

    /// Every way `count` station phases can sit on the building's three.
    static func wirings(count: Int) -> [[Phase]] {
        let all = Phase.allCases
        switch count {
        case 1: return all.map { [$0] }
        case 2: return all.flatMap { a in all.filter { $0 != a }.map { [a, $0] } }
        default: return all.flatMap { a in all.filter { $0 != a }.flatMap { b in all.filter { $0 != a && $0 != b }.map { [a, b, $0] } } }
        }
    }

    private mutating func note(_ subject: String, _ verdict: Finding.Verdict, _ message: String) {
        findings.append(Finding(subject: subject, verdict: verdict, message: message))
    }

    static func amps(_ a: Double) -> String { String(format: "%.1f", a) }
    static func kilowatts(_ w: Double) -> String { String(format: "%.2f", w / 1000) }
}
