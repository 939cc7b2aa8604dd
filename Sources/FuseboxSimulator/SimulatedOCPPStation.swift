import Foundation
import FuseboxCore
import FuseboxOCPP
import Synchronization

/// A charging station of the simulated site that speaks OCPP 1.6J: it connects
/// to a central system (the controller's endpoint) as a real one does, boots,
/// reports its status, its transactions and MeterValues every `interval`
/// simulated seconds, and takes its limit from a SetChargingProfile (or, as
/// `ocpp_alfen`, from Station-MaxCurrent). As `ocpp_abb_terra_ac` it refuses a
/// profile above stack level 0. It reconnects every second when its connection drops.
public final class SimulatedOCPPStation: Sendable {
    public let id: String
    public let make: String
    private let key: String?
    private let onLimit: @Sendable (Double) -> Void

    private struct State {
        var out: AsyncStream<String>.Continuation?
        var reported: String?
        var lastMeter = -Double.infinity
        var interval: Double
        var transaction: Int?
        var starting = false
        var energyWh = 0.0
        var lastTime: Double?
        var limit: (value: Double, unit: String)?
        var pending: [String: String] = [:]
        var counter = 0
        var connections = 0
    }
    private let state: Mutex<State>
    private let loop = Mutex<Task<Void, Never>?>(nil)

    public init(id: String, make: String = "ocpp", key: String? = nil, interval: Double = 10, onLimit: @escaping @Sendable (Double) -> Void) {
        self.id = id
        self.make = make
        self.key = key
        self.onLimit = onLimit
        state = Mutex(State(interval: interval))
    }

    /// Connections made so far.
    public var connections: Int { state.withLock { $0.connections } }
    public var isConnected: Bool { state.withLock { $0.out != nil } }

    /// Connects to `<url>/<id>` and stays connected until `stop`.
    public func connect(to url: String) {
        let task = Task { [self] in
            await OCPPClientConnection.keep(url: url, identity: id, key: key, maxFrame: 1 << 16, label: "fusebox.sim.ocpp",
                                            opened: { self.attached($0) }, received: { text in
                                                if let answer = self.handle(text) { self.state.withLock { _ = $0.out?.yield(answer) } }
                                            }, closed: { self.detached() })
        }
        loop.withLock { $0?.cancel(); $0 = task }
    }

    public func stop() {
        loop.withLock { $0?.cancel(); $0 = nil }
        state.withLock { $0.out?.finish(); $0.out = nil }
    }

    private func attached(_ out: AsyncStream<String>.Continuation) {
        state.withLock { s in
            s.out = out
            s.connections += 1
            s.reported = nil                 // its status again, after the boot
            s.lastMeter = -.infinity
            s.starting = false
            out.yield(Self.call(&s, "BootNotification", .object([("chargePointVendor", .string("Fusebox sim")), ("chargePointModel", .string(make))])))
        }
    }

    private func detached() {
        state.withLock { $0.out = nil; $0.pending = [:] }
    }

    private static func call(_ s: inout State, _ action: String, _ payload: StrictJSON.Value) -> String {
        s.counter += 1
        let callID = "sim\(s.counter)"
        s.pending[callID] = action
        return OCPPFrame.call(id: callID, action: action, payload: payload).text
    }

    /// What the model says at `time`: a status that changed, a car that came or left
    /// (a transaction), and MeterValues once an interval.
    public func report(_ charger: SimulatedChargerState, carPresent: Bool, time: Double) {
        state.withLock { s in
            let dt = max(0, time - (s.lastTime ?? time))
            s.lastTime = time
            s.energyWh += charger.power * dt / 3600
            guard let out = s.out else { return }
            let stamp = StrictJSON.Value.string(OCPPStation.iso8601(time))
            let status = switch charger.status {
            case .free: "Available"
            case .charging: "Charging"
            case .occupied: "SuspendedEV"
            default: "Unavailable"
            }
            if carPresent, s.transaction == nil, !s.starting {
                s.starting = true
                if s.reported == nil || s.reported == "Available" {
                    out.yield(Self.call(&s, "StatusNotification", Self.status(1, "Preparing")))
                    s.reported = "Preparing"
                }
                out.yield(Self.call(&s, "StartTransaction", .object([("connectorId", .number(1)), ("idTag", .string("SIM-\(id)")),
                                                                     ("meterStart", .number(s.energyWh.rounded(.down))), ("timestamp", stamp)])))
            }
            if !carPresent, let t = s.transaction {
                out.yield(Self.call(&s, "StopTransaction", .object([("transactionId", .number(Double(t))),
                                                                    ("meterStop", .number(s.energyWh.rounded(.down))), ("timestamp", stamp)])))
                s.transaction = nil
            }
            if status != s.reported {
                out.yield(Self.call(&s, "StatusNotification", Self.status(1, status)))
                s.reported = status
            }
            if time - s.lastMeter >= s.interval {
                s.lastMeter = time
                var samples: [StrictJSON.Value] = ["L1", "L2", "L3"].enumerated().map { k, phase in
                    .object([("value", .string(String(format: "%.1f", charger.current[k]))), ("measurand", .string("Current.Import")),
                             ("phase", .string(phase)), ("unit", .string("A"))])
                }
                samples.append(.object([("value", .string(String(format: "%.0f", s.energyWh))),
                                        ("measurand", .string("Energy.Active.Import.Register")), ("unit", .string("Wh"))]))
                var payload: [(String, StrictJSON.Value)] = [("connectorId", .number(1)),
                                                             ("meterValue", .array([.object([("timestamp", stamp), ("sampledValue", .array(samples))])]))]
                if let t = s.transaction { payload.append(("transactionId", .number(Double(t)))) }
                out.yield(Self.call(&s, "MeterValues", .object(payload)))
            }
        }
    }

