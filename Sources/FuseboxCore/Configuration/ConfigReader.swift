/// Walks a parsed YAML or JSON tree, collecting every problem with its key path
/// instead of stopping at the first (sim.yaml, site.yaml, scenario files).
public struct ConfigReader {
    public private(set) var problems: [String] = []

    public init() {}

    public mutating func problem(_ text: String) { problems.append(text) }

    public mutating func map(_ v: Any?, _ path: String) -> [String: Any]? {
        guard let v else { return nil }
        guard let m = v as? [String: Any] else { problem("\(path): expected a mapping"); return nil }
        return m
    }

    public mutating func list(_ v: Any?, _ path: String) -> [Any] {
        guard let v else { return [] }
        guard let l = v as? [Any] else { problem("\(path): expected a list"); return [] }
        return l
    }

    public mutating func number(_ v: Any?, _ path: String, default d: Double, range: ClosedRange<Double>) -> Double {
        guard let v else { return d }
        let n: Double? = (v as? Double) ?? (v as? Int).map(Double.init)
        guard let n, range.contains(n) else {
            problem("\(path): expected a number from \(range.lowerBound) to \(range.upperBound), got \(Self.shown(v))")
            return d
        }
        return n
    }

    public mutating func int(_ v: Any?, _ path: String, default d: Int, range: ClosedRange<Int>) -> Int {
        guard let v else { return d }
        guard let n = v as? Int, range.contains(n) else {
            problem("\(path): expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(Self.shown(v))")
            return d
        }
        return n
    }

    public mutating func optionalInt(_ v: Any?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard v != nil else { return nil }
        return int(v, path, default: range.lowerBound, range: range)
    }

    public mutating func bool(_ v: Any?, _ path: String, default d: Bool) -> Bool {
        guard let v else { return d }
        guard let b = v as? Bool else { problem("\(path): expected true or false, got \(Self.shown(v))"); return d }
        return b
    }

    public mutating func string(_ v: Any?, _ path: String, default d: String) -> String {
        guard let v else { return d }
        guard let s = v as? String else { problem("\(path): expected text, got \(Self.shown(v))"); return d }
        return s
    }

    /// One number for all three phases, or three, each within `range`.
    public mutating func phases(_ v: Any?, _ path: String, default d: PhaseValues, range: ClosedRange<Double>) -> PhaseValues {
        guard let v else { return d }
        var values: [Double]?
        if let one = (v as? Double) ?? (v as? Int).map(Double.init) { values = [one, one, one] }
        if let l = v as? [Any], l.count == 3 {
            let n = l.compactMap { ($0 as? Double) ?? ($0 as? Int).map(Double.init) }
            if n.count == 3 { values = n }
        }
        // (A NaN is in no range: `contains` is false for it.)
        guard let values, values.allSatisfy({ range.contains($0) }) else {
            problem("\(path): expected one number or three numbers for L1, L2, L3, each from \(range.lowerBound) to \(range.upperBound), got \(Self.shown(v))")
            return d
        }
        return PhaseValues(values[0], values[1], values[2])
    }

    public mutating func phaseList(_ v: Any?, _ path: String) -> [Phase] {
        guard let v else { return [.l1, .l2, .l3] }
        let l = (v as? [Any])?.compactMap { ($0 as? Int).flatMap(Phase.init(rawValue:)) }
        guard let l, (v as? [Any])?.count == l.count, (1...3).contains(l.count), Set(l).count == l.count else {
            problem("\(path): expected 1 to 3 different building phases (1, 2, 3), got \(Self.shown(v))")
            return [.l1, .l2, .l3]
        }
        return l
    }

    /// "500ms", "5s", "10m", "8h", or a number of seconds.
    public mutating func duration(_ v: Any?, _ path: String, default d: Double) -> Double {
        guard let v else { return d }
        // Finite: ".inf" would be a timer that never fires or a run that never ends.
        if let n = (v as? Double) ?? (v as? Int).map(Double.init), n >= 0, n.isFinite { return n }
        if let s = v as? String, let seconds = ConfigReader.seconds(s), seconds.isFinite { return seconds }
        problem("\(path): expected a duration such as 500ms, 5s, 10m or 8h, got \(Self.shown(v))")
        return d
    }

