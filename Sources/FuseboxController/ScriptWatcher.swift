import Foundation
import FuseboxDevices
import FuseboxLua
import Logging
import ServiceLifecycle
import UnixSignals

/// Hot reload of the running site's scripts (DESIGN "Hot reload"): on SIGHUP
/// every script is reloaded; between signals, a script whose file changed is
/// reloaded on its own. Each one is compiled fresh and dry-run by the cycle
/// before it replaces the old one; a broken one is refused and the old one
/// keeps running. The files are looked up again each time, so a site's own
/// script that appears later takes over from the shipped one.
public actor ScriptWatcher: Service {
    public let cycle: ControlCycle
    public let policies: PolicyLibrary
    public let drivers: DriverLibrary
    /// Seconds between looks at the files' modification times.
    public let interval: Double
    private nonisolated let logger: Logger
    private var seen: [String: Date] = [:]

    public init(cycle: ControlCycle, policies: PolicyLibrary, drivers: DriverLibrary, interval: Double = 2,
                logger: Logger = Logger(label: "fusebox.scripts")) {
        self.cycle = cycle
        self.policies = policies
        self.drivers = drivers
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        for path in await paths() { _ = changed(path) }   // the files as they are now
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
                    self.logger.info("SIGHUP: reloading every script")
                    for line in await self.reload(onlyChanged: false) { self.logger.info("\(line)") }
                }
            }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    do { try await Task.sleep(for: .milliseconds(Int(self.interval * 1000))) } catch { return }
                    for line in await self.reload(onlyChanged: true) { self.logger.info("\(line)") }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Reloads the scripts (those whose files changed since the last look, or
    /// all); returns what happened, a line per script.
    public func reload(onlyChanged: Bool) async -> [String] {
        var lines: [String] = []
        for name in await cycle.policyNames {
            guard let path = policies.path(for: name), changed(path) || !onlyChanged else { continue }
            do {
                let script = try PolicyScript(file: path)
                switch await cycle.replacePolicy(script) {
                case .success: lines.append("policy \(name): reloaded from \(path)")
                case .failure(let e): lines.append("\(e)")
                }
            } catch {
                lines.append("policy \(name): \(path) refused, the running version stays: \(error)")
                await cycle.note(.init(time: Date().timeIntervalSince1970, kind: .reloadRefused, subject: name, message: "\(error)"))
            }
        }
        for name in await cycle.driverNames {
            guard let path = drivers.path(for: name), changed(path) || !onlyChanged else { continue }
            let results = await cycle.reloadDriver(name) { try DriverScript(file: path) }
            for (id, r) in results.sorted(by: { $0.key < $1.key }) {
                switch r {
                case .success: lines.append("driver \(name) on \(id): reloaded from \(path)")
                case .failure(let e): lines.append("driver \(name) on \(id): \(e)")
                }
            }
        }
        return lines
    }

    private func paths() async -> [String] {
        await cycle.policyNames.compactMap { policies.path(for: $0) } + cycle.driverNames.compactMap { drivers.path(for: $0) }
    }

    /// Whether `path` changed since it was last seen (and remembers it now).
    private func changed(_ path: String) -> Bool {
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
        defer { seen[path] = modified }
        return seen[path] != modified
    }
}
