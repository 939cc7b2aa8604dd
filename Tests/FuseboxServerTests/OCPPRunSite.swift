import Foundation
import FuseboxTesting

/// What each of OCPPRunTests starts: `fusebox sim` holding the site (a
/// building of 8 A per phase behind an SDM630, or the test's own site with its
/// OCPP stations), and `fusebox run` behind that meter with the test's
/// stations, OCPP endpoint and page. `stop` ends both and removes the folder.
struct OCPPRunSite {
    struct NotStarted: Error, CustomStringConvertible { let description: String }

    static let building = """
        site: { noise: 0, base_load: [8, 8, 8] }
        chargers: [ { id: p01, make: abb_terra } ]
        """

    let folder: String
    let sim: ChildProcess
    let box: ChildProcess
    /// What the simulator printed up to "ready".
    let served: [String]
    /// The OCPP endpoint's port, and the page's URL.
    let port: Int
    let url: String
    let serial: String

    /// `stations`: site.yaml's lines after its site, control and meter: the chargers and the ocpp section.
    /// `simArguments` go to `fusebox sim` (`--ocpp ws://...` for its stations).
    init(name: String, serial: String, fuse: Int, stations: String, sim simYAML: String = Self.building, simArguments: [String] = [],
         statusEvery: Int = 0, file: String = #filePath) async throws {
        let root = Expectation.repositoryRoot(from: file), binary = Expectation.fuseboxBinary(from: file)
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-ocpp-\(serial)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try simYAML.write(toFile: folder + "/sim.yaml", atomically: true, encoding: .utf8)
        sim = try ChildProcess([binary, "sim", "--config", folder + "/sim.yaml", "--any-port", "--status", statusEvery > 0 ? "\(statusEvery)" : "600"]
                               + simArguments, directory: root)
        self.serial = serial
        guard let served = await sim.lines(through: "ready", within: 60),
              let grid = served.first(where: { $0.hasPrefix("  grid") })?.split(separator: " ").first(where: { $0.hasPrefix("127.0.0.1:") })
                .flatMap({ Int($0.dropFirst(10)) }) else {
            throw NotStarted(description: "fusebox sim: \(sim.output) \(sim.errorOutput.suffix(2000))")
        }
        self.served = served
        try """
            site: { name: \(name), serial: \(serial), limit: { current: \(fuse), margin: 2 } }
            control: { ramp_up: 10, raise_every: 1s, restart_pause: 0s }
            meters: { grid: { driver: sdm630, host: 127.0.0.1, port: \(grid), unit: 1 } }
            \(stations)
            http: { listen: "127.0.0.1:0" }
            history: { path: \(folder)/history.db }
            """.write(toFile: folder + "/site.yaml", atomically: true, encoding: .utf8)
        box = try ChildProcess([binary, "run", "--config", folder + "/site.yaml", "--status-every", "\(statusEvery)"], directory: root)
        guard let endpoint = await box.line(containing: "OCPP stations: ws://", within: 60),
              let port = endpoint.split(separator: ":").last.flatMap({ Int($0.prefix { $0.isNumber }) }),
              let page = await box.line(containing: "web page: http://", within: 30),
              let url = page.split(separator: " ").first(where: { $0.hasPrefix("http://") }) else {
            throw NotStarted(description: "fusebox run: \(box.output) \(box.errorOutput.suffix(2000))")
        }
        self.port = port
        self.url = String(url)
    }

    func stop() {
        box.signal(SIGTERM)
        _ = box.waitForExit(timeout: 30)
        sim.signal(SIGTERM)
        _ = sim.waitForExit(timeout: 20)
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A call to the page's API as its admin (Tests/Support/api_call.py): the status, and the body.
    func api(_ method: String, _ path: String, _ body: String? = nil, file: String = #filePath) async throws -> (status: Int, body: Data) {
        let root = Expectation.repositoryRoot(from: file)
        let call = try ChildProcess(["python3", root + "/Tests/Support/api_call.py", url, "admin", serial, method, path] + (body.map { [$0] } ?? []))
        _ = await call.exit(within: 30)
        return (Int(call.output.first ?? "") ?? 0, Data(call.output.dropFirst().joined(separator: "\n").utf8))
    }

    /// A GET of the API, its body read as JSON (nil: not JSON).
    func json(_ path: String) async throws -> Any? {
        try? JSONSerialization.jsonObject(with: try await api("GET", path).body)
    }
}
