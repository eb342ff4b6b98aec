import Foundation
import Testing

// Helpers for GDBClientTests: `kvmdbg gdbserver` as a child process whose stdout is read line by
// line, and a real gdb run in batch mode against it, both under wall-clock limits. Every child is
// killed (SIGTERM, then SIGKILL) before the helper returns or the server object goes away.

// MARK: - Clients

/// A client binary of the GDB remote protocol the tests drive: gdb, or Debian's lldb-19 and its
/// DAP adapter (never the Swift toolchain's lldb, which does not start here).
enum GDBClient: String, Sendable, CustomStringConvertible {
    case gdb = "gdb"
    case gdbMultiarch = "gdb-multiarch"
    case lldb = "lldb-19"
    case lldbDAP = "lldb-dap-19"

    var description: String { rawValue }

    /// The Debian package that installs it.
    var package: String { self == .lldbDAP ? "lldb-19" : rawValue }

    /// The client's path on PATH, or nil.
    var path: String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for d in dirs {
            let p = "\(d)/\(rawValue)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// KVMDBG_ALLOW_MISSING_CLIENTS=1 turns a missing client into a named skip; otherwise it fails.
    static var missingAllowed: Bool { ProcessInfo.processInfo.environment["KVMDBG_ALLOW_MISSING_CLIENTS"] == "1" }

    /// The trait for tests that need this client: enabled when installed, and also when missing
    /// unless KVMDBG_ALLOW_MISSING_CLIENTS=1 (then `require()` fails the test with a clear message).
    var required: ConditionTrait {
        .enabled(if: path != nil || !GDBClient.missingAllowed,
                 Comment(rawValue: "\(rawValue) is not installed (KVMDBG_ALLOW_MISSING_CLIENTS=1 allows that); apt-get install \(package), or run scripts/test"))
    }

    /// The path, or a test failure that says how to install the client.
    func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(path, Comment(rawValue: "\(rawValue) is not installed: `apt-get install \(package)` (scripts/test installs it); set KVMDBG_ALLOW_MISSING_CLIENTS=1 to skip these tests instead"), sourceLocation: sourceLocation)
    }
}

// MARK: - Reading a child's output

/// Bytes a reader thread collects from a pipe, readable from the test thread at any time.
final class PipeCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var closed = false
    let pipe = Pipe()

    /// Starts the reader thread (after the child got the write end).
    func start() {
        let handle = pipe.fileHandleForReading
        let t = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.lock(); data.append(chunk); lock.unlock()
            }
            lock.lock(); closed = true; lock.unlock()
        }
        t.start()
    }

    var text: String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }

    /// The raw bytes so far (DAP frames are byte-counted).
    var bytes: Data {
        lock.lock(); defer { lock.unlock() }
        return data
    }

    var isClosed: Bool {
        lock.lock(); defer { lock.unlock() }
        return closed
    }

    /// Polls (bounded by `timeout`) until `predicate` holds for the text; returns the text then, or nil.
    func wait(timeout: Double, until predicate: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let t = text
            if predicate(t) { return t }
            if isClosed { return predicate(text) ? text : nil }
            usleep(10_000)
        }
        let t = text
        return predicate(t) ? t : nil
    }
}

/// Starts `p` from this thread with no signal blocked: a child inherits the spawning thread's
/// mask, and the test runner's worker threads block SIGINT and SIGTERM, which would make gdb
/// deaf to Ctrl-C and the server to SIGTERM.
func runUnblocked(_ p: Process) throws {
    var none = sigset_t(), saved = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, &saved)
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    try p.run()
}

