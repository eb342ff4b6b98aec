import Foundation
import Testing
import KVMTestSupport

// The gdbstub-mcp package's own GDB remote client (PyPI; installed into the build folder by
// scripts/gdbstub-mcp) against `kvmdbg gdbserver`: Tests/Fixtures/gdbstub-mcp/drive.py calls the
// package's tool functions (registers, register write, memory read/write, hardware and software
// breakpoints, continue, step, interrupt, detach) and prints each result under `== NAME`; this
// test asserts on that text, on the fake and on this host's KVM.

/// What drive.py printed, by section.
struct GDBStubMCPRun: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool

    var description: String { "drive.py exit \(status)\(timedOut ? " (killed: timeout)" : "")\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)" }

    /// The text under `== name` (up to the next header), or "" when there is none.
    subscript(_ name: String) -> String {
        let parts = stdout.components(separatedBy: "== ")
        guard let part = parts.first(where: { $0.hasPrefix(name + "\n") }) else { return "" }
        return String(part.dropFirst(name.count + 1))
    }
}

enum GDBStubMCPScenario {
    static let script = ThirdPartyClient.packageRoot.appendingPathComponent("Tests/Fixtures/gdbstub-mcp/drive.py").path

    static func run(_ t: GDBGuest, watch: Bool) throws {
        let server = try GDBServerProcess(t.serverArguments())
        defer { server.stop() }
        let port = try #require(server.address.split(separator: ":").last.map(String.init))
        let hex = { (v: UInt64) in String(v, radix: 16) }
        let c = try startCollected(ThirdPartyClient.gdbstubMCP.path,
                                   [script, port, hex(t.loop), hex(t.store), hex(t.load), hex(t.counter)] + (watch ? ["--watch"] : []))
        let timedOut = !waitUntil(seconds: 120) { !c.process.isRunning }
        if timedOut { kill(c.process.processIdentifier, SIGKILL) }
        c.process.waitUntilExit()
        _ = c.stdout.wait(timeout: 2) { _ in c.stdout.isClosed }
        _ = c.stderr.wait(timeout: 2) { _ in c.stderr.isClosed }
        let r = GDBStubMCPRun(status: c.process.terminationStatus, stdout: c.stdout.text, stderr: c.stderr.text, timedOut: timedOut)
        #expect(r.status == 0 && !timedOut, "\(r)")

        let entry = frameAddress(t.entry), pc = { (v: UInt64) in "pc = \(hx(v))\n" }
        #expect(r["connect"].hasPrefix("Connected 'k' to \(server.address) (i386:x86-64, "), "\(r)")
        #expect(r["connect"].contains("Stopped: SIGTRAP (breakpoint/step)\n\(pc(t.entry))next: xor rax, rax"), "\(r)")
        // Registers through the target description the client parsed, by name.
        for line in ["rip = \(entry)", "rax = 0x0000000000000000", "rsp = 0x00000000001fc000", "cs = 0x00000008",
                     "ss = 0x00000010", "cr0 = 0x0000000080050033", "efer = 0x0000000000000500"] {
            #expect(r["registers"].contains(line), "\(line): \(r)")
        }
        #expect(r["registers after set"].contains("rbx = 0x000000001234abcd"), "P wrote rbx: \(r)")
        #expect(r["g packet"].contains("rbx = 0x000000001234abcd") && r["g packet"].contains("rip = \(entry)"), "g agrees with p: \(r)")
        // Memory: the counter (0) and the data word, written and read back.
        let counter = String(format: "0x%08llx", t.counter)
        #expect(r["memory"].hasPrefix("\(counter): 00 00 00 00 00 00 00 00 88 77 66 55 44 33 22 11"), "\(r)")
        #expect(r["memory after write"].hasPrefix("\(counter): 0x000000000000002a\n\(String(format: "0x%08llx", t.counter + 8)): 0x1122334455667788"), "\(r)")
        // A hardware breakpoint hit twice (the client steps off it between), one store in between.
        #expect(r["hw break"].hasPrefix("#1 hw breakpoint at \(hx(t.loop))"), "\(r)")
        for k in ["continue 1", "continue 2"] {
            #expect(r[k].hasPrefix("Stopped: SIGTRAP (breakpoint/step) - breakpoint #1 (\(hx(t.loop)))\n\(pc(t.loop))"), "\(k): \(r)")
        }
        #expect(r["counter after 2 hits"].hasPrefix("\(counter): 0x0000000000000001"), "\(r)")
        #expect(r["step"].hasPrefix("Stopped: SIGTRAP (breakpoint/step)\n\(pc(t.store))"), "\(r)")
        #expect(r["step 2"].contains("\n\(pc(t.load + 8))"), "two more steps: past load to the jump: \(r)")
        // A software breakpoint (a hardware slot where int3 does not trap).
        #expect(r["continue to sw"].hasPrefix("Stopped: SIGTRAP (breakpoint/step) - breakpoint #2 (\(hx(t.load)))\n\(pc(t.load))"), "\(r)")
        if watch {
            #expect(r["continue to watch"].hasPrefix("Stopped: SIGTRAP (breakpoint/step) - watch hit on \(hx(t.counter))\n\(pc(t.load))"), "x86 traps after the store: \(r)")
        }
        // Nothing left to hit: still running after 0.5 s, then 0x03 stops it, the loop having run.
        #expect(r["continue free"].hasPrefix("Still running after 0.5s"), "\(r)")
        #expect(r["interrupt"].hasPrefix("Stopped: SIGINT (interrupted)\npc = 0x"), "\(r)")
        let runCount = r["counter after run"].split(separator: " ").last.flatMap { UInt64($0.dropFirst(2).prefix(16), radix: 16) }
        #expect((runCount ?? 0) > 2, "the guest ran between continue and the interrupt: \(r)")
        #expect(r["disassemble"].contains("\(hx(t.loop)):  inc rax\n"), "\(r)")
        // A malformed packet is an error reply the client reports; the session goes on.
        #expect(r["bad packet"].hasPrefix("EXCEPTION RSPError: gdbstub returned error E"), "\(r)")
        #expect(r["disconnect"].hasPrefix("Disconnected 'k'; the guest is running."), "\(r)")
        #expect(r.stdout.components(separatedBy: "EXCEPTION").count == 2, "only the bad packet fails: \(r)")
        #expect(server.waitForLine("client detached; guest running"), "\(server.description)")
    }
}

@Suite(.serialized, ThirdPartyClient.gdbstubMCP.required) struct GDBStubMCPClientTests {
    @Test func onTheFake() throws { try GDBStubMCPScenario.run(.x86("fake"), watch: true) }
    /// Where data watchpoints do not trap (this host's PVM), memory protection serves the watch.
    @Test(KVMHost.required) func onKVM() throws { try GDBStubMCPScenario.run(.x86("kvm"), watch: true) }
}
