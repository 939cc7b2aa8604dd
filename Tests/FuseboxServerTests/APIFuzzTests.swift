import Foundation
import FuseboxTesting
import Testing

/// schemathesis (PyPI) against a real `fusebox demo`, authenticated with a
/// bearer token, through Tests/Support/api_fuzz.py: every operation of
/// docs/openapi.yaml with generated input, no 5xx, every answer as the spec
/// says. A short run with a fixed seed here; `make fuzz` runs it longer.
@Suite("The REST API under schemathesis", .serialized)
struct APIFuzzTests {
    static let root = Expectation.repositoryRoot(from: #filePath)

    @Test("generated requests to every operation: no server error, every response as the spec says")
    func schemathesis() async throws {
        // Every wait on a child is off the cooperative pool: the suite's wall-clock cycles run there.
        let demo = try await offPool { Result { try RunningDemo(binary: Expectation.fuseboxBinary(from: #filePath), repository: Self.root, password: "fuzz-pass") } }.get()
        defer { demo.stop() }
        let url = demo.url
        let env = ProcessInfo.processInfo.environment
        let seed = env["FUSEBOX_FUZZ_SEED"] ?? "20261126"
        let examples = env["FUSEBOX_API_FUZZ_EXAMPLES"] ?? "8"
        let st = try ChildProcess(["python3", Self.root + "/Tests/Support/api_fuzz.py", url, "fuzz-pass",
                                   Self.root + "/docs/openapi.yaml", seed, examples])
        let status = await offPool { st.waitForExit(timeout: 300) }
        let report = st.output.joined(separator: "\n")
        #expect(status == 0, "\(report.suffix(6000))\n\(st.errorOutput.suffix(2000))")
        // It ran every operation and every check.
        #expect(report.contains("Collected API operations: 42"), "\(report.prefix(1500))")
        for check in ["not_a_server_error", "status_code_conformance", "response_schema_conformance", "content_type_conformance"] {
            #expect(report.contains(check), "no \(check) in the report")
        }
    }
}
