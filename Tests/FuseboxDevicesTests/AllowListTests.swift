@testable import FuseboxDevices
import Testing

@Suite("A cloud driver's allow list")
struct AllowListTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var url: String
        /// What the answer must say: refused by the allow list, not a URL, or
        /// let through (the request then fails: nothing listens on port 9).
        var expect: String
        var testDescription: String { url }
    }

    static let cases: [Case] = [
        Case(url: "http://127.0.0.1:9/api", expect: "let through"),
        Case(url: "HTTP://127.0.0.1:9/api", expect: "let through"),
        Case(url: "http://127.0.0.1:9@evil.example/api", expect: "host evil.example is not allowed"),
        Case(url: "http://evil.example#@127.0.0.1:9/api", expect: "host evil.example is not allowed"),
        Case(url: "http://evil.example?@127.0.0.1:9/api", expect: "host evil.example is not allowed"),
        // libcurl reads "evil.example\" as the user: it connects to 127.0.0.1:9,
        // the host that was checked (a browser would go to evil.example).
        Case(url: "http://evil.example\\@127.0.0.1:9/api", expect: "let through"),
        Case(url: "http://127.0.0.1:10/api", expect: "host 127.0.0.1:10 is not allowed"),
        Case(url: "http://127.0.0.1/api", expect: "host 127.0.0.1 is not allowed"),
        Case(url: "ftp://127.0.0.1:9/api", expect: "not an http"),
        Case(url: "//127.0.0.1:9/api", expect: "not an http"),
        Case(url: "http://[::1]:9/api", expect: "host [::1]:9 is not allowed"),
    ]

    @Test("the host checked is the host libcurl connects to", arguments: cases)
    func check(_ c: Case) async {
        let web = WebAccess(name: "cloud", api: "http://127.0.0.1:9")
        let url = c.url
        let result = await web.serially { web.request(method: "GET", url: url, headers: [], body: nil, timeout: 1) }
        let message: String
        switch result {
        case .success(let answer): message = "answered \(answer.status)"
        case .failure(let error): message = error.message
        }
        if c.expect == "let through" {
            #expect(!message.contains("not allowed") && !message.contains("not an http"), "\(message)")
        } else {
            #expect(message.contains(c.expect), "\(message)")
        }
    }
}
