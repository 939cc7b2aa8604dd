import ArgumentParser
import Foundation
import FuseboxController
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import FuseboxModbus
import FuseboxSimulator

/// The main job on an embedded default: the simulated site of config/sim.yaml
/// (a meter, PV, six chargers of six makes) on loopback Modbus TCP, and the
/// control cycle driving it through the shipped drivers and policies. Every
/// cycle is checked against the invariants, and the seconds the real grid spent
/// over the fuse (while cars follow a new limit) are counted. (The web page on
/// :4000 joins with issue 5; history and fail-safe tuning with issue 4.)
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The controller driving a simulated site, with a status line as it goes.")

    @Option(help: "The simulated site.")
    var config: String = "config/sim.yaml"

    @Option(help: "Cycles to run (0: until stopped with Ctrl-C).")
    var cycles: Int = 0

    @Option(help: "Simulated seconds per real second (one cycle is one simulated second).")
    var speed: Double = 5

    @Option(help: "The grid connection's fuse, A per phase.")
    var fuse: Double = 63

    @Option(help: "The policy chain, comma-separated.")
    var chain: String = "ripple,fair_share"

    @Flag(help: "Take free ports instead of those in the file.")
    var anyPort = false

    func run() async throws {
        let parsed: SimConfig
        do { parsed = try SimConfig.load(file: config) } catch { throw Failure(message: error.description) }
        let site: SimulatedSite
        do { site = try SimulatedSite(config: parsed, anyPort: anyPort) } catch { throw Failure(message: "\(error)") }
        let model = site.model
        defer { site.stop() }

        let simulated = SimulatedClock(model.time)   // what the drivers' dev.time reads
        func device(_ driver: String, _ id: String, unit: Int) throws -> LuaDevice {
            try LuaDevice(id: id, script: DriverScript(file: ScriptFiles.path("drivers", driver)),
                          connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: site.port(of: id)!), name: id),
                          unit: unit, clock: { simulated.now })
        }
        let stations = try parsed.chargers.map { c in
            ControlCycle.Station(settings: ChargerSnapshot(id: c.id, status: .free, phases: c.charger.phases, max: c.charger.maxCurrent),
                                 device: try device(c.make, c.id, unit: c.unit))
        }
        let library = PolicyLibrary.shipped()
        let limits = SiteLimits(current: PhaseValues(all: fuse), margin: 2)
        let names = chain.split(separator: ",").map(String.init)
        let policies = PolicyChain(scripts: try names.map { try library.load($0) })   // handed to the cycle below
        let cycle = ControlCycle(limits: limits, meter: try device("sdm630", "grid", unit: parsed.meterUnit),
                                 stations: stations, chain: policies)

        say("fusebox demo: the controller driving \(config): \(stations.count) chargers behind a \(Int(fuse)) A fuse (2 A margin)")
        say("  policies \(names.joined(separator: " -> ")), one cycle per simulated second, \(speed)x real time")
        say("  grid meter on 127.0.0.1:\(site.port(of: "grid")!); chargers " +
            parsed.chargers.map { "\($0.id) \($0.make) :\(site.port(of: $0.id)!)" }.joined(separator: ", "))
        say("  (the web page on :4000 comes with the server; this is the console view)")
        say("time      grid A (L1 L2 L3)     PV W   " + parsed.chargers.map { $0.id.padding(toLength: 6, withPad: " ", startingAt: 0) }.joined())

        var violations = 0
        var done = 0
        var reported = Set<String>()   // each device error once
        var overFuse = 0              // seconds the real grid was over the fuse (reaction time of the cars)
        while cycles == 0 || done < cycles {
            site.tick(1)
            simulated.now = model.time
            let record = await cycle.run(at: model.time)
            violations += record.invariantViolations.count
            if model.gridCurrent.array.max()! > fuse { overFuse += 1 }
            for v in record.invariantViolations { say("  invariant broken: \(v)") }
            for e in record.errors where !reported.contains(e) {
                reported.insert(e)
                say("  \(e)")
            }
            done += 1
            if done % 10 == 1 {
                let t = Int(model.time) % 86_400
                let clock = String(format: "%02d:%02d:%02d", t / 3600, t / 60 % 60, t % 60)
                let grid = model.gridCurrent.array.map { String(format: "%5.1f", $0) }.joined(separator: " ")
                let cars = record.snapshot.chargers.enumerated().map { i, c -> String in
                    let tag = c.status == .charging ? "C" : c.status == .occupied ? "B" : c.status == .free ? "-" : "x"
                    return (tag + String(format: "%4.1f", record.allocation[i])).padding(toLength: 6, withPad: " ", startingAt: 0)
                }
                say("\(clock)  \(grid)   \(String(format: "%5.0f", model.pvPower))   \(cars.joined())")
            }
            if speed > 0 { try await Task.sleep(for: .milliseconds(Int(1000 / speed))) }   // the pace of the show
        }
        say("invariant violations: \(violations) in \(done) cycles; the grid was over the \(Int(fuse)) A fuse for \(overFuse) s"
            + " (cars follow a new limit after their reaction delay)")
        if violations > 0 { throw Failure(message: "the demo saw \(violations) invariant violations") }
    }
}

/// Simulated time, read by the drivers on their connections' queues.
final class SimulatedClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Double
    init(_ value: Double) { self.value = value }
    var now: Double {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}

/// Shipped scripts (policies/, drivers/) in the working directory or beside the package.
enum ScriptFiles {
    static func path(_ folder: String, _ name: String) -> String {
        var candidates = [FileManager.default.currentDirectoryPath + "/\(folder)/\(name).lua"]
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("\(folder)/\(name).lua").path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }
}
