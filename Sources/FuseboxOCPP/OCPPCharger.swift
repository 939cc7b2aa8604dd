import Foundation
import FuseboxCore
import FuseboxDevices
import Synchronization

/// A station that speaks OCPP 1.6J, as the cycle sees a charger: its reading
/// is what it last reported (status, MeterValues), and its limit goes out as a
/// TxDefaultProfile, when it changes, after each new connection (a reboot, a
/// reconnect) and every `refresh` seconds. Not connected, it does not answer:
/// the cycle counts it at the limit it last had, as any charger that goes
/// silent (docs/design.md).
public final class OCPPCharger: SiteDevice {
    public let id: String
    public var taskExecutor: (any TaskExecutor)? { nil }
    private let stations: OCPPStations
    /// Seconds an answer to a call may take.
    public let timeout: Double
    public let refresh: Double
    private struct Sent {
        var amps: Double
        var connection: Int
        var at: Double
    }
    private let sent = Mutex<Sent?>(nil)
    /// It refused amperes and took watts.
    private let inWatts = Mutex(false)
    /// The limit the cycle last asked for: sent again on a new connection even if the cycle
    /// does not ask again (it writes only changes), so that a station back from a reboot is limited at once.
    private let wanted = Mutex<(amps: Double, phases: Int)?>(nil)

    public init(id: String, stations: OCPPStations, timeout: Double = 10, refresh: Double = 300) {
        self.id = id
        self.stations = stations
        self.timeout = timeout
        self.refresh = refresh
    }

    public func poll() async -> Result<DeviceReading, DeviceError> {
        guard stations.isConnected(id), let s = stations.station(id) else {
            return .failure(DeviceError(device: id, message: stations.connections(id) == 0
                ? "has not connected yet (OCPP: point it at ws://<this box>:<port>/\(id))" : "not connected (OCPP)"))
        }
        if let w = wanted.withLock({ $0 }), sent.withLock({ $0?.connection }) != stations.connections(id) {
            if case .failure(let e) = await send(amps: w.amps, phases: w.phases) { return .failure(e) }
        }
        // The session's energy from the transaction's start, kWh.
        let session = s.transaction.map { t in max(0, ((s.energy ?? t.meterStart) - t.meterStart) / 1000) } ?? 0
        return .success(DeviceReading(status: s.status, current: s.current, energy: session))
    }

    public func apply(amps: Double, phases: Int) async -> Result<Void, DeviceError> {
        wanted.withLock { $0 = (amps, phases) }
        return await send(amps: amps, phases: phases)
    }

    private func send(amps: Double, phases: Int) async -> Result<Void, DeviceError> {
        guard stations.isConnected(id) else { return .failure(DeviceError(device: id, message: "not connected (OCPP)")) }
        let limit = (amps * 10).rounded(.down) / 10   // OCPP 1.6: a multiple of 0.1
        let now = Date().timeIntervalSince1970, connection = stations.connections(id)
        if let last = sent.withLock({ $0 }), abs(last.amps - limit) < 0.05, last.connection == connection, now - last.at < refresh {
            return .success(())
        }
        var watts = inWatts.withLock { $0 }
        var result = await stations.call(id, "SetChargingProfile", Self.profile(amps: limit, phases: phases, watts: watts), timeout: timeout)
        // A station that takes only watts refuses a profile in amperes: the same limit in watts, from then on.
        if !watts, case .success(let answer) = result, !Self.accepted(answer) {
            watts = true
            result = await stations.call(id, "SetChargingProfile", Self.profile(amps: limit, phases: phases, watts: true), timeout: timeout)
            if case .success(let again) = result, Self.accepted(again) { inWatts.withLock { $0 = true } }
        }
        switch result {
        case .success(let answer):
            guard Self.accepted(answer) else {
                return .failure(DeviceError(device: id, message: "refused the charging profile of \(ConfigReader.show(limit)) A: \(OCPPFrame.result(id: "", payload: answer).text)"))
            }
            sent.withLock { $0 = Sent(amps: limit, connection: connection, at: now) }
            return .success(())
        case .failure(let error):
            return .failure(DeviceError(device: id, message: error.message))
        }
    }

    static func accepted(_ answer: StrictJSON.Value) -> Bool {
        guard case .object(let members) = answer else { return false }
        return members.first { $0.0 == "status" }?.1 == .string("Accepted")
    }

    /// The voltage a limit in amperes is turned into watts at, per phase.
    public static let nominalVoltage = 230.0

    /// The limit as a TxDefaultProfile for every connector: absolute, from now on, in amperes
    /// (or in watts: amperes x 230 V x phases).
    static func profile(amps: Double, phases: Int, watts: Bool = false) -> StrictJSON.Value {
        let n = max(1, min(3, phases))
        let limit: Double = watts ? (amps * nominalVoltage * Double(n)).rounded() : amps
        // OCPP 1.6 gives the number of phases per period.
        let period: StrictJSON.Value = .object([("startPeriod", .number(0)), ("limit", .number(limit)), ("numberPhases", .number(Double(n)))])
        let schedule: StrictJSON.Value = .object([("chargingRateUnit", .string(watts ? "W" : "A")), ("chargingSchedulePeriod", .array([period]))])
        let profile: StrictJSON.Value = .object([
            ("chargingProfileId", .number(1)),
            ("stackLevel", .number(0)),
            ("chargingProfilePurpose", .string("TxDefaultProfile")),
            ("chargingProfileKind", .string("Absolute")),
            ("chargingSchedule", schedule),
        ])
        return .object([("connectorId", .number(0)), ("csChargingProfiles", profile)])
    }
}
