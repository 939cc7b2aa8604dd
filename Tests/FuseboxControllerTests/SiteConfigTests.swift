import Foundation
import FuseboxController
import FuseboxCore
import FuseboxTesting
import FuseboxTestCases
import Testing

/// Cases/config.json: a site.yaml and every problem it must be reported with.
struct ConfigCase: Decodable, Sendable, CustomStringConvertible {
    var name: String
    var yaml: String
    var problems: [String]
    var description: String { name }

    static func all() -> [ConfigCase] { JSONCases.load("Cases/config.json") }
}

@Suite("site.yaml: reading and checking")
struct SiteConfigTests {
    /// A parameterized test with no arguments passes silently: this one does not.
    @Test("the case file is there and decodes")
    func casesExist() {
        #expect(!ConfigCase.all().isEmpty)
    }

    @Test("bad files are reported whole: every problem, each with its key path", arguments: ConfigCase.all())
    func problems(_ c: ConfigCase) {
        do {
            _ = try SiteConfig(yaml: c.yaml, file: "site.yaml")
            Issue.record("\(c.name): accepted, expected \(c.problems)")
        } catch {
            for expected in c.problems {
                #expect(error.messages.contains { $0.contains(expected) }, "\(c.name): no problem says \"\(expected)\" in \(error.messages)")
            }
            #expect(error.messages.count == c.problems.count, "\(c.name): \(error.messages.count) problems, expected \(c.problems.count): \(error.messages)")
            #expect(error.messages.allSatisfy { $0.hasPrefix("site.yaml: ") }, "every problem names the file")
        }
    }

