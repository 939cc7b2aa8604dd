import ArgumentParser

/// The developers' tools, kept out of the `fusebox` a device runs: the
/// benchmarks, the soak and the fuzzers link code (and, through the fuzzers'
/// case tables, libraries) that a controller never needs.
@main
struct FuseboxDev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fusebox-dev",
        abstract: "Fusebox's tools for developers: benchmarks, the soak, the fuzzers, a history writer for the crash test and a fleet of uplinks.",
        subcommands: [Bench.self, Soak.self, FuzzCommand.self, HistoryStress.self, Fleet.self]
    )
}
