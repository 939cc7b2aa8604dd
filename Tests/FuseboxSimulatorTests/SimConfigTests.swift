import Foundation
import FuseboxCore
import FuseboxSimulator
import FuseboxTesting
import Testing

@Suite("sim.yaml and fusebox sim", .serialized)
struct SimConfigTests {
    @Test("the default site: a meter, PV, seven chargers of seven makes on different rotations, one through its cloud")
    func defaultSite() throws {
        let text = try String(contentsOfFile: root + "/config/sim.yaml", encoding: .utf8)
        let config = try SimConfig(yaml: text)
        #expect(config.chargers.count == 7)
        #expect(Set(config.chargers.map(\.make)).count == 7)
        #expect(config.cloudChargers == ["z07"])
        #expect(Set(config.chargers.map { $0.charger.phases.map(\.rawValue) }).count == 3, "three rotations")
        #expect(config.pvPeak > 0)
        #expect(config.visits.count == 7)
        let ends: [Double] = config.loads.map(\.end)
        #expect(ends == [600, 12_600])
        #expect(config.start == 7.5 * 3600)
    }

    @Test("every problem at once, each with its key path and what was expected")
    func problems() {
        let yaml = """
            site: { base_load: [1, 2], pv: { peak: lots } }
            chargers:
              - { id: p01, make: tesla, phases: [1, 1], fault: grumpy }
              - { id: p01, make: abb_terra, delay: soon }
              - { id: o1, make: ocpp, port: 1600 }
              - { id: p02, make: abb_terra, key: secret }
            cars:
              - { charger: p09, phases: 2 }
            ocpp: { connect: "http://box:9000" }
            extra: 1
            """
        do {
            _ = try SimConfig(yaml: yaml, file: "bad.yaml")
            Issue.record("expected problems")
        } catch {
            let text = error.description
            for expected in ["bad.yaml: site.base_load: expected one number or three numbers",
                             "site.pv.peak: expected a number", "chargers[0].make: expected one of abb_terra",
                             "chargers[0].phases: expected 1 to 3 different building phases",
                             #"chargers[1].id: "p01" is used twice"#, "chargers[1].delay: expected a duration",
                             "cars[0].charger: expected the id of a charger above", "cars[0].phases: expected 1 or 3",
                             "chargers[0].fault: expected one of none, silent, busy, ignore_writes, slow, exception",
                             "chargers[2].port: an ocpp station connects to the controller over OCPP, it has no Modbus port",
                             "chargers[3].key: only an OCPP station", "ocpp.connect: expected the controller's endpoint as ws://HOST:PORT",
                             "extra: unknown key"] {
                #expect(text.contains(expected), "missing: \(expected)\n\(text)")
            }
            #expect(error.messages.count == 13)
        }
    }

    @Test("durations, alone and combined")
    func durations() {
        #expect(ConfigReader.seconds("500ms") == 0.5)
        #expect(ConfigReader.seconds("3h30m") == 12_600)
        #expect(ConfigReader.seconds("1m30s") == 90)
        #expect(ConfigReader.seconds("soon") == nil)
        #expect(ConfigReader.seconds("5") == nil, "a unit is required")
    }

    @Test("fusebox sim serves the site: pymodbus reads the meter and a charger while it runs")
    func command() throws {
        let binary = Expectation.fuseboxBinary(from: #filePath)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["sim", "--config", root + "/config/sim.yaml", "--any-port", "--speed", "60", "--duration", "20s"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { reap(process) }
        // Read the announcement up to "ready" (the process writes it at once).
        var text = ""
        while !text.contains("ready\n") {
            let data = out.fileHandleForReading.availableData
            guard !data.isEmpty else { break }
            text += String(decoding: data, as: UTF8.self)
        }
        func port(_ name: String) -> Int? {
            text.split(separator: "\n").first { $0.hasPrefix("  \(name) ") }
                .flatMap { $0.split(separator: ":").last }.flatMap { Int($0.split(separator: " ")[0]) }
        }
        let grid = try #require(port("grid"), "\(text)")
        let p01 = try #require(port("p01"), "\(text)")
        let meter = try pymodbusClient(port: grid, [["op": "read_input", "unit": 1, "address": 0, "count": 2]])
        #expect(meter[0] as? [Int] == [0x4366, 0], "230 V as float32 on the SDM630's first register")
        let abb = try pymodbusClient(port: p01, [["op": "read_holding", "unit": 1, "address": 0x4010, "count": 2]])
        let milliamps = try #require(abb[0] as? [Int])
        #expect(milliamps.count == 2 && milliamps[1] > 0, "the first car charges at p01: \(milliamps)")
    }
}

@Suite("fusebox demo", .serialized)
struct DemoCommandTests {
    @Test("the controller drives the default site and an OCPP station: the cars charge as the fuse allows, no invariant broken")
    func demo() throws {
        let binary = Expectation.fuseboxBinary(from: #filePath)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["demo", "--cycles", "300", "--speed", "0", "--any-port"]
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(text.suffix(800))")
        #expect(text.contains("invariant violations: 0 in 300 cycles"), "\(text.suffix(800))")
        // By the last status line seven of the eight cars charge: 8 x 6 A does not fit beside the building, so one
        // waits. The OCPP station's car (o08, over a WebSocket, the last column) has charged by then.
        let lines = text.split(separator: "\n").filter { $0.first?.isNumber == true }.map(String.init)
        let last = lines.last ?? ""
        #expect(last.components(separatedBy: " C").count - 1 == 7, "\(last)")
        #expect(lines.contains { $0.split(separator: " ").suffix(2).first == "C" }, "\(lines.suffix(5))")
        #expect(text.contains("o08: OCPP 1.6J station (ocpp), connecting to this box as /o08"), "\(text.prefix(1500))")
    }
}
