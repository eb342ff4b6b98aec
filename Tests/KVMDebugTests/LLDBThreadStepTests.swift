import Foundation
import Testing
import KVMTestSupport

// Stepping one vCPU from lldb on two: `thread step-inst 2` moves only thread 2, and lldb's frame,
// its register read and its thread list agree on the new pc. (After `thread select 2`, lldb-14
// and lldb-19 may keep the old frame #0: their event thread unwinds the old pc as the step starts,
// against LLVM's lldb-server too, so the scenario names the thread in the step instead.)

enum LLDBThreadStepScenario {
    static func stepThread2(_ client: (name: String, path: String)?, _ t: GDBGuest) throws {
        let server = try GDBServerProcess(t.serverArguments(vcpus: 2))
        defer { server.stop() }
        let r = try runLLDB(["gdb-remote \(server.address)", "thread step-inst 2", "frame info", "register read rip",
                             "thread list", "detach"], timeout: 60, executable: client)
        let moved = lldbHex(t.entry + t.firstLengths.0)
        #expect(r.status == 0 && !r.timedOut, "\(r)")
        #expect(r.output(of: "frame info")?.hasPrefix("frame #0: \(moved)\n") == true, "\(r)")
        #expect(r.captures(#"(?m)^ +rip = (0x[0-9a-f]{16})$"#) == [moved], "\(r)")
        #expect(r.matches(#"(?m)^  thread #1: tid = 0x0001, \#(lldbHex(t.entry))"#), "thread 1 did not move: \(r)")
        #expect(r.matches(#"(?m)^\* thread #2: tid = 0x0002, \#(moved), stop reason = instruction step into$"#), "\(r)")
    }
}

@Suite(.serialized) struct LLDBThreadStepTests {
    static let lldb13 = (ThirdPartyClient.lldb13.rawValue, ThirdPartyClient.lldb13.path)
    static let lldb14 = (ThirdPartyClient.lldb14.rawValue, ThirdPartyClient.lldb14.path)

    @Test(GDBClient.lldb.required) func lldb19OnTheFake() throws { try LLDBThreadStepScenario.stepThread2(nil, .x86("fake")) }
    @Test(GDBClient.lldb.required, KVMHost.required) func lldb19OnKVM() throws { try LLDBThreadStepScenario.stepThread2(nil, .x86("kvm")) }
    @Test(ThirdPartyClient.lldb13.required) func lldb13OnTheFake() throws { try LLDBThreadStepScenario.stepThread2(Self.lldb13, .x86("fake")) }
    @Test(ThirdPartyClient.lldb13.required, KVMHost.required) func lldb13OnKVM() throws { try LLDBThreadStepScenario.stepThread2(Self.lldb13, .x86("kvm")) }
    @Test(ThirdPartyClient.lldb14.required) func lldb14OnTheFake() throws { try LLDBThreadStepScenario.stepThread2(Self.lldb14, .x86("fake")) }
    @Test(ThirdPartyClient.lldb14.required, KVMHost.required) func lldb14OnKVM() throws { try LLDBThreadStepScenario.stepThread2(Self.lldb14, .x86("kvm")) }
}
