import Foundation
import Testing

// Helpers for LLDBClientTests and DAPClientTests: Debian's lldb-19 and lldb-dap-19 found on PATH,
// and a batch lldb run under a wall-clock limit (SIGKILL after it: a hung client fails the test).
// The server side is GDBHarness.swift's GDBServerProcess.

/// An LLDB binary the tests drive (Debian's `lldb-19` package; never the Swift toolchain's lldb).
enum LLDBTool: String, Sendable, CustomStringConvertible {
    case lldb = "lldb-19"
    case lldbDAP = "lldb-dap-19"

    var description: String { rawValue }

    /// The binary's path on PATH (or /usr/bin), or nil.
    var path: String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for d in dirs + ["/usr/bin", "/usr/local/bin"] {
            let p = "\(d)/\(rawValue)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Enabled when installed, and also when missing unless KVMDBG_ALLOW_MISSING_CLIENTS=1 (then
    /// `require()` fails the test saying how to install it), as GDBClient.required does.
    var required: ConditionTrait {
        .enabled(if: path != nil || !GDBClient.missingAllowed,
                 Comment(rawValue: "\(rawValue) is not installed (KVMDBG_ALLOW_MISSING_CLIENTS=1 allows that); apt-get install lldb-19, or run scripts/test"))
    }

    /// The path, or a test failure that says how to install it.
    func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(path, Comment(rawValue: "\(rawValue) is not installed: `apt-get install lldb-19` (scripts/test installs it); set KVMDBG_ALLOW_MISSING_CLIENTS=1 to skip these tests instead"), sourceLocation: sourceLocation)
    }
}

/// What one batch lldb printed.
struct LLDBRun: CustomStringConvertible {
    var commands: [String]
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool

    var description: String {
        "lldb-19 --batch with:\n\(commands.joined(separator: "\n"))\nexit \(status)\(timedOut ? " (killed: timeout)" : "")\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)"
    }

    /// The text lldb printed for the first `(lldb) COMMAND` echo that starts with `prefix`, up to the next echo.
    func output(of prefix: String) -> String? {
        let parts = stdout.components(separatedBy: "(lldb) ")
        guard let part = parts.first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return part.split(separator: "\n", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
    }

    func matches(_ pattern: String) -> Bool {
        guard let re = try? Regex(pattern) else { return false }
        return stdout.contains(re)
    }
}

/// Runs `lldb-19 --batch --no-lldbinit -s FILE` with `commands` in FILE (batch lldb stops at the
/// first failing command and exits non-zero). SIGKILL after `timeout` s records an issue.
func runLLDB(_ commands: [String], timeout: Double = 30, sourceLocation: SourceLocation = #_sourceLocation) throws -> LLDBRun {
    let path = try LLDBTool.lldb.require(sourceLocation: sourceLocation)
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-lldb-\(UUID().uuidString).cmds")
    try (commands.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = ["--batch", "--no-lldbinit", "-s", file.path]
    p.standardInput = FileHandle.nullDevice
    let out = PipeCollector(), err = PipeCollector()
    p.standardOutput = out.pipe
    p.standardError = err.pipe
    try runUnblocked(p)
    out.start()
    err.start()
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while p.isRunning {
        if Date() > deadline {
            timedOut = true
            kill(p.processIdentifier, SIGKILL)
            break
        }
        usleep(10_000)
    }
    p.waitUntilExit()
    _ = out.wait(timeout: 2) { _ in out.isClosed }
    _ = err.wait(timeout: 2) { _ in err.isClosed }
    let r = LLDBRun(commands: commands, status: p.terminationStatus, stdout: out.text, stderr: err.text, timedOut: timedOut)
    if timedOut { Issue.record(Comment(rawValue: "lldb-19 ran over \(timeout) s and was killed:\n\(r)"), sourceLocation: sourceLocation) }
    return r
}
