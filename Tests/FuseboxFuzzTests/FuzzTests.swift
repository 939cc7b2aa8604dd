import Foundation
import FuseboxFuzz
import FuseboxTesting
import Testing

private let root = Expectation.repositoryRoot(from: #filePath)
private let kept = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Kept").path

/// The short fuzz runs of `make test` (`make fuzz` runs them longer, with a new
/// seed each time): a fixed seed, so that CI is repeatable, unless
/// FUSEBOX_FUZZ_SEED gives another; FUSEBOX_FUZZ_SECONDS sets the time.
/// Every input once found failing is kept in Kept/<target>/ and replayed.
@Suite("Fuzzing", .serialized)
struct FuzzTests {
    static let targets: [String: any FuzzTarget] = [
        "config": ConfigFuzzer(repository: root), "policy": PolicyFuzzer(), "driver": DriverFuzzer(repository: root),
    ]
    static var seed: UInt64 { ProcessInfo.processInfo.environment["FUSEBOX_FUZZ_SEED"].flatMap { UInt64($0) } ?? 20261126 }
    static var seconds: Double { ProcessInfo.processInfo.environment["FUSEBOX_FUZZ_SECONDS"].flatMap { Double($0) } ?? 4 }

    @Test("a short run finds nothing", arguments: ["config", "policy", "driver"])
    func shortRun(_ name: String) async {
        let target = Self.targets[name]!
        var settings = FuzzSettings(seed: Self.seed, seconds: Self.seconds)
        settings.minCases = 40
        let report = await Fuzz.run(target, settings)
        print("fuzz \(name): \(report.cases) cases in \(String(format: "%.1f", report.seconds)) s, seed \(Self.seed)")
        #expect(report.cases >= 40)
        for f in report.failures.prefix(5) {
            Issue.record("\(name) case \(f.caseSeed) (seed \(Self.seed)): \(f.message)\n--- input ---\n\(f.input.prefix(2000))")
        }
    }

    @Test("every kept input is handled", arguments: ["config", "policy", "driver"])
    func keptInputs(_ name: String) async {
        let (files, failures) = await Fuzz.replay(Self.targets[name]!, folder: kept + "/" + name)
        print("fuzz \(name): \(files) kept inputs replayed")
        for (file, message) in failures { Issue.record("Kept/\(name)/\(file): \(message)") }
    }

    @Test("the same seed gives the same inputs", arguments: ["config", "policy", "driver"])
    func reproducible(_ name: String) {
        let target = Self.targets[name]!
        let a = (0..<20).map { target.input(seed: Fuzz.caseSeed(7, $0)) }
        let b = (0..<20).map { target.input(seed: Fuzz.caseSeed(7, $0)) }
        #expect(a == b)
        #expect(Set(a).count > 10, "the inputs hardly vary")
    }
}
