import ArgumentParser
import Foundation
import KVMDebugCLI
import KVMDebugCore

/// `--json`, shared by every subcommand.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "One JSON object per line, for scripts.")
    var json = false
}

extension BackendKind: ExpressibleByArgument {}

/// `--arch x86_64|arm64` (also `x86-64`, `amd64`, `x86`, `aarch64`), checked by the parser.
/// No `allValueStrings`: the help texts already list the values (and stay as they were).
extension Arch: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
}

/// `--mode real|long|el1`, checked by the parser.
extension CPUMode: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
}

/// An error a subcommand throws: `Kvmdbg.main` prints it as the one line
/// `kvmdbg: error: <message>` on stderr and exits 1.
struct CLIError: Error {
    var message: String
    init(_ message: String) { self.message = message }

    /// Prints the error line and exits 1: the single error path of the CLI.
    func exit() -> Never {
        FileHandle.standardError.write(("kvmdbg: error: " + message + "\n").data(using: .utf8)!)
        Foundation.exit(1)
    }
}

/// Prints one warning line to stderr.
func warn(_ message: String) {
    FileHandle.standardError.write(("kvmdbg: warning: " + message + "\n").data(using: .utf8)!)
}

/// Writes a line to stdout and flushes, so piped readers see stops as they happen.
func emitLine(_ s: String) {
    print(s)
    fflush(nil)  // all streams: avoids touching the global `stdout` var
}
