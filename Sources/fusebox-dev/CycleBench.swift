import Foundation
import FuseboxCommandLine
import FuseboxController
import FuseboxCore
import FuseboxSimulator

/// `fusebox-dev bench --only cycle`: the control cycle on the wall clock, built from
/// a site configuration as `fusebox run` builds it, against a simulated site of
/// N chargers in another process on loopback Modbus TCP (one server each), at
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
                if period <= 0.1, let limit = thresholds["overruns_100ms"], let overruns = figures["overruns"] as? Int {
                    checks["\(key)_overruns_at_most_\(Int(limit))"] = Double(overruns) <= limit
                }
            }
        }
        result["targets_met"] = checks
        return result
    }

    func measure(chargers n: Int, period: Double) async throws -> [String: Any] {
        // The site runs in a process of its own, as a car park's chargers are
        // machines of their own: `fusebox sim` on free ports, at real speed, with
        // a step load as large as half the fuse halfway through.
        let fuse = max(63, 10 + 5 * n)
        let stepAfter = seconds / 2 + 2
        let (sim, controller) = try BenchSite.start(chargers: n, period: period, fuse: fuse,
                                                    loads: "loads: [ { name: step, start: \(Int(stepAfter * 1000))ms, current: \(fuse / 2) } ]\n")
        defer { sim.stop() }
        let built = try SiteAssembly(config: controller).build()
        let cycles = Int(seconds / period)
        let runner = CycleRunner(cycle: built.cycle, period: period, limit: cycles)
        let stream = runner.subscribe(label: "bench", buffer: cycles + 8)
        let stepAt = sim.started + stepAfter
        try await runner.run()

        // Reaction: from the step to the end of the first cycle that cut the limits for it.
        // The first cycles connect to every charger and run each driver's init:
        // reported apart, not in the quantiles of the steady state.
        var reaction: Double?
        var before = 0.0
        var works: [Double] = []
        var firstCycles: [Double] = []
        for await p in stream {
            if p.number <= 3 { firstCycles.append(p.timing.work) } else { works.append(p.timing.work) }
            let total = p.record.allocation.reduce(0, +)
            if p.timing.started < stepAt { before = total; continue }
            if reaction == nil, total < before - Double(fuse) / 4 { reaction = p.timing.started + p.timing.work - stepAt }
        }
        works.sort()
        func ms(_ q: Double) -> Double { (CycleStats.quantile(works, q) * 100_000).rounded() / 100 }
        let stats = runner.statistics
        return [
            "cycles": stats.cycles, "overruns": stats.overruns,
            "median_work_ms": ms(0.5), "p99_work_ms": ms(0.99), "max_work_ms": ms(1),
            "first_cycles_ms": firstCycles.map { ($0 * 1000 * 10).rounded() / 10 },
            "reaction_ms": reaction.map { ($0 * 1000).rounded() } ?? -1,
        ]
    }
}

/// The benches' site: N ABB chargers with a car each, served by `fusebox sim` in
/// its own process, and the controller's configuration for it.
enum BenchSite {
    /// With `circuits`, the chargers are split evenly over that many
    /// sub-distributions of 2 A per phase per charger: tighter than the chargers'
    /// 16 A, so the circuits, not the fuse, decide.
    ///
    /// One `fusebox sim` serves at most `SimConfig.maxChargers`: libmodbus waits
    /// for a frame with select(), which aborts on a descriptor above 1023, and
    /// each simulated charger takes three (its listener and its wake pipe) plus
    /// one per client. Larger sites run in several processes; the first one
    /// also serves the grid meter and the loads (the others' cars are not on it).
    static let perProcess = SimConfig.maxChargers

