import ArgumentParser
import Foundation
import FuseboxCommandLine
import FuseboxFuzz

/// `fusebox-dev fuzz`: the in-process fuzzers of docs/reliability.md, bounded in
/// time, reproducible by seed. Failing inputs are written to --keep; the input
/// being run is always in --last, so that one that crashes the process is
/// not lost (`make fuzz` keeps it).
struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz the configuration loader, the policy engine or the drivers.")

    @Argument(help: "config, policy, driver, or all.")
    var target: String = "all"

    @Option(help: "Seconds per target.")
    var seconds: Double = 60

    @Option(help: "The run's seed (default: from the clock; printed).")
    var seed: UInt64?

    @Option(help: "Where failing inputs are kept.")
    var keep: String = "Tests/FuseboxFuzzTests/Kept"

    @Option(help: "Where the input being run is written before it runs.")
    var last: String = ".build/fuzz-last"

    @Option(help: "The repository (seed documents and drivers).")
    var repository: String = "."

    @Option(help: "Print the input of this case seed (hex, as a report gives it) and check it, instead of fuzzing.")
    var replayCase: String?

    func run() async throws {
        let all: [any FuzzTarget] = [ConfigFuzzer(repository: repository), PolicyFuzzer(), DriverFuzzer(repository: repository)]
        let chosen = target == "all" ? all : all.filter { $0.name == target }
        guard !chosen.isEmpty else { throw Failure(message: "no fuzz target '\(target)'; expected config, policy, driver or all") }
        if let hex = replayCase {
            guard let caseSeed = UInt64(hex, radix: 16), chosen.count == 1 else {
                throw Failure(message: "--replay-case takes one target and a hex case seed")
            }
            let input = chosen[0].input(seed: caseSeed)
            print(input)
            if let message = await chosen[0].check(input) { throw Failure(message: message) }
            FileHandle.standardError.write(Data("handled\n".utf8))
            return
        }
        let seed = seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        try? FileManager.default.createDirectory(atPath: last, withIntermediateDirectories: true)
        var failed = 0
        for t in chosen {
            var settings = FuzzSettings(seed: seed, seconds: seconds)
            settings.keepFailuresIn = keep + "/" + t.name
            settings.lastInputFile = last + "/" + t.name + "." + t.fileExtension
            FileHandle.standardError.write(Data("fuzz \(t.name): seed \(seed), \(Int(seconds)) s\n".utf8))
            let report = await Fuzz.run(t, settings)
            failed += report.failures.count
            print(String(format: "%@: %d cases in %.1f s (%.0f/s), %d failing", t.name, report.cases, report.seconds,
                         Double(report.cases) / max(report.seconds, 1e-9), report.failures.count))
            for f in report.failures.prefix(10) { print("  case \(f.caseSeed): \(f.message)\n    kept as \(f.keptAs ?? "-")") }
        }
        if failed > 0 { throw Failure(message: "\(failed) failing inputs; rerun with --seed \(seed)") }
    }
}
