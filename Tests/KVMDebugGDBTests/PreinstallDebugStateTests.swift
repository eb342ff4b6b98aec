import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB
import KVMDebugGDBServer
import KVMTestSupport

/// After a `Z`/`z` reply the serve loop installs the vCPUs' next debug state before the next
/// packet (`GDBServeLoop.preinstallsDebugState`), guessing the resume's step flag from the last
/// resume after the same kind of change: the resume then issues no KVM_SET_GUEST_DEBUG when the
/// guess was right, and one when it was wrong, and stops where it would have either way.
@Suite(.serialized) struct PreinstallDebugStateTests {
    @Test(arguments: [true, false]) func aChangedPointIsInstalledBeforeTheResume(preinstalls: Bool) throws {
        let listener = PipeListener()
        let s = try HostileClientTests.Server(listener: listener) { $0.preinstallsDebugState = preinstalls }
        defer { s.stop() }
        let c = Connection.pipe(listener.connect())
        func calls() -> Int { s.session.debugger.totalSetGuestDebugCalls }
        #expect(c.ask("?").hasPrefix("T05thread:1;"))
        let start = calls()

        // gdb's continue from a breakpoint: insert, continue; remove, step.
        #expect(c.ask("Z1,1006,1") == "OK")
        if preinstalls {
            #expect(waitFor { calls() == start + 1 }, "installed after the Z1 reply, before any resume")
        }
        #expect(c.ask("vCont;c").hasPrefix("T05thread:1;hwbreak:;"))
        #expect(calls() == start + 1, "one KVM_SET_GUEST_DEBUG for the insert, preinstalled or not")
        #expect(c.ask("z1,1006,1") == "OK")
        if preinstalls {
            // The first removal guesses a step (gdb steps off a breakpoint it removed).
            #expect(waitFor { calls() == start + 2 }, "installed after the z1 reply")
        }
        let stepped = c.ask("vCont;s:1")
        #expect(stepped.hasPrefix("T05thread:1;"), "\(stepped)")
        #expect(!stepped.contains("hwbreak"), "a step, not a breakpoint: \(stepped)")
        #expect(calls() == start + 2, "the step issued nothing more: the guess was right")

        // A wrong guess (an insert is guessed to be followed by a continue): the step re-issues
        // the state and still steps one instruction, then the continue stops at the breakpoint.
        #expect(c.ask("Z1,1006,1") == "OK")
        if preinstalls { #expect(waitFor { calls() == start + 3 }) }
        let pc = try s.session.registers(vcpu: 0).pc
        let again = c.ask("vCont;s:1")
        #expect(again.hasPrefix("T05thread:1;") && !again.contains("hwbreak"), "\(again)")
        #expect(try s.session.registers(vcpu: 0).pc != pc, "the step retired an instruction")
        #expect(calls() == start + (preinstalls ? 4 : 3), "a wrong guess costs the resume its one ioctl, as before")
        #expect(c.ask("vCont;c").hasPrefix("T05thread:1;hwbreak:;"), "the breakpoint is armed")
    }
}
