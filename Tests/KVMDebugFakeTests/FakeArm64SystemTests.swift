import KVMDebugCore
import KVMTestSupport
import KVMDebugFake
import Testing

/// The fake's EL1 system registers (MRS/MSR), ISB, ERET, a guest's own BRK taken at
/// its vector when debugging is off, arm64 register access through the backend, and
/// which of several matching watchpoints is reported.
@Suite struct FakeArm64SystemTests {
    @Test func msrMrsIsbEret() throws {
        let b = try FakeBackend(guest: arm64Guest([
            0xD282_0001,  // 10000 movz x1, #0x1000
            0xD518_C001,  // 10004 msr vbar_el1, x1
            0xD503_3FDF,  // 10008 isb
            0xD538_C002,  // 1000c mrs x2, vbar_el1
            0xD280_0283,  // 10010 movz x3, #0x14
            0xF2A0_0023,  // 10014 movk x3, #1, lsl #16   (x3 = 0x10014 + ...)
            0xD518_4023,  // 10018 msr elr_el1, x3
            0xD280_0084,  // 1001c movz x4, #0x4           (PSTATE = EL1t)
            0xD518_4004,  // 10020 msr spsr_el1, x4
            0xD518_5201,  // 10024 msr esr_el1, x1
            0xD538_5205,  // 10028 mrs x5, esr_el1
            0xD69F_03E0,  // 1002c eret -> 0x10014
        ]))
        try b.setGuestDebug(arm64State(ENABLE | SINGLESTEP), vcpu: 0)
        var pcs: [UInt64] = []
        for _ in 0..<12 { pcs.append(try #require(arm64Debug(try b.run(vcpu: 0))).pc) }
        #expect(pcs.last == 0x10014)
        #expect(b.register("vbar_el1", vcpu: 0) == 0x1000)
        #expect(b.register("x2", vcpu: 0) == 0x1000)
        #expect(b.register("elr_el1", vcpu: 0) == 0x10014)
        #expect(b.register("x5", vcpu: 0) == 0x1000)
        #expect(b.register("pstate", vcpu: 0) == 0x4)
    }

    @Test func guestTakesItsOwnBRKWithDebuggingOff() throws {
        let g = ConformanceGuests.ownBRKGuest()
        let b = try FakeBackend(guest: g)
        b.maxInstructionsPerRun = 5 + 2 * 9   // entry, then two rounds of loop + handler
        #expect(try b.run(vcpu: 0) == .interrupted)
        #expect(b.register("x6", vcpu: 0) == 2)        // the handler ran twice
        #expect(b.register("x5", vcpu: 0) == 2)        // and returned past the BRK
        #expect(b.register("esr_el1", vcpu: 0) == 0xF200_0042)
        #expect(b.register("elr_el1", vcpu: 0) == 0x1001C)
        #expect(b.register("pstate", vcpu: 0) == 0x3C5)
    }

    @Test func registerAccessThroughTheBackend() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        var r = try b.arm64Registers(vcpu: 0)
        r.vbarEL1 = 0x10800
        r.x[7] = 42
        r.ttbr1EL1 = 0x4_0000
        try b.setRegisters(.arm64(r), vcpu: 0)
        let back = try b.arm64Registers(vcpu: 0)
        #expect(back.vbarEL1 == 0x10800 && back[.vbarEL1] == 0x10800)
        #expect(back.x[7] == 42 && back[.x(7)] == 42)
        #expect(back.pstate == 0x3C5)
        #expect(back.ttbr1EL1 == 0x4_0000)
        #expect(b.register("vbar_el1", vcpu: 0) == 0x10800)
        // EL1h: the interpreter's stack pointer is SP_EL1.
        #expect(back.currentSP == back.spEL1)
        let x86 = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        #expect(throws: DebugError.self) { try x86.arm64Registers(vcpu: 0) }
        #expect(throws: DebugError.self) { try x86.setRegisters(.arm64(r), vcpu: 0) }
    }

    @Test func overlappingWatchpointsReportTheHighestSlot() throws {
        // str x0, [x1] at 0x10010 covers 0x11000..0x11007: slot 0 watches 0x11000..03,
        // slot 1 0x11004..07 (BAS 0x0F / 0xF0, store). Measured on the lane: FAR = 0x11004.
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: 0x17 | 0x0F << 5, 1: 0x17 | 0xF0 << 5],
                                       wvr: [0: 0x11000, 1: 0x11000]), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.pc == 0x10010 && e.far == 0x11004 && e.esr == 0xD200_0062)
    }

    @Test func debuggerHandsAForeignBRKBackToTheGuest() throws {
        let b = try FakeBackend(guest: ConformanceGuests.ownBRKGuest())
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: ConformanceGuests.ownBRKHandler))
        // Default: reported, and reported again on resume.
        guard case .stop(let s1) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(s1.reason == .softwareBreakpoint && s1.pc == 0x10018 && s1.primary.point == nil)
        guard case .stop(let s2) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(s2.pc == 0x10018)
        // Handed back: the guest's vector (VBAR_EL1 + 0x200) runs next.
        d.foreignBreakpointPolicy = .handBackToGuest
        guard case .stop(let s3) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(s3.reason == .hardwareBreakpoint && s3.pc == 0x10A00)
        let r = try b.arm64Registers(vcpu: 0)
        #expect(r.esrEL1 == 0xF200_0042)
        #expect(r.elrEL1 == 0x10018)
        #expect(r.spsrEL1 == 0x3C5)
        guard case .stop(let s4) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(s4.pc == 0x10018)
        #expect(b.register("x5", vcpu: 0) == 1 && b.register("x6", vcpu: 0) == 1)
    }
}
