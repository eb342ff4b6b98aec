import KVMDebugCore
import KVMTestSupport
import KVMDebugFake
import Testing

/// arm64 behaviour of the fake, judged by the Arm ARM's DBGBCR/DBGWCR rules and
/// the syndromes measured on the QEMU lane. Built-in counter: 10000 movz x0,
/// 10004 movz x1, 10008 movk x1 (x1 = 0x11000), 1000c loop: add, 10010 store:
/// str x0,[x1], 10014 load: ldr x2,[x1,#8], 10018 b loop.
@Suite struct FakeArm64Tests {
    let esrStep: UInt64 = 0xCB00_0022
    let esrBreakpoint: UInt64 = 0xC200_0022
    let esrWatchRead: UInt64 = 0xD200_0022
    let esrWatchWrite: UInt64 = 0xD200_0062

    @Test func resetState() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        #expect(try b.programCounter(vcpu: 0) == 0x10000)
        #expect(b.register("pstate", vcpu: 0) == 0x3C5)
        #expect(b.register("x0", vcpu: 0) == 0)
        #expect(b.register("rax", vcpu: 0) == nil)
        #expect(b.register("x31", vcpu: 0) == nil)
    }

    @Test func counterSingleStepsOneInstructionPerRun() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        try b.setGuestDebug(arm64State(ENABLE | SINGLESTEP), vcpu: 0)
        var pcs: [UInt64] = []
        for _ in 0..<9 {
            let e = try #require(arm64Debug(try b.run(vcpu: 0)))
            #expect(e.esr == esrStep)
            pcs.append(e.pc)
        }
        #expect(pcs == [0x10004, 0x10008, 0x1000C, 0x10010, 0x10014, 0x10018, 0x1000C, 0x10010, 0x10014])
        #expect(try b.word(0x11000) == 2)
        #expect(b.register("x1", vcpu: 0) == 0x11000)
        #expect(b.register("x2", vcpu: 0) == BuiltinGuests.dataPattern)
    }

    @Test func breakpointFiresBeforeTheInstructionAndRefires() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        // BCR 0x1e7: E, PMC = 0b11, BAS = 0b1111 (measured).
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, bcr: [0: 0x1E7], bvr: [0: 0x1000C]), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.esr == esrBreakpoint && e.pc == 0x1000C)
        #expect(b.register("x0", vcpu: 0) == 0)
        #expect(try #require(arm64Debug(try b.run(vcpu: 0))).pc == 0x1000C)
        #expect(b.register("x0", vcpu: 0) == 0)
    }

    @Test func breakpointInHighSlotAndPMCEL1Only() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        // Slot 5, PMC = 0b01 (EL1 only): 0x1e3.
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, bcr: [5: 0x1E3], bvr: [5: 0x10014]), vcpu: 0)
        #expect(try #require(arm64Debug(try b.run(vcpu: 0))).pc == 0x10014)
    }

    @Test func breakpointsThatMustNotFire() throws {
        // PMC = 0b10 (EL0 only, measured); BT = 0b0001 (linked context ID); BAS = 0b0011; E = 0.
        let cases: [UInt64] = [0x1E5, 0x1E7 | 0x10_0000, 0x67, 0x1E6]
        for bcr in cases {
            let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
            try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, bcr: [0: bcr], bvr: [0: 0x1000C]), vcpu: 0)
            b.maxInstructionsPerRun = 50
            #expect(try b.run(vcpu: 0) == .interrupted, "BCR \(hex(bcr)) fired")
        }
    }

    @Test func slotsBeyondHWBPSAreNotLoaded() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64(), hardwareBreakpoints: 2, hardwareWatchpoints: 2)
        #expect(b.capabilities.slots == SlotCapacity(breakpoints: 2, watchpoints: 2))
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, bcr: [3: 0x1E7], bvr: [3: 0x1000C],
                                       wcr: [2: 0x1FF7], wvr: [2: 0x11000]), vcpu: 0)
        b.maxInstructionsPerRun = 50
        #expect(try b.run(vcpu: 0) == .interrupted)
    }

    @Test func stepOntoArmedBreakpointThenItReports() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        try b.setGuestDebug(arm64State(ENABLE | SINGLESTEP | ARM64_USE_HW, bcr: [0: 0x1E7], bvr: [0: 0x1000C]), vcpu: 0)
        for expected: UInt64 in [0x10004, 0x10008, 0x1000C] {
            let e = try #require(arm64Debug(try b.run(vcpu: 0)))
            #expect(e.esr == esrStep && e.pc == expected)
        }
        // Sitting on the armed breakpoint: the next step re-reports it, nothing retires.
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.esr == esrBreakpoint && e.pc == 0x1000C)
    }

    @Test func storeWatchFiresBeforeTheStore() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        // WCR 0x1ff7: E, PAC = 0b11, LSC = 0b10 (store), BAS = 0xFF (measured).
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: 0x1FF7], wvr: [0: 0x11000]), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.esr == esrWatchWrite && e.far == 0x11000 && e.pc == 0x10010)
        #expect(try b.word(0x11000) == 0)
        #expect(b.register("x0", vcpu: 0) == 1)
        // Still armed: re-entry re-reports the same access.
        #expect(try #require(arm64Debug(try b.run(vcpu: 0))).pc == 0x10010)
        #expect(try b.word(0x11000) == 0)
    }

    @Test func loadWatchHasWnRZero() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        // LSC = 0b01 (load): 0x1fef, on `data`.
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [1: 0x1FEF], wvr: [1: 0x11008]), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.esr == esrWatchRead && e.far == 0x11008 && e.pc == 0x10014)
        #expect(b.register("x2", vcpu: 0) == 0)
        #expect(try b.word(0x11000) == 1)
    }

    @Test func basSelectsBytesAndFARIsTheFirstWatchedByte() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        // BAS = 0xF0: bytes 4-7 of the doubleword; the 8-byte store at base reports base+4 (measured).
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: 0x1E17], wvr: [0: 0x11000]), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.esr == esrWatchWrite && e.far == 0x11004 && e.pc == 0x10010)
    }

    @Test func basOfOneByteFiresOnOverlappingDoublewordStore() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        // BAS = 0x01 with LSC = store: 0x37.
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: 0x37], wvr: [0: 0x11000]), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.far == 0x11000 && e.pc == 0x10010)
    }

    @Test func maskWatchCoversAnAlignedBlock() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        // MASK = 4 (16 bytes), BAS = 0xFF, LSC = load; WVR low bits are masked off.
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: 0x400_1FEF], wvr: [0: 0x11008]), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.esr == esrWatchRead && e.far == 0x11008 && e.pc == 0x10014)
    }

    @Test func watchpointsThatMustNotFire() throws {
        // Reserved MASK = 1; PAC = 0b10 (EL0 only); LSC = 0b00; WT = 1 (linked); BAS = 0 (MASK 0).
        let cases: [UInt64] = [0x100_1FFF, 0x1FFD, 0x1FE7, 0x1FFF | 0x10_0000, 0x1F]
        for wcr in cases {
            let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
            try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: wcr], wvr: [0: 0x11000]), vcpu: 0)
            b.maxInstructionsPerRun = 50
            #expect(try b.run(vcpu: 0) == .interrupted, "WCR \(hex(wcr)) fired")
        }
    }

    @Test func brkExitsWithItsImmediate() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        try b.writeMemory(0x1000C, littleEndianBytes(UInt64(0xD420_0000 | 0x1234 << 5), count: 4))
        // ENABLE alone sets MDCR_EL2.TDE, so BRK reaches the host even without USE_SW_BP.
        try b.setGuestDebug(arm64State(ENABLE), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.esr == 0xF200_1234 && e.pc == 0x1000C)
        try b.writeMemory(0x1000C, littleEndianBytes(0xD420_0000, count: 4))
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_SW_BP), vcpu: 0)
        #expect(try #require(arm64Debug(try b.run(vcpu: 0))).esr == 0xF200_0000)
        // Debugging off: the guest takes its own BRK at VBAR_EL1 + 0x200, with ESR/ELR/SPSR_EL1
        // set (one instruction: VBAR is 0 here, in no memslot, see vectorInAHole...).
        try b.setGuestDebug(arm64State(0), vcpu: 0)
        b.maxInstructionsPerRun = 1
        #expect(try b.run(vcpu: 0) == .interrupted)
        #expect(try b.programCounter(vcpu: 0) == 0x200)
        #expect(b.register("esr_el1", vcpu: 0) == 0xF200_0000)
        #expect(b.register("elr_el1", vcpu: 0) == 0x1000C)
        #expect(b.register("spsr_el1", vcpu: 0) == 0x3C5)
        #expect(b.register("pstate", vcpu: 0) == 0x3C5)
    }

    @Test func unknownControlBitIsEINVALAndChangesNothing() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        let good = arm64State(ENABLE | SINGLESTEP)
        try b.setGuestDebug(good, vcpu: 0)
        let error = thrownError { () throws(DebugError) in try b.setGuestDebug(arm64State(ENABLE | 0x4_0000), vcpu: 0) }
        #expect(error == .system(call: "KVM_SET_GUEST_DEBUG", errno: 22))
        #expect(b.installedState(vcpu: 0) == good)
        #expect(try #require(arm64Debug(try b.run(vcpu: 0))).esr == esrStep)
        #expect(b.setGuestDebugCount == 2)
    }

    @Test func secondCallWithoutUseHWDropsTheBreakpoints() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        let regs = (bcr: [0: UInt64(0x1E7)], bvr: [0: UInt64(0x1000C)])
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, bcr: regs.bcr, bvr: regs.bvr), vcpu: 0)
        #expect(try #require(arm64Debug(try b.run(vcpu: 0))).esr == esrBreakpoint)
        // Same registers, no USE_HW: they are not loaded.
        try b.setGuestDebug(arm64State(ENABLE | SINGLESTEP, bcr: regs.bcr, bvr: regs.bvr), vcpu: 0)
        for expected: UInt64 in [0x10010, 0x10014, 0x10018, 0x1000C, 0x10010] {
            let e = try #require(arm64Debug(try b.run(vcpu: 0)))
            #expect(e.esr == esrStep && e.pc == expected)
        }
    }

    @Test func interpreterSubsetBranchesCallsAndFlags() throws {
        let words: [UInt32] = [
            0xD280_0060, // 10000 movz x0, #3
            0x9400_0004, // 10004 l: bl f
            0xF100_0400, // 10008    subs x0, x0, #1
            0x54FF_FFC1, // 1000c    b.ne l
            0xD503_207F, // 10010    wfi
            0x9100_08A5, // 10014 f: add x5, x5, #2
            0xD65F_03C0, // 10018    ret
        ]
        let b = try FakeBackend(guest: arm64Guest(words))
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x10014))
        #expect(b.register("x5", vcpu: 0) == 6)
        #expect(b.register("x30", vcpu: 0) == 0x10008)
        // SUBS to zero: Z and C set.
        #expect(b.register("pstate", vcpu: 0)! >> 28 == 0b0110)
    }

    @Test func interpreterMovesAndSizedLoadsStores() throws {
        let words: [UInt32] = [
            0x9280_0000, // movn x0, #0          → all ones
            0xF2A2_4680, // movk x0, #0x1234, lsl #16
            0x52A0_0041, // movz w1, #0x2, lsl #16 → x1 = 0x20000
            0x3900_0020, // strb w0, [x1]
            0x7900_0420, // strh w0, [x1, #2]
            0xB900_0420, // str w0, [x1, #4]
            0xF940_0022, // ldr x2, [x1]
            0x3940_0423, // ldrb w3, [x1, #1]
            0x7940_0024, // ldrh w4, [x1]
            0xB400_0045, // cbz x5, +8
            0xD420_0000, // brk #0 (skipped)
            0xB500_0042, // cbnz x2, +8
            0xD420_0000, // brk #0 (skipped)
            0xAA02_03E6, // mov x6, x2
            0x1100_04C7, // add w7, w6, #1
            0xD503_201F, // nop
            0xD503_207F, // wfi
        ]
        let b = try FakeBackend(guest: arm64Guest(words))
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x10000 + 4 * UInt64(words.count)))
        #expect(b.register("x0", vcpu: 0) == 0xFFFF_FFFF_1234_FFFF)
        #expect(try b.word(0x20000) == 0x1234_FFFF_FFFF_00FF)
        #expect(b.register("x2", vcpu: 0) == 0x1234_FFFF_FFFF_00FF)
        #expect(b.register("x3", vcpu: 0) == 0)
        #expect(b.register("x4", vcpu: 0) == 0x00FF)
        #expect(b.register("x6", vcpu: 0) == 0x1234_FFFF_FFFF_00FF)
        #expect(b.register("x7", vcpu: 0) == 0xFFFF_0100)
    }

    /// What gcc -O0 emits for Tests/Fixtures/gdb-prog/prog.c (and paged-counter's set-up):
    /// pairs, pre/post-index and unscaled forms, MUL/MADD/MSUB, ADR/ADRP, barriers, TLBI, MAIR.
    @Test func interpreterCompilerOutputSubset() throws {
        let words: [UInt32] = [
            0xD2A0_0041, // 10000 mov x1, #0x20000
            0x9104_003F, // 10004 add sp, x1, #0x100
            0xD280_00A2, // 10008 mov x2, #5
            0xD280_00E3, // 1000c mov x3, #7
            0xA9BF_0FE2, // 10010 stp x2, x3, [sp, #-16]!
            0xA8C1_17E4, // 10014 ldp x4, x5, [sp], #16
            0xF81F_8022, // 10018 stur x2, [x1, #-8]
            0xF85F_8026, // 1001c ldur x6, [x1, #-8]
            0xF800_8C23, // 10020 str x3, [x1, #8]!
            0xF85F_8427, // 10024 ldr x7, [x1], #-8
            0x9B03_7C48, // 10028 mul x8, x2, x3
            0x9B03_0849, // 1002c madd x9, x2, x3, x2
            0x9B03_A44E, // 10030 msub x14, x2, x3, x9
            0x1000_000A, // 10034 adr x10, .
            0x9000_000B, // 10038 adrp x11, .
            0x2902_0C22, // 1003c stp w2, w3, [x1, #16]
            0x2942_342C, // 10040 ldp w12, w13, [x1, #16]
            0xD503_3F9F, // 10044 dsb sy
            0xD503_3BBF, // 10048 dmb ish
            0xD508_871F, // 1004c tlbi vmalle1
            0xD518_A202, // 10050 msr mair_el1, x2
            0xD503_3FDF, // 10054 isb
            0xD503_207F, // 10058 wfi
        ]
        let b = try FakeBackend(guest: arm64Guest(words))
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1005C))
        #expect(b.register("sp", vcpu: 0) == 0x20100)            // pre-index down, post-index back up
        #expect(try b.word(0x200F0) == 5)
        #expect(try b.word(0x200F8) == 7)
        #expect(b.register("x4", vcpu: 0) == 5)
        #expect(b.register("x5", vcpu: 0) == 7)
        #expect(try b.word(0x1FFF8) == 5)
        #expect(b.register("x6", vcpu: 0) == 5)
        #expect(try b.word(0x20008) == 7)                        // str pre-index wrote at x1 + 8 ...
        #expect(b.register("x7", vcpu: 0) == 7)                  // ... ldr post-index read there, x1 back
        #expect(b.register("x1", vcpu: 0) == 0x20000)
        #expect(b.register("x8", vcpu: 0) == 35)
        #expect(b.register("x9", vcpu: 0) == 40)
        #expect(b.register("x14", vcpu: 0) == 5)
        #expect(b.register("x10", vcpu: 0) == 0x10034)
        #expect(b.register("x11", vcpu: 0) == 0x10000)
        #expect(try b.word(0x20010) == 0x7_0000_0005)            // two 32-bit stores
        #expect(b.register("x12", vcpu: 0) == 5)
        #expect(b.register("x13", vcpu: 0) == 7)
    }

    /// A watchpoint on the second register of a pair fires (the pair is one 16-byte access).
    @Test func watchpointOnTheSecondWordOfAPair() throws {
        let words: [UInt32] = [0xD2A0_0041, 0x9104_003F, 0xA9BF_0FE2, 0xD503_207F]
        let b = try FakeBackend(guest: arm64Guest(words))
        // WCR 0x1ff7 (store, BAS = 0xFF) on 0x200F8, x3's word of stp x2, x3, [sp, #-16]!.
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: 0x1FF7], wvr: [0: 0x200F8]), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.esr == esrWatchWrite && e.far == 0x200F8 && e.pc == 0x10008)
        #expect(try b.word(0x200F8) == 0)
    }

    /// paged-counter turns the MMU on and stores through TTBR1: the fake's own walk takes the
    /// store to 0x11000, and a watchpoint compares the virtual address.
    @Test func mmuOnTranslatesThroughTheGuestsTables() throws {
        let g = BuiltinGuests.pagedCounterArm64()
        let b = try FakeBackend(guest: g)
        let load = try #require(g.symbol("load")).address
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, bcr: [0: 0x1E7], bvr: [0: load]), vcpu: 0)
        #expect(try #require(arm64Debug(try b.run(vcpu: 0))).pc == load)
        #expect(b.register("sctlr_el1", vcpu: 0) == 0x30D0_0801)
        #expect(try b.word(0x11000) == 1)
        // A store watch on the virtual counter (WCR 0x1ff7) fires; one on its physical address does not.
        let counter = BuiltinGuests.pagedArm64Alias
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: 0x1FF7, 1: 0x1FF7], wvr: [0: 0x11000, 1: counter]), vcpu: 0)
        let e = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(e.esr == esrWatchWrite && e.far == counter && e.pc == 0x1007C, "\(e)")
        // An access to the unmapped page after it faults in the guest's tables: not modelled, said so.
        try b.writeMemory(0x1007C, littleEndianBytes(0xF908_0083, count: 4))  // str x3, [x4, #0x1000]
        try b.setGuestDebug(arm64State(0), vcpu: 0)
        let error = thrownError { () throws(DebugError) in try b.run(vcpu: 0) }
        #expect(error?.message.contains("faults in the guest's page tables") == true, "\(String(describing: error))")
    }

    @Test func mpidrGivesTheVCPUIndex() throws {
        // mrs x3, mpidr_el1; wfi
        let b = try FakeBackend(guest: arm64Guest([0xD538_00A3, 0xD503_207F]), vcpus: 3)
        #expect(try b.run(vcpu: 2) == .halt(pc: 0x10008))
        #expect(b.register("x3", vcpu: 2) == 0x8000_0002)
        #expect(b.register("x0", vcpu: 2) == 2)
        #expect(try b.programCounter(vcpu: 0) == 0x10000)
    }

    @Test func unbackedAccessIsMMIOAndTheNextRunAdvancesPC() throws {
        // movz x1, #0x10, lsl #16 (0x100000, outside RAM); str x0, [x1]; wfi
        let b = try FakeBackend(guest: arm64Guest([0xD2A0_0201, 0xF900_0020, 0xD503_207F]))
        #expect(try b.run(vcpu: 0) == .mmio(address: 0x10_0000, isWrite: true, length: 8, pc: 0x10004))
        #expect(try b.programCounter(vcpu: 0) == 0x10004)
        // KVM completes the access on the next KVM_RUN, even an immediate-exit one.
        b.kick(vcpu: 0)
        #expect(try b.run(vcpu: 0) == .interrupted)
        #expect(try b.programCounter(vcpu: 0) == 0x10008)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1000C))
    }

    /// A fetch outside every memslot is no exit: KVM injects a prefetch abort (EC 0x21, IL, FSC
    /// 0x10 external abort; FAR_EL1 the pc) and the guest goes to its vector (arch/arm64/kvm/mmu.c
    /// kvm_handle_guest_abort, inject_fault.c inject_abt64). Was an MMIO exit here, unlike KVM.
    @Test func fetchOutsideRAMIsAPrefetchAbortKVMInjects() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        #expect(b.setRegister("vbar_el1", 0x10800, vcpu: 0))
        try b.writeMemory(0x10A00, littleEndianBytes(0xD503_207F, count: 4))  // wfi at VBAR + 0x200
        try b.setProgramCounter(0x40_0000, vcpu: 0)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x10A04))
        #expect(b.register("esr_el1", vcpu: 0) == 0x8600_0010)
        #expect(b.register("far_el1", vcpu: 0) == 0x40_0000 && b.register("elr_el1", vcpu: 0) == 0x40_0000)
    }

    /// `vbar-hole`: its alignment fault goes to a vector in no memslot, whose fetch aborts into the
    /// same vector again: no exit ever, the run ends only when kicked (here: its budget), with
    /// the pc at the vector and the first cause overwritten by the injected abort.
    @Test func vectorInAHoleSpinsWithoutAnExit() throws {
        let b = try FakeBackend(guest: BuiltinGuests.vbarHoleArm64())
        b.maxInstructionsPerRun = 1000
        #expect(try b.run(vcpu: 0) == .interrupted)
        let vector = BuiltinGuests.vbarHole + 0x200
        #expect(try b.programCounter(vcpu: 0) == vector)
        #expect(b.register("esr_el1", vcpu: 0) == 0x8600_0010)
        #expect(b.register("far_el1", vcpu: 0) == vector && b.register("elr_el1", vcpu: 0) == vector)
        #expect((b.register("sctlr_el1", vcpu: 0) ?? 0) & 2 == 2, "the guest set SCTLR_EL1.A")
        // A kick, as a debugger's interrupt, ends an unbounded run the same way.
        b.maxInstructionsPerRun = nil
        b.kick(vcpu: 0)
        #expect(try b.run(vcpu: 0) == .interrupted)
        #expect(try b.programCounter(vcpu: 0) == vector)
    }

    @Test func unsupportedInstructionNamesPcAndBytes() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        try b.writeMemory(0x1000C, [0x00, 0x00, 0x00, 0x00])   // udf #0
        let error = thrownError { () throws(DebugError) in try b.run(vcpu: 0) }
        #expect(error == .unsupportedInstruction(pc: 0x1000C, arch: .arm64, bytes: [0, 0, 0, 0]))
        #expect(error?.message.contains("unsupported instruction at pc 0x1000c") == true)
    }
}
