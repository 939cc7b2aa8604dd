import Foundation
import FuseboxController
import FuseboxCore
import FuseboxSimulation
import FuseboxSimulator
import FuseboxYAML
import Yams

/// Mutated site.yaml, sim.yaml and scenario files: the loaders must never crash
/// or hang, and every error must name the key path (or the YAML position) and
/// what was expected. A file that loads must hold only sane numbers.
///
/// An input is `# fuzz: site|sim|scenario` and then the YAML.
public struct ConfigFuzzer: FuzzTarget {
    public let name = "config"
    public let fileExtension = "yaml"
    /// Seed documents by kind: the shipped configuration and scenario files.
    let documents: [(kind: String, tree: YAMLTree)]

    public init(repository root: String) {
        var documents: [(String, YAMLTree)] = []
        func add(_ kind: String, _ file: String) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8), let tree = try? Yams.load(yaml: text) else { return }
            documents.append((kind, YAMLTree(tree)))
        }
        add("site", root + "/config/site.yaml")
        add("sim", root + "/config/sim.yaml")
        let scenarios = root + "/Tests/FuseboxControllerTests/Scenarios"
        for f in ((try? FileManager.default.contentsOfDirectory(atPath: scenarios)) ?? []).sorted() where f.hasSuffix(".json") {
            add("scenario", scenarios + "/" + f)
        }
        self.documents = documents
    }

    // MARK: - inputs

    public func input(seed: UInt64) -> String {
        var rng = SiteGenerator.Random(seed: seed)
        guard !documents.isEmpty else { return "# fuzz: site\n{}\n" }
        let (kind, tree) = rng.pick(documents)
        var doc = tree
        for _ in 0..<(1 + rng.int(4)) { doc.mutate(&rng) }
        var text = doc.emit()
        if rng.chance(0.25) { text = Self.mutateText(text, &rng) }
        if rng.chance(0.03) { text = rng.pick(Self.nasty) }
        return "# fuzz: \(kind)\n" + text + "\n"
    }

    /// Inputs that once took parsers down elsewhere: alias bombs, deep nesting, odd tags.
    static let nasty = [
        "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            + "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
            + "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\nsite: *h\n",
        String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000),
        String(repeating: "{a: ", count: 5_000) + "1" + String(repeating: "}", count: 5_000),
        "site: !!binary aGVsbG8=\n", "site: !!python/object:os.system [ls]\n", "site: *nowhere\n", "\u{FEFF}site: {limit: {current: 63}}\n",
        "site:\n\tlimit: 63\n", "? [a, b]\n: c\n", "site: {limit: {current: 0x3F}}\n", "site: {period: 1e999}\n",
    ]

    static func mutateText(_ text: String, _ rng: inout SiteGenerator.Random) -> String {
        var bytes = Array(text.utf8)
        let inserts: [UInt8] = Array(":-[]{}&*!|>'\"#%@`,?\t\n \\0.e".utf8) + [0xFF, 0xC3]
        for _ in 0..<(1 + rng.int(3)) where !bytes.isEmpty {
            let at = rng.int(bytes.count)
            switch rng.int(4) {
            case 0: bytes[at] = rng.pick(inserts)
            case 1: bytes.insert(rng.pick(inserts), at: at)
            case 2: bytes.removeSubrange(at..<min(bytes.count, at + 1 + rng.int(8)))
            default: bytes = Array(bytes.prefix(at))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: - the check

    public func check(_ input: String) async -> String? {
        let kind = input.hasPrefix("# fuzz: ") ? String(input.dropFirst(8).prefix { $0 != "\n" }) : "site"
        let file = "fuzz.yaml"
        let (outcome, seconds) = await timed { Self.load(kind: kind, input, file: file) }
        if seconds > 2 { return "loading took \(String(format: "%.1f", seconds)) s" }
        switch outcome {
        case .success(let insane): return insane.map { "loaded, but \($0)" }
        case .failure(let problems):
            if problems.messages.isEmpty { return "an error without a message" }
            for m in problems.messages where !Self.namesWhere(m, file: file) {
                return "an error that names no key path: \(m.prefix(300))"
            }
            return nil
        }
    }

    /// The loaded file's first insanity (nil: sane), or the loader's problems.
    static func load(kind: String, _ input: String, file: String) -> Result<String?, SiteConfig.Problems> {
        switch kind {
        case "sim":
            do { return .success(insane(try SimConfig(yaml: input, file: file))) } catch { return .failure(SiteConfig.Problems(messages: error.messages)) }
        case "scenario":
            let tree: Any?
            do { tree = try ConfigYAML.load(input) } catch { return .failure(SiteConfig.Problems(messages: ["\(file): not valid YAML: \(error)"])) }
            do { return .success(insane(try Scenario(tree: tree as Any, file: file))) } catch {
                return .failure((error as? SiteConfig.Problems) ?? SiteConfig.Problems(messages: ["\(error)"]))
            }
        default:
            do { return .success(insane(try SiteConfig(yaml: input, file: file, addresses: true))) } catch { return .failure(error) }
        }
    }

    /// "fuzz.yaml: site.limit.current: expected ...", "fuzz.yaml sim: chargers[2].max: ...",
    /// "fuzz.yaml: not valid YAML: ... line 3 ...", "fuzz.yaml: expected a mapping at the top".
    static func namesWhere(_ message: String, file: String) -> Bool {
        guard message.hasPrefix(file) else { return false }
        var rest = Substring(message.dropFirst(file.count))
        if rest.hasPrefix(" sim") || rest.hasPrefix(" controller") { rest = rest.drop { $0 != ":" } }
        guard rest.hasPrefix(": ") else { return false }
        rest = rest.dropFirst(2)
        if rest.hasPrefix("not valid YAML") { return rest.contains("line") || rest.contains("column") || rest.count > 20 }
        if rest.hasPrefix("expected") { return true }
        // A key path: words, [n] and quoted keys joined by dots, then ": ".
        var sawSegment = false
        while let c = rest.first {
            if c == "\"" {
                var escaped = false
                rest = rest.dropFirst()
                while let d = rest.first, escaped || d != "\"" { escaped = !escaped && d == "\\"; rest = rest.dropFirst() }
                guard rest.first == "\"" else { return false }
                rest = rest.dropFirst()
                sawSegment = true
            } else if c.isLetter || c.isNumber || "_-.[]".contains(c) {
                rest = rest.dropFirst()
                sawSegment = true
            } else {
                break
            }
        }
        return sawSegment && rest.hasPrefix(":")
    }

    // MARK: - what a loaded file must hold

    static func insane(_ c: SiteConfig) -> String? {
        var bad: [String] = []
        func finite(_ v: Double, _ what: String, min: Double = 0) { if !(v.isFinite && v >= min) { bad.append("\(what) = \(v)") } }
        if !(c.period.isFinite && c.period > 0) { bad.append("period = \(c.period)") }
        for p in Phase.allCases { finite(c.limits.current[p], "limits.current[\(p)]") }
        finite(c.limits.margin, "limits.margin")
        if let w = c.limits.power { finite(w, "limits.power") }
        for ch in c.chargers {
            finite(ch.min, "\(ch.id).min"); finite(ch.max, "\(ch.id).max")
            if ch.min > ch.max { bad.append("\(ch.id): min \(ch.min) > max \(ch.max)") }
        }
        func walk(_ circuits: [Circuit]) {
            for k in circuits {
                for p in Phase.allCases { finite(k.limit[p], "circuit \(k.id) limit") }
                finite(k.margin, "circuit \(k.id) margin")
                walk(k.circuits)
            }
        }
        walk(c.circuits)
        for d in [c.control.rampUp, c.control.raiseEvery, c.control.restartPause, c.control.settle, c.control.refresh] { finite(d, "control") }
        return bad.isEmpty ? nil : bad.joined(separator: ", ")
    }

    static func insane(_ s: SimConfig) -> String? {
        var bad: [String] = []
        for p in Phase.allCases where !(s.baseLoad[p].isFinite) { bad.append("base_load = \(s.baseLoad)") }
        if !s.noise.isFinite || s.noise < 0 { bad.append("noise = \(s.noise)") }
        if !s.pvPeak.isFinite || s.pvPeak < 0 { bad.append("pv.peak = \(s.pvPeak)") }
        for l in s.loads where !Phase.allCases.allSatisfy({ l.current[$0].isFinite }) || l.start.isNaN || l.end.isNaN { bad.append("load \(l.name)") }
        for c in s.chargers where !(c.charger.maxCurrent.isFinite && c.charger.maxCurrent > 0) { bad.append("\(c.id).max = \(c.charger.maxCurrent)") }
        for v in s.visits where !(v.arrive.isFinite && v.car.maxCurrent.isFinite && v.car.wanted.isFinite) { bad.append("car at \(v.charger)") }
        return bad.isEmpty ? nil : bad.joined(separator: ", ")
    }

    static func insane(_ s: Scenario) -> String? {
        if !s.duration.isFinite { return "duration = \(s.duration): the run would never end" }
        return insane(s.controller) ?? insane(s.sim)
    }
}

/// A parsed YAML document that can be changed at random and written back out,
/// in flow style, with any scalar token (also invalid ones) where a value goes.
struct YAMLTree: Sendable {
    // Not `indirect`: the arrays box the children already, and LeakSanitizer
    // found the indirect boxes of this tree left behind by every fuzz case.
    enum Node: Sendable {
        case map([(String, Node)])
        case list([Node])
        case scalar(String)   // written as is
    }

    var root: Node

    init(_ tree: Any) { root = Self.node(tree) }

    static func node(_ v: Any) -> Node {
        switch v {
        case let m as [String: Any]: return .map(m.keys.sorted().map { ($0, node(m[$0]!)) })
        case let l as [Any]: return .list(l.map(node))
        case let s as String: return .scalar(quote(s))
        case let b as Bool: return .scalar(b ? "true" : "false")
        case let i as Int: return .scalar(String(i))
        case let d as Double: return .scalar(d.isNaN ? ".nan" : d.isInfinite ? (d < 0 ? "-.inf" : ".inf") : String(d))
        default: return .scalar("null")
        }
    }

    static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Values that are wrong in every way a file can be wrong.
    static let hostile = [
        "null", "~", "\"\"", "-1", "0", "-0.0", "1e308", "-1e308", "1e999", ".nan", ".NaN", ".inf", "-.inf", "true", "no", "[]", "{}",
        "[1, 2, 3]", "[1, 2]", "[.nan, 1, 2]", "[-5, 0, 1e9]", "9223372036854775807", "-9223372036854775808", "99999999999999999999",
        "0x7FFFFFFF", "0o17", "1_000", "\"5s\"", "\"-5s\"", "\"1e400s\"", "\"10x\"", "\"25:99\"", "\"08:00\"", "\"\\u0000\"", "!!str 5",
        "!!float nan", "\"\(String(repeating: "x", count: 5000))\"", "[[[[[]]]]]", "{a: {b: {c: {}}}}", "\"../../etc/passwd\"",
        "\"127.0.0.1:99999\"", "\"[::1]:502\"", "\"/dev/ttyUSB0\"", "65536", "256", "-3", "3.5",
    ]

    mutating func mutate(_ rng: inout SiteGenerator.Random) {
        root = Self.mutate(root, depth: 0, &rng)
    }

    static func mutate(_ node: Node, depth: Int, _ rng: inout SiteGenerator.Random) -> Node {
        // Go down with some chance, else change this node.
        switch node {
        case .map(var entries) where !entries.isEmpty && rng.chance(0.75):
            let i = rng.int(entries.count)
            switch rng.int(10) {
            case 0: entries.remove(at: i)
            case 1: entries.append((rng.pick(["limt", "chargers", "max", "period", "x", "", "site", "unit"]), .scalar(rng.pick(hostile))))
            case 2: entries.append(entries[i])   // a duplicate key
            default: entries[i].1 = mutate(entries[i].1, depth: depth + 1, &rng)
            }
            return .map(entries)
        case .list(var items) where !items.isEmpty && rng.chance(0.75):
            let i = rng.int(items.count)
            switch rng.int(8) {
            case 0: items.remove(at: i)
            case 1: items.append(items[i])
            default: items[i] = mutate(items[i], depth: depth + 1, &rng)
            }
            return .list(items)
        default:
            switch rng.int(5) {
            case 0: return .list([node])
            case 1: return .map([(rng.pick(["a", "current", "id"]), node)])
            default: return .scalar(rng.pick(hostile))
            }
        }
    }

    func emit() -> String { Self.emit(root) }

    static func emit(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s
        case .list(let items): return "[" + items.map(emit).joined(separator: ", ") + "]"
        case .map(let entries): return "{" + entries.map { quote($0.0) + ": " + emit($0.1) }.joined(separator: ", ") + "}"
        }
    }
}
