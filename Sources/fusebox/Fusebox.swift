import ArgumentParser

@main
struct Fusebox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fusebox",
        abstract: "Load management for EV charging: keeps a building under its fuse while the cars charge.",
        subcommands: [Policy.self, Sim.self, Bench.self, Demo.self]
    )
}

struct Policy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with allocation policies offline.",
        subcommands: [PolicyTest.self]
    )
}
