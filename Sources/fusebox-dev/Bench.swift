import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxController
import FuseboxCore
import FuseboxLua

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the performance figures and print them as one JSON document.",
        discussion: """
            Every variant of a group is measured in the same run, in interleaved rounds,
            so that ratios hold on a noisy machine. Targets come from
            Benchmarks/thresholds.json when it is found.
            """
    )

    @Option(help: "Only this group: policy, modbus, cycle, web, scale (web and scale need wrk).")
    var only: String?

    @Option(help: "Seconds each cycle configuration runs on the wall clock.")
    var cycleSeconds: Double = 20

    @Option(help: "Rounds per variant (interleaved).")
    var rounds: Int = 5

    @Option(help: "Charger counts, comma-separated.")
    var sizes: String = "10,100,1000"

    @Option(help: "Chargers of the scale run (on ten circuits); the default is as many as one controller takes beside its meter.")
    var scaleChargers: Int = 1000

    @Option(help: "Policies to measure beside the native fallback, comma-separated.")
    var policies: String = "fair_share,priority,pv_surplus,ripple"

    func run() async throws {
        var document: [String: Any] = [:]
        if only == nil || only == "policy" {
            document["policy"] = try PolicyBench(
                rounds: rounds, policies: policies.split(separator: ",").map(String.init),
                sizes: sizes.split(separator: ",").compactMap { Int($0) }).run()
        }
        if only == nil || only == "modbus" {
            document["modbus"] = try await ModbusBench(rounds: rounds).run()
        }
        if only == "web" {
            document["web"] = try await WebBench(seconds: cycleSeconds).run()
        }
        if only == "scale" {
            document["scale"] = try await WebBench(chargers: scaleChargers, period: 1, seconds: cycleSeconds, circuits: 10, page: false, warmUp: 10).run()
        }
        if only == nil || only == "cycle" {
            document["cycle"] = try await CycleBench(sizes: [10, 100], periods: [1, 0.1], seconds: cycleSeconds).run()
        }
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        try StandardOutput.write(data + Data("\n".utf8))
    }
}

struct PolicyBench {
    var rounds: Int
    var policies: [String]
    var sizes: [Int]

    func run() throws -> [String: Any] {
        let library = PolicyLibrary.shipped()
        var result: [String: Any] = [:]
        var ratios: [String: Double] = [:]
        var medians: [String: Double] = [:]
        for n in sizes {
            let snapshot = SiteGenerator(seed: 42).site(chargers: n)
            // The controller keeps the layout while the configuration holds; so does the chain.
            let layout = SiteLayout(snapshot)
            var chains: [(String, PolicyChain)] = []
            for name in policies {
                chains.append((name, PolicyChain(scripts: [try library.load(name)])))
            }
            // Each cycle a little later and with new readings, as on a site: the
            // meter's currents and voltages, each car's current, energy and time
            // plugged in move; what a policy and the bridge see is never the same
            // twice. The readings are made before the clock starts.
            var samples: [String: [Double]] = [:]
            // Per block, each policy's median over the native fallback's in the
            // same round: a busy spell of the host then weighs on both sides.
            var blockRatios: [String: [Double]] = [:]
            var fallbacks: [String: String] = [:]
            let perBlock = n >= 1000 ? 5 : (n >= 100 ? 50 : 250)
            var cycle = 0
            func next() -> SiteSnapshot {
                cycle += 1
                return Self.moved(snapshot, cycle: cycle)
            }
            for _ in 0..<(rounds * 4) {
                let native = measure(perBlock, prepare: next) { snap in
                    let budget = Budget(snapshot: snap, layout: layout)
                    let requested = FallbackAllocator.allocate(snap, budget: budget)
                    let clamped = SafetyClamp.apply(requested, snapshot: snap, budget: budget)
                    precondition(clamped.allocation.count == n)
                }
                samples["native_fallback", default: []] += native
                for (name, chain) in chains {
                    let block = measure(perBlock, prepare: next) { snap in
                        let outcome = chain.allocate(snap)
                        if let f = outcome.fallback, fallbacks[name] == nil { fallbacks[name] = f.description }
                    }
                    samples[name, default: []] += block
                    blockRatios[name, default: []].append(Self.median(block) / Self.median(native))
                }
            }
            var group: [String: Any] = [:]
            for (name, values) in samples {
                let sorted = values.sorted()
                let median = sorted[sorted.count / 2]
                let p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
                group[name] = ["median_us": round2(median), "p99_us": round2(p99), "samples": sorted.count]
                medians["\(name)_\(n)"] = median
            }
            // A policy that fell back was not measured doing its job: say so.
            for (name, reason) in fallbacks { group[name + "_fell_back"] = reason }
            result["\(n)_chargers"] = group
            for name in policies {
                ratios["\(name)_to_native_\(n)"] = round2(Self.median(blockRatios[name]!))
            }
        }
        result["ratio_to_native_fallback"] = ratios
        result["ratio_method"] = "per round, a policy's block median over the native fallback's block median of the same round; "
            + "the median of those over \(rounds * 4) rounds. A busy spell of the host that hits one block of a round "
            + "and not the other moves one round's ratio, not the figure; the medians above pool every round."
        // The targets are a share of the cycle: a whole allocation (budget,
        // bridge, policy, clamp) of the slowest shipped policy, by its median.
        let thresholds = Thresholds.load()["policy"] as? [String: Double] ?? [:]
        var checks: [String: Any] = [:]
        for n in sizes {
            guard let limit = thresholds["whole_allocation_\(n)_median_ms"] else { continue }
            let worst = policies.compactMap { name in medians["\(name)_\(n)"].map { (name, $0 / 1000) } }.max { $0.1 < $1.1 }
            guard let (name, ms) = worst else { continue }
            checks["whole_allocation_\(n)_median_ms"] = [
                "limit": limit, "slowest": name, "value": round2(ms * 1000) / 1000,
                "percent_of_100ms_cycle": round2(ms / 100 * 100), "met": ms <= limit,
            ] as [String: Any]
        }
        result["targets"] = checks
        return result
    }

