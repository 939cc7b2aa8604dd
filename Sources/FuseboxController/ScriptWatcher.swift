import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import Logging
import ServiceLifecycle
import UnixSignals

/// Hot reload of the running site's scripts (docs/design.md, the dry runs): on SIGHUP
/// the configuration file is read again (`SiteSetup.reloadFile`) and every script is reloaded; between signals, a script whose file changed is
/// reloaded on its own. Each one is compiled fresh and dry-run by the cycle
/// before it replaces the old one; a broken one is refused and the old one
/// keeps running. The files are looked up again each time, so a site's own
/// script that appears later takes over from the shipped one.
public actor ScriptWatcher: Service {
    /// The one path by which a running script is replaced: the page's, the API's and this.
    public let scripts: ScriptManager
    /// Seconds between looks at the files' modification times.
    public let interval: Double
    private nonisolated let logger: Logger
    private var seen: [String: Date] = [:]

    /// The configuration, read again from its file on SIGHUP.
    public let setup: SiteSetup?

    public init(scripts: ScriptManager, setup: SiteSetup? = nil, interval: Double = 2, logger: Logger = Logger(label: "fusebox.scripts")) {
        self.scripts = scripts
        self.setup = setup
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        for script in await scripts.list() { if let path = script.path { _ = changed(path) } }   // the files as they are now
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
                    if let setup = self.setup {
                        let outcome = await setup.reloadFile(by: "SIGHUP")
                        if outcome.status == 200 {
                            let later = outcome.restartNeeded.isEmpty ? "" : "; at the next start: \(outcome.restartNeeded.joined(separator: ", "))"
                            self.logger.info("SIGHUP: \(setup.file): \(outcome.change)\(later)")
                        } else {
                            self.logger.error("SIGHUP: \(setup.file) refused, the configuration in force stays: \(outcome.problems.joined(separator: "; "))")
                            await self.scripts.cycle.note(SiteEvent(time: Date().timeIntervalSince1970, kind: .reloadRefused, subject: "site",
                                                                    message: "\(setup.file) refused, the configuration in force stays: \(outcome.problems.joined(separator: "; "))"))
                        }
                    }
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
        for script in await scripts.list() {
            guard let path = script.path, changed(path) || !onlyChanged, let kind = ScriptManager.Kind(rawValue: script.kind) else { continue }
            do {
                try await scripts.reload(kind, script.name)
                lines.append("\(script.kind) \(script.name): reloaded from \(path)")
            } catch {
                lines.append("\(script.kind) \(script.name): \(path) refused, the running version stays: \(error)")
            }
        }
        return lines
    }

    /// Whether `path` changed since it was last seen (and remembers it now).
    private func changed(_ path: String) -> Bool {
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
        defer { seen[path] = modified }
        return seen[path] != modified
    }
}
