import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import Testing

/// KVM re-plants the TF of KVM_GUESTDBG_SINGLESTEP after an instruction its emulator ran (a
/// protected page's access) only at the RIP of the last KVM_SET_GUEST_DEBUG (x86.c
/// `__kvm_set_rflags`), so a step right after such an access re-issues the debug state; an
/// ordinary step does not (on kvm_amd the next step otherwise ran on to the next breakpoint).
@Suite struct StepAfterEmulatedAccessTests {
    @Test func theStepAfterAProtectedAccessReissuesTheDebugState() throws {
        let g = try BuiltinGuests.guest(named: "counter", arch: .x86_64, mode: .long)
        let d = Debugger(backend: try FakeBackend(guest: g, vcpus: 1))
        d.watchMechanism = .protection
        try d.insert(.watch(address: try #require(g.symbol("counter")).address, length: 8, kind: .write))
        _ = try d.resume(vcpu: 0, mode: .continue)  // the watch, pc 0x100e
        var sawProtected = 0, afterProtected = 0, afterOrdinary = 0, ordinary = 0
        var lastWasProtected = false
        for _ in 0..<12 {
            let before = d.totalSetGuestDebugCalls
            guard case .stop(let s) = try d.resume(vcpu: 0, mode: .step) else { Issue.record("no stop"); return }
            let issued = d.totalSetGuestDebugCalls - before
            if lastWasProtected { afterProtected += issued } else { afterOrdinary += issued; ordinary += 1 }
            if case .protection = s.exit { lastWasProtected = true; sawProtected += 1 } else { lastWasProtected = false }
        }
        #expect(sawProtected >= 2, "the loop's store exited as a protected access while stepping")
        // The first step switches continue -> step (one call); after that only post-access steps issue.
        #expect(afterOrdinary == 1, "ordinary steps (\(ordinary)) issued \(afterOrdinary) calls")
        let followed = sawProtected - (lastWasProtected ? 1 : 0)  // the last stop has no step after it
        #expect(afterProtected == followed, "every step after a protected access re-issued the state")
    }
}
