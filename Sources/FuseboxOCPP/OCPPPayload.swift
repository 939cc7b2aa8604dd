import FuseboxCore

/// A call's payload read field by field, with the OCPP-J error code for each
/// way it can be wrong: a missing field, a wrong type, a value out of range.
struct OCPPPayload {
    let fields: [String: StrictJSON.Value]
    let action: String

    init(_ payload: StrictJSON.Value, action: String) {
        var fields: [String: StrictJSON.Value] = [:]
        if case .object(let members) = payload { for (k, v) in members where fields[k] == nil { fields[k] = v } }
        self.fields = fields
        self.action = action
    }

    private func missing(_ key: String) -> OCPPError { OCPPError(.occurenceConstraintViolation, "\(action).\(key): missing (required)") }

    func string(_ key: String, max: Int) throws(OCPPError) -> String {
        guard let v = fields[key] else { throw missing(key) }
        guard case .string(let s) = v else { throw OCPPError(.typeConstraintViolation, "\(action).\(key): expected text") }
        guard s.count <= max else { throw OCPPError(.propertyConstraintViolation, "\(action).\(key): expected at most \(max) characters, got \(s.count)") }
        return s
    }

    func optionalString(_ key: String, max: Int) throws(OCPPError) -> String? {
        fields[key] == nil ? nil : try string(key, max: max)
    }

    func integer(_ key: String, _ range: ClosedRange<Int> = 0...Int(Int32.max)) throws(OCPPError) -> Int {
        guard let v = fields[key] else { throw missing(key) }
        guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e15 else {
            throw OCPPError(.typeConstraintViolation, "\(action).\(key): expected a whole number")
        }
        guard range.contains(Int(n)) else { throw OCPPError(.propertyConstraintViolation, "\(action).\(key): expected \(range.lowerBound) to \(range.upperBound), got \(Int(n))") }
        return Int(n)
    }

    func optionalInteger(_ key: String) throws(OCPPError) -> Int? { fields[key] == nil ? nil : try integer(key) }

    func choice(_ key: String, _ options: [String]) throws(OCPPError) -> String {
        let s = try string(key, max: 64)
        guard options.contains(s) else { throw OCPPError(.propertyConstraintViolation, "\(action).\(key): expected one of \(options.joined(separator: ", ")), got \(ConfigReader.quoted(s))") }
        return s
    }

    func list(_ key: String) throws(OCPPError) -> [StrictJSON.Value] {
        guard let v = fields[key] else { throw missing(key) }
        guard case .array(let items) = v else { throw OCPPError(.typeConstraintViolation, "\(action).\(key): expected a list") }
        return items
    }
}
