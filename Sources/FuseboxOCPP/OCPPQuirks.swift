import FuseboxCore
import FuseboxDevices
import FuseboxLua

/// How one make of station wants its limit and its readings, from its driver
/// file (`drivers/ocpp.lua`, `drivers/ocpp_<make>.lua`, `kind = "ocpp"`):
/// plain settings, and optionally a function `limit(amps, phases)` for a
/// station limited by another call than a charging profile (docs/ocpp.md).
public struct OCPPQuirks: Sendable, Equatable {
    public var name = "ocpp"
    /// The connector the TxDefaultProfile is set on: 0 is the whole station.
    public var connector = 0
    /// The stack level tried first; a station that refuses it is given 0 from then on.
    public var stackLevel = 1
    /// "A" or "W": the unit tried first; a station that refuses amperes is given watts.
    public var unit = "A"
    /// During a transaction, also a TxProfile for it (stations that ignore the default while charging).
    public var txProfile = false
    /// `MeterValuesSampledData` asked of it on each connection; empty: not asked.
    public var measurands = "Current.Import,Energy.Active.Import.Register"
    /// `MeterValueSampleInterval` asked of it, s; 0: not asked.
    public var sampleInterval = 10
    /// Whether to ask GetCompositeSchedule after a profile, to see that it took it.
    public var verify = true
    /// On each connection, clear the station's default profiles before Fusebox's own (ClearChargingProfile):
    /// one left by an earlier central system at a higher stack level would otherwise stay in force.
    public var clearProfiles = false
    /// It has `limit(amps, phases)`, which returns the call to send instead of a profile.
    public var limitFunction = false

    public init() {}

    public init(script: DriverScript) throws(LuaError) {
        func problem(_ field: String, _ expected: String, _ got: LuaValue) -> LuaError {
            LuaError(kind: .contract, script: script.name, message: "\(script.origin): '\(field)' must be \(expected), got \(got.brief)")
        }
        func integer(_ field: String, _ range: ClosedRange<Int>, _ fallback: Int) throws(LuaError) -> Int {
            let v = try script.field(field)
            if v == .nil { return fallback }
            guard let n = v.number, n == n.rounded(), n >= Double(range.lowerBound), n <= Double(range.upperBound) else {
                throw problem(field, "a whole number from \(range.lowerBound) to \(range.upperBound)", v)
            }
            return Int(n)
        }
        func flag(_ field: String, _ fallback: Bool) throws(LuaError) -> Bool {
            switch try script.field(field) {
            case .nil: return fallback
            case .boolean(let b): return b
            case let v: throw problem(field, "true or false", v)
            }
        }
        name = script.name
        connector = try integer("connector", 0...64, connector)
        stackLevel = try integer("stack_level", 0...100, stackLevel)
        switch try script.field("unit") {
        case .nil: break
        case .string("A"): unit = "A"
        case .string("W"): unit = "W"
        case let v: throw problem("unit", "\"A\" or \"W\"", v)
        }
        txProfile = try flag("tx_profile", txProfile)
        switch try script.field("measurands") {
        case .nil: break
        case .string(let s) where s.count <= 500: measurands = s
        case let v: throw problem("measurands", "a comma-separated list of measurands (at most 500 characters)", v)
        }
        sampleInterval = try integer("sample_interval", 0...3600, sampleInterval)
        verify = try flag("verify", verify)
        clearProfiles = try flag("clear_profiles", clearProfiles)
        switch try script.field("limit") {
        case .nil: break
        case .opaque("function"): limitFunction = true
        case let v: throw problem("limit", "a function(amps, phases) returning { action = ..., payload = { ... } }", v)
        }
    }

    /// What `limit(amps, phases)` of `script` returns: the call to send.
    public static func limitCall(_ script: DriverScript, amps: Double, phases: Int) throws(LuaError) -> (action: String, payload: StrictJSON.Value) {
        let results = try script.call("limit", [.number(amps), .integer(Int64(phases))])
        let out = results.first ?? .nil
        guard let action = out["action"].string, !action.isEmpty, let payload = json(out["payload"]), case .object = payload else {
            throw LuaError(kind: .result, script: script.name,
                           message: "\(script.origin): limit must return { action = \"...\", payload = { ... } }, got \(out.brief)")
        }
        return (action, payload)
    }

    /// A Lua value as JSON: a table with keys 1...n is an array, one with names an object.
    static func json(_ v: LuaValue) -> StrictJSON.Value? {
        switch v {
        case .boolean(let b): return .bool(b)
        case .integer(let i): return .number(Double(i))
        case .number(let d): return d.isFinite ? .number(d) : nil
        case .string(let s): return .string(s)
        case .table(let entries):
            if entries.isEmpty { return .object([]) }
            let list = v.sequence
            if list.count == entries.count {
                var out: [StrictJSON.Value] = []
                for item in list { guard let j = json(item) else { return nil }; out.append(j) }
                return .array(out)
            }
            var members: [(String, StrictJSON.Value)] = []
            for e in entries {
                guard case .string(let k) = e.key, let j = json(e.value) else { return nil }
                members.append((k, j))
            }
            return .object(members.sorted { $0.0 < $1.0 })
        case .nil, .opaque: return nil
        }
    }
}
