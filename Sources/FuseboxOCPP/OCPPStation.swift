import Foundation
import FuseboxCore

/// What a station has told the central system, and the answers to its calls
/// (OCPP 1.6, the station's side of the Core profile). Pure: a connection
/// hands it each call and sends back what it returns; the tests step it with
/// frames from a file.
public struct OCPPStation: Sendable {
    public let id: String
    public private(set) var vendor: String?
    public private(set) var model: String?
    public private(set) var firmware: String?
    /// The station's status per connector (0 is the station itself), as OCPP says it.
    public private(set) var connectors: [Int: String] = [:]
    /// The latest current per phase L1..L3 it measured, A, and when.
    public private(set) var current: [Double] = [0, 0, 0]
    public private(set) var currentAt: Double?
    /// The energy register, Wh, and the transaction's start value.
    public private(set) var energy: Double?
    public private(set) var transaction: (id: Int, connector: Int, meterStart: Double, idTag: String)?
    /// The last transaction that ended, Wh at its start and stop: its energy stays the
    /// session's until the next one starts, so that the history closes the session with it.
    public private(set) var finished: (meterStart: Double, meterStop: Double)?

    /// The running transaction is known by `backend` from now on (the billing backend numbered it: docs/ocpp.md, "Proxy").
    public mutating func adoptTransaction(_ local: Int, as backend: Int) {
        if let t = transaction, t.id == local { transaction = (backend, t.connector, t.meterStart, t.idTag) }
    }

    /// kWh of the running transaction, or of the one that ended last.
    public var sessionEnergy: Double {
        if let t = transaction { return max(0, ((energy ?? t.meterStart) - t.meterStart) / 1000) }
        if let f = finished { return max(0, (f.meterStop - f.meterStart) / 1000) }
        return 0
    }
    /// Vendor-specific messages it sent, newest last (at most `keptDataTransfers`).
    public private(set) var dataTransfers: [(vendor: String, messageId: String?)] = []
    public static let keptDataTransfers = 20
    /// Seconds between heartbeats asked of it in the BootNotification answer.
    public var heartbeatInterval = 60
    /// What its BootNotification is answered: Accepted; Pending while it waits for the installer
    /// to accept it (a station not configured, on a box that lets stations register themselves).
    public var registration = "Accepted"
    /// Seconds a Pending station waits before it boots again.
    public static let pendingInterval = 30
    /// The id tags Authorize and StartTransaction accept (`ocpp.id_tags`); nil: any.
    public var idTags: Set<String>?
    /// BootNotifications it sent: one more means it rebooted, and its limit goes again.
    public private(set) var boots = 0
    /// What it answered GetConfiguration at its last connection, by key.
    public var configuration: [String: String] = [:]
    private var nextTransaction: Int

    public init(id: String, firstTransaction: Int = 1) {
        self.id = id
        nextTransaction = firstTransaction
    }

    /// Fusebox's status of the station, from its connector 1 (or 0 when it has only that).
    public var status: ChargerStatus {
        Self.status(connectors[1] ?? connectors[0] ?? "Unavailable")
    }

    /// OCPP 1.6's statuses as Fusebox's.
    public static func status(_ ocpp: String) -> ChargerStatus {
        switch ocpp {
        case "Available", "Reserved": .free
        case "Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing": .occupied
        case "Charging": .charging
        default: .unavailable   // Faulted, Unavailable, and anything unknown
        }
    }

    static let statuses = ["Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing", "Reserved", "Unavailable", "Faulted"]
    static let errorCodes = ["ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError", "LocalListConflict",
                             "NoError", "OtherError", "OverCurrentFailure", "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure",
                             "ResetFailure", "UnderVoltage", "OverVoltage", "WeakSignal"]

    /// The answer to a frame the station sent: a result or an error for a call;
    /// nil for a result or error of ours (the connection matches those).
    public mutating func answer(_ text: String, now: Double) -> OCPPFrame? {
        do { return answer(try OCPPFrame.parse(text), now: now) } catch { return error.frame }
    }

    /// The answer to a frame already read: a result or an error for a call, nil for anything else.
    public mutating func answer(_ frame: OCPPFrame, now: Double) -> OCPPFrame? {
        guard case .call(let id, let action, let payload) = frame else { return nil }
        do {
            return .result(id: id, payload: try handle(action, OCPPPayload(payload, action: action), now: now))
        } catch {
            var e = error
            e.id = id
            return e.frame
        }
    }

