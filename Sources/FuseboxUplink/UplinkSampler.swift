import Foundation
import FuseboxController
import FuseboxCore

/// Turns cycles into the uplink's messages: a sample of the grid, PV, the
/// ripple mode and each station every `interval` (each cycle when 0),
/// skipped while nothing moved more than `deadband` since the last one sent
/// unless `heartbeat` has passed; every event; each finished charging
/// session. Pure: stepped by the tests with made-up cycles.
struct UplinkSampler {
    struct Message: Equatable {
        var topic: String
        var payload: Data
        var time: Double
    }

    let topics: UplinkTopics
    let interval: Double
    let deadband: Double
    let heartbeat: Double

    private var lastSample = -Double.infinity
    /// Per topic: what was last sent, and when.
    private var sent: [String: (state: String, time: Double, values: [Double])] = [:]
    private var open: [String: (start: Double, energy: Double, peak: Double)] = [:]

    init(topics: UplinkTopics, settings: SiteConfig.MQTT) {
        self.topics = topics
        interval = settings.interval
        deadband = settings.deadband
        heartbeat = settings.heartbeat
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    mutating func messages(for r: ControlCycle.Record, overrides o: ControlCycle.Overrides) -> [Message] {
        var out: [Message] = []
        let s = r.snapshot, time = Self.round(r.time, 3)
        func encode<T: Encodable>(_ value: T) -> Data { (try? Self.encoder.encode(value)) ?? Data("{}".utf8) }

        // Sessions end before the samples of the cycle that ended them: a portal sees the session, then the free station.
        for c in s.chargers {
            let inUse = c.status != .free && c.status != .unavailable
            if inUse {
                var session = open[c.id] ?? (start: time, energy: 0, peak: 0)
                session.energy = max(session.energy, c.sessionEnergy)
                session.peak = max(session.peak, c.current.max() ?? 0)
                open[c.id] = session
            } else if c.status == .free, let session = open.removeValue(forKey: c.id) {
                out.append(Message(topic: topics.sessions, payload: encode(UplinkPayload.Session(
                    station: c.id, start: session.start, end: time, energy_kwh: Self.round(session.energy, 3),
                    peak_current_a: Self.round(session.peak))), time: time))
            }
        }
        for e in r.events {
            out.append(Message(topic: topics.events, payload: encode(UplinkPayload.Event(time: Self.round(e.time, 3), kind: e.kind.rawValue,
                                                                                         subject: e.subject, message: e.message)), time: e.time))
        }

        guard time - lastSample >= interval - 1e-6 else { return out }
        lastSample = time
        /// `values` move within the deadband; `state` (a status, a flag, a mode) must not change at all.
        func offer<T: Encodable>(_ topic: String, _ value: T, values: [Double], state: String) {
            if deadband > 0, let last = sent[topic], time - last.time < heartbeat, last.state == state, last.values.count == values.count,
               !zip(last.values, values).contains(where: { abs($0 - $1) >= deadband }) {
                return
            }
            sent[topic] = (state, time, values)
            out.append(Message(topic: topic, payload: encode(value), time: time))
        }

        let grid = UplinkPayload.Grid(
            time: time, current_a: s.grid.current.array.map { Self.round($0) }, voltage_v: s.grid.voltage.array.map { Self.round($0, 1) },
            power_w: s.grid.power?.array.map { Self.round($0, 0) }, budget_a: r.budget.array.map { Self.round($0) },
            limit_a: s.limits.current.array.map { Self.round($0) }, margin_a: s.limits.margin,
            site_limit_a: o.remote.site?.amps, site_limit_until: o.remote.site?.until.finite, failsafe: s.meterSilent)
        offer(topics.grid, grid, values: grid.current_a + grid.budget_a + (grid.power_w ?? []).map { $0 / 230 },
              state: "\(grid.limit_a) \(grid.site_limit_a ?? -1) \(grid.failsafe)")
        if let pv = s.pv {
            let p = UplinkPayload.PV(time: time, power_w: Self.round(pv.power, 0), surplus_w: Self.round(pv.surplus, 0))
            offer(topics.pv, p, values: [p.power_w / 230, p.surplus_w / 230], state: "")
        }
        let remote = o.ripple
        let rippleSource = remote != nil && remote == s.ripple ? "remote" : (s.ripple != .normal ? "contact" : "none")
        let ripple = UplinkPayload.Ripple(time: time, mode: s.ripple.rawValue, source: rippleSource, remote_mode: remote?.rawValue)
        offer(topics.ripple, ripple, values: [], state: "\(ripple.mode) \(ripple.source) \(ripple.remote_mode ?? "")")
        let corrections = Dictionary(r.corrections.map { ($0.charger, $0) }, uniquingKeysWith: { _, last in last })
        for (c, amps) in zip(s.chargers, r.allocation) {
            let enabled = o.enabled[c.id] ?? true, remoteLimit = o.remote.chargers[c.id]
            let station = UplinkPayload.Station(
                time: time, id: c.id, status: c.status.rawValue, limit_a: Self.round(amps),
                reason: Self.reason(c, amps: amps, enabled: enabled, remote: remoteLimit?.amps, ripple: s.ripple,
                                    correction: corrections[c.id], failsafe: s.meterSilent, fallback: r.fallback),
                current_a: c.current.map { Self.round($0) }, session_energy_kwh: Self.round(c.sessionEnergy, 3), enabled: enabled,
                priority: o.priority[c.id] ?? c.priority, responding: c.responding, max_a: c.max, remote_limit_a: remoteLimit?.amps,
                remote_until: remoteLimit?.until.finite)
            offer(topics.station(c.id), station, values: station.current_a + [station.limit_a, station.session_energy_kwh * 10],
                  state: "\(station.status) \(station.reason) \(enabled) \(station.priority) \(c.responding) \(station.remote_limit_a ?? -1)")
        }
        return out
    }

    /// Why a station has the limit it has, in one word a portal can show.
    static func reason(_ c: ChargerSnapshot, amps: Double, enabled: Bool, remote: Double?, ripple: RippleMode,
                       correction: ClampCorrection?, failsafe: Bool, fallback: String?) -> String {
        if !enabled { return "disabled" }
        if !c.responding { return "not responding" }
        if failsafe { return "meter silent" }
        if ripple == .locked { return "ripple locked" }
        if let correction, correction.reason == .overLimit { return "limit: " + (correction.constraint ?? "fuse") }
        if let remote, amps >= remote - 0.01 && remote < c.max { return "remote limit" }
        if !c.status.wantsCurrent { return "no car" }
        if ripple == .reduced { return "ripple reduced" }
        if amps >= c.effectiveMax - 0.01 { return "max" }
        if fallback != nil { return "fallback policy" }
        return "share of the budget"
    }

    static func round(_ v: Double, _ places: Int = 2) -> Double {
        guard v.isFinite else { return 0 }
        let f = pow(10, Double(places))
        return (v * f).rounded() / f
    }
}

extension Double {
    /// nil for infinity: JSON has no infinity, and "until cleared" is the absence of an end.
    var finite: Double? { isFinite ? self : nil }
}
