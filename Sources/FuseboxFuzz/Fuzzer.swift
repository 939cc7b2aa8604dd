import Foundation
import FuseboxCore

/// One thing to fuzz: it makes an input from a seed and checks what the host
/// does with it. Inputs are text (YAML, Lua, a JSON description), so that a
/// failing one is kept as a file and replayed as a regression case
/// (Tests/Fuzz/<target>/, docs/reliability.md).
public protocol FuzzTarget: Sendable {
    /// The name on the command line and the folder of kept inputs.
    var name: String { get }
    /// The extension of kept inputs.
    var fileExtension: String { get }
    /// The input of case `seed`: the same seed always gives the same input.
    func input(seed: UInt64) -> String
    /// What went wrong with `input`, or nil when the host did the right thing.
    func check(_ input: String) async -> String?
}

public struct FuzzSettings: Sendable {
    public var seed: UInt64 = 1
    /// Wall-clock bound of the run.
    public var seconds: Double = 5
    /// Bound on the number of cases, whatever the time.
    public var maxCases = Int.max
    /// Cases run even when the time is up (a loaded machine must not make a run meaningless).
    public var minCases = 0
    /// Where failing inputs are written (nil: not written).
    public var keepFailuresIn: String?
    /// Each input is written here before it runs, so that one that crashes the
    /// process is still on disk (`make fuzz` keeps it).
    public var lastInputFile: String?

    public init(seed: UInt64 = 1, seconds: Double = 5) {
        self.seed = seed
        self.seconds = seconds
    }
}

public struct FuzzFailure: Sendable, Codable {
    public var caseSeed: String
    public var message: String
    public var input: String
    public var keptAs: String?
}

public struct FuzzReport: Sendable, Codable {
    public var target: String
    public var seed: UInt64
    public var cases = 0
    public var seconds = 0.0
    public var failures: [FuzzFailure] = []
}

public enum Fuzz {
    /// The seed of case `n` of a run seeded with `seed`.
    public static func caseSeed(_ seed: UInt64, _ n: Int) -> UInt64 {
        var r = SiteGenerator.Random(seed: seed ^ (UInt64(n) &* 0x9E37_79B9_7F4A_7C15))
        return r.next()
    }

    /// Runs `target` for the time and case bounds of `settings`.
    public static func run(_ target: any FuzzTarget, _ settings: FuzzSettings) async -> FuzzReport {
        var report = FuzzReport(target: target.name, seed: settings.seed)
        let start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        var n = 0
        while n < settings.maxCases, n < settings.minCases || elapsed() < settings.seconds {
            let seed = caseSeed(settings.seed, n)
            n += 1
            let input = target.input(seed: seed)
            if let last = settings.lastInputFile { try? input.write(toFile: last, atomically: false, encoding: .utf8) }
            guard let message = await target.check(input) else { continue }
            let hex = String(seed, radix: 16)
            var failure = FuzzFailure(caseSeed: hex, message: message, input: input)
            if let folder = settings.keepFailuresIn {
                let file = "\(folder)/\(target.name)-\(hex).\(target.fileExtension)"
                try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                if (try? input.write(toFile: file, atomically: true, encoding: .utf8)) != nil { failure.keptAs = file }
            }
            report.failures.append(failure)
        }
        report.cases = n
        report.seconds = elapsed()
        return report
    }

    /// Replays kept inputs (files with the target's extension in `folder`).
    public static func replay(_ target: any FuzzTarget, folder: String) async -> (files: Int, failures: [(String, String)]) {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasSuffix("." + target.fileExtension) }.sorted()
        var failures: [(String, String)] = []
        for f in files {
            guard let text = try? String(contentsOfFile: folder + "/" + f, encoding: .utf8) else { continue }
            if let message = await target.check(text) { failures.append((f, message)) }
        }
        return (files.count, failures)
    }
}

/// Wall time of `body`, seconds.
func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let value = try await body()
    return (value, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}
