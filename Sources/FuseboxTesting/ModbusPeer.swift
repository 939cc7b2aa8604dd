import Foundation

/// pymodbus serving a register map in a child process (Tests/Support/modbus_peer.py).
/// It prints "READY <port>" when it listens, then "WRITE ..." for each write.
// Unchecked: it holds a ChildProcess (itself safe) and immutable values.
public final class ModbusPeer: @unchecked Sendable {
    private let child: ChildProcess

    public static let script = Expectation.repositoryRoot(from: #filePath) + "/Tests/Support/modbus_peer.py"

    /// Starts the peer with `map` (the JSON of modbus_peer.py) and waits until it listens.
    public init(map: [String: Any]) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("peer-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: map).write(to: file)
        child = try ChildProcess(["python3", ModbusPeer.script, file.path])
        guard let ready = child.waitForLine(prefix: "READY", timeout: 20) else {
            child.signal(SIGKILL)
            throw CaseError("the Modbus peer did not start: \(child.errorOutput.suffix(2000))")
        }
        port = Int(ready.split(separator: " ")[1]) ?? 0
    }

    public let port: Int

    /// Every line up to `marker` (which is taken too, not returned), waiting up to
    /// `timeout` seconds for the marker.
    public func takeLines(through marker: String, timeout: Double) -> [String]? {
        child.takeLines(through: marker, timeout: timeout)
    }

    /// The first line starting with `prefix` not yet taken, waiting up to `timeout` seconds for it.
    public func waitForLine(prefix: String, timeout: Double) -> String? {
        child.waitForLine(prefix: prefix, timeout: timeout)
    }
}

/// A pseudo-terminal pair joined by socat: what one end writes, the other reads,
/// as on a serial line. Stands in for an RS-485 bus in the RTU tests.
// Unchecked: its socat Process is started in init and only stopped after; the paths are immutable.
public final class SerialPair: @unchecked Sendable {
    public let a: String
    public let b: String
    private let process: Process

    public init() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        a = dir.appendingPathComponent("a").path
        b = dir.appendingPathComponent("b").path
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["socat", "pty,raw,echo=0,link=\(a)", "pty,raw,echo=0,link=\(b)"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        // socat makes the links once both ends are open: wait for that, bounded.
        let deadline = Date().addingTimeInterval(10)
        while !(FileManager.default.fileExists(atPath: a) && FileManager.default.fileExists(atPath: b)) {
            guard Date() < deadline, process.isRunning else { throw CaseError("socat did not make the pty pair") }
            usleep(10_000)
        }
    }

    deinit { reap(process) }
}

/// Kills a child and waits until Foundation has collected it. SIGKILL, since
/// `terminate` sends SIGTERM, which a busy peer may not act on. Never `waitpid`
/// here: Foundation's own thread reaps every child it started, and reaping it
/// first would leave its pid free for reuse while Foundation still waits on it.
public func reap(_ process: Process) {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
}

/// Runs Tests/Support/modbus_client.py (pymodbus as a Modbus TCP client) with
/// `ops` against `port` and returns its results, one per op.
public func pymodbusClient(port: Int, _ ops: [[String: Any]]) throws -> [Any] {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(UUID().uuidString).json")
    try JSONSerialization.data(withJSONObject: ops).write(to: file)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", Expectation.repositoryRoot(from: #filePath) + "/Tests/Support/modbus_client.py", String(port), file.path]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard let list = try JSONSerialization.jsonObject(with: data) as? [Any] else {
        throw CaseError("modbus_client.py printed \(String(decoding: data, as: UTF8.self))")
    }
    return list
}
