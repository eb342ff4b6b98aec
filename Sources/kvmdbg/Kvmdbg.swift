import ArgumentParser
import Foundation
import KVMDebugCore

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
        // The benchmark's baseline (scripts/bench): stop registers read with ioctls, as before
        // KVM_CAP_SYNC_REGS was used.
        if ProcessInfo.processInfo.environment["KVMDBG_SYNC_REGS"] == "0" { KVMBackend.syncsRegisters.store(false, ordering: .relaxed) }
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
