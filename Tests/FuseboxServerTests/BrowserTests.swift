import Foundation
import FuseboxTesting
import Testing

/// The page in Debian's chromium (headless, through Selenium) against a real
/// `fusebox demo`: Tests/Support/browser_e2e.py does what a site owner does and
/// checks what the page shows. Screenshots land in test-artifacts/browser/.
@Suite("The page in a real browser", .serialized)
struct BrowserTests {
    static let root = Expectation.repositoryRoot(from: #filePath)

    @Test("log in, live values, a station limit, ripple locked, history, sessions CSV; markup from users and scripts shown as text")
    func endToEnd() async throws {
        // Every wait on a child is off the cooperative pool: the suite's wall-clock cycles run there.
        let demo = try await offPool { Result { try RunningDemo(binary: Expectation.fuseboxBinary(from: #filePath), repository: Self.root, password: "e2e-pass") } }.get()
        defer { demo.stop() }
        let url = demo.url
        let artifacts = Self.root + "/test-artifacts/browser"
        // Its own files only: the Setup's test leaves its screenshots in the same folder.
        for name in ["dashboard.png", "history.png", "failure.png", "downloads"] { try? FileManager.default.removeItem(atPath: artifacts + "/" + name) }
        let browser = try ChildProcess(["python3", Self.root + "/Tests/Support/browser_e2e.py", url, "e2e-pass", artifacts])
        let status = await offPool { browser.waitForExit(timeout: 240) }
        #expect(status == 0, "\(browser.output.joined(separator: "\n"))\n\(browser.errorOutput.suffix(3000))")
        #expect(browser.output.filter { $0.hasPrefix("OK ") }.count == 10, "\(browser.output)")
        for shot in ["dashboard.png", "history.png"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: artifacts + "/" + shot)[.size] as? Int) ?? 0
            #expect(size > 10_000, "\(shot): \(size) bytes")
        }
    }
}
