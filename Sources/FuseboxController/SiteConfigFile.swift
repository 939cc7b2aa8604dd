import Foundation
import FuseboxCore
import FuseboxYAML
import Yams

extension SiteConfig {
    /// Reads and checks a site.yaml file; every problem is reported at once.
    public static func load(file: String) throws(Problems) -> SiteConfig {
        let text: String
        do { text = try ConfigYAML.text(FileContents.read(file), name: file) } catch { throw Problems(messages: ["\(error)"]) }
        return try SiteConfig(yaml: text, file: file)
    }

    public init(yaml: String, file: String = "site.yaml", addresses: Bool = true) throws(Problems) {
        let root: Any?
        do { root = try ConfigYAML.load(yaml) } catch {
            throw Problems(messages: ["\(file): not valid YAML: \(ConfigYAML.describe(error))"])
        }
        try self.init(tree: root as Any, file: file, addresses: addresses)
    }
}
