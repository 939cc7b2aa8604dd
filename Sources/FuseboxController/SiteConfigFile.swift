import Foundation
import FuseboxCore
import FuseboxYAML
import Yams

extension SiteConfig {
    /// Reads and checks a site.yaml file; every problem is reported at once.
    public static func load(file: String) throws(Problems) -> SiteConfig {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw Problems(messages: ["cannot read \(file)"])
        }
        return try SiteConfig(yaml: String(decoding: data, as: UTF8.self), file: file)
    }

    public init(yaml: String, file: String = "site.yaml", addresses: Bool = true) throws(Problems) {
        let root: Any?
        do { root = try ConfigYAML.load(yaml) } catch {
            throw Problems(messages: ["\(file): not valid YAML: \(error)"])
        }
        try self.init(tree: root as Any, file: file, addresses: addresses)
    }
}
