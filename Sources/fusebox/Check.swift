import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxController
import FuseboxCore
import FuseboxOCPP
import FuseboxServer

/// `fusebox check --config site.yaml`: every problem of the file and of its
/// scripts at once, each with its key path; nothing is contacted. With
/// `--live`, it then watches the site (reads only, writes nothing) and reports
/// what the readings give away about the installation.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a site configuration and load every script it names.")

    @Option(help: "The site's configuration (YAML).")
    var config: String

    @Flag(help: "Also read the meters and chargers (no writes) and check the wiring from what they show.")
    var live = false

    @Option(help: "Seconds to watch with --live.")
    var seconds: Double = 30

    func run() async throws {
        let site: SiteConfig
        do { site = try SiteConfig.load(file: config) } catch {
            for m in error.messages { say(m) }
            say("\(error.messages.count) problem(s)")
            throw ExitCode(1)
        }
        do {
            // A diagnostic waits for every device: what a slow one answers is worth seeing here.
            var diagnostic = site
            diagnostic.control.deviceDeadline = .infinity
            var assembly = SiteAssembly(config: diagnostic)
            // Its stations are checked as configured (their drivers loaded); they connect to `fusebox run`, not here.
            if site.ocpp != nil { assembly.ocpp = OCPPStations(allowed: OCPPStations.ids(of: site)) }
            let built = try assembly.build()
            say("\(config): OK: \(site.name), \(site.chargers.count) chargers, fuse \(site.limits.current) A, margin \(site.limits.margin) A")
            for line in built.summary { say("  " + line) }
            if let mqtt = site.mqtt {
                say("  uplink: \(mqtt.broker) as \(mqtt.client(serial: site.serial)), "
                    + "topics under \(mqtt.topicPrefix(serial: site.serial))" + (mqtt.discovery ? ", Home Assistant discovery on" : ""))
                // libmosquitto would refuse them at start: said here, with the key.
                let files = [("mqtt.tls.ca", mqtt.caFile), ("mqtt.tls.certificate", mqtt.certificateFile), ("mqtt.tls.key", mqtt.keyFile)]
                let unreadable = files.compactMap { key, path in path.flatMap { FileManager.default.isReadableFile(atPath: $0) ? nil : "\(config): \(key): cannot read \($0)" } }
                if !unreadable.isEmpty {
                    for m in unreadable { say(m) }
                    say("\(unreadable.count) problem(s)")
                    throw ExitCode(1)
                }
            }
            if let ocpp = site.ocpp {
                say("  OCPP stations: \(ocpp.tlsCertificate == nil ? "ws" : "wss")://<this box>:\(ocpp.port)/<station id>, subprotocol ocpp1.6")
                if let certificate = ocpp.tlsCertificate, let key = ocpp.tlsKey {
                    do { _ = try WebServer.tlsConfiguration(certificate: certificate, key: key, section: "ocpp.tls") } catch {
                        say("\(config): \(error)")
                        say("1 problem(s)")
                        throw ExitCode(1)
                    }
                }
            }
            if live { try await watch(built.cycle, period: site.period) }
        } catch let error as ExitCode {
            throw error
        } catch let error as SiteAssembly.Problems {
            for m in error.messages { say("\(config): \(m)") }
            say("\(error.messages.count) problem(s)")
            throw ExitCode(1)
        }
    }

    /// Reads the site every period for `seconds`; prints device errors once and
    /// each commissioning warning as it is found.
    func watch(_ cycle: ControlCycle, period: Double) async throws {
        say("watching for \(Int(seconds)) s (reading only)...")
        var errors = Set<String>()
        var warnings = 0
        var last: SiteSnapshot?
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let (snapshot, problems, events) = await cycle.observe(at: Date().timeIntervalSince1970)
            last = snapshot
            for e in problems where errors.insert(e).inserted { say("error: \(e)") }
            for e in events where e.kind == .commissioning {
                warnings += 1
                say("warning: \(e.subject ?? ""): \(e.message)")
            }
            try await Task.sleep(for: .milliseconds(Int(period * 1000)))
        }
        if let s = last {
            say("grid \(s.grid.current) A at \(s.grid.voltage) V" + (s.pv.map { ", PV \(Int($0.power)) W" } ?? "")
                + "; " + s.chargers.map { "\($0.id) \($0.status.rawValue) \($0.current.map { String(format: "%.1f", $0) }.joined(separator: "/")) A" }.joined(separator: ", "))
        }
        say("\(errors.count) device error(s), \(warnings) wiring warning(s)")
        if !errors.isEmpty || warnings > 0 { throw ExitCode(1) }
    }
}
