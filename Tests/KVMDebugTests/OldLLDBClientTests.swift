import Foundation
import Testing
import KVMTestSupport

// Debian's lldb-13 and lldb-14, unpacked into the build folder by scripts/old-lldb (see
// ThirdPartyClients.swift), against `kvmdbg gdbserver` on the fake and on this host's KVM:
// attach (`gdb-remote`), a hardware breakpoint, two continues, memory, a step, detach, asserting
// on what each lldb prints. lldb-13 hung in `gdb-remote` when kvmdbg sent acks it had turned off.

enum OldLLDBScenario {
    static func attachBreakContinueMemoryStepDetach(_ client: ThirdPartyClient, _ t: GDBGuest) throws {
        let server = try GDBServerProcess(t.serverArguments())
        defer { server.stop() }
        // `register read rip`: lldb-13 does not know `pc` as a name for rip (lldb-14 and -19 do).
        let r = try runLLDB([
            "gdb-remote \(server.address)", "register read rip",
            "breakpoint set --hardware --address \(hx(t.loop))", "continue", "register read rip", "continue",
            "memory read --format x --size 8 --count 2 \(hx(t.counter))", "thread step-inst", "register read rip",
            "breakpoint list", "detach",
        ], timeout: 60, executable: (client.rawValue, client.path))
        #expect(r.status == 0 && !r.timedOut, "\(r)")
        #expect(r.stdout.contains("Process 1 stopped\n* thread #1, stop reason = signal SIGTRAP\n    frame #0: \(lldbHex(t.entry))\n"), "attach stops at the entry: \(r)")
        #expect(r.stdout.contains("Breakpoint 1: address = \(lldbHex(t.loop))\n"), "\(r)")
        let hits = r.stdout.components(separatedBy: "* thread #1, stop reason = breakpoint 1.1\n    frame #0: \(lldbHex(t.loop))\n").count - 1
        #expect(hits == 2, "both continues stop at loop: \(r)")
        #expect(r.captures(#"(?m)^ +rip = (0x[0-9a-f]{16})$"#) == [lldbHex(t.entry), lldbHex(t.loop), lldbHex(t.store)],
                "rip at attach, at the breakpoint, after the step: \(r)")
        let counter = String(format: "0x%08llx", t.counter)
        #expect(r.stdout.contains("\n\(counter): 0x0000000000000001 0x1122334455667788\n"), "one store between the hits, then the data word: \(r)")
        #expect(r.stdout.contains("* thread #1, stop reason = instruction step into\n    frame #0: \(lldbHex(t.store))\n"), "\(r)")
        #expect(r.stdout.contains("1.1: address = \(lldbHex(t.loop)), resolved, hardware, hit count = 2"), "\(r)")
        #expect(r.output(of: "detach")?.contains("Process 1 detached") == true, "\(r)")
        #expect(!r.stderr.contains("error"), "\(r)")
        #expect(server.waitForLine("client detached; guest running"), "\(server.description)")
    }
}

@Suite(.serialized) struct OldLLDBClientTests {
    @Test(ThirdPartyClient.lldb13.required) func lldb13OnTheFake() throws {
        try OldLLDBScenario.attachBreakContinueMemoryStepDetach(.lldb13, .x86("fake"))
    }
    @Test(ThirdPartyClient.lldb14.required) func lldb14OnTheFake() throws {
        try OldLLDBScenario.attachBreakContinueMemoryStepDetach(.lldb14, .x86("fake"))
    }
    @Test(ThirdPartyClient.lldb13.required, KVMHost.required) func lldb13OnKVM() throws {
        try OldLLDBScenario.attachBreakContinueMemoryStepDetach(.lldb13, .x86("kvm"))
    }
    @Test(ThirdPartyClient.lldb14.required, KVMHost.required) func lldb14OnKVM() throws {
        try OldLLDBScenario.attachBreakContinueMemoryStepDetach(.lldb14, .x86("kvm"))
    }
}
