import Foundation
import FuseboxCore

/// Every configuration the site has run, kept beside its file: `site.yaml`'s
/// versions are `site.yaml.versions/0001.yaml`, `0002.yaml`, ... (each the file's
/// exact bytes, comments included), and `index.json` says when each was saved,
/// by whom and what changed. The first save from the page keeps the file as it
/// was (written by hand, perhaps) as a version of its own before replacing it.
/// The newest `kept` versions stay; older ones are deleted.
public struct ConfigVersions: Sendable {
    public struct Version: Codable, Sendable, Equatable {
        public var number: Int
        /// Seconds since 1970.
        public var saved: Double
        public var by: String?
        public var change: String
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public let file: String
    public let kept: Int
    public var folder: String { file + ".versions" }

    public init(file: String, kept: Int = 100) {
        self.file = file
        self.kept = kept
    }

    /// The versions, oldest first.
    public func list() -> [Version] {
        guard let data = FileManager.default.contents(atPath: folder + "/index.json"),
              let versions = try? JSONDecoder().decode([Version].self, from: data) else { return [] }
        return versions
    }

    public func text(of number: Int) throws(Failure) -> String {
        guard list().contains(where: { $0.number == number }) else {
            throw Failure(description: "no version \(number) (there are \(list().map { String($0.number) }.joined(separator: ", ")))")
        }
        do { return try String(decoding: FileContents.read(path(number)), as: UTF8.self) } catch { throw Failure(description: "\(error)") }
    }

    /// Writes `text` as the site's file and as a new version; the file as it
    /// was is kept first when no version holds it yet. Returns the new version.
    public func save(_ text: String, at time: Double, by: String?, change: String) throws(Failure) -> Version {
        var versions = list()
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            if let current = FileManager.default.contents(atPath: file),
               versions.last.map({ (try? FileContents.read(path($0.number))) != current }) ?? true {
                let number = (versions.last?.number ?? 0) + 1
                try DurableFile.write(current, to: path(number))
                versions.append(Version(number: number, saved: time, by: nil,
                                        change: versions.isEmpty ? "the file as it was before the first save from the page"
                                                                 : "the file as changed outside the page"))
            }
            let version = Version(number: (versions.last?.number ?? 0) + 1, saved: time, by: by, change: change)
            try DurableFile.write(Data(text.utf8), to: path(version.number))
            versions.append(version)
            for old in versions.dropLast(kept) { try? FileManager.default.removeItem(atPath: path(old.number)) }
            versions = Array(versions.suffix(kept))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try DurableFile.write(encoder.encode(versions), to: folder + "/index.json")
            // The site's file last: until here a crash leaves the old configuration in force and in the file.
            try DurableFile.write(Data(text.utf8), to: file)
            return version
        } catch {
            throw Failure(description: "cannot save \(file): \(error)")
        }
    }

    private func path(_ number: Int) -> String { folder + "/" + String(format: "%04d.yaml", number) }
}
