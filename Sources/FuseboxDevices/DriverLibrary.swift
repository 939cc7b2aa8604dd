import Foundation
import FuseboxLua

/// Finds drivers by name: a site's own directory first, then the shipped ones.
public struct DriverLibrary: Sendable {
    public var directories: [String]

    public init(directories: [String]) { self.directories = directories }

    public static func shipped(siteDirectory: String? = nil) -> DriverLibrary {
        DriverLibrary(directories: ScriptDirectories.search("drivers", site: siteDirectory, environment: "FUSEBOX_DRIVERS"))
    }

    public func path(for nameOrFile: String) -> String? { ScriptDirectories.find(nameOrFile, in: directories) }

    /// Every driver it can load, by name (for the page's Setup to offer).
    public var names: [String] {
        let files = directories.flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] }
        return Set(files.filter { $0.hasSuffix(".lua") }.map { String($0.dropLast(4)) }.filter { !$0.hasPrefix("_") }).sorted()
    }

    public func load(_ nameOrFile: String) throws(LuaError) -> DriverScript {
        guard let path = path(for: nameOrFile) else {
            throw LuaError(kind: .contract, script: nameOrFile,
                           message: "no driver named '\(nameOrFile)' in \(directories.joined(separator: ", "))")
        }
        return try DriverScript(file: path)
    }
}