    static func start(chargers n: Int, period: Double, fuse: Int, loads: String = "", circuits: Int = 0) throws -> (SimulatorProcesses, SiteConfig) {
        var processes: [SimulatorProcess] = []
        for first in stride(from: 0, to: max(n, 1), by: perProcess) {
            var yaml = "site: { seed: 5, start: \"10:00\", base_load: 10, noise: 0.3 }\n" + (first == 0 ? loads : "") + "chargers:\n"
            let ids = first..<min(n, first + perProcess)
            for i in ids { yaml += "  - { id: c\(i), make: abb_terra, delay: 1s }\n" }
            yaml += "cars:\n"
            for i in ids { yaml += "  - { charger: c\(i), arrive: 0s, wanted: 100 }\n" }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("bench-sim-\(UUID().uuidString).yaml")
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            do { processes.append(try SimulatorProcess(config: file.path)) } catch {
                processes.forEach { $0.stop() }
                throw error
            }
        }
        let sim = SimulatorProcesses(processes)
        var controller = SiteConfig()
        controller.name = "bench"
        controller.limits = SiteLimits(current: PhaseValues(all: Double(fuse)), margin: 2)
        controller.period = period
        controller.grid = .init(id: "grid", driver: "sdm630", address: .tcp(host: "127.0.0.1", port: sim.ports["grid"]!))
        controller.chargers = (0..<n).map { i in
            SiteConfig.Charger(device: .init(id: "c\(i)", driver: "abb_terra", address: .tcp(host: "127.0.0.1", port: sim.ports["c\(i)"]!)))
        }
        if circuits > 0 {
            let per = (n + circuits - 1) / circuits
            controller.circuits = stride(from: 0, to: n, by: per).enumerated().map { k, first in
                let members = (first..<min(n, first + per)).map { "c\($0)" }
                return Circuit(id: "board-\(k + 1)", limit: PhaseValues(all: Double(2 * members.count)), margin: 1, chargers: members)
            }
        }
        return (sim, controller)
    }
}

/// Several `fusebox sim` processes as one site: every port, the first one's start.
final class SimulatorProcesses {
    let processes: [SimulatorProcess]
    let ports: [String: Int]
    var started: Double { processes.first?.started ?? 0 }

    init(_ processes: [SimulatorProcess]) {
        self.processes = processes
        ports = processes.reduce(into: [:]) { all, p in all.merge(p.ports) { first, _ in first } }
    }

    func stop() { processes.forEach { $0.stop() } }
}

/// `fusebox sim --any-port` in a child process: its ports, read off its start-up lines.
final class SimulatorProcess {
    let process = Process()
    let errorLog = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-bench-sim-\(UUID().uuidString).log").path
    private(set) var ports: [String: Int] = [:]
    /// When it said "ready" (seconds since 1970): its simulated time 0.
    private(set) var started = 0.0

    init(config: String) throws {
        // `fusebox` sits beside `fusebox-dev` in the build folder.
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("fusebox")
        process.arguments = ["sim", "--config", config, "--any-port", "--status", "3600"]
        let out = Pipe()
        process.standardOutput = out
        // Kept: when the simulator dies mid-bench, its last words are here.
        _ = FileManager.default.createFile(atPath: errorLog, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: errorLog) ?? FileHandle.nullDevice
        try process.run()
        var text = ""
        let handle = out.fileHandleForReading
        while !text.contains("\nready\n") {
            let data = handle.availableData
            if data.isEmpty { throw Failure(message: "fusebox sim ended before it was ready: \(text)") }
            text += String(decoding: data, as: UTF8.self)
        }
        started = Date().timeIntervalSince1970
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let first = words.first, let address = words.first(where: { $0.hasPrefix("127.0.0.1:") }),
                  let port = Int(address.dropFirst("127.0.0.1:".count)) else { continue }
            ports[String(first)] = port
        }
        // Keep reading what it prints, so that it never blocks on a full pipe.
        Thread { while !handle.availableData.isEmpty {} }.start()
    }

    func stop() {
        guard process.isRunning else {
            FileHandle.standardError.write(Data("fusebox sim ended during the bench (status \(process.terminationStatus)); its stderr: \(errorLog)\n".utf8))
            return
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
