import Yams

/// Reads a configuration or scenario file's YAML (or JSON) into plain values,
/// refusing what no configuration needs and a parser must not be fed: more
/// than a megabyte, nesting deeper than 64 levels, or aliases that expand to
/// more than 100,000 values, or a key that is not text (the "billion laughs": nine lines of anchors that
/// took the loader minutes and gigabytes before this guard; the config fuzzer
/// found it, docs/reliability.md).
public enum ConfigYAML {
    public static let maxBytes = 1 << 20
    public static let maxDepth = 64
    public static let maxValues = 100_000

    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    public static func load(_ text: String) throws -> Any? {
        guard text.utf8.count <= maxBytes else {
            throw Refused(description: "\(text.utf8.count) bytes; a configuration file has at most \(maxBytes)")
        }
        // The parser recurses once per level: refuse deep flow nesting before it runs.
        if let line = flowNestingTooDeep(text) {
            throw Refused(description: "nested deeper than \(maxDepth) levels at line \(line)")
        }
        guard let node = try Yams.compose(yaml: text) else { return nil }
        var budget = maxValues
        try count(node, depth: 0, budget: &budget)
        return node.any
    }

    /// Counts values as they would be once aliases are expanded, and stops at the limit.
    private static func count(_ node: Node, depth: Int, budget: inout Int) throws {
        budget -= 1
        if budget < 0 { throw Refused(description: "more than \(maxValues) values once its aliases are expanded") }
        if depth > maxDepth {
            throw Refused(description: "nested deeper than \(maxDepth) levels\(node.mark.map { " at line \($0.line)" } ?? "")")
        }
        switch node {
        case .scalar: break
        case .mapping(let m):
            for (k, v) in m {
                // Yams (6.2) traps on a key that is a list or a mapping ("? [a, b]").
                guard case .scalar = k else {
                    throw Refused(description: "a key that is not text\(k.mark.map { " at line \($0.line)" } ?? "")")
                }
                try count(v, depth: depth + 1, budget: &budget)
            }
        case .sequence(let s):
            for v in s { try count(v, depth: depth + 1, budget: &budget) }
        case .alias: break
        }
    }

    /// The line where `[`, `{` or block `- ` nesting first goes deeper than
    /// the limit, outside quotes and comments; nil when it never does.
    static func flowNestingTooDeep(_ text: String) -> Int? {
        var depth = 0, line = 1
        var quote: UInt8? = nil
        var comment = false
        var previous: UInt8 = 10
        for c in text.utf8 {
            defer { previous = c }
            if c == 10 { line += 1; comment = false; if quote == nil { continue } }
            if comment { continue }
            if let q = quote {
                if c == q && previous != 92 { quote = nil }
                continue
            }
            switch c {
            case 34, 39: quote = c                       // " '
            case 35 where previous == 32 || previous == 10: comment = true   // #
            case 91, 123: depth += 1                      // [ {
                if depth > maxDepth { return line }
            case 93, 125: depth = max(0, depth - 1)       // ] }
            default: break
            }
        }
        // Block sequences on one line ("- - - - ...") nest too.
        for (n, l) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var dashes = 0
            var rest = l[...]
            while let first = rest.first, first == "-" || first == " " {
                if first == "-", rest.dropFirst().first == " " { dashes += 1 }
                rest = rest.dropFirst()
            }
            if dashes > maxDepth { return n + 1 }
        }
        return nil
    }
}