    @Test("the uplink's section: defaults filled in, written back by the tree and read again the same")
    func mqttSection() throws {
        let yaml = """
            site: { serial: SN-7, limit: { current: 63 } }
            meters: { grid: { driver: sdm630, host: 10.0.0.5, port: 502 } }
            chargers: [ { id: p01, driver: abb_terra, host: 10.0.0.6, port: 502 } ]
            mqtt: { broker: "mqtts://portal.example.com", user: box7, password: s3cret, tls: { ca: /etc/fusebox/ca.pem },
                    prefix: fleet/garage-7, version: 5, interval: 10s, deadband: 0.5, discovery: true }
            """
        let config = try SiteConfig(yaml: yaml)
        let mqtt = try #require(config.mqtt)
        #expect(mqtt.tls && mqtt.host == "portal.example.com" && mqtt.port == 8883)
        #expect(mqtt.topicPrefix(serial: config.serial) == "fleet/garage-7/", "a prefix always ends in /")
        #expect(mqtt.client(serial: config.serial) == "fusebox-SN-7")
        #expect(mqtt.interval == 10 && mqtt.deadband == 0.5 && mqtt.heartbeat == 60 && mqtt.outboxLimit == 200_000 && mqtt.version == "5")
        let again = try SiteConfig(tree: config.tree, file: "tree")
        #expect(again.mqtt == config.mqtt)
        #expect(try SiteConfig(yaml: "site: { serial: X, limit: { current: 63 } }\nmeters: { grid: { driver: sdm630, host: 10.0.0.5, port: 502 } }\nchargers: [ { id: p01, driver: abb_terra, host: 10.0.0.6, port: 502 } ]").mqtt == nil,
                "no section, no uplink")
        #expect(try SiteConfig(tree: ["site": ["serial": "X", "limit": ["current": 63]], "mqtt": ["broker": "mqtt://[::1]:1884"]], file: "t", addresses: false).mqtt?.host == "::1")
    }

    @Test("the example config/site.yaml reads as written")
    func example() throws {
        let root = Expectation.repositoryRoot(from: #filePath)
        let config = try SiteConfig.load(file: root + "/config/site.yaml")
        #expect(config.name == "Garage Flurstrasse")
        #expect(config.limits == SiteLimits(current: PhaseValues(all: 63), margin: 2, power: 40_000))
        #expect(config.failsafe == FailsafeSettings(meterTimeout: 5, current: 0))
        #expect(config.grid == SiteConfig.Device(id: "grid", driver: "sdm630", address: .tcp(host: "127.0.0.1", port: 1502), unit: 1))
        #expect(config.pv?.driver == "sunspec")
        #expect(config.chargers.map(\.id) == ["p01", "p02", "p03", "p04", "p05", "p06", "z07"])
        #expect(config.chargers[6].device.address == .web(api: "http://127.0.0.1:1530", allow: []))
        #expect(config.chargers[1].phases == [.l2, .l3, .l1])
        #expect(config.chargers[2].priority == 1 && config.chargers[2].max == 32)
        #expect(config.circuits.first?.chargers == ["p05", "p06"])
        #expect(config.chain == ["ripple", "fair_share"])
        #expect(config.ripple.reducedPower == 4200)
        #expect(config.rippleInputs == [SiteConfig.RippleInput(source: .file(path: "./ripple.state"), mode: .locked, debounce: 1)])
        #expect(config.control.raiseEvery == 5 && config.control.restartPause == 30)
        #expect(config.history.rawRetention == 7 * 86_400)
    }

    @Test("a serial port is Modbus RTU with its line settings")
    func serial() throws {
        let config = try SiteConfig(yaml: """
            site: { limit: { current: [40, 35, 35] } }
            meters: { grid: { driver: sdm630, port: /dev/ttyUSB0, baud: 19200, parity: even, unit: 3 } }
            chargers: [ { id: p03, driver: abb_terra, port: /dev/ttyUSB0, unit: 2, phases: [3] } ]
            """)
        #expect(config.grid.address == .rtu(path: "/dev/ttyUSB0", baud: 19_200, parity: "E"))
        #expect(config.limits.current == PhaseValues(40, 35, 35))
        #expect(config.chargers[0].device.address == .rtu(path: "/dev/ttyUSB0", baud: 9600, parity: "N"))
        #expect(config.chargers[0].phases == [.l3])
    }

    @Test("more Modbus TCP connections than the process may open: refused by name, not a failure mid-run; 1000 fit a normal limit")
    func tooManyConnections() throws {
        var config = SiteConfig()
        config.grid = .init(id: "grid", driver: "sdm630", address: .tcp(host: "10.0.0.1", port: 502))
        // 1000 chargers on their own addresses plus the meter: 1001 connections.
        config.chargers = (0..<1000).map { i in
            SiteConfig.Charger(device: .init(id: "c\(i)", driver: "abb_terra", address: .tcp(host: "10.0.\(i / 250).\(i % 250 + 2)", port: 502)))
        }
        var assembly = SiteAssembly(config: config)
        assembly.descriptorLimit = 1024
        do {
            _ = try assembly.build()
            Issue.record("expected a problem at a limit of 1024")
        } catch {
            #expect(error.messages == ["chargers: 1001 Modbus TCP connections and 256 descriptors for the rest need 1257, "
                + "but this process may open 1024 (ulimit -n): raise LimitNOFILE= in the systemd unit, "
                + "or reach chargers through gateways that serve several unit ids on one connection"])
        }
        assembly.descriptorLimit = 1257
        _ = try assembly.build()
        // The same chargers behind gateways (ten unit ids per connection) fit the old limit.
        config.chargers = config.chargers.enumerated().map { i, c in
            var c = c
            c.device.address = .tcp(host: "10.1.0.\(i / 10 + 2)", port: 502)
            c.device.unit = i % 10 + 1
            return c
        }
        assembly.config = config
        assembly.descriptorLimit = 1024
        _ = try assembly.build()
        // An OCPP endpoint counts its 256 stations' sockets: 101 connections and 256 + 256 do not fit in 600.
        config.ocpp = SiteConfig.OCPP()
        assembly.config = config
        assembly.descriptorLimit = 600
        do {
            _ = try assembly.build()
            Issue.record("expected a problem at a limit of 600 with an OCPP endpoint")
        } catch {
            #expect(error.messages.first?.hasPrefix("chargers: 101 Modbus TCP connections, 256 for OCPP stations and 256 descriptors for the rest need 613") == true,
                    "\(error.messages)")
        }
    }

    @Test("a cloud driver needs an API URL and a Modbus driver a Modbus address: a mix-up is named, with what to give instead")
    func transportMismatch() throws {
        var config = SiteConfig()
        config.grid = .init(id: "grid", driver: "sdm630", address: .tcp(host: "10.0.0.1", port: 502))
        config.chargers = [
            SiteConfig.Charger(device: .init(id: "z1", driver: "zaptec", address: .tcp(host: "10.0.0.2", port: 502))),
            SiteConfig.Charger(device: .init(id: "a1", driver: "abb_terra", address: .web(api: "https://api.zaptec.com", allow: []))),
            SiteConfig.Charger(device: .init(id: "z2", driver: "zaptec", address: .web(api: "https://api.zaptec.com", allow: []))),
        ]
        do {
            _ = try SiteAssembly(config: config).build()
            Issue.record("expected two problems")
        } catch {
            #expect(error.messages == [
                "chargers[0].api: driver zaptec talks to the vendor's cloud: give the API URL as api, not host and port",
                "chargers[1].api: driver abb_terra speaks Modbus: give host and port (or a serial port), not api",
            ])
        }
        config.chargers.removeFirst(2)
        let built = try SiteAssembly(config: config).build()
        #expect(built.summary.contains("z2: zaptec at https://api.zaptec.com"), "\(built.summary)")
    }
}
