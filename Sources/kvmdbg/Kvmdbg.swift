import ArgumentParser

@main
struct Kvmdbg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvmdbg",
        abstract: "Hardware-assisted guest debugging through /dev/kvm (or a fake backend).",
        discussion: "Breakpoints, watchpoints, single-step and software breakpoints, per vCPU.",
        subcommands: [Caps.self, Guests.self, Run.self, Scenarios.self, GDBServer.self]
    )
}
