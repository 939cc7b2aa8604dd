import Foundation

/// A file a person named (a configuration, a snapshot, a history), read with
/// the reason when it cannot be: "cannot read X" alone does not say what to fix.
public enum FileContents {
    public struct Unreadable: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Why `path` cannot be read as a file, or nil when it can.
    public static func problem(_ path: String) -> String? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return "no such file" }
        if isFolder.boolValue { return "it is a folder, not a file" }
        guard FileManager.default.isReadableFile(atPath: path) else { return "no permission to read it" }
        return nil
    }

    /// The file's bytes, or "cannot read PATH: why".
    public static func read(_ path: String) throws(Unreadable) -> Data {
        if let why = problem(path) { throw Unreadable(description: "cannot read \(path): \(why)") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Unreadable(description: "cannot read \(path): the system refused (an I/O error?)")
        }
        return data
    }
}