/// Ends a child: SIGTERM, up to `grace` seconds, then SIGKILL; always reaps it.
func endProcess(_ p: Process, grace: Double = 5) {
    guard p.processIdentifier > 0 else { return }
    if p.isRunning {
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
    p.waitUntilExit()
}

/// A child started with stdin from /dev/null, its stdout and stderr collected by reader
/// threads, and no signal blocked (`runUnblocked`): what every client and server of the tests needs.
struct CollectedProcess {
    let process: Process
    let stdout: PipeCollector
    let stderr: PipeCollector
}

func startCollected(_ path: String, _ arguments: [String]) throws -> CollectedProcess {
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

// MARK: - The server

/// A running `kvmdbg gdbserver ... --listen 127.0.0.1:0` (or another `--listen`).
final class GDBServerProcess {
    let process = Process()
    let stdout = PipeCollector()
    let stderr = PipeCollector()
    let arguments: [String]
    /// HOST:PORT from the `listening on HOST:PORT; attach with: ...` line.
    private(set) var address = ""
    /// The whole `listening on` line.
    private(set) var listeningLine = ""
    private var ended = false

    /// Starts the server and waits (bounded) for its `listening on` line; a server that does not
    /// print it fails the test with its stdout and stderr.
    init(_ arguments: [String], listen: String = "127.0.0.1:0", timeout: Double = 30,
         sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = try #require(BuiltTool.path("kvmdbg"), BuiltTool.missing("kvmdbg"), sourceLocation: sourceLocation)
        self.arguments = ["gdbserver"] + arguments + ["--listen", listen]
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = self.arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout.pipe
        process.standardError = stderr.pipe
        try runUnblocked(process)
        stdout.start()
        stderr.start()
        let text = stdout.wait(timeout: timeout) { $0.split(separator: "\n").contains { $0.hasPrefix("listening on ") } }
        guard let text,
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
              let semicolon = line.firstIndex(of: ";") else {
            let why = "kvmdbg \(self.arguments.joined(separator: " ")) printed no `listening on HOST:PORT;` line within \(timeout) s (running: \(process.isRunning))\nstdout:\n\(stdout.text)\nstderr:\n\(stderr.text)"
            stop()
            Issue.record(Comment(rawValue: why), sourceLocation: sourceLocation)
            throw GDBHarnessError.serverDidNotListen
        }
        listeningLine = String(line)
        address = String(line[line.index(line.startIndex, offsetBy: "listening on ".count)..<semicolon])
    }

    /// stdout lines so far.
    var lines: [String] { stdout.text.split(separator: "\n").map(String.init) }

    /// Waits (bounded) until a stdout line equals `line`; true when it came.
    @discardableResult
    func waitForLine(_ line: String, count: Int = 1, timeout: Double = 15) -> Bool {
        stdout.wait(timeout: timeout) { t in t.split(separator: "\n").filter { $0 == line }.count >= count } != nil
    }

    /// Waits (bounded) for the server to exit by itself; its status, or nil if it still runs.
    func waitForExit(timeout: Double = 15) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    var isRunning: Bool { process.isRunning }

    /// Ends the server (SIGTERM, then SIGKILL). Idempotent.
    func stop() {
        guard !ended else { return }
        ended = true
        endProcess(process)
        _ = stdout.wait(timeout: 2) { [stdout] _ in stdout.isClosed }  // let the reader thread drain to EOF
    }

    var description: String { "kvmdbg \(arguments.joined(separator: " "))\nstdout:\n\(stdout.text)\nstderr:\n\(stderr.text)" }

    deinit { stop() }
}

enum GDBHarnessError: Error { case serverDidNotListen }

// MARK: - A gdb run

/// What one batch gdb printed.
struct GDBRun: CustomStringConvertible {
    var arguments: [String]
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
    /// stdout then stderr: gdb prints reports on stdout; errors and (in batch mode) `monitor`
    /// output on stderr.
    var output: String { stdout + "\n" + stderr }

    /// stderr without the warning batch gdb prints when attaching with no executable.
    var stderrErrors: String {
        stderr.replacingOccurrences(of: "warning: No executable has been specified and target does not support\ndetermining executable automatically.  Try using the \"file\" command.\n", with: "")
    }
    var description: String {
        "gdb \(arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " "))\nexit \(status)\(timedOut ? " (killed: timeout)" : "")\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)"
    }

    /// The first capture group of `pattern` in stdout (nil when no match).
    func capture(_ pattern: String) -> String? {
        guard let re = try? Regex(pattern), let m = stdout.firstMatch(of: re), m.output.count > 1,
              let sub = m.output[1].substring else { return nil }
        return String(sub)
    }

    /// Every first capture group of `pattern` in stdout, in order.
    func captures(_ pattern: String) -> [String] {
        guard let re = try? Regex(pattern) else { return [] }
        return stdout.matches(of: re).compactMap { m in m.output.count > 1 ? m.output[1].substring.map(String.init) : nil }
    }

    /// The values gdb printed for `p/x ...` commands (`$N = 0x...`), in order.
    var printedHex: [UInt64] { captures(#"\$[0-9]+ = 0x([0-9a-f]+)"#).compactMap { UInt64($0, radix: 16) } }

    func matches(_ pattern: String) -> Bool {
        guard let re = try? Regex(pattern) else { return false }
        return stdout.contains(re)
    }
}

/// Options for a gdb run.
struct GDBRunOptions {
    var timeout: Double = 30
    /// Send SIGINT to gdb (Ctrl-C in a terminal) `delay` seconds after `condition` first holds
    /// (polled; batch gdb prints nothing when `continue` starts, so callers watch the packet log).
    var interruptWhen: (what: String, condition: () -> Bool, delay: Double)? = nil
}

/// Runs `client -nx -batch [file] -ex ...` with `commands` (each its own -ex: a failing command
/// does not stop the rest; its error shows on stderr). Killed with SIGKILL after `timeout` s, which
/// records an issue: a hung client fails the test.
func runGDB(_ client: GDBClient, file: String? = nil, preamble: [String] = [], commands: [String],
            options: GDBRunOptions = GDBRunOptions(), sourceLocation: SourceLocation = #_sourceLocation) throws -> GDBRun {
    let path = try client.require(sourceLocation: sourceLocation)
    var args = ["-nx", "-batch", "-q"]
    if let file { args.append(file) }
    for c in ["set pagination off", "set confirm off", "set width 0", "set height 0"] + preamble + commands {
        args += ["-ex", c]
    }
    let c = try startCollected(path, args)
    let (p, out, err) = (c.process, c.stdout, c.stderr)
    let deadline = Date().addingTimeInterval(options.timeout)
    var interruptAt: Date? = nil
    var interrupted = false
    var signalState = ""
    var timedOut = false
    while p.isRunning {
        let now = Date()
        if now > deadline {
            timedOut = true
            kill(p.processIdentifier, SIGKILL)
            break
        }
        if let i = options.interruptWhen, !interrupted {
            if interruptAt == nil, i.condition() { interruptAt = now.addingTimeInterval(i.delay) }
            if let at = interruptAt, now >= at {
                signalState = ((try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8)) ?? "")
                    .split(separator: "\n").filter { $0.hasPrefix("Sig") }.joined(separator: " ")
                kill(p.processIdentifier, SIGINT)
                interrupted = true
            }
        }
        usleep(10_000)
    }
    p.waitUntilExit()
    _ = out.wait(timeout: 2) { _ in out.isClosed }
    _ = err.wait(timeout: 2) { _ in err.isClosed }
    let r = GDBRun(arguments: args, status: p.terminationStatus, stdout: out.text, stderr: err.text, timedOut: timedOut)
    if timedOut {
        let sig = interrupted ? "\n(SIGINT was sent; gdb's signal state then: \(signalState))" : ""
        Issue.record(Comment(rawValue: "gdb ran over \(options.timeout) s and was killed\(sig):\n\(r)"), sourceLocation: sourceLocation)
    }
    if let i = options.interruptWhen, !interrupted {
        Issue.record(Comment(rawValue: "\(i.what) never happened, so no SIGINT was sent:\n\(r)"), sourceLocation: sourceLocation)
    }
    return r
}
