import Foundation
import FuseboxTesting
import Testing

/// `fusebox policy test`, run as a user runs it: the built binary, real files.
@Suite("fusebox policy test (the command)")
struct PolicyTestCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(stdout.utf8)) }
    }

    static var binary: String { Expectation.fuseboxBinary(from: #filePath) }

    func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    func temporary(_ name: String, _ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a shipped policy by name on the example snapshot: JSON, exit 0")
    func shippedPolicy() throws {
        let r = try run(["policy", "test", "fair_share", "--snapshot", "docs/examples/snapshot.json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json as? [String: Any])
        let allocation = try #require(json["allocation"] as? [String: Double])
        #expect(Set(allocation.keys) == ["p01", "p02", "p03", "p04"])
        #expect(allocation["p04"] == 0, "p04 has no car")
        #expect((json["stages"] as? [[String: Any]])?.first?["name"] as? String == "fair_share")
        #expect(json["fallback"] == nil || json["fallback"] is NSNull)
    }

    @Test("the worked example of docs/policies.md gives what the page shows")
    func workedExample() throws {
        let r = try run(["policy", "test", "docs/examples/boss_first.lua", "--snapshot", "docs/examples/snapshot.json",
                         "--settings", "docs/examples/boss_first.settings.json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json as? [String: Any])
        #expect(json["allocation"] as? [String: Double] == ["p01": 16, "p02": 14.8, "p03": 14.8, "p04": 0])
        #expect((json["corrections"] as? [Any])?.isEmpty == true)
    }

    @Test("a chain with settings, and a file in place of a shipped stage")
    func chainWithSettings() throws {
        let settings = try temporary("settings.json", #"{ "pv_surplus": { "mode": "minpv" } }"#)
        let mine = try temporary("fair_share.lua", """
            return { name = "fair_share", allocate = function(site)
              print("mine ran")
              return fusebox.fill(site, fusebox.wanting(site))
            end }
            """)
        let r = try run(["policy", "test", mine, "--snapshot", "docs/examples/snapshot.json",
                         "--chain", "ripple,pv_surplus,fair_share", "--settings", settings])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json as? [String: Any])
        let stages = try #require(json["stages"] as? [[String: Any]])
        #expect(stages.map { $0["name"] as? String } == ["ripple", "pv_surplus", "fair_share"])
        #expect(stages[2]["log"] as? String == "mine ran\n")
        #expect((stages[1]["added_limits"] as? [String]) == ["pv surplus"])
    }

    @Test("a script error exits non-zero naming the script and the line")
    func scriptError() throws {
        let broken = try temporary("broken.lua", """
            return { allocate = function(site)
              local x = site.nothing.here
              return {}
            end }
            """)
        let r = try run(["policy", "test", broken, "--snapshot", "docs/examples/snapshot.json"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("broken"), "\(r.stderr)")
        #expect(r.stderr.contains("broken.lua:2:"), "\(r.stderr)")
        // The output still shows what the controller would have done: the fallback.
        let json = try #require(r.json as? [String: Any])
        #expect((json["fallback"] as? [String: Any])?["kind"] as? String == "error")
    }

    @Test("a syntax error is refused at load with its line")
    func syntaxError() throws {
        let broken = try temporary("syntax.lua", "return {\n  allocate = function(site)\n    return {\n  end\n}\n")
        let r = try run(["policy", "test", broken, "--snapshot", "docs/examples/snapshot.json"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("syntax.lua:4:"), "\(r.stderr)")
    }

    @Test("a bad snapshot names the key and what was expected")
    func badSnapshot() throws {
        let snapshot = try temporary("snap.json", """
            { "grid": { "current": [1, 2] }, "limits": { "current": 32 }, "chargers": [] }
            """)
        let r = try run(["policy", "test", "fair_share", "--snapshot", snapshot])
        #expect(r.status != 0)
        #expect(r.stderr.contains("grid.current"), "\(r.stderr)")
        #expect(r.stderr.contains("three numbers"), "\(r.stderr)")
    }

    @Test("an array of snapshots runs cycle after cycle with the memory carried")
    func sequence() throws {
        func snap(_ t: Int, _ surplus: Int) -> String {
            """
            { "time": \(t), "grid": { "current": 0 }, "limits": { "current": 63 },
              "pv": { "power": \(surplus + 500), "surplus": \(surplus) },
              "chargers": [ { "id": "p01", "status": "occupied", "phases": [1] } ] }
            """
        }
        let file = try temporary("day.json", "[\(snap(0, 3000)), \(snap(30, 3000)), \(snap(61, 3000))]")
        let r = try run(["policy", "test", "pv_surplus", "--snapshot", file])
        #expect(r.status == 0, "\(r.stderr)")
        let steps = try #require(r.json as? [[String: Any]])
        let amps = steps.compactMap { ($0["allocation"] as? [String: Double])?["p01"] }
        #expect(amps.count == 3)
        #expect(amps[0] == 0 && amps[1] == 0, "the on-delay holds the car back for 60 s")
        #expect(amps[2] > 6, "after the delay it charges from the surplus")
    }
}
