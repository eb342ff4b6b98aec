import ArgumentParser
import Foundation
import KVMDebug
import KVMDebugCore

/// `--json`, shared by every subcommand.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "One JSON object per line, for scripts.")
    var json = false
}

extension BackendKind: ExpressibleByArgument {}

/// Prints one line to stderr and exits non-zero: the single error path of the CLI.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(("kvmdbg: error: " + message + "\n").data(using: .utf8)!)
    exit(1)
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