    static func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

    /// Microseconds per call, one sample per call; `prepare` is not timed.
    func measure(_ count: Int, prepare: () -> SiteSnapshot, _ body: (SiteSnapshot) -> Void) -> [Double] {
        let clock = ContinuousClock()
        var out: [Double] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            let snap = prepare()
            let d = clock.measure { body(snap) }
            out.append(d.microseconds)
        }
        return out
    }

    /// `base` at cycle `k`: one second later per cycle, the grid's currents and
    /// voltages wobbling, each charging car's current and energy moving, and
    /// every plugged-in car's time growing. Deterministic, so runs compare.
    static func moved(_ base: SiteSnapshot, cycle k: Int) -> SiteSnapshot {
        var s = base
        let t = Double(k)
        s.time = base.time + t
        func wobble(_ x: Double, _ phase: Double) -> Double { x * (1 + 0.02 * sin(t * 0.7 + phase)) }
        s.grid.current = PhaseValues(wobble(base.grid.current.l1, 0), wobble(base.grid.current.l2, 1), wobble(base.grid.current.l3, 2))
        s.grid.voltage = PhaseValues(230 + 2 * sin(t * 0.3), 230 + 2 * sin(t * 0.3 + 2), 230 + 2 * sin(t * 0.3 + 4))
        for i in s.chargers.indices where s.chargers[i].status != .free {
            s.chargers[i].connectedFor += t
            if s.chargers[i].status == .charging {
                s.chargers[i].current = s.chargers[i].current.enumerated().map { wobble($1, Double($0 + i)) }
                s.chargers[i].sessionEnergy += t * 0.003
            }
        }
        return s
    }

    func round2(_ v: Double) -> Double { (v * 100).rounded() / 100 }
}

enum Thresholds {
    /// Benchmarks/thresholds.json from the working directory or beside the package.
    static func load() -> [String: Any] {
        var candidates = [FileManager.default.currentDirectoryPath + "/Benchmarks/thresholds.json"]
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("Benchmarks/thresholds.json").path)
            dir = dir.deletingLastPathComponent()
        }
        for path in candidates {
            if let data = FileManager.default.contents(atPath: path),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                return object
            }
        }
        return [:]
    }
}

extension Duration {
    /// The benches' unit.
    var microseconds: Double { Double(components.seconds) * 1e6 + Double(components.attoseconds) / 1e12 }
}
