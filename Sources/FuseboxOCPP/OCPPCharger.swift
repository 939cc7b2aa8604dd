import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import Synchronization

/// A station that speaks OCPP 1.6J, as the cycle sees a charger: its reading
/// is what it last reported (status, MeterValues), and its limit goes out as a
/// TxDefaultProfile (or what its driver's `limit` returns), when it changes,
/// after each new connection (a reboot, a reconnect) and every `refresh`
/// seconds. Not connected, it does not answer: the cycle counts it at the
/// limit it last had, as any charger that goes silent (docs/design.md).
public final class OCPPCharger: ScriptedDevice {
    public let id: String
    public var taskExecutor: (any TaskExecutor)? { nil }
    private let stations: OCPPStations
    /// Seconds an answer to a call may take.
    public let timeout: Double
    public let refresh: Double
    /// Its driver (drivers/ocpp*.lua): the settings read from it, and the script for its `limit`.
    private let driver: Mutex<(quirks: OCPPQuirks, script: DriverScript?)>

    /// What was learnt of the station: kept across its connections.
    public struct Learned: Sendable, Equatable {
        /// The stack level and unit it took last; nil: not tried yet.
        public var stackLevel: Int?
        public var watts = false
        /// It answers GetCompositeSchedule (nil: not asked yet).
        public var verifies: Bool?
        /// The highest stack level it takes (its ChargeProfileMaxStackLevel), when it said.
        public var maxStack: Int?
    }
    private let learned = Mutex(Learned())
    private struct Sent {
        var amps: Double
        var connection: Int
        var at: Double
        var transaction: Int?
        /// The backend's profiles as they were (docs/ocpp.md, "Proxy"): a new one means Fusebox's goes again, above it.
        var backendProfiles: Int
        /// The station's boots as they were: a reboot on the same connection means its limit goes again.
        var boots: Int
    }
    private let sent = Mutex<Sent?>(nil)
    /// The limit the cycle last asked for: sent again on a new connection even if the cycle
    /// does not ask again (it writes only changes), so that a station back from a reboot is limited at once.
    private let wanted = Mutex<(amps: Double, phases: Int)?>(nil)
    /// The connection (and boot on it) the station was last prepared on: old profiles cleared, its configuration read and set.
    private let prepared = Atomic<Int>(0)
    /// For a station that waits for an authorization before it charges (a car park without cards):
    /// the id tag Fusebox starts its transactions with (`settings: { remote_start: TAG }`).
    public let remoteStart: String?
    /// Told ChangeAvailability when switched off and on (`settings: { availability: true }`).
    public let availability: Bool
    /// When a RemoteStartTransaction was last sent, seconds since 1970.
    private let remoteStartAt = Mutex<Double>(-.infinity)

    public init(id: String, stations: OCPPStations, driver: sending DriverScript? = nil, timeout: Double = 10, refresh: Double = 300,
                remoteStart: String? = nil, availability: Bool = false) throws(LuaError) {
        self.id = id
        self.remoteStart = remoteStart
        self.availability = availability
        self.stations = stations
        self.timeout = timeout
        self.refresh = refresh
        let quirks = try driver.map { d throws(LuaError) in try OCPPQuirks(script: d) } ?? OCPPQuirks()
        self.driver = Mutex((quirks, driver))
    }

    public var quirks: OCPPQuirks { driver.withLock { $0.quirks } }

    public func reload(_ script: sending DriverScript) async -> Result<DeviceReading, DeviceError> {
        guard script.kind == .ocpp else {
            return .failure(DeviceError(device: id, message: "reload refused: \(script.origin) is a \(script.kind) driver, an OCPP station needs an ocpp one"))
        }
        let quirks: OCPPQuirks
        do { quirks = try OCPPQuirks(script: script) } catch { return .failure(DeviceError(device: id, message: "\(error)")) }
        driver.withLock { $0 = (quirks, script) }
        // The next limit goes out as the new driver says.
        sent.withLock { $0 = nil }
        learned.withLock { $0.stackLevel = nil; $0.watts = false }
        return await poll()
    }

