import Foundation
import FuseboxTesting
import FuseboxTestCases
import FuseboxCore
import Testing

/// Cases/ripple_signal.json: contacts, readings over time, and the mode they make.
struct RippleSignalCase: Decodable, Sendable, CustomStringConvertible {
    struct Contact: Decodable, Sendable { var active: String; var mode: String; var debounce: Double }
    struct Step: Decodable, Sendable { var t: Double; var closed: [Bool?]; var remote: String?; var ttl: Double?; var mode: String }
    var name: String
    var contacts: [Contact]
    var steps: [Step]
    var description: String { name }

    static func all() -> [RippleSignalCase] { JSONCases.load("Cases/ripple_signal.json") }
}

@Suite("The ripple signal: debounce, wiring, several inputs, the API")
struct RippleSignalTests {
    /// A parameterized test with no arguments passes silently: this one does not.
    @Test("the case file is there and decodes")
    func casesExist() {
        #expect(!RippleSignalCase.all().isEmpty)
    }

    @Test("ripple signal cases", arguments: RippleSignalCase.all())
    func signal(_ c: RippleSignalCase) throws {
        var signal = RippleSignal(contacts: try c.contacts.map {
            RippleSignal.Contact(activeWhenClosed: $0.active == "closed", mode: try #require(RippleMode(rawValue: $0.mode)), debounce: $0.debounce)
        })
        for step in c.steps {
            if let remote = step.remote { signal.setRemote(RippleMode(rawValue: remote), until: step.t + (step.ttl ?? 0)) }
            for (i, closed) in step.closed.enumerated() { signal.observe(i, closed: closed, at: step.t) }
            #expect(signal.mode(at: step.t).rawValue == step.mode, "\(c.name): at t=\(step.t)")
        }
    }
}
