import Foundation
import Testing
import KVMTestSupport

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

// MARK: - The server

extension GDBServerProcess {
    /// Starts the built `kvmdbg gdbserver ARGUMENTS --listen LISTEN` and waits (bounded) for its
    /// `listening on` line; a server that does not print it fails the test with its stdout and stderr.
    convenience init(_ arguments: [String], listen: String = "127.0.0.1:0", timeout: Double = 30,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = try #require(BuiltTool.path("kvmdbg"), BuiltTool.missing("kvmdbg"), sourceLocation: sourceLocation)
        do {
            try self.init(kvmdbg: path, arguments: arguments + ["--listen", listen], timeout: timeout)
        } catch {
            Issue.record(Comment(rawValue: "\(error)"), sourceLocation: sourceLocation)
            throw error
        }
    }
}

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