    public func poll() async -> Result<DeviceReading, DeviceError> {
        guard stations.isConnected(id), let s = stations.station(id) else {
            return .failure(DeviceError(device: id, message: stations.connections(id) == 0
                ? "has not connected yet (OCPP: point it at ws://<this box>:<port>/\(id))"
                : "not connected (OCPP): counted at its last limit until it is back"))
        }
        let connection = stations.connections(id)
        // Behind a backend, the station's configuration and its transactions are the backend's.
        let behindBackend = stations.upstream(id) != nil
        // A new connection or a reboot: an earlier central system's default profiles are cleared first, where the driver says so.
        let generation = connection &* 65_536 &+ s.boots
        let prepare = prepared.exchange(generation, ordering: .relaxed) != generation
        if prepare, quirks.clearProfiles, !behindBackend {
            _ = await stations.call(id, "ClearChargingProfile", .object([("chargingProfilePurpose", .string("TxDefaultProfile"))]), timeout: timeout)
        }
        // The limit in force, again when `send` finds it due (a new connection or a reboot, before the station may draw
        // more; a profile of the backend's; a transaction begun; the refresh): the cycle writes only changes.
        if let w = wanted.withLock({ $0 }) {
            if case .failure(let e) = await send(amps: w.amps, phases: w.phases) { return .failure(e) }
        }
        // A car plugged in and no transaction: started here, where the site has no cards (at most every 30 s).
        if let tag = remoteStart, !behindBackend, s.transaction == nil, let connector = s.connectors.first(where: { $0.key > 0 && $0.value == "Preparing" })?.key {
            let now = Date().timeIntervalSince1970
            if remoteStartAt.withLock({ at in
                guard now - at >= 30 else { return false }
                at = now
                return true
            }) {
                let payload: StrictJSON.Value = .object([("connectorId", .number(Double(connector))), ("idTag", .string(tag))])
                Task { _ = await self.stations.call(self.id, "RemoteStartTransaction", payload, timeout: self.timeout) }
            }
        }
        if prepare, !behindBackend {
            Task { await self.setUpConnection() }
        }
        let age = s.currentAt.map { max(0, Date().timeIntervalSince1970 - $0) }
        return .success(DeviceReading(status: s.status, current: s.current, energy: s.sessionEnergy, age: age))
    }

    /// Switched off: where configured, its running transaction is stopped (a station Fusebox starts
    /// transactions for) and it is made Inoperative, so that no new one starts; switched on: Operative.
    public func switched(on: Bool) async {
        guard stations.upstream(id) == nil else { return }   // behind a backend, transactions are the backend's
        if !on, remoteStart != nil, let t = stations.station(id)?.transaction {
            _ = await stations.call(id, "RemoteStopTransaction", .object([("transactionId", .number(Double(t.id)))]), timeout: timeout)
        }
        if availability {
            _ = await stations.call(id, "ChangeAvailability", .object([("connectorId", .number(0)), ("type", .string(on ? "Operative" : "Inoperative"))]),
                                    timeout: timeout)
        }
    }

    public func apply(amps: Double, phases: Int) async -> Result<Void, DeviceError> {
        wanted.withLock { $0 = (amps, phases) }
        return await send(amps: amps, phases: phases)
    }

