import Testing
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

/// `monitor guest-debug-regs`: the guest's own debug registers, kept apart from kvmdbg's points.
@Suite struct GuestDebugRegsMonitorTests {
    @Test func x86ShowsTheGuestsDR7DecodedAndNotKvmdbgsPoints() throws {
        let h = try Harness()
        var g = X86GuestDebugRegisters()
        g.address = [0x2000, 0, 0, 0x3000]
        g.dr7 = 0x400 | 0b01 | (0b01 << 16) | (0b11 << 18) | (0b11 << 6) | (0b11 << 28) | (0b10 << 30)
        try h.backend.setGuestDebugRegisters(.x86(g), vcpu: 0)
        // kvmdbg's own breakpoint (KVM_SET_GUEST_DEBUG) does not show up among the guest's.
        #expect(try h.reply("Z1,1003,1") == "OK")
        let text = try monitorOutput(h, "guest-debug-regs")
        #expect(text == """
            vCPU 0: the guest's own debug registers (KVM_GET_DEBUGREGS)
              dr0 0x0000000000002000  L write len 4
              dr1 0x0000000000000000  off
              dr2 0x0000000000000000  off
              dr3 0x0000000000003000  L+G rw len 8
              dr6 0x00000000ffff0ff0
              dr7 0x00000000b00d04c1
            kvmdbg's own points are not listed here: see 'monitor points'.

            """, "\(text)")
    }

    @Test func arm64ListsEnabledSlotsAndMDSCR() throws {
        let h = try Harness(guest: BuiltinGuests.counterArm64())
        var g = Arm64GuestDebugRegisters(breakpoints: 6, watchpoints: 4)
        g.bvr[2] = 0x40_0000; g.bcr[2] = 0x1E7
        g.wvr[1] = 0x41_0000; g.wcr[1] = 0x1FF
        g.mdscr = 1 << 15
        try h.backend.setGuestDebugRegisters(.arm64(g), vcpu: 0)
        let text = try monitorOutput(h, "guest-debug-regs vcpu 0")
        #expect(text.contains("6 breakpoint, 4 watchpoint slots"), "\(text)")
        #expect(text.contains("  breakpoint 2: dbgbvr 0x0000000000400000 dbgbcr 0x00000000000001e7\n"), "\(text)")
        #expect(text.contains("  watchpoint 1: dbgwvr 0x0000000000410000 dbgwcr 0x00000000000001ff (load/store)\n"), "\(text)")
        #expect(text.contains("  mdscr_el1 0x0000000000008000 (MDE 1, KDE 0, SS 0)\n"), "\(text)")
    }

    @Test func badArgumentsAndMissingVCPUsAreErrors() throws {
        let h = try Harness()
        #expect(try monitorFailure(h, "guest-debug-regs 3") == "kvmdbg: usage: monitor guest-debug-regs [vcpu N]\n")
        let missing = try monitorFailure(h, "guest-debug-regs vcpu 7")
        #expect(missing.hasPrefix("kvmdbg: vCPU 7: the guest's debug registers cannot be read"), "\(missing)")
    }
}
