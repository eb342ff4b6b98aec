import Foundation
import Testing
import KVMTestSupport

// Helpers for LLDBClientTests and DAPClientTests: a batch lldb-19 run under a wall-clock limit
// (SIGKILL after it: a hung client fails the test) and the C fixture built in a temporary
// directory. The clients are GDBHarness.swift's GDBClient.lldb / .lldbDAP, the server its GDBServerProcess.

extension GDBProgram {
    /// Builds the fixture into a fresh temporary directory, runs `body` with the ELF's path, and
    /// removes the directory.
    static func withBuilt<T>(_ body: (String) throws -> T) throws -> T {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-prog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        return try body(try build(into: dir))
    }
}

/// What one batch lldb printed.
struct LLDBRun: CustomStringConvertible {
    /// The client's name (lldb-19, or an unpacked lldb-13/lldb-14).
    var client = "lldb-19"
    var commands: [String]
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool

    var description: String {
        "\(client) --batch with:\n\(commands.joined(separator: "\n"))\nexit \(status)\(timedOut ? " (killed: timeout)" : "")\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)"
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
/// `executable` (name, path) runs another lldb instead (OldLLDBClientTests).
func runLLDB(_ commands: [String], timeout: Double = 30, executable: (name: String, path: String)? = nil,
             sourceLocation: SourceLocation = #_sourceLocation) throws -> LLDBRun {
    let name = executable?.name ?? GDBClient.lldb.rawValue
    let path = try executable?.path ?? GDBClient.lldb.require(sourceLocation: sourceLocation)
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-lldb-\(UUID().uuidString).cmds")
    try (commands.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let c = try startCollected(path, ["--batch", "--no-lldbinit", "-s", file.path])
    let (p, out, err) = (c.process, c.stdout, c.stderr)
    let timedOut = !waitUntil(seconds: timeout) { !p.isRunning }
    if timedOut { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    _ = out.wait(timeout: 2) { _ in out.isClosed }
    _ = err.wait(timeout: 2) { _ in err.isClosed }
    let r = LLDBRun(client: name, commands: commands, status: p.terminationStatus, stdout: out.text, stderr: err.text, timedOut: timedOut)
    if timedOut { Issue.record(Comment(rawValue: "\(name) ran over \(timeout) s and was killed:\n\(r)"), sourceLocation: sourceLocation) }
    return r
}
