import Foundation
import Testing
import KVMTestSupport

/// Ctrl-C (SIGINT) stops every vCPU and ends the run cleanly: exit 0 and a final
/// `{"event":"end","reason":"interrupted"}`, on the fake backend and on real KVM.
@Suite(.serialized) struct CtrlCTests {
    func interrupt(_ backend: String) throws {
        let path = try #require(BuiltTool.path("kvmdbg"), BuiltTool.missing("kvmdbg"))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-ctrlc-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        // No points: 4 vCPUs spin until the signal (the timeout is far away).
        p.arguments = ["run", "--guest", "smp-counter", "--vcpus", "4", "--backend", backend, "--timeout", "60", "--json"]
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Signal once the run has begun (its start event is out), not after a guessed delay:
        // a slow start (ThreadSanitizer, a loaded host) must not turn into a lost signal.
        waitUntil(seconds: 30) { ((try? String(contentsOf: out, encoding: .utf8)) ?? "").contains("\"event\":\"start\"") }
        let sent = Date()
        kill(p.processIdentifier, SIGINT)
        waitUntil(seconds: 60) { !p.isRunning }
        if p.isRunning { p.terminate(); Issue.record("kvmdbg did not end within 10 s of SIGINT") }
        p.waitUntilExit()
        let lines = ((try? String(contentsOf: out, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(p.terminationReason == .exit && p.terminationStatus == 0)
        let last = try #require(lines.last.map(String.init))
        #expect(last.contains("\"event\":\"end\"") && last.contains("\"reason\":\"interrupted\""), "\(last)")
        #expect(Date().timeIntervalSince(sent) < 5)
    }

    @Test func ctrlCOnTheFake() throws { try interrupt("fake") }

    @Test(KVMHost.required) func ctrlCOnKVM() throws { try interrupt("kvm") }
}
