import KVMDebugCore
import Testing

/// Register ids and the exception-entry arithmetic used to hand a guest's own BRK back.
@Suite struct Arm64ExceptionDeliveryTests {
    @Test func oneRegIDs() {
        // Core registers: 0x6030_0000_0010_0000 | offsetof(struct kvm_regs, f) / 4.
        #expect(Arm64Register.pc.kvmID == 0x6030_0000_0010_0040)  // api.rst's example
        #expect(Arm64Register.x(0).kvmID == 0x6030_0000_0010_0000)
        #expect(Arm64Register.x(30).kvmID == 0x6030_0000_0010_003C)
        #expect(Arm64Register.pstate.kvmID == 0x6030_0000_0010_0042)
        #expect(Arm64Register.elrEL1.kvmID == 0x6030_0000_0010_0046)   // offset 280
        #expect(Arm64Register.spsrEL1.kvmID == 0x6030_0000_0010_0048)  // spsr[0], offset 288
        // ARM64_SYS_REG(op0, op1, CRn, CRm, op2).
        #expect(Arm64Register.vbarEL1.kvmID == 0x6030_0000_0013_C600)
        #expect(Arm64Register.esrEL1.kvmID == 0x6030_0000_0013_C290)
        #expect(Arm64Register.farEL1.kvmID == 0x6030_0000_0013_C300)
        // KVM_REG_ARM_PTIMER_CTL = ARM64_SYS_REG(3, 3, 14, 2, 1) in the uapi header.
        #expect(Arm64Register.systemRegisterID(op0: 3, op1: 3, crn: 14, crm: 2, op2: 1) == 0x6030_0000_0013_DF11)
    }

    @Test func brkFromEL1hGoesToVBARPlus0x200() throws {
        // NZCV = 0b0110, SS set by the host's stepping, EL1h with DAIF masked.
        let e = try Arm64ExceptionDelivery.synchronousToEL1(esr: 0xF200_0042, pc: 0x10018,
                                                            pstate: 0x6000_0000 | 1 << 21 | 0x3C5, vbar: 0x10800)
        #expect(e.esr == 0xF200_0042)
        #expect(e.elr == 0x10018)
        #expect(e.spsr == 0x6000_03C5)       // SS dropped
        #expect(e.pstate == 0x6000_03C5)     // EL1h, DAIF, NZCV kept
        #expect(e.pc == 0x10A00)
    }

    @Test func vectorOffsetsByMode() throws {
        #expect(try Arm64ExceptionDelivery.synchronousToEL1(esr: 0, pc: 0, pstate: 0x004, vbar: 0x8000).pc == 0x8000)  // EL1t
        #expect(try Arm64ExceptionDelivery.synchronousToEL1(esr: 0, pc: 0, pstate: 0x000, vbar: 0x8000).pc == 0x8400)  // EL0t
        let fromEL0 = try Arm64ExceptionDelivery.synchronousToEL1(esr: 0, pc: 0x400, pstate: 0x000, vbar: 0x8000)
        #expect(fromEL0.pstate == 0x3C5 && fromEL0.spsr == 0)
        #expect(throws: DebugError.self) {
            try Arm64ExceptionDelivery.synchronousToEL1(esr: 0, pc: 0, pstate: 0x009, vbar: 0x8000)  // EL2h
        }
        #expect(throws: DebugError.self) {
            try Arm64ExceptionDelivery.synchronousToEL1(esr: 0, pc: 0, pstate: 0x010, vbar: 0x8000)  // AArch32
        }
    }
}
