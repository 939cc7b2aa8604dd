import Foundation

/// A program the tests start and talk to through its output lines: the
/// pymodbus peer, `fusebox run` and `fusebox history` children. Output is
/// read on plain threads until end of file and kept line by line; waiting for
/// a line is bounded and wakes on the line itself, with no sleeping.
// Unchecked: the lines read so far are under a lock and a condition; the process is started once.
public final class ChildProcess: @unchecked Sendable {
    public let process: Process
    private let lines = NSCondition()
    private var received: [String] = []
    private var everything: [String] = []
    private var pending = ""
    private var stderrData = Data()
    private var ended = false
    private let input = Pipe()

    /// Starts `arguments` (through /usr/bin/env, so a bare program name is looked up).
    public init(_ arguments: [String], directory: String? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        process.standardInput = input   // a peer exits when this closes, should the test die
        process.standardOutput = out
        process.standardError = err
        try process.run()
        Self.drain(out.fileHandleForReading) { [weak self] data in self?.take(output: data) }
        Self.drain(err.fileHandleForReading) { [weak self] data in
            guard let self else { return }
            self.lines.lock()
            self.stderrData.append(data)
            self.lines.unlock()
        }
    }

    /// Reads `handle` on a thread of its own until end of file, handing each chunk
    /// (and the empty one at the end) to `body`. Not `readabilityHandler`: its
    /// dispatch source, still registered when the child went away and the pipe's
    /// descriptor was closed and reused, crashed libdispatch's event loop.
    private static func drain(_ handle: FileHandle, _ body: @escaping @Sendable (Data) -> Void) {
        Thread {
            while true {
                let data = handle.availableData
                body(data)
                if data.isEmpty { return }
            }
        }.start()
    }

    private func take(output data: Data) {
        lines.lock()
        pending += String(decoding: data, as: UTF8.self)
        while let newline = pending.firstIndex(of: "\n") {
            let line = String(pending[..<newline])
            received.append(line)
            everything.append(line)
            pending = String(pending[pending.index(after: newline)...])
        }
        if data.isEmpty { ended = true }
        lines.broadcast()
        lines.unlock()
    }

    /// Every line up to `marker` (which is taken too, not returned), waiting up to
    /// `timeout` seconds for the marker.
    public func takeLines(through marker: String, timeout: Double) -> [String]? {
        waitFor(timeout) { received in
            guard let i = received.firstIndex(of: marker) else { return nil }
            let before = Array(received[..<i])
            received.removeSubrange(...i)
            return before
        }
    }

    /// The first line not yet taken that `matches`, waiting up to `timeout` seconds for it.
    public func waitForLine(timeout: Double, where matches: (String) -> Bool) -> String? {
        waitFor(timeout) { received in
            guard let i = received.firstIndex(where: matches) else { return nil }
            return received.remove(at: i)
        }
    }

    public func waitForLine(prefix: String, timeout: Double) -> String? {
        waitForLine(timeout: timeout) { $0.hasPrefix(prefix) }
    }

    public func waitForLine(containing text: String, timeout: Double) -> String? {
        waitForLine(timeout: timeout) { $0.contains(text) }
    }

    private func waitFor<T>(_ timeout: Double, _ found: (inout [String]) -> T?) -> T? {
        let deadline = Date().addingTimeInterval(timeout)
        lines.lock()
        defer { lines.unlock() }
        while true {
            if let value = found(&received) { return value }
            if ended || !lines.wait(until: deadline) { return nil }
        }
    }

    /// Everything it printed so far, and its standard error.
    public var output: [String] { lines.lock(); defer { lines.unlock() }; return everything }
    public var errorOutput: String { lines.lock(); defer { lines.unlock() }; return String(decoding: stderrData, as: UTF8.self) }

    public func signal(_ number: Int32) { if process.isRunning { kill(process.processIdentifier, number) } }

    /// Waits for the child to exit on its own (its output closed first), up to `timeout` seconds.
    public func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        lines.lock()
        while !ended { if !lines.wait(until: deadline) { break } }
        let closed = ended
        lines.unlock()
        guard closed else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { reap(process) }
}

/// `fusebox demo` on free ports, for tests that need the real server: the
/// process (stop it with SIGTERM) and the page's URL once it serves.
/// The waits of `ChildProcess`, off the cooperative pool: a test that blocks
/// one of its two threads for seconds starves the wall-clock cycles of the
/// tests running beside it.
extension ChildProcess {
    public func exit(within seconds: Double) async -> Int32? { await offPool { self.waitForExit(timeout: seconds) } }
    public func line(containing text: String, within seconds: Double) async -> String? {
        await offPool { self.waitForLine(containing: text, timeout: seconds) }
    }
    public func line(prefix: String, within seconds: Double) async -> String? {
        await offPool { self.waitForLine(prefix: prefix, timeout: seconds) }
    }
    public func lines(through marker: String, within seconds: Double) async -> [String]? {
        await offPool { self.takeLines(through: marker, timeout: seconds) }
    }
}

public struct RunningDemo: Sendable {
    public let process: ChildProcess
    public let url: String

    public struct NotServing: Error, CustomStringConvertible {
        public var description: String
    }

    public init(binary: String, repository: String, password: String) throws {
        process = try ChildProcess([binary, "demo", "--any-port", "--speed", "20", "--password", password], directory: repository)
        guard let line = process.waitForLine(containing: "web page: http://", timeout: 60) else {
            process.signal(SIGTERM)
            throw NotServing(description: "fusebox demo did not serve within 60 s: \(process.output.suffix(20)) \(process.errorOutput.suffix(2000))")
        }
        url = String(line.split(separator: " ").first { $0.hasPrefix("http://") } ?? "")
    }

    public func stop() {
        process.signal(SIGTERM)
        _ = process.waitForExit(timeout: 30)
    }
}
