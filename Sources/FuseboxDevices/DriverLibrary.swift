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

    public func load(_ nameOrFile: String) throws(LuaError) -> DriverScript {
        guard let path = path(for: nameOrFile) else {
            throw LuaError(kind: .contract, script: nameOrFile,
                           message: "no driver named '\(nameOrFile)' in \(directories.joined(separator: ", "))")
        }
        return try DriverScript(file: path)
    }
}
