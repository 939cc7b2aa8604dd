import Foundation

/// Where scripts are looked up, first match wins: the site's own folder (from
/// site.yaml), a folder named by an environment variable, `./FOLDER`, the
/// package beside the running executable (a source checkout), and
/// /usr/share/fusebox/FOLDER (an installed box).
public enum ScriptDirectories {
    public static func search(_ folder: String, site: String?, environment variable: String) -> [String] {
        var dirs: [String] = []
        if let site { dirs.append(site) }
        if let env = ProcessInfo.processInfo.environment[variable] { dirs.append(env) }
        dirs.append(FileManager.default.currentDirectoryPath + "/" + folder)
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            dirs.append(dir.appendingPathComponent(folder).path)
            dir = dir.deletingLastPathComponent()
        }
        dirs.append("/usr/share/fusebox/" + folder)
        var seen = Set<String>()
        return dirs.filter { seen.insert($0).inserted }
    }

    /// A path ending in `.lua` (or holding a `/`) is taken as is; a bare name is
    /// looked up as NAME.lua in `directories`, first match wins.
    public static func find(_ nameOrFile: String, in directories: [String]) -> String? {
        if nameOrFile.hasSuffix(".lua") || nameOrFile.contains("/") {
            return FileManager.default.fileExists(atPath: nameOrFile) ? nameOrFile : nil
        }
        return directories.lazy.map { $0 + "/" + nameOrFile + ".lua" }.first { FileManager.default.fileExists(atPath: $0) }
    }
}