    mutating func handle(_ action: String, _ p: OCPPPayload, now: Double) throws(OCPPError) -> StrictJSON.Value {
        let time = StrictJSON.Value.string(Self.iso8601(now))
        switch action {
        case "BootNotification":
            vendor = try p.string("chargePointVendor", max: 20)
            boots += 1
            model = try p.string("chargePointModel", max: 20)
            firmware = try p.optionalString("firmwareVersion", max: 50)
            let interval = registration == "Accepted" ? heartbeatInterval : Self.pendingInterval
            return .object([("status", .string(registration)), ("currentTime", time), ("interval", .number(Double(interval)))])
        case "Heartbeat":
            return .object([("currentTime", time)])
        case "StatusNotification":
            let connector = try p.integer("connectorId", 0...64)
            _ = try p.choice("errorCode", Self.errorCodes)
            connectors[connector] = try p.choice("status", Self.statuses)
            return .object([])
        case "MeterValues":
            _ = try p.integer("connectorId", 0...64)
            for item in try p.list("meterValue") { try readMeterValue(item, now: now) }
            return .object([])
        case "Authorize":
            let tag = try p.string("idTag", max: 20)
            return .object([("idTagInfo", .object([("status", .string(verdict(tag)))]))])
        case "StartTransaction":
            let connector = try p.integer("connectorId", 0...64)
            let idTag = try p.string("idTag", max: 20)
            let meterStart = try p.integer("meterStart", Int(Int32.min)...Int(Int32.max))
            _ = try p.string("timestamp", max: 40)
            let given = nextTransaction
            nextTransaction += 1
            transaction = (given, connector, Double(meterStart), idTag)
            finished = nil
            return .object([("transactionId", .number(Double(given))), ("idTagInfo", .object([("status", .string(verdict(idTag)))]))])
        case "StopTransaction":
            let id = try p.integer("transactionId", Int(Int32.min)...Int(Int32.max))
            let meterStop = try p.integer("meterStop", Int(Int32.min)...Int(Int32.max))
            _ = try p.string("timestamp", max: 40)
            if let t = transaction, t.id == id {
                finished = (t.meterStart, Double(meterStop))
                transaction = nil
            }
            energy = Double(meterStop)
            return .object([])
        case "DataTransfer":
            let vendor = try p.string("vendorId", max: 255)
            dataTransfers.append((vendor, try p.optionalString("messageId", max: 50)))
            if dataTransfers.count > Self.keptDataTransfers { dataTransfers.removeFirst() }
            // Recorded; no vendor's extension is known here (a driver may know one).
            return .object([("status", .string("UnknownVendorId"))])
        case "FirmwareStatusNotification", "DiagnosticsStatusNotification":
            _ = try p.string("status", max: 64)
            return .object([])
        default:
            throw OCPPError(.unknownAction, "\(action): not an action a station sends in OCPP 1.6, or not one Fusebox takes")
        }
    }

    /// Whether `tag` may charge: any, or one of the local list.
    private func verdict(_ tag: String) -> String {
        guard let idTags else { return "Accepted" }
        return idTags.contains(tag) ? "Accepted" : "Invalid"
    }

    /// The currents per phase and the energy register of one MeterValue.
    private mutating func readMeterValue(_ item: StrictJSON.Value, now: Double) throws(OCPPError) {
        let mv = OCPPPayload(item, action: "MeterValues.meterValue")
        _ = try mv.string("timestamp", max: 40)
        var phases: [Double?] = [nil, nil, nil]
        for sample in try mv.list("sampledValue") {
            let s = OCPPPayload(sample, action: "MeterValues.sampledValue")
            let text = try s.string("value", max: 64)
            guard let value = Double(text), value.isFinite else {
                throw OCPPError(.typeConstraintViolation, "MeterValues.sampledValue.value: expected a number as text, got \(ConfigReader.quoted(String(text.prefix(40))))")
            }
            let measurand = try s.optionalString("measurand", max: 64) ?? "Energy.Active.Import.Register"
            let unit = try s.optionalString("unit", max: 16)
            let phase = try s.optionalString("phase", max: 8)
            switch measurand {
            case "Current.Import":
                let amps = unit == "mA" ? value / 1000 : value
                switch phase {
                case "L1", "L1-N": phases[0] = amps
                case "L2", "L2-N": phases[1] = amps
                case "L3", "L3-N": phases[2] = amps
                case nil: phases[0] = amps   // no phase given: a one-phase station, or the total of L1
                default: break
                }
            case "Energy.Active.Import.Register":
                energy = unit == "kWh" ? value * 1000 : value
            default: break
            }
        }
        if phases.contains(where: { $0 != nil }) {
            current = phases.map { $0 ?? 0 }
            currentAt = now
        }
    }

    /// OCPP's dateTime: ISO 8601 in UTC with milliseconds. A format style is a value: none is made per answer.
    public static func iso8601(_ t: Double) -> String {
        timestamps.format(Date(timeIntervalSince1970: t))
    }
    private static let timestamps = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}
