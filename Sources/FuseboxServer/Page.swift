import Foundation
import Hummingbird

/// The page: plain HTML, CSS and JavaScript from `Page/` (see `folder()`), and
/// Chart.js from where Debian's libjs-chart.js installs it (not copied here).
struct Page {
    let accounts: Accounts
    static let chartJS = "/usr/share/javascript/chart.js/chart.min.js"

    /// A resource of Sources/FuseboxServer/Page, read once.
    static func text(_ name: String) -> String { files[name] ?? "" }

    static let files: [String: String] = {
        var out: [String: String] = [:]
        guard let folder = folder() else { return out }
        for name in ["index.html", "login.html", "app.js", "setup.js", "login.js", "style.css", "openapi.yaml"] {
            if let data = FileManager.default.contents(atPath: folder + "/" + name) {
                out[name] = String(decoding: data, as: UTF8.self)
            }
        }
        return out
    }()

    /// Where the page's files are, first match wins: `FUSEBOX_PAGE`, the
    /// source tree above the running executable (a checkout, the tests), and
    /// /usr/share/fusebox/page (the package). Not SwiftPM's resource bundle:
    /// its accessor stops the process when the bundle is not beside the binary.
    static func folder() -> String? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["FUSEBOX_PAGE"] { candidates.append(env) }
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.appendingPathComponent("Sources/FuseboxServer/Page").path)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append("/usr/share/fusebox/page")
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/index.html") }
    }

    static let types = ["html": "text/html", "js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"]

    static func file(_ name: String) -> Response {
        let ext = (name as NSString).pathExtension
        guard let type = types[ext], !name.contains("/"), !name.hasPrefix(".") else { return notFound(name) }
        let body = text(name)
        guard !body.isEmpty else { return notFound(name) }
        return Response(status: .ok, headers: [.contentType: type + "; charset=utf-8", .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func notFound(_ name: String) -> Response {
        Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "no such file: \(name)\n")))
    }

    func addRoutes(to router: RecordedRoutes<Router<FuseboxRequestContext>>) {
        router.get("/") { request, _ -> Response in
            // The dashboard needs a session; without one, the login page.
            if let id = request.cookies[Authentication.cookie]?.value, await accounts.session(id) != nil { return Page.file("index.html") }
            return Response(status: .seeOther, headers: [.location: "/login"])
        }
        router.get("/login") { _, _ -> Response in Page.file("login.html") }
        router.get("/static/chart.js") { _, _ -> Response in
            guard let data = FileManager.default.contents(atPath: Page.chartJS) else {
                return Response(status: .notFound, headers: [.contentType: "text/plain"],
                                body: .init(byteBuffer: ByteBuffer(string: "Chart.js is not installed: apt-get install libjs-chart.js\n")))
            }
            return Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "max-age=86400"],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/static/:file") { _, context -> Response in Page.file(try context.parameters.require("file")) }
    }
}
