import ArgumentParser

@main
struct Kvmdbg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvmdbg",
        abstract: "Hardware-assisted guest debugging through /dev/kvm (or a fake backend).",
        discussion: "Breakpoints, watchpoints, single-step and software breakpoints, per vCPU.",
        subcommands: [Caps.self, Guests.self, Run.self, Scenarios.self, GDBServerCommand.self]
    )

    /// Parses and runs a subcommand; a thrown `CLIError` becomes its one stderr line and
    /// exit status 1, anything else goes to ArgumentParser as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as CLIError {
            error.exit()
        } catch {
            exit(withError: error)
        }
    }
}
