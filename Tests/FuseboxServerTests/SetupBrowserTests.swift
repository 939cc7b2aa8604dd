import Foundation
import FuseboxTesting
import Testing

/// The issue's installer in Debian's chromium: `fusebox run` with a site.yaml
/// holding only the fuse and serial, beside `fusebox sim` (three stations of
/// three makes on rotated phases); Tests/Support/setup_e2e.py finds, tests,
/// adds and saves them through the Setup tab, sees the cars charge without a
/// restart, has a wrong port refused, restores a version and checks the readings. Screenshots in
/// test-artifacts/browser/setup-*.png.
@Suite("The Setup tab in a real browser", .serialized)
struct SetupBrowserTests {
    static let root = Expectation.repositoryRoot(from: #filePath)

    @Test("a bare box set up from the page: find, test, add, save, charge; a wrong port refused; a version restored")
    func installerSetsUpABox() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-setup-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let wiring = ["p01": "1,2,3", "p02": "2,3,1", "p03": "3,1,2"]
        try """
            site: { noise: 0.3, base_load: [6, 5, 6] }
            chargers:
              - { id: p01, make: abb_terra, phases: [1, 2, 3], max: 16 }
              - { id: p02, make: alfen_eve, phases: [2, 3, 1], max: 16 }
              - { id: p03, make: bender,    phases: [3, 1, 2], max: 16 }
            cars:
              - { charger: p01, arrive: 0s, phases: 3, max: 16, wanted: 60 }
              - { charger: p02, arrive: 0s, phases: 3, max: 16, wanted: 60 }
              - { charger: p03, arrive: 0s, phases: 3, max: 16, wanted: 60 }
            """.write(toFile: folder + "/sim.yaml", atomically: true, encoding: .utf8)
        let binary = Expectation.fuseboxBinary(from: #filePath)
        let sim = try ChildProcess([binary, "sim", "--config", folder + "/sim.yaml", "--any-port", "--status", "600"], directory: Self.root)
        defer { sim.signal(SIGTERM); _ = sim.waitForExit(timeout: 20) }
        // Every wait on a child is off the cooperative pool: the suite's wall-clock cycles run there.
        let served = try #require(await offPool { sim.takeLines(through: "ready", timeout: 60) }, "fusebox sim: \(sim.output) \(sim.errorOutput.suffix(2000))")
        var ports: [String: Any] = ["wiring": wiring]
        for line in served {
            // "  grid   sdm630 unit 1 on 127.0.0.1:40123" and "  p01    abb_terra unit 1 on 127.0.0.1:40124  phases ..."
            let words = line.split(separator: " ")
            guard let name = words.first, let at = words.first(where: { $0.hasPrefix("127.0.0.1:") }),
                  let port = Int(at.dropFirst("127.0.0.1:".count)) else { continue }
            ports[String(name)] = port
        }
        #expect(Set(ports.keys) == ["wiring", "grid", "p01", "p02", "p03"], "\(served)")

        try """
            site: { name: Setup e2e, serial: E2E-SETUP, limit: { current: 32, margin: 2 } }
            http: { listen: "127.0.0.1:0" }
            history: { path: \(folder)/history.db }
            """.write(toFile: folder + "/site.yaml", atomically: true, encoding: .utf8)
        let box = try ChildProcess([binary, "run", "--config", folder + "/site.yaml", "--status-every", "0"], directory: Self.root)
        defer { box.signal(SIGTERM); _ = box.waitForExit(timeout: 30) }
        let line = try #require(await offPool { box.waitForLine(containing: "web page: http://", timeout: 60) },
                                "fusebox run: \(box.output) \(box.errorOutput.suffix(2000))")
        let url = String(line.split(separator: " ").first { $0.hasPrefix("http://") } ?? "")

        let artifacts = Self.root + "/test-artifacts/browser"
        let arguments = String(decoding: try JSONSerialization.data(withJSONObject: ports), as: UTF8.self)
        let browser = try ChildProcess(["python3", Self.root + "/Tests/Support/setup_e2e.py", url, "E2E-SETUP", artifacts, arguments])
        let status = await offPool { browser.waitForExit(timeout: 300) }
        #expect(status == 0, "\(browser.output.joined(separator: "\n"))\n\(browser.errorOutput.suffix(3000))\n\(box.output.suffix(30).joined(separator: "\n"))")
        #expect(browser.output.filter { $0.hasPrefix("OK ") }.count == 8, "\(browser.output)")
        // The file on disk is the restored version, and the bare original is kept as version 1.
        let versions = try String(contentsOfFile: folder + "/site.yaml.versions/0001.yaml", encoding: .utf8)
        #expect(versions.contains("serial: E2E-SETUP") && !versions.contains("chargers"))
        // No restart: the process that served the first page is the one running now.
        #expect(box.process.isRunning)
        #expect(box.output.filter { $0.hasPrefix("fusebox run:") }.count == 2, "one start (two lines of it): \(box.output.prefix(5))")
    }
}
