/// Mistakes of installation that the readings give away (`fusebox check --live`,
/// and events while running): a current sensor mounted backwards, a current
/// sensor on another phase than its voltage, and a charger wired to other
/// building phases than its configuration says. Fed one snapshot at a time;
/// each warning is reported once.
public struct Commissioning: Sendable {
    public struct Warning: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Sendable { case backwardsSensor = "backwards_sensor", sensorPhase = "sensor_phase", chargerPhases = "charger_phases" }
        public var kind: Kind
        /// "L2", or a charger id.
        public var subject: String
        public var message: String
        public var description: String { "\(subject): \(message)" }
    }

    /// Below this current a phase tells nothing (A).
    public var minimumCurrent = 3.0
    /// A charger's step must be at least this large to be read (A).
    public var minimumStep = 5.0
    /// A power factor this low at a real current means current and voltage are not in step.
    public var implausiblePowerFactor = 0.6
    /// PV under this power counts as none (W).
    public var pvNone = 100.0
    /// Readings in a row a sensor warning needs, so one odd sample is not enough.
    public var confirmations = 3

    private var reported = Set<String>()
    private var streaks: [String: Int] = [:]
    private var previous: SiteSnapshot?

    public init() {}

    /// What one phase's reading gives away: the one judgement behind these
    /// warnings and the guided check's (`CommissioningCheck`).
    public enum PhaseReading: Equatable, Sendable {
        /// Too little current to tell anything.
        case tooSmall
        /// It exports with no PV: its current sensor is mounted backwards.
        case backwards
        /// Current and voltage are not in step: its sensor sits on another phase than its voltage tap.
        case outOfStep(powerFactor: Double)
        case plausible
    }

    public func classify(current i: Double, voltage v: Double, power w: Double, noPV: Bool) -> PhaseReading {
        let apparent = abs(i) * v
        guard abs(i) >= minimumCurrent, apparent > 0 else { return .tooSmall }
        if noPV && w < -apparent * implausiblePowerFactor { return .backwards }
        if abs(w / apparent) < implausiblePowerFactor { return .outOfStep(powerFactor: w / apparent) }
        return .plausible
    }

    /// New warnings from this snapshot.
    public mutating func observe(_ s: SiteSnapshot) -> [Warning] {
        var found: [Warning] = []
        let noPV = (s.pv?.power ?? 0) < pvNone
        if let power = s.grid.power, s.grid.age < 1e9 {
            for p in Phase.allCases {
                let i = s.grid.current[p], w = power[p]
                switch classify(current: i, voltage: s.grid.voltage[p], power: w, noPV: noPV) {
                case .tooSmall: continue
                case .backwards:
                    found += confirm(.backwardsSensor, "\(p)", "exports \(Int(-w)) W with no PV: its current sensor may be mounted backwards")
                case .outOfStep(let pf):
                    found += confirm(.sensorPhase, "\(p)", "power factor \(rounded(pf)) at \(rounded(abs(i))) A: current and voltage are not in step; "
                                     + "is the current sensor on another phase than its voltage tap?")
                case .plausible:
                    streaks["\(p)"] = 0
                }
            }
        }
        if let before = previous, before.chargers.map(\.id) == s.chargers.map(\.id) {
            found += chargerPhases(before, s)
        }
        previous = s
        return found
    }

    /// One charger steps while the others hold: the grid must step on its phases only.
    private mutating func chargerPhases(_ a: SiteSnapshot, _ b: SiteSnapshot) -> [Warning] {
        let steps = zip(a.chargers, b.chargers).map { x, y in (y.current.max() ?? 0) - (x.current.max() ?? 0) }
        let big = steps.indices.filter { abs(steps[$0]) >= minimumStep }
        guard big.count == 1, steps.indices.allSatisfy({ $0 == big[0] || abs(steps[$0]) < 1 }) else { return [] }
        let c = b.chargers[big[0]]
        guard !reported.contains("phases " + c.id) else { return [] }
        let step = steps[big[0]]
        let grid = b.grid.current - a.grid.current
        // The phases it draws on: counted where it draws, after a step up or before a step down.
        let drawing = step > 0 ? c.current : a.chargers[big[0]].current
        let expected = Set(c.phases.prefix(max(1, drawing.filter { abs($0) >= 1 }.count)))
        let seen = Set(Phase.allCases.filter { abs(grid[$0] - step) < abs(step) / 3 })
        guard !seen.isEmpty, seen != expected else { return [] }
        let quiet = Set(Phase.allCases.filter { abs(grid[$0]) < abs(step) / 3 })
        guard seen.union(quiet).count == 3 else { return [] }   // the building moved too: no reading
        reported.insert("phases " + c.id)
        let names = { (set: Set<Phase>) in set.sorted { $0.rawValue < $1.rawValue }.map { "L\($0.rawValue)" }.joined(separator: ", ") }
        return [Warning(kind: .chargerPhases, subject: c.id,
                        message: "a step of \(rounded(step)) A showed on \(names(seen)) of the building, its configuration says \(names(expected)) "
                                 + "(phases: \(c.phases.map(\.rawValue))): check the wiring or the phases setting")]
    }

    private mutating func confirm(_ kind: Warning.Kind, _ subject: String, _ message: String) -> [Warning] {
        let key = kind.rawValue + " " + subject
        let streak = streaks[subject, default: 0] + 1
        streaks[subject] = streak
        guard streak >= confirmations, reported.insert(key).inserted else { return [] }
        return [Warning(kind: kind, subject: subject, message: message)]
    }

    private func rounded(_ v: Double) -> Double { (v * 100).rounded() / 100 }
}
