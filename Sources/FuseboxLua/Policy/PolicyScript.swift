import Foundation

/// One loaded policy: its own sandboxed state holding the prelude and the
/// policy's table. Not `Sendable`: it belongs to the engine that runs it.
public final class PolicyScript {
    /// The policy's `name` field, or its file name without `.lua`.
    public let name: String
    /// Where it came from, for messages ("policies/fair_share.lua").
    public let origin: String
    public let source: String
    let sandbox: LuaSandbox

    /// Compiles `source` in a fresh state and checks the contract: a table with an
    /// `allocate` function. Throws with the script's name and line on any failure.
    public init(source: String, origin: String, limits: LuaLimits = LuaLimits()) throws(LuaError) {
        let stem = PolicyScript.stem(of: origin)
        let sandbox = try LuaSandbox(name: stem, limits: limits)
        try sandbox.load(source: PolicyPrelude.source, chunkname: PolicyPrelude.chunkname)
        try sandbox.load(source: source, chunkname: origin)
        guard case .opaque("function") = try sandbox.moduleField("allocate") else {
            throw LuaError(kind: .contract, script: stem,
                           message: "\(origin): the returned table has no function 'allocate'")
        }
        let declared = try sandbox.moduleField("name")
        switch declared {
        case .string(let s) where !s.isEmpty: name = s
        case .nil: name = stem
        default:
            throw LuaError(kind: .contract, script: stem,
                           message: "\(origin): 'name' must be a string, got \(declared.typeName)")
        }
        self.origin = origin
        self.source = source
        self.sandbox = sandbox
    }

    /// Loads a file.
    public convenience init(file: String, limits: LuaLimits = LuaLimits()) throws(LuaError) {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw LuaError(kind: .contract, script: PolicyScript.stem(of: file),
                           message: "cannot read \(file): \(error.localizedDescription)")
        }
        try self.init(source: text, origin: file, limits: limits)
    }

    static func stem(of path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.hasSuffix(".lua") ? String(file.dropLast(4)) : file
    }

    /// Bytes its state holds.
    public var memoryUsed: Int { sandbox.memoryUsed }
}

/// Finds policies by name: a site's own directory first, then the shipped ones.
public struct PolicyLibrary: Sendable {
    public var directories: [String]

    public init(directories: [String]) { self.directories = directories }

    /// The site's own folder, then the shipped `policies/` (see `ScriptDirectories`).
    public static func shipped(siteDirectory: String? = nil) -> PolicyLibrary {
        PolicyLibrary(directories: ScriptDirectories.search("policies", site: siteDirectory, environment: "FUSEBOX_POLICIES"))
    }

    public func path(for nameOrFile: String) -> String? { ScriptDirectories.find(nameOrFile, in: directories) }

    public func load(_ nameOrFile: String, limits: LuaLimits = LuaLimits()) throws(LuaError) -> PolicyScript {
        guard let path = path(for: nameOrFile) else {
            throw LuaError(kind: .contract, script: nameOrFile,
                           message: "no policy named '\(nameOrFile)' in \(directories.joined(separator: ", "))")
        }
        return try PolicyScript(file: path, limits: limits)
    }
}
