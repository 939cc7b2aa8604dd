import Foundation
import FuseboxController
import FuseboxCore
import FuseboxSimulation
import FuseboxSimulator

/// `fusebox bench --only cycle`: the control cycle on the wall clock against a
/// simulated site of N chargers on loopback Modbus TCP (one server each), at
/// periods of 1 s and 100 ms: the work per cycle (median, p99), overruns, and
/// the reaction time from a load step to the new limits written.
struct CycleBench {
    var sizes: [Int]
    var periods: [Double]
    /// Seconds each configuration runs.
    var seconds: Double

    func run() async throws -> [String: Any] {
        var result: [String: Any] = [:]
        var checks: [String: Any] = [:]
        let thresholds = Thresholds.load()["cycle"] as? [String: Double] ?? [:]
        for n in sizes {
            for period in periods {
                let key = "\(n)_chargers_\(Int(period * 1000))ms"
                let figures = try await measure(chargers: n, period: period)
                result[key] = figures
                if n == 100, let limit = thresholds["p99_work_ms_100"], let p99 = figures["p99_work_ms"] as? Double {
                    checks["\(key)_p99_under_\(Int(limit))ms"] = p99 <= limit
                }
                if period <= 0.1, let overruns = figures["overruns"] as? Int {
                    checks["\(key)_no_overruns"] = overruns == 0
                }
            }
        }
        result["targets_met"] = checks
        return result
    }

    func measure(chargers n: Int, period: Double) async throws -> [String: Any] {
        let fuse = max(63, 10 + 5 * n)
        var yaml = "site: { seed: 5, start: \"10:00\", base_load: 10, noise: 0.3 }\nchargers:\n"
        for i in 0..<n { yaml += "  - { id: c\(i), make: abb_terra, delay: 1s }\n" }
        yaml += "cars:\n"
        for i in 0..<n { yaml += "  - { charger: c\(i), arrive: 0s, wanted: 100 }\n" }
        var controller = SiteConfig()
        controller.limits = SiteLimits(current: PhaseValues(all: Double(fuse)), margin: 2)
        controller.period = period
        let run = try SimulatedRun(sim: try SimConfig(yaml: yaml, file: "bench"), controller: controller)
        defer { run.stop() }
        let cycles = Int(seconds / period)
        let runner = CycleRunner(cycle: run.cycle, period: period, limit: cycles)
        let stream = runner.subscribe(label: "bench", buffer: cycles + 8)

        // The site moves on in real time beside the controller; halfway through,
        // a step load as large as the fuse's headroom for cars.
        let site = run.site
        let step = Double(fuse) / 2
        let stepAt = Date().addingTimeInterval(seconds / 2).timeIntervalSince1970
        let ticker = Task.detached {
            var last = Date().timeIntervalSince1970
            var stepped = false
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(20))
                let now = Date().timeIntervalSince1970
                if !stepped && now >= stepAt {
                    site.model.steps.append(.init(name: "step", start: site.model.time, end: .infinity, current: PhaseValues(all: step)))
                    stepped = true
                }
                site.tick(now - last)
                last = now
            }
        }
        try await runner.run()
        ticker.cancel()

        // Reaction: from the step to the end of the first cycle that cut the limits for it.
        var reaction: Double?
        var before = 0.0
        for await p in stream {
            let total = p.record.allocation.reduce(0, +)
            if p.timing.started < stepAt { before = total; continue }
            if reaction == nil, total < before - step / 2 { reaction = p.timing.started + p.timing.work - stepAt }
        }
        let stats = runner.statistics
        return [
            "cycles": stats.cycles, "overruns": stats.overruns,
            "median_work_ms": (stats.quantile(0.5) * 1000 * 100).rounded() / 100,
            "p99_work_ms": (stats.quantile(0.99) * 1000 * 100).rounded() / 100,
            "reaction_ms": reaction.map { ($0 * 1000).rounded() } ?? -1,
        ]
    }
}
