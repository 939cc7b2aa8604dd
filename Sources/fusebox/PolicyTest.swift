import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxCore
import FuseboxLua

struct PolicyTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run a policy (or a chain) on a snapshot and print the allocation as JSON.",
        discussion: """
            The snapshot is a JSON object (docs/policies.md), or an array of them to run
            several cycles in a row with the policy's memory carried between them.
            Exits 1 when a script fails: to load, or during a cycle (the output then shows
            the fallback the controller would have used).
            """
    )

    @Argument(help: "A policy file (POLICY.lua) or the name of a shipped or site policy.")
    var policy: String

    @Option(help: "The snapshot JSON file.")
    var snapshot: String

    @Option(help: "The chain, comma-separated (e.g. ripple,pv_surplus). The policy replaces the stage of its name, or is appended last.")
    var chain: String?

    @Option(help: "JSON file of settings per policy name: { \"pv_surplus\": { \"mode\": \"minpv\" } }.")
    var settings: String?

    @Option(help: "A directory of site policies searched before the shipped ones.")
    var policies: String?

    func run() async throws {
        let library = PolicyLibrary.shipped(siteDirectory: policies)
        let snapshots: [SiteSnapshot]
        let stageSettings: [String: LuaValue]
        do {
            snapshots = try SnapshotFile.load(snapshot)
            stageSettings = try settings.map { try SnapshotFile.loadSettings($0) } ?? [:]
        } catch {
            throw Failure(message: "\(error)")
        }

        var scripts: [PolicyScript] = []
        // A path is read as given: a missing file is "no such file", not "no policy named".
        if policy.hasSuffix(".lua") || policy.contains("/") { _ = try SnapshotFile.read(policy) }
        do {
            let main = try library.load(policy)
            if let chain {
                var placed = false
                for name in chain.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                    if name == main.name || name == policy { scripts.append(main); placed = true }
                    else { scripts.append(try library.load(name)) }
                }
                if !placed { scripts.append(main) }
            } else {
                scripts = [main]
            }
        } catch {
            throw Failure(message: "policy \(error)")
        }

        let engine = PolicyChain(scripts: scripts, settings: stageSettings)
        var outputs: [PolicyTestOutput] = []
        var failed: LuaError?
        for snap in snapshots {
            let outcome = engine.allocate(snap)
            outputs.append(PolicyTestOutput(snapshot: snap, outcome: outcome, chain: engine))
            if let f = outcome.fallback, failed == nil { failed = f }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = snapshots.count == 1 && !SnapshotFile.isArray(snapshot)
            ? try encoder.encode(outputs[0]) : try encoder.encode(outputs)
        try StandardOutput.write(data + Data("\n".utf8))
        if let failed {
            throw Failure(message: "policy \(failed) (the cycle used the built-in equal share)")
        }
    }
}

enum SnapshotFile {
    static func read(_ path: String) throws -> Data {
        do { return try FileContents.read(path) } catch { throw Failure(message: error.description) }
    }

    static func isArray(_ path: String) -> Bool {
        guard let data = try? read(path) else { return false }
        return data.first(where: { !$0.isWhitespace }) == UInt8(ascii: "[")
    }

    static func load(_ path: String) throws -> [SiteSnapshot] {
        let data = try read(path)
        // The strict reader first: it says where the text is wrong, and refuses a duplicate key.
        let value: StrictJSON.Value
        do { value = try StrictJSON.parse(data) } catch { throw Failure(message: "\(path): not valid JSON: \(error)") }
        do {
            switch value {
            case .array(let items):
                guard !items.isEmpty else { throw Failure(message: "\(path): an empty list: give one snapshot, or a list of at least one") }
                return try JSONDecoder().decode([SiteSnapshot].self, from: data)
            case .object:
                return [try JSONDecoder().decode(SiteSnapshot.self, from: data)]
            default:
                throw Failure(message: "\(path): expected a snapshot (a JSON object) or a list of them")
            }
        } catch let error as DecodingError {
            throw Failure(message: "\(path): \(describe(error))")
        }
    }

    static func loadSettings(_ path: String) throws -> [String: LuaValue] {
        let data = try read(path)
        do { _ = try StrictJSON.parse(data) } catch { throw Failure(message: "\(path): not valid JSON: \(error)") }
        do {
            return try JSONDecoder().decode([String: LuaValue].self, from: data)
        } catch let error as DecodingError {
            throw Failure(message: "\(path): \(describe(error))")
        }
    }

    /// "chargers[2].phases: expected ..." rather than Swift's debug dump.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for k in keys {
                if let i = k.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + k.stringValue }
            }
            return out.isEmpty ? "(top level)" : out
        }
        switch error {
        case .keyNotFound(let key, let ctx):
            return "\(path(ctx.codingPath + [key])): missing (required)"
        case .typeMismatch(let type, let ctx):
            return "\(path(ctx.codingPath)): expected \(type): \(ctx.debugDescription)"
        case .valueNotFound(let type, let ctx):
            return "\(path(ctx.codingPath)): expected \(type), got null"
        case .dataCorrupted(let ctx):
            return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

private extension UInt8 {
    var isWhitespace: Bool { self == 0x20 || self == 0x0A || self == 0x0D || self == 0x09 }
}

struct PolicyTestOutput: Encodable {
    struct Stage: Encodable {
        var name: String
        var output: [String: Double]
        var added_limits: [String]
        var log: String?
    }
    struct Limit: Encodable {
        var name: String
        var unit: String
        var available: Double
    }
    struct Budget: Encodable {
        var available: [Double]
        var power_available: Double?
        var limits: [Limit]
    }
    struct Fallback: Encodable {
        var script: String
        var kind: String
        var message: String
    }

    var time: Double
    var allocation: [String: Double]
    var requested: [String: Double]
    var stages: [Stage]
    var fallback: Fallback?
    var corrections: [ClampCorrection]
    var budget: Budget
    var memory: [String: LuaValue]

    init(snapshot: SiteSnapshot, outcome: PolicyOutcome, chain: PolicyChain) {
        time = snapshot.time
        func byID(_ values: [Double]) -> [String: Double] {
            var out: [String: Double] = [:]
            for (i, c) in snapshot.chargers.enumerated() { out[c.id] = (values[i] * 1000).rounded() / 1000 }
            return out
        }
        allocation = byID(outcome.allocation)
        requested = byID(outcome.requested)
        stages = outcome.stages.map {
            Stage(name: $0.name, output: $0.output, added_limits: $0.addedLimits, log: $0.log.isEmpty ? nil : $0.log)
        }
        fallback = outcome.fallback.map { Fallback(script: $0.script, kind: $0.kind.rawValue, message: $0.message) }
        corrections = outcome.corrections
        budget = Budget(
            available: outcome.budget.available.array, power_available: outcome.budget.powerAvailable,
            limits: outcome.budget.constraints.map { Limit(name: $0.name, unit: $0.unit.rawValue, available: $0.available) })
        var memory: [String: LuaValue] = [:]
        for stage in chain.stages { memory[stage.script.name] = stage.memory }
        self.memory = memory
    }
}
