/// A free-form value from the configuration (a policy's or a driver's own
/// settings), kept as data until it is handed to its script.
public indirect enum ConfigValue: Sendable, Equatable {
    case bool(Bool)
    case number(Double)
    case string(String)
    case list([ConfigValue])
    case map([String: ConfigValue])

    /// From a parsed YAML or JSON tree; nil for what has no place in a script's settings.
    public init?(tree: Any) {
        switch tree {
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .number(Double(i))
        case let d as Double: self = .number(d)
        case let s as String: self = .string(s)
        case let l as [Any]:
            var items: [ConfigValue] = []
            for item in l { guard let v = ConfigValue(tree: item) else { return nil }; items.append(v) }
            self = .list(items)
        case let m as [String: Any]:
            var items: [String: ConfigValue] = [:]
            for (k, item) in m { guard let v = ConfigValue(tree: item) else { return nil }; items[k] = v }
            self = .map(items)
        default: return nil
        }
    }

    public subscript(key: String) -> ConfigValue? {
        if case .map(let m) = self { return m[key] }
        return nil
    }

    public var number: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    /// The value as an error message quotes it.
    public var shownInConfig: String {
        switch self {
        case .bool(let b): "\(b)"
        case .number(let d): ConfigReader.show(d)
        case .string(let s): ConfigReader.quoted(s)
        case .list: "a list"
        case .map: "a mapping"
        }
    }
}
