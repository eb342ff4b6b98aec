import Foundation

/// `kvmdbg gdbserver` as a child process, started and waited for (bounded) until it prints its
/// `listening on HOST:PORT; attach with: ...` line: the one way every suite spawns the server.
/// The child is ended (SIGTERM, then SIGKILL) by `stop` or when the object goes away.
public final class GDBServerProcess {
    public let process = Process()
    public let stdout = PipeCollector()
    public let stderr = PipeCollector()
    /// The whole command line after the binary: `gdbserver ...`.
    public let arguments: [String]
    /// HOST:PORT (or the socket path) from the `listening on` line.
    public private(set) var address = ""
    /// The whole `listening on` line.
    public private(set) var listeningLine = ""
    private var ended = false

    /// Starts `kvmdbg gdbserver ARGUMENTS` (they name `--listen`) and waits up to `timeout`
    /// seconds for its `listening on` line; throws, with its stdout and stderr, when none comes.
    public init(kvmdbg path: String, arguments: [String], timeout: Double = 30) throws(GDBServerDidNotListen) {
        self.arguments = ["gdbserver"] + arguments
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = self.arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout.pipe
        process.standardError = stderr.pipe
        do { try runUnblocked(process) } catch { throw GDBServerDidNotListen(why: "kvmdbg did not start: \(error)") }
        stdout.start()
        stderr.start()
        let listening = { [stdout] in stdout.completeLines.first { $0.hasPrefix("listening on ") } }
        waitUntil(seconds: timeout) { listening() != nil || stdout.isClosed }
        guard let line = listening(), let semicolon = line.firstIndex(of: ";") else {
            stop()
            throw GDBServerDidNotListen(why: "\(description)\nprinted no `listening on HOST:PORT;` line within \(timeout) s")
        }
        listeningLine = line
        address = String(line[line.index(line.startIndex, offsetBy: "listening on ".count)..<semicolon])
    }

    /// stdout lines so far.
    public var lines: [String] { stdout.completeLines }

    /// Waits (bounded) until `count` stdout lines equal `line`; true when they came.
    @discardableResult
    public func waitForLine(_ line: String, count: Int = 1, timeout: Double = 15) -> Bool {
        waitUntil(seconds: timeout) { lines.filter { $0 == line }.count >= count }
    }

    /// Waits (bounded) for the server to exit by itself; its status, or nil if it still runs.
    public func waitForExit(timeout: Double = 15) -> Int32? {
        guard waitUntil(seconds: timeout, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    public var isRunning: Bool { process.isRunning }

    /// Ends the server (SIGTERM, then SIGKILL). Idempotent.
    public func stop() {
        guard !ended else { return }
        ended = true
        endProcess(process)
        _ = stdout.wait(timeout: 10) { [stdout] _ in stdout.isClosed }  // let the reader thread drain to EOF
    }

    public var description: String { "kvmdbg \(arguments.joined(separator: " "))\nstdout:\n\(stdout.text)\nstderr:\n\(stderr.text)" }

    deinit { stop() }
}

/// `kvmdbg gdbserver` printed no `listening on` line: what it printed instead.
public struct GDBServerDidNotListen: Error, CustomStringConvertible {
    public let why: String
    public var description: String { why }
}