    /// Once per connection: what the station says of itself (GetConfiguration), what it should report (its
    /// measurands and their interval, ChangeConfiguration), then its status and a reading (TriggerMessage).
    /// A refusal is no failure: Fusebox works with what it sends.
    private func setUpConnection() async {
        let q = quirks
        // What it says of itself: the highest stack level it takes caps Fusebox's.
        let keys = ["ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit", "ConnectorSwitch3to1PhaseSupported",
                    "MeterValueSampleInterval", "MeterValuesSampledData", "SupportedFeatureProfiles"]
        if case .success(let answer) = await stations.call(id, "GetConfiguration", .object([("key", .array(keys.map { .string($0) }))]), timeout: timeout) {
            let values = Self.configuration(answer)
            stations.noteConfiguration(id, values)
            if let max = values["ChargeProfileMaxStackLevel"].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), max >= 0 {
                learned.withLock { $0.maxStack = max }
            }
        }
        var asks: [(String, String)] = []
        if !q.measurands.isEmpty { asks.append(("MeterValuesSampledData", q.measurands)) }
        if q.sampleInterval > 0 { asks.append(("MeterValueSampleInterval", String(q.sampleInterval))) }
        for (key, value) in asks {
            _ = await stations.call(id, "ChangeConfiguration", .object([("key", .string(key)), ("value", .string(value))]), timeout: timeout)
        }
        for message in ["StatusNotification", "MeterValues"] {
            _ = await stations.call(id, "TriggerMessage", .object([("requestedMessage", .string(message))]), timeout: timeout)
        }
    }

    /// GetConfiguration's answer as key and value (readonly or not; a value at most 500 characters, as OCPP 1.6 has it).
    static func configuration(_ answer: StrictJSON.Value) -> [String: String] {
        guard case .object(let m) = answer, case .array(let items)? = m.first(where: { $0.0 == "configurationKey" })?.1 else { return [:] }
        var out: [String: String] = [:]
        for item in items.prefix(64) {
            guard case .object(let kv) = item, case .string(let key)? = kv.first(where: { $0.0 == "key" })?.1, key.count <= 50 else { continue }
            if case .string(let value)? = kv.first(where: { $0.0 == "value" })?.1 { out[key] = String(value.prefix(500)) }
        }
        return out
    }

    private func send(amps: Double, phases: Int) async -> Result<Void, DeviceError> {
        guard stations.isConnected(id) else { return .failure(DeviceError(device: id, message: "not connected (OCPP)")) }
        // Behind a billing backend, never more than the backend's own profile allows.
        let backend = stations.upstream(id)?.report
        // OCPP 1.6: a multiple of 0.1, rounded down, but not below a value that is one but for floating point
        // (a limit of 5.9999999 A sent as 5.9 A would stop the car: it cannot charge under 6 A).
        let limit = (min(amps, backend?.backendLimit ?? .infinity) * 10 + 1e-6).rounded(.down) / 10
        let now = Date().timeIntervalSince1970, connection = stations.connections(id)
        let station = stations.station(id)
        let transaction = station?.transaction, boots = station?.boots ?? 0
        let backendProfiles = backend?.profileChanges ?? 0
        if let last = sent.withLock({ $0 }), abs(last.amps - limit) < 0.05, last.connection == connection, now - last.at < refresh,
           last.transaction == transaction?.id, last.backendProfiles == backendProfiles, last.boots == boots {
            return .success(())
        }
        let result: Result<Void, DeviceError>
        if quirks.limitFunction {
            result = await sendByFunction(limit, phases)
        } else {
            result = await sendProfile(limit, phases, transaction: transaction.map { ($0.id, $0.connector) }, above: backend?.backendStack)
        }
        if case .success = result {
            sent.withLock { $0 = Sent(amps: limit, connection: connection, at: now, transaction: transaction?.id, backendProfiles: backendProfiles,
                                      boots: boots) }
        }
        return result
    }

    /// The call the driver's `limit(amps, phases)` returns, instead of a profile.
    private func sendByFunction(_ limit: Double, _ phases: Int) async -> Result<Void, DeviceError> {
        let made = driver.withLock { d -> Result<(action: String, payload: StrictJSON.Value), LuaError> in
            guard let script = d.script else { return .failure(LuaError(kind: .contract, script: id, message: "no driver script")) }
            do throws(LuaError) { return .success(try OCPPQuirks.limitCall(script, amps: limit, phases: phases)) } catch { return .failure(error) }
        }
        switch made {
        case .failure(let e): return .failure(DeviceError(device: id, message: "\(e)"))
        case .success(let call):
            switch await stations.call(id, call.action, call.payload, timeout: timeout) {
            case .failure(let e): return .failure(DeviceError(device: id, message: e.message))
            case .success(let answer):
                guard Self.status(answer) == "Accepted" else {
                    return .failure(DeviceError(device: id, message: "refused \(call.action) for a limit of \(ConfigReader.show(limit)) A: \(OCPPFrame.result(id: "", payload: answer).text)"))
                }
                return .success(())
            }
        }
    }

    /// The limit as a TxDefaultProfile, at the stack level and in the unit the station
    /// takes: a refusal tries stack level 0, then watts (some stations take no other
    /// stack level, some take only watts), and what it took is kept for the next time.
    /// During a transaction, with `tx_profile`, a TxProfile for it too.
    /// Behind a billing backend, `above` is the backend's highest stack level: Fusebox's profile goes above it.
    private func sendProfile(_ limit: Double, _ phases: Int, transaction: (id: Int, connector: Int)?, above backendStack: Int? = nil) async -> Result<Void, DeviceError> {
        let q = quirks
        let known = learned.withLock { $0 }
        var tries: [(stack: Int, watts: Bool)]
        if let stack = known.stackLevel {
            tries = [(stack, known.watts)]
        } else {
            let first = (q.stackLevel, q.unit == "W")
            tries = [first]
            if first.0 > 0 { tries.append((0, first.1)) }
            if !first.1 { tries.append((first.0, true)); if first.0 > 0 { tries.append((0, true)) } }
        }
        // Never above what the station said it takes.
        if let max = known.maxStack, backendStack == nil {
            var capped: [(stack: Int, watts: Bool)] = []
            for t in tries.map({ (min($0.stack, max), $0.watts) }) where !capped.contains(where: { $0 == t }) { capped.append(t) }
            tries = capped
        }
        if let backendStack {
            var above: [(stack: Int, watts: Bool)] = []
            for t in tries.map({ (max($0.stack, backendStack + 1), $0.watts) }) where !above.contains(where: { $0 == t }) { above.append(t) }
            tries = above
        }
        var refusals: [String] = []
        for t in tries {
            let profile = Self.profile(amps: limit, phases: phases, watts: t.watts, stackLevel: t.stack, connector: q.connector)
            switch await stations.call(id, "SetChargingProfile", profile, timeout: timeout) {
            case .failure(let e):
                return .failure(DeviceError(device: id, message: e.message))
            case .success(let answer) where Self.status(answer) != "Accepted":
                refusals.append("stack level \(t.stack) in \(t.watts ? "W" : "A"): \(Self.status(answer) ?? "no status")")
                continue
            case .success:
                learned.withLock { $0.stackLevel = t.stack; $0.watts = t.watts }
                if q.txProfile, let transaction {
                    let tx = Self.profile(amps: limit, phases: phases, watts: t.watts, stackLevel: t.stack, connector: transaction.connector,
                                          purpose: "TxProfile", transaction: transaction.id)
                    if case .success(let answer) = await stations.call(id, "SetChargingProfile", tx, timeout: timeout), Self.status(answer) != "Accepted" {
                        return .failure(DeviceError(device: id, message: "refused the TxProfile of \(ConfigReader.show(limit)) A for transaction \(transaction.id)"))
                    }
                }
                if q.verify { return await verify(limit, phases: phases, watts: t.watts, connector: transaction?.connector ?? max(1, q.connector)) }
                return .success(())
            }
        }
        if known.stackLevel != nil { learned.withLock { $0.stackLevel = nil } }   // tried afresh next time
        return .failure(DeviceError(device: id, message: "refused the charging profile of \(ConfigReader.show(limit)) A (\(refusals.joined(separator: "; ")))"))
    }

    /// Asks the station what it will draw now (GetCompositeSchedule): a station that took the
    /// profile but plans more than the limit has not applied it. A station that cannot say is not asked again.
    private func verify(_ limit: Double, phases: Int, watts: Bool, connector: Int) async -> Result<Void, DeviceError> {
        guard learned.withLock({ $0.verifies }) != false else { return .success(()) }
        let ask: StrictJSON.Value = .object([("connectorId", .number(Double(connector))), ("duration", .number(60)),
                                             ("chargingRateUnit", .string(watts ? "W" : "A"))])
        let answer: StrictJSON.Value
        switch await stations.call(id, "GetCompositeSchedule", ask, timeout: timeout) {
        case .failure(let e) where e.code == .genericError:
            return .failure(DeviceError(device: id, message: e.message))
        case .failure:
            learned.withLock { $0.verifies = false }
            return .success(())
        case .success(let a):
            answer = a
        }
        guard Self.status(answer) == "Accepted" else {
            learned.withLock { $0.verifies = false }
            return .success(())
        }
        learned.withLock { $0.verifies = true }
        let n = Double(max(1, min(3, phases)))
        let allowed = watts ? (limit * Self.nominalVoltage * n).rounded() + 1 : limit + 0.05
        if let planned = Self.firstLimit(answer), planned > allowed {
            return .failure(DeviceError(device: id, message: "accepted a limit of \(ConfigReader.show(limit)) A, but its schedule says \(ConfigReader.show(planned)) \(watts ? "W" : "A"): it has not applied it"))
        }
        return .success(())
    }

    static func status(_ answer: StrictJSON.Value) -> String? {
        guard case .object(let members) = answer, case .string(let s)? = members.first(where: { $0.0 == "status" })?.1 else { return nil }
        return s
    }

    /// The limit of a composite schedule's first period.
    static func firstLimit(_ answer: StrictJSON.Value) -> Double? {
        guard case .object(let members) = answer, case .object(let schedule)? = members.first(where: { $0.0 == "chargingSchedule" })?.1,
              case .array(let periods)? = schedule.first(where: { $0.0 == "chargingSchedulePeriod" })?.1,
              case .object(let first)? = periods.first, case .number(let limit)? = first.first(where: { $0.0 == "limit" })?.1 else { return nil }
        return limit
    }

    /// The voltage a limit in amperes is turned into watts at, per phase.
    public static let nominalVoltage = 230.0

    /// The limit as a charging profile: absolute, from now on, in amperes
    /// (or in watts: amperes x 230 V x phases).
    static func profile(amps: Double, phases: Int, watts: Bool = false, stackLevel: Int = 0, connector: Int = 0,
                        purpose: String = "TxDefaultProfile", transaction: Int? = nil) -> StrictJSON.Value {
        let n = max(1, min(3, phases))
        let limit: Double = watts ? (amps * nominalVoltage * Double(n)).rounded() : amps
        // OCPP 1.6 gives the number of phases per period.
        let period: StrictJSON.Value = .object([("startPeriod", .number(0)), ("limit", .number(limit)), ("numberPhases", .number(Double(n)))])
        let schedule: StrictJSON.Value = .object([("chargingRateUnit", .string(watts ? "W" : "A")), ("chargingSchedulePeriod", .array([period]))])
        var profile: [(String, StrictJSON.Value)] = [
            // One id per purpose: a new limit replaces the one before it.
            ("chargingProfileId", .number(purpose == "TxProfile" ? 2 : 1)),
            ("stackLevel", .number(Double(stackLevel))),
            ("chargingProfilePurpose", .string(purpose)),
            ("chargingProfileKind", .string("Absolute")),
            ("chargingSchedule", schedule),
        ]
        if let transaction { profile.insert(("transactionId", .number(Double(transaction))), at: 1) }
        return .object([("connectorId", .number(Double(connector))), ("csChargingProfiles", .object(profile))])
    }
}
