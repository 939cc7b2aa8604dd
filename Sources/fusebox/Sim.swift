import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxCore
import FuseboxSimulator

struct Sim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the simulated site alone: Modbus TCP servers speaking the real register maps.",
        discussion: "See docs/simulator.md for sim.yaml. Stop with Ctrl-C, or give --duration.")

    @Option(help: "The site description.")
    var config: String = "config/sim.yaml"

    @Option(help: "Simulated seconds per real second.")
    var speed: Double = 1

    @Option(help: "Stop after this long in real time (e.g. 30s, 10m); runs until stopped without it.")
    var duration: String?

    @Flag(help: "Ignore the ports of the file and take free ones (for tests).")
    var anyPort = false

    @Option(help: "Seconds of real time between status lines.")
    var status: Double = 5

    @Option(help: "The controller's OCPP endpoint its OCPP stations connect to (ws://HOST:PORT), instead of the file's ocpp.connect.")
    var ocpp: String?

    func run() async throws {
        var parsed: SimConfig
        do { parsed = try SimConfig.load(file: config) } catch { throw Failure(message: error.description) }
        guard speed > 0 else { throw Failure(message: "--speed: expected a number above 0") }
        let stopAfter: Double?
        if let duration {
            guard let d = ConfigReader.seconds(duration) ?? Double(duration) else { throw Failure(message: "--duration: expected e.g. 30s or 10m, got \(duration)") }
            stopAfter = d
        } else {
            stopAfter = nil
        }
        if let ocpp {
            guard ocpp.hasPrefix("ws://") || ocpp.hasPrefix("wss://") else { throw Failure(message: "--ocpp: expected ws://HOST:PORT, got \(ocpp)") }
            parsed.ocppConnect = ocpp.hasSuffix("/") ? String(ocpp.dropLast()) : ocpp
        }
        let site: SimulatedSite
        do { site = try SimulatedSite(config: parsed, anyPort: anyPort) } catch { throw Failure(message: "\(error)") }
        let model = site.model
        defer { site.stop() }
        say("fusebox sim: \(config), \(parsed.chargers.count) chargers, \(speed)x real time")
        say("  grid   sdm630 unit \(parsed.meterUnit) on 127.0.0.1:\(site.port(of: "grid")!)")
        if let pv = site.port(of: "pv") { say("  pv     sunspec unit \(parsed.pvUnit) on 127.0.0.1:\(pv)  peak \(Int(parsed.pvPeak)) W") }
        for c in parsed.chargers where SimConfig.ocppMakes.contains(c.make) {
            let rotation = c.charger.phases.map { "L\($0.rawValue)" }.joined(separator: ",")
            say("  \(c.id)    \(c.make) station connecting to \(parsed.ocppConnect.map { "\($0)/\(c.id)" } ?? "(no ocpp.connect: not connecting)")  phases \(rotation)  max \(Int(c.charger.maxCurrent)) A")
        }
        for c in parsed.chargers where !SimConfig.ocppMakes.contains(c.make) {
            let rotation = c.charger.phases.map { "L\($0.rawValue)" }.joined(separator: ",")
            let fault = c.fault == .none ? "" : "  fault \(c.fault)"
            say("  \(c.id)    \(c.make) unit \(c.unit) on 127.0.0.1:\(site.port(of: c.id).map(String.init) ?? "-")  phases \(rotation)  max \(Int(c.charger.maxCurrent)) A\(fault)")
        }
        say("ready")

        let clock = ContinuousClock()
        let began = clock.now
        var lastStatus = began
        let step = 0.1
        while true {
            try await Task.sleep(for: .milliseconds(100))   // the simulation's pace, not a wait for an event
            site.tick(step * speed)
            let now = clock.now
            if let stopAfter, began.duration(to: now) >= .seconds(stopAfter) { break }
            if lastStatus.duration(to: now) >= .seconds(status) {
                lastStatus = now
                let t = Int(model.time) % 86_400
                let g = model.gridCurrent.array.map { String(format: "%5.1f", $0) }.joined(separator: " ")
                let cars = model.chargers.map { c in c.drawing > 0 ? String(format: "%4.1f", c.drawing) : (c.car == nil ? "  - " : "  0 ") }
                say(String(format: "%02d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) + "  grid A \(g)  PV \(Int(model.pvPower)) W  cars A \(cars.joined(separator: " "))")
                    }
        }
    }
}


