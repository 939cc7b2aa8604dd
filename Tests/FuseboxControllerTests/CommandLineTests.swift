import Foundation
import FuseboxCore
import FuseboxHistory
import FuseboxTesting
import Testing

/// The command line run as a user runs it, on files made for each case
/// (Cases/cli.json): bad input, a full disk, a closed standard output. Each
/// case says the exit status and what the messages hold; none may end in a
/// trap (status 132 or 133).
struct CommandLineCase: Sendable, CustomTestStringConvertible {
    var name: String
    var args: [String]
    var files: [String: String]
    var hexFiles: [String: String]
    /// Make `history.db` with two minutes of samples.
    var history: Bool
    /// Where standard output goes: a pipe (nil), "/dev/full", or "closed".
    var output: String?
    var status: Int32
    var stdout: String?
    var stderr: String?
    var stdoutEmpty: Bool
    /// Files that must be byte for byte as they were.
    var unchanged: [String]
    /// No control character but newline and tab in what is printed.
    var plainOutput: Bool
    var testDescription: String { name }

    static func all() -> [CommandLineCase] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases/cli.json")
        guard let data = try? Data(contentsOf: url), let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return list.map { c in
            CommandLineCase(name: c["name"] as? String ?? "?", args: c["args"] as? [String] ?? [], files: c["files"] as? [String: String] ?? [:],
                            hexFiles: c["hexFiles"] as? [String: String] ?? [:], history: c["history"] as? Bool ?? false,
                            output: c["output"] as? String, status: Int32(c["status"] as? Int ?? -1), stdout: c["stdout"] as? String,
                            stderr: c["stderr"] as? String, stdoutEmpty: c["stdoutEmpty"] as? Bool ?? false,
                            unchanged: c["unchanged"] as? [String] ?? [], plainOutput: c["plainOutput"] as? Bool ?? false)
        }
    }
}

@Suite("The command line on bad input and broken output")
struct CommandLineTests {
    static let root = Expectation.repositoryRoot(from: #filePath)

    @Test("Cases/cli.json is there")
    func loads() { #expect(CommandLineCase.all().count >= 20) }

    @Test("each case: its exit status and messages, never a trap", arguments: CommandLineCase.all())
    func command(_ c: CommandLineCase) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebox-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, text) in c.files {
            let path = dir + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
        for (name, hex) in c.hexFiles {
            let bytes = stride(from: 0, to: hex.count - 1, by: 2).compactMap { UInt8(hex.dropFirst($0).prefix(2), radix: 16) }
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
        }
        if c.history { try await Self.makeHistory(dir + "/history.db") }
        let before = c.unchanged.map { FileManager.default.contents(atPath: dir + "/" + $0) }

        let args = c.args.map { $0.replacingOccurrences(of: "$DIR", with: dir) }
        let process = Process()
        let err = Pipe(), out = Pipe()
        switch c.output {
        case "closed"?:
            // The shell closes descriptor 1 before fusebox starts.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "exec \"$0\" \"$@\" >&-", Expectation.fuseboxBinary(from: #filePath)] + args
        case let path?:
            process.executableURL = URL(fileURLWithPath: Expectation.fuseboxBinary(from: #filePath))
            process.arguments = args
            process.standardOutput = FileHandle(forWritingAtPath: path)
        case nil:
            process.executableURL = URL(fileURLWithPath: Expectation.fuseboxBinary(from: #filePath))
            process.arguments = args
            process.standardOutput = out
        }
        if process.standardOutput == nil { process.standardOutput = out }
        process.standardError = err
        process.currentDirectoryURL = URL(fileURLWithPath: Self.root)
        try process.run()
        // The child is waited for on a thread of its own: parallel cases must not
        // hold the cooperative pool that other tests' servers and tickers need.
        let piped = c.output == nil
        let (stdoutData, stderrData) = await offPool {
            let o = piped ? out.fileHandleForReading.readDataToEndOfFile() : Data()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (o, e)
        }
        let stdout = String(decoding: stdoutData, as: UTF8.self), stderr = String(decoding: stderrData, as: UTF8.self)
        let shown = "\(c.name): status \(process.terminationStatus) (\(process.terminationReason == .uncaughtSignal ? "signal" : "exit")), stdout \(stdout.prefix(300)), stderr \(stderr.prefix(600))"

        #expect(process.terminationReason == .exit, "\(shown)")
        #expect(process.terminationStatus == c.status, "\(shown)")
        if let needle = c.stdout?.replacingOccurrences(of: "$DIR", with: dir) { #expect(stdout.contains(needle), "\(shown)") }
        if let needle = c.stderr?.replacingOccurrences(of: "$DIR", with: dir) { #expect(stderr.contains(needle), "\(shown)") }
        if c.stdoutEmpty { #expect(stdout.isEmpty, "\(shown)") }
        if c.plainOutput {
            #expect((stdoutData + stderrData).allSatisfy { $0 >= 0x20 || $0 == 0x0A || $0 == 0x09 }, "\(shown)")
        }
        for (name, old) in zip(c.unchanged, before) {
            #expect(FileManager.default.contents(atPath: dir + "/" + name) == old, "\(c.name): \(name) changed")
            #expect(!FileManager.default.fileExists(atPath: dir + "/" + name + "-wal"), "\(c.name): \(name) got a WAL file")
        }
    }

    /// Two minutes of one cycle per second, two chargers.
    static func makeHistory(_ path: String) async throws {
        let store = try HistoryStore(path: path)
        let cycles = (0..<120).map { i in
            HistoryCycle(time: 1_764_000_000 + Double(i), current: PhaseValues(all: 20), limit: PhaseValues(all: 63),
                         chargers: [ChargerSample(id: "p01", status: .charging, current: [10, 10, 10], setpoint: 10, energy: Double(i) / 100),
                                    ChargerSample(id: "p02", status: .free, current: [0], setpoint: 0, energy: 0)])
        }
        try await store.write(cycles)
        try store.saveChargers([ChargerSettingsRecord(id: "p01", phases: [.l1, .l2, .l3], min: 6, max: 16, priority: 0),
                                ChargerSettingsRecord(id: "p02", phases: [.l1], min: 6, max: 16, priority: 0)])
    }
}
