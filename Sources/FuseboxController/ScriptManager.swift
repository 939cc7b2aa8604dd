import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxLua

/// The scripts of the running site, for the page and the API: list them, show
/// their source, and replace one with a new version, reload it from its file, or
/// roll it back to the version before. A new version is compiled and dry-run by
/// the controller before anything changes; only then is it written to the site's
/// own folder, the version it replaces kept beside it as NAME.lua.previous.
/// A driver used by several devices is replaced on all of them or on none.
public actor ScriptManager {
    public enum Kind: String, Sendable, CaseIterable {
        case policy, driver
        public var plural: String { self == .policy ? "policies" : "drivers" }
    }

    public struct Script: Sendable, Codable, Equatable {
        public var kind: String
        public var name: String
        /// The file it runs from.
        public var path: String?
        /// Whether a previous version is kept to roll back to.
        public var previous: Bool
        /// The last reload that failed, if the newest attempt did.
        public var error: String?
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// 404: no such script; 409: no site folder to write to, or nothing to roll back to; 422: the script was refused.
        public var status: Int
        public var description: String
    }

    public let cycle: ControlCycle
    public let policies: PolicyLibrary
    public let drivers: DriverLibrary
    public let policyDirectory: String?
    public let driverDirectory: String?
    private var errors: [String: String] = [:]

    public init(cycle: ControlCycle, policies: PolicyLibrary, drivers: DriverLibrary, policyDirectory: String?, driverDirectory: String?) {
        self.cycle = cycle
        self.policies = policies
        self.drivers = drivers
        self.policyDirectory = policyDirectory
        self.driverDirectory = driverDirectory
    }

    public func list() async -> [Script] {
        var out: [Script] = []
        for name in await cycle.policyNames { out.append(describe(.policy, name)) }
        for name in await cycle.driverNames { out.append(describe(.driver, name)) }
        return out
    }

    private func describe(_ kind: Kind, _ name: String) -> Script {
        let path = self.path(kind, name)
        return Script(kind: kind.rawValue, name: name, path: path,
                      previous: siteFile(kind, name).map { FileManager.default.fileExists(atPath: $0 + ".previous") } ?? false,
                      error: errors[kind.rawValue + "/" + name])
    }

    public func source(_ kind: Kind, _ name: String) async throws(Failure) -> String {
        try await requireRunning(kind, name)
        guard let path = path(kind, name), let data = FileManager.default.contents(atPath: path) else {
            throw Failure(status: 404, description: "\(kind.rawValue) \(name): no file")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A new version: dry-run and swapped in by the controller first, then written.
    public func upload(_ kind: Kind, _ name: String, source: String) async throws(Failure) {
        try await requireRunning(kind, name)
        guard let file = siteFile(kind, name) else {
            throw Failure(status: 409, description: "no site folder for \(kind.plural): set scripts.\(kind.plural) in site.yaml")
        }
        let old = path(kind, name).flatMap { FileManager.default.contents(atPath: $0) }.map { String(decoding: $0, as: UTF8.self) }
        try await apply(kind, name, source: source, origin: file)
        do {
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if let old { try DurableFile.write(Data(old.utf8), to: file + ".previous") }
            try DurableFile.write(Data(source.utf8), to: file)
        } catch {
            // Not half-applied: the running version goes back to what the files say.
            if let old { try? await apply(kind, name, source: old, origin: path(kind, name) ?? file) }
            throw Failure(status: 500, description: "\(kind.rawValue) \(name): cannot write \(file): \(error)")
        }
    }

    /// Reloads the script from its file (after an edit on the box, say).
    public func reload(_ kind: Kind, _ name: String) async throws(Failure) {
        let text = try await source(kind, name)
        try await apply(kind, name, source: text, origin: path(kind, name) ?? name)
    }

    /// Back to the version before the last upload; the current one becomes the one before.
    public func rollback(_ kind: Kind, _ name: String) async throws(Failure) {
        try await requireRunning(kind, name)
        guard let file = siteFile(kind, name), let data = FileManager.default.contents(atPath: file + ".previous") else {
            throw Failure(status: 409, description: "\(kind.rawValue) \(name): no previous version to roll back to")
        }
        try await upload(kind, name, source: String(decoding: data, as: UTF8.self))
    }

    /// Back to the version shipped with Fusebox: the site's own file moves to
    /// NAME.lua.previous (a rollback brings it back). However many uploads came
    /// before, the shipped version is never lost.
    public func restoreShipped(_ kind: Kind, _ name: String) async throws(Failure) {
        try await requireRunning(kind, name)
        let siteDirectory = kind == .policy ? policyDirectory : driverDirectory
        let shippedDirectories = (kind == .policy ? policies.directories : drivers.directories).filter { $0 != siteDirectory }
        guard let shipped = ScriptDirectories.find(name, in: shippedDirectories), let data = FileManager.default.contents(atPath: shipped) else {
            throw Failure(status: 409, description: "\(kind.rawValue) \(name): Fusebox ships no \(kind.rawValue) of that name")
        }
        try await apply(kind, name, source: String(decoding: data, as: UTF8.self), origin: shipped)
        guard let file = siteFile(kind, name), FileManager.default.fileExists(atPath: file) else { return }
        do {
            if FileManager.default.fileExists(atPath: file + ".previous") { try FileManager.default.removeItem(atPath: file + ".previous") }
            try FileManager.default.moveItem(atPath: file, toPath: file + ".previous")
        } catch {
            throw Failure(status: 500, description: "\(kind.rawValue) \(name): the shipped version runs, but \(file) could not be moved aside: \(error)")
        }
    }

    private func apply(_ kind: Kind, _ name: String, source: String, origin: String) async throws(Failure) {
        let key = kind.rawValue + "/" + name
        switch kind {
        case .policy:
            let script: PolicyScript
            do { script = try PolicyScript(source: source, origin: origin) } catch {
                errors[key] = "\(error)"
                throw Failure(status: 422, description: "\(error)")
            }
            guard script.name == name else {
                throw Failure(status: 422, description: "\(origin): the script calls itself '\(script.name)', expected '\(name)'")
            }
            // The dry run on a copy of its own, here, beside the cycle; then a
            // fresh compile of the same source is swapped in.
            if let inputs = await cycle.dryRunInputs(for: name), let failure = PolicyDryRun.failure(of: script, on: inputs) {
                let e = ReloadError("policy \(name): \(origin) refused, the running version stays: \(failure)")
                await cycle.policyRefused(name, e)
                errors[key] = e.description
                throw Failure(status: 422, description: e.description)
            }
            let tested: PolicyScript
            do { tested = try PolicyScript(source: source, origin: origin) } catch {
                errors[key] = "\(error)"
                throw Failure(status: 422, description: "\(error)")
            }
            if case .failure(let e) = await cycle.replacePolicy(tested, tested: true) {
                errors[key] = e.description
                throw Failure(status: 422, description: e.description)
            }
        case .driver:
            let results = await cycle.reloadDriver(name) { try DriverScript(source: source, origin: origin) }
            let failed = results.compactMap { id, r -> String? in
                if case .failure(let e) = r { return "\(id): \(e)" } else { return nil }
            }
            if !failed.isEmpty {
                // All or none: put back what was swapped already.
                if let old = path(kind, name).flatMap({ FileManager.default.contents(atPath: $0) }) {
                    let text = String(decoding: old, as: UTF8.self), file = path(kind, name) ?? name
                    _ = await cycle.reloadDriver(name) { try DriverScript(source: text, origin: file) }
                }
                errors[key] = failed.sorted().joined(separator: "; ")
                throw Failure(status: 422, description: failed.sorted().joined(separator: "; "))
            }
        }
        errors[key] = nil
    }

    private func requireRunning(_ kind: Kind, _ name: String) async throws(Failure) {
        let names = kind == .policy ? await cycle.policyNames : await cycle.driverNames
        guard names.contains(name) else {
            throw Failure(status: 404, description: "no \(kind.rawValue) named '\(name)' is running (running: \(names.joined(separator: ", ")))")
        }
    }

    private func path(_ kind: Kind, _ name: String) -> String? {
        kind == .policy ? policies.path(for: name) : drivers.path(for: name)
    }

    private func siteFile(_ kind: Kind, _ name: String) -> String? {
        (kind == .policy ? policyDirectory : driverDirectory).map { $0 + "/" + name + ".lua" }
    }
}
