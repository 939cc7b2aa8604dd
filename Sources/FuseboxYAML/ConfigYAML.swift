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

import Foundation

extension ConfigYAML {
    /// A configuration file's bytes as text, or why they cannot be: more than
    /// `maxBytes`, or text that is not UTF-8 (a binary file, UTF-16 from a
    /// Windows editor), refused before a parser sees it, so that no message
    /// prints raw bytes on a terminal.
    public static func text(_ data: Data, name: String) throws(Refused) -> String {
        guard data.count <= maxBytes else {
            throw Refused(description: "\(name): \(data.count) bytes; a configuration file has at most \(maxBytes)")
        }
        if data.starts(with: [0xFF, 0xFE]) || data.starts(with: [0xFE, 0xFF]) {
            throw Refused(description: "\(name): UTF-16 text; save it as UTF-8")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            let valid = String(decoding: data, as: UTF8.self).prefix { $0 != "\u{FFFD}" }
            let line = valid.reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
            throw Refused(description: "\(name): not UTF-8 text (a binary file?): a byte that is not UTF-8 on line \(line)")
        }
        var line = 1
        for u in text.unicodeScalars {
            if u == "\n" { line += 1; continue }
            if (u.value < 32 && u != "\t" && u != "\r") || u.value == 127 {
                throw Refused(description: "\(name): a control character (U+\(String(format: "%04X", u.value))) on line \(line): not a text file")
            }
        }
        return text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
    }

    /// The parser's error in one line: where, and what. Yams' own description
    /// repeats the file (for a duplicate key, all of it).
    public static func describe(_ error: any Error) -> String {
        guard let e = error as? YamlError else { return "\(error)" }
        switch e {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            return "line \(mark.line), column \(mark.column): \(context.map { $0.text + ": " } ?? "")\(problem)"
        case let .reader(problem, offset, _, _):
            return "\(problem)\(offset.map { " at byte \($0)" } ?? "")"
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            return "line \(context.mark.line), column \(context.mark.column): the key \(keys) is given twice in one mapping"
        default:
            return "\(e)"
        }
    }
}