    /// "08:30" as seconds after midnight.
    public mutating func timeOfDay(_ v: Any?, _ path: String, default d: Double) -> Double {
        guard let v else { return d }
        if let s = v as? String {
            let parts = s.split(separator: ":").compactMap { Int($0) }
            if parts.count == 2, (0..<24).contains(parts[0]), (0..<60).contains(parts[1]) {
                return Double(parts[0] * 3600 + parts[1] * 60)
            }
        }
        if let minutes = v as? Int, (0..<1440).contains(minutes) { return Double(minutes * 60) }   // YAML 1.1 sexagesimal
        problem("\(path): expected a time of day such as 08:00, got \(Self.shown(v))")
        return d
    }

    /// One of a fixed set of words.
    public mutating func choice(_ v: Any?, _ path: String, _ options: [String], default d: String) -> String {
        guard let v else { return d }
        guard let s = v as? String, options.contains(s) else {
            problem("\(path): expected one of \(options.joined(separator: ", ")), got \(Self.shown(v))")
            return d
        }
        return s
    }

    /// A list of words (ids, names).
    public mutating func strings(_ v: Any?, _ path: String) -> [String] {
        var out: [String] = []
        for (n, item) in list(v, path).enumerated() {
            if let s = item as? String { out.append(s) } else { problem("\(path)[\(n)]: expected text, got \(Self.shown(item))") }
        }
        return out
    }

    /// Flags keys this version does not know: a misspelt key must not be ignored.
    public mutating func onlyKnown(_ map: [String: Any], _ path: String, _ known: [String]) {
        for key in map.keys.sorted() where !known.contains(key) {
            problem("\(ConfigReader.path(path, key)): unknown key; expected \(known.joined(separator: ", "))")
        }
    }

    /// `path.key`, with the key in quotes when it is empty or has characters a
    /// key path does not (a stray quote, a colon, a space): the message must
    /// still show where the problem is.
    public static func path(_ path: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
        let shown = plain ? key : "\"" + key.unicodeScalars.map { $0.isASCII && $0.value >= 32 && $0 != "\"" && $0 != "\\" ? String($0) : $0.escaped(asASCII: true) }.joined() + "\""
        return path.isEmpty ? shown : path + "." + shown
    }

    /// A value from the file as a message shows it: text quoted and escaped,
    /// a list or a mapping by its kind (not a dump of the whole of it).
    public static func shown(_ v: Any) -> String {
        switch v {
        case let s as String: quoted(s)
        case let n as Double: show(n)
        case let n as Int: String(n)
        case let b as Bool: String(b)
        case is [Any]: "a list"
        case is [String: Any]: "a mapping"
        default: quoted("\(v)")
        }
    }

    /// A number as a person writes it: 63, not 63.0.
    public static func show(_ n: Double) -> String {
        n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
    }

    /// Text from a file or a request, quoted, with control characters and
    /// anything past 60 characters escaped or cut: a message must never put
    /// raw bytes on a terminal or a page.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for (n, u) in text.unicodeScalars.enumerated() {
            if n == 60 { out += "..."; break }
            out += u.value < 32 || u.value == 127 || u == "\"" || u == "\\" || (u.value >= 0x80 && u.value < 0xA0)
                ? u.escaped(asASCII: true) : String(u)
        }
        return out + "\""
    }

    /// "500ms", "5s", "10m", "8h", "1d", "2w", "2y" (365 days), or combined as "3h30m", as seconds;
    /// nil when it is not a duration.
    public static func seconds(_ text: String) -> Double? {
        let units: [String: Double] = ["ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000]
        var total = 0.0, number = "", unit = "", parts = 0
        func flush() -> Bool {
            guard !number.isEmpty, let n = Double(number), let f = units[unit] else { return false }
            total += n * f
            parts += 1
            number = ""
            unit = ""
            return true
        }
        for ch in text {
            if ch.isNumber || ch == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(ch)
            } else if ch.isLetter {
                unit.append(ch)
            } else {
                return nil
            }
        }
        guard flush(), parts > 0 else { return nil }
        return total
    }

}
