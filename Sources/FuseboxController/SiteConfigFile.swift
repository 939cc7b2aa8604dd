import Foundation
import FuseboxCore
import FuseboxYAML
import Yams

extension SiteConfig {
    /// Reads and checks a site.yaml file; every problem is reported at once.
    public static func load(file: String) throws(Problems) -> SiteConfig { try read(file: file).0 }

    /// Reads and checks a site.yaml file, and gives its tree too (`ConfigYAML.plain`), for `SiteSetup`.
    public static func read(file: String) throws(Problems) -> (SiteConfig, [String: Any]) {
        let text: String
        do { text = try ConfigYAML.text(FileContents.read(file), name: file) } catch { throw Problems(messages: ["\(error)"]) }
        let root: Any?
        do { root = try ConfigYAML.load(text) } catch {
            throw Problems(messages: ["\(file): not valid YAML: \(ConfigYAML.describe(error))"])
        }
        let config = try SiteConfig(tree: root as Any, file: file)
        return (config, ConfigYAML.plain(root as Any) as? [String: Any] ?? [:])
    }

    public init(yaml: String, file: String = "site.yaml", addresses: Bool = true) throws(Problems) {
        let root: Any?
        do { root = try ConfigYAML.load(yaml) } catch {
            throw Problems(messages: ["\(file): not valid YAML: \(ConfigYAML.describe(error))"])
        }
        try self.init(tree: root as Any, file: file, addresses: addresses)
    }
}
