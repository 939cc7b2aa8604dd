import Foundation
import Yams

extension ConfigYAML {
    /// The order keys are written in, where a mapping has them; other keys follow alphabetically.
    static let keyOrder = [
        "site", "meters", "chargers", "circuits", "policy", "ripple", "control", "http", "history", "scripts",
        "id", "name", "serial", "period", "limit", "current", "margin", "power_limit", "failsafe",
        "grid", "pv", "driver", "host", "port", "unit", "baud", "parity", "api", "allow",
        "min", "max", "phases", "priority", "enabled", "settings", "chain",
    ]

    /// A configuration tree (as `load` returns it, or as the page sends it) as
    /// YAML a person can read: sections in the order of docs/configuration.md,
    /// a mapping or list of plain values on one line (`{ id: p01, port: 502 }`),
    /// text quoted where it would otherwise read as a number or a boolean.
    public static func dump(_ tree: Any, header: String? = nil) throws -> String {
        let body = try Yams.serialize(node: node(tree), indent: 2, width: -1, allowUnicode: true)
        return (header.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 }.joined(separator: "\n") + "\n" } ?? "") + body
    }

    private static func node(_ value: Any) throws -> Node {
        switch value {
        case let m as [String: Any]:
            let keys = m.keys.sorted { a, b in
                let (i, j) = (keyOrder.firstIndex(of: a) ?? Int.max, keyOrder.firstIndex(of: b) ?? Int.max)
                return i != j ? i < j : a < b
            }
            let pairs = try keys.map { (Node($0), try node(m[$0] as Any)) }
            return Node.mapping(Node.Mapping(pairs, .implicit, isFlat(m.values) ? .flow : .block))
        case let l as [Any]:
            return Node.sequence(Node.Sequence(try l.map(node), .implicit, isFlat(l) ? .flow : .block))
        case let b as Bool: return try b.represented()
        case let i as Int: return try i.represented()
        case let d as Double:
            // 63, not 6.3e+1: the numbers a person would type.
            if d == d.rounded(), abs(d) < 1e15 { return try Int(d).represented() }
            return Node("\(d)", Tag(.float))
        case let s as String: return try s.represented()
        default: return Node("null", Tag(.null))
        }
    }

    /// Only plain values (or lists of them) inside: fits on one line.
    private static func isFlat(_ values: some Collection<Any>) -> Bool {
        values.count <= 12 && values.allSatisfy { v in
            if let l = v as? [Any] { return l.allSatisfy { !($0 is [Any]) && !($0 is [String: Any]) } }
            return !(v is [String: Any])
        }
    }
}

extension ConfigYAML {
    /// A loaded tree with only the types JSON has: mappings with text keys,
    /// lists, Int, Double, Bool, String and NSNull (a YAML date becomes its text).
    public static func plain(_ value: Any) -> Any {
        switch value {
        case let m as [String: Any]: return m.mapValues(plain)
        case let m as [AnyHashable: Any]:
            return Dictionary(m.map { ("\($0.key)", plain($0.value)) }, uniquingKeysWith: { a, _ in a })
        case let l as [Any]: return l.map(plain)
        case is Bool, is Int, is Double, is String, is NSNull: return value
        default: return "\(value)"
        }
    }
}
