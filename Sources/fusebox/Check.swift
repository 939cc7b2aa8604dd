import ArgumentParser
import FuseboxController
import FuseboxCore

/// `fusebox check --config site.yaml`: every problem of the file and of its
/// scripts at once, each with its key path; nothing is contacted.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a site configuration and load every script it names.")

    @Option(help: "The site's configuration (YAML).")
    var config: String

    func run() async throws {
        let site: SiteConfig
        do { site = try SiteConfig.load(file: config) } catch {
            for m in error.messages { say(m) }
            say("\(error.messages.count) problem(s)")
            throw ExitCode(1)
        }
        do {
            let built = try SiteAssembly(config: site).build()
            say("\(config): OK: \(site.name), \(site.chargers.count) chargers, fuse \(site.limits.current) A, margin \(site.limits.margin) A")
            for line in built.summary { say("  " + line) }
        } catch {
            for m in error.messages { say("\(config): \(m)") }
            say("\(error.messages.count) problem(s)")
            throw ExitCode(1)
        }
    }
}
