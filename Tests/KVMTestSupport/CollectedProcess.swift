import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child started with stdin from /dev/null, its stdout and stderr collected by reader
/// threads, and no signal blocked (`runUnblocked`): what every client and server of the tests needs.
public struct CollectedProcess {
    public let process: Process
    public let stdout: PipeCollector
    public let stderr: PipeCollector
}

/// Starts `path ARGUMENTS` as a `CollectedProcess`.
public func startCollected(_ path: String, _ arguments: [String]) throws -> CollectedProcess {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    p.standardInput = FileHandle.nullDevice
    let out = PipeCollector(), err = PipeCollector()
    p.standardOutput = out.pipe
    p.standardError = err.pipe
    try runUnblocked(p)
    out.start()
    err.start()
    return CollectedProcess(process: p, stdout: out, stderr: err)
}

/// Starts `p` from this thread with no signal blocked: a child inherits the spawning thread's
/// mask, and the test runner's worker threads block SIGINT and SIGTERM, which would make gdb
/// deaf to Ctrl-C and the server to SIGTERM.
public func runUnblocked(_ p: Process) throws {
    var none = sigset_t(), saved = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, &saved)
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    try p.run()
}

/// Ends a child: SIGTERM, up to `grace` seconds, then SIGKILL; always reaps it.
public func endProcess(_ p: Process, grace: Double = 5) {
    guard p.processIdentifier > 0 else { return }
    if p.isRunning {
        kill(p.processIdentifier, SIGTERM)
        if !waitUntil(seconds: grace, { !p.isRunning }) { kill(p.processIdentifier, SIGKILL) }
    }
    p.waitUntilExit()
}
