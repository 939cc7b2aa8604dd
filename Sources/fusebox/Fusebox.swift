import ArgumentParser

@main
struct Fusebox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fusebox",
        abstract: "Load management for EV charging: keeps a building under its fuse while the cars charge.",
        subcommands: [Run.self, Check.self, Demo.self, Sim.self, Policy.self, History.self, Replay.self, PasswordHash.self]
    )
}

struct Policy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with allocation policies offline.",
        subcommands: [PolicyTest.self]
    )
}