    private static func status(_ connector: Int, _ status: String) -> StrictJSON.Value {
        .object([("connectorId", .number(Double(connector))), ("errorCode", .string("NoError")), ("status", .string(status))])
    }

    /// The answer to a frame from the central system, if it needs one.
    private func handle(_ text: String) -> String? {
        guard let frame = try? OCPPFrame.parse(text) else { return nil }
        switch frame {
        case .result(let callID, let payload):
            state.withLock { s in
                if s.pending.removeValue(forKey: callID) == "StartTransaction" {
                    s.starting = false
                    if case .object(let m) = payload, case .number(let t)? = m.first(where: { $0.0 == "transactionId" })?.1 { s.transaction = Int(t) }
                }
            }
            return nil
        case .error(let callID, _, _):
            state.withLock { s in if s.pending.removeValue(forKey: callID) == "StartTransaction" { s.starting = false } }
            return nil
        case .call(let callID, let action, let payload):
            return answer(action, payload, id: callID).text
        }
    }

    private func answer(_ action: String, _ payload: StrictJSON.Value, id callID: String) -> OCPPFrame {
        func accepted(_ extra: [(String, StrictJSON.Value)] = []) -> OCPPFrame { .result(id: callID, payload: .object([("status", .string("Accepted"))] + extra)) }
        switch action {
        case "SetChargingProfile":
            guard let profile = Self.member(payload, "csChargingProfiles"), let schedule = Self.member(profile, "chargingSchedule"),
                  case .array(let periods)? = Self.member(schedule, "chargingSchedulePeriod"), let first = periods.first,
                  case .number(let limit)? = Self.member(first, "limit") else {
                return .error(id: callID, code: .formationViolation, description: "csChargingProfiles.chargingSchedule: expected a period with a limit")
            }
            if make == "ocpp_abb_terra_ac", case .number(let stack)? = Self.member(profile, "stackLevel"), stack > 0 {
                return .result(id: callID, payload: .object([("status", .string("Rejected"))]))
            }
            let unit = Self.member(schedule, "chargingRateUnit") == .string("W") ? "W" : "A"
            let phases: Double = if case .number(let n)? = Self.member(first, "numberPhases") { max(1, n) } else { 3 }
            state.withLock { $0.limit = (limit, unit) }
            onLimit(unit == "W" ? limit / (230 * phases) : limit)
            return accepted()
        case "GetCompositeSchedule":
            let limit = state.withLock { $0.limit }
            guard let limit else { return .result(id: callID, payload: .object([("status", .string("Rejected"))])) }
            let period: StrictJSON.Value = .object([("startPeriod", .number(0)), ("limit", .number(limit.value))])
            return accepted([("connectorId", Self.member(payload, "connectorId") ?? .number(1)),
                             ("chargingSchedule", .object([("chargingRateUnit", .string(limit.unit)), ("chargingSchedulePeriod", .array([period]))]))])
        case "ChangeConfiguration":
            guard case .string(let key)? = Self.member(payload, "key"), case .string(let value)? = Self.member(payload, "value") else {
                return .error(id: callID, code: .formationViolation, description: "key and value: expected text")
            }
            switch key {
            case "MeterValueSampleInterval":
                guard let seconds = Double(value), seconds > 0 else { return .result(id: callID, payload: .object([("status", .string("Rejected"))])) }
                state.withLock { $0.interval = seconds }
            case "Station-MaxCurrent" where make == "ocpp_alfen":
                guard let amps = Double(value), amps >= 0 else { return .result(id: callID, payload: .object([("status", .string("Rejected"))])) }
                state.withLock { $0.limit = (amps, "A") }
                onLimit(amps)
            case "MeterValuesSampledData": break
            default: return .result(id: callID, payload: .object([("status", .string("NotSupported"))]))
            }
            return accepted()
        case "TriggerMessage":
            state.withLock { s in
                switch Self.member(payload, "requestedMessage") {
                case .string("StatusNotification")?: s.reported = nil
                case .string("MeterValues")?: s.lastMeter = -.infinity
                default: break
                }
            }
            return accepted()
        case "ClearChargingProfile":
            return accepted()
        case "GetConfiguration":
            let interval = state.withLock { $0.interval }
            let known: [(String, String)] = [("ChargeProfileMaxStackLevel", make == "ocpp_abb_terra_ac" ? "0" : "8"),
                                             ("MeterValueSampleInterval", String(Int(interval))),
                                             ("MeterValuesSampledData", "Current.Import,Energy.Active.Import.Register")]
            let keys: [(String, StrictJSON.Value)] = known.map { k, v in
                (k, .object([("key", .string(k)), ("readonly", .bool(k == "ChargeProfileMaxStackLevel")), ("value", .string(v))]))
            }
            return .result(id: callID, payload: .object([("configurationKey", .array(keys.map(\.1)))]))
        default:
            return .error(id: callID, code: .unknownAction, description: "\(action): not simulated")
        }
    }

    private static func member(_ v: StrictJSON.Value, _ key: String) -> StrictJSON.Value? {
        guard case .object(let m) = v else { return nil }
        return m.first { $0.0 == key }?.1
    }

}
