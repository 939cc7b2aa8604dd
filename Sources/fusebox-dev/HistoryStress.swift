import ArgumentParser
import FuseboxCommandLine
import FuseboxCore
import FuseboxHistory

/// Writes heavy history in a loop and says after each committed batch how
/// many cycles are in: what the kill -9 test kills at random moments.
struct HistoryStress: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history-stress",
                                                    abstract: "Write history as fast as possible, saying WROTE n after each batch (the kill -9 test).")

    @Option var history: String
    @Option var chargers: Int = 50
    @Option var batch: Int = 200

    func run() async throws {
        let store = try HistoryStore(path: history)
        var t = (try store.span()?.last ?? 1_700_000_000) + 1
        var written = 0
        var rng = SystemRandomNumberGenerator()
        while true {
            var cycles: [HistoryCycle] = []
            for _ in 0..<batch {
                let chargers = (0..<chargers).map { i in
                    ChargerSample(id: "c\(i)", status: Bool.random(using: &rng) ? .charging : .occupied,
                                  current: [Double.random(in: 0...16, using: &rng), 0, 0], setpoint: 16, energy: t / 1000)
                }
                cycles.append(HistoryCycle(time: t, current: PhaseValues(all: Double.random(in: 0...63, using: &rng)),
                                           limit: PhaseValues(all: 63), chargers: chargers))
                t += 1
            }
            try await store.write(cycles, events: [SiteEvent(time: t, kind: .configChanged, message: "batch")])
            written += batch
            say("WROTE \(written)")
        }
    }
}
