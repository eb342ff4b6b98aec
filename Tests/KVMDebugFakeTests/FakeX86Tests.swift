import KVMDebugCore
import KVMTestSupport
import KVMDebugFake
import Testing

/// x86 behaviour of the fake, judged by Intel SDM DR6/DR7 rules and KVM's ABI.
/// Built-in counter, long mode: 1000 xor, 1003 loop: inc, 1006 store (8 B to 0x2000),
/// 100e load (8 B from 0x2008), 1016 jmp loop. Real mode: 1000 xor, 1002 inc,
/// 1003 store (2 B), 1006 load (2 B), 100a jmp.
@Suite struct FakeX86Tests {
    let dr6Fixed: UInt64 = 0xFFFF_0FF0
    let bs: UInt64 = 1 << 14

    @Test func counterSingleStepsInLongMode() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        #expect(try b.programCounter(vcpu: 0) == 0x1000)
        #expect(b.register("rflags", vcpu: 0) == 0x2)
        try b.setGuestDebug(x86State(ENABLE | SINGLESTEP), vcpu: 0)
        var pcs: [UInt64] = []
        for _ in 0..<7 {
            let e = try #require(x86Debug(try b.run(vcpu: 0)))
            #expect(e.exception == 1)
            #expect(e.dr6 == 0xFFFF_4FF0)
            pcs.append(e.pc)
        }
        #expect(pcs == [0x1003, 0x1006, 0x100E, 0x1016, 0x1003, 0x1006, 0x100E])
        #expect(try b.word(0x2000) == 2)
        #expect(b.register("rax", vcpu: 0) == 2)
        #expect(b.register("rbx", vcpu: 0) == BuiltinGuests.dataPattern)
    }

    @Test func counterSingleStepsInRealMode() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.real))
        try b.setGuestDebug(x86State(ENABLE | SINGLESTEP), vcpu: 0)
        var pcs: [UInt64] = []
        for _ in 0..<7 { pcs.append(try #require(x86Debug(try b.run(vcpu: 0))).pc) }
        #expect(pcs == [0x1002, 0x1003, 0x1006, 0x100A, 0x1002, 0x1003, 0x1006])
        #expect(try b.word(0x2000) == 2)
        // mov bx, [0x2008] loads 16 bits.
        #expect(b.register("rbx", vcpu: 0) == 0x7788)
    }

    @Test func executeBreakpointRefiresWithoutRFAndPassesWithRF() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        // DR0 = loop, G0 (QEMU's DR7 0x402 style), R/W0 = 00, LEN0 = 00.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0x1003, 0, 0, 0], dr7: 0x402), vcpu: 0)
        var e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.exception == 1 && e.pc == 0x1003 && e.dr6 == dr6Fixed | 0x1 && e.dr7 == 0x402)
        #expect(b.register("rax", vcpu: 0) == 0)
        // KVM does not set RF: re-entering re-hits at once, nothing executed.
        e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.pc == 0x1003 && e.dr6 == dr6Fixed | 0x1)
        #expect(b.register("rax", vcpu: 0) == 0)
        // RF set through KVM_SET_REGS suppresses the check once (hardware behaviour).
        let rflags = try #require(b.register("rflags", vcpu: 0))
        #expect(b.setRegister("rflags", rflags | 0x1_0000, vcpu: 0))
        e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.pc == 0x1003)
        #expect(b.register("rax", vcpu: 0) == 1)
        #expect(try b.word(0x2000) == 1)
        #expect(b.register("rflags", vcpu: 0)! & 0x1_0000 == 0)
    }

    @Test func localEnableWorksLikeGlobalAndDisabledSlotDoesNot() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.real))
        // L3 (bit 6) with DR3 = loop.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0, 0, 0, 0x1002], dr7: 0x440), vcpu: 0)
        let e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.pc == 0x1002 && e.dr6 == dr6Fixed | 0x8)
        // DR3 still holds the address but no L3/G3: runs freely.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0, 0, 0, 0x1002], dr7: 0x400), vcpu: 0)
        b.maxInstructionsPerRun = 100
        #expect(try b.run(vcpu: 0) == .interrupted)
    }

    @Test(arguments: [CPUMode.long, .real])
    func writeWatchTrapsAfterTheStore(mode: CPUMode) throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(mode))
        // DR1 = counter, G1 (bit 3), R/W1 = 01 (bits 21:20), LEN1 = 11 = 4 bytes (bits 23:22).
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0, 0x2000, 0, 0], dr7: 0xD0_0408), vcpu: 0)
        let e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.exception == 1)
        #expect(e.pc == (mode == .long ? 0x100E : 0x1006))
        #expect(e.dr6 == dr6Fixed | 0x2)
        #expect(e.dr7 == 0xD0_0408)
        #expect(try b.word(0x2000) == 1)
        // Next lap: the same store fires again with the memory updated.
        let again = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(again.pc == e.pc && again.dr6 == dr6Fixed | 0x2)
        #expect(try b.word(0x2000) == 2)
    }

    @Test func eightByteWatchIgnoresLowAddressBits() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        // DR0 = 0x2004 with LEN0 = 10 (8 bytes) watches 0x2000..0x2007; R/W0 = 01; G0.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0x2004, 0, 0, 0], dr7: 0x9_0402), vcpu: 0)
        let e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.pc == 0x100E && e.dr6 == dr6Fixed | 0x1)
    }

    @Test func nonOverlappingWriteWatchDoesNotFire() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        // 4-byte write watch at 0x2010: the 8-byte store to 0x2000 does not reach it.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0x2010, 0, 0, 0], dr7: 0xD_0402), vcpu: 0)
        b.maxInstructionsPerRun = 200
        #expect(try b.run(vcpu: 0) == .interrupted)
        #expect(try b.word(0x2000) > 10)
    }

    @Test func accessWatchFiresOnLoadWriteOnlyDoesNot() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        // DR2 = data, G2 (bit 5), R/W2 = 11 (bits 25:24), LEN2 = 11 (bits 27:26).
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0, 0, 0x2008, 0], dr7: 0xF00_0420), vcpu: 0)
        let e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.pc == 0x1016 && e.dr6 == dr6Fixed | 0x4)
        #expect(b.register("rbx", vcpu: 0) == BuiltinGuests.dataPattern)

        let w = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        // Same slot with R/W2 = 01 (write): the guest only reads `data`.
        try w.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0, 0, 0x2008, 0], dr7: 0xD00_0420), vcpu: 0)
        w.maxInstructionsPerRun = 200
        #expect(try w.run(vcpu: 0) == .interrupted)
    }

    @Test func ioConditionNeverFiresOnMemory() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        // R/W0 = 10 (I/O) on the counter.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0x2000, 0, 0, 0], dr7: 0xE_0402), vcpu: 0)
        b.maxInstructionsPerRun = 100
        #expect(try b.run(vcpu: 0) == .interrupted)
    }

    @Test func stepAndWatchComeInOneExit() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        try b.setGuestDebug(x86State(ENABLE | SINGLESTEP | X86_USE_HW_BP, dr: [0, 0x2000, 0, 0], dr7: 0xD0_0408), vcpu: 0)
        #expect(try #require(x86Debug(try b.run(vcpu: 0))).dr6 == dr6Fixed | bs)   // xor
        #expect(try #require(x86Debug(try b.run(vcpu: 0))).dr6 == dr6Fixed | bs)   // inc
        let e = try #require(x86Debug(try b.run(vcpu: 0)))                          // store
        #expect(e.pc == 0x100E && e.dr6 == dr6Fixed | bs | 0x2)
    }

    @Test func dataTrapAndExecuteBreakpointOnNextInstructionAreSeparateExits() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        // DR0 exec at load (0x100e), DR2 write watch on counter. The execute breakpoint is a
        // fault of the next instruction: its own exit, as on silicon and on this host's KVM
        // (QEMU's TCG model folds it into the trap as B0|B2; see the x86 lane notes).
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0x100E, 0, 0x2000, 0], dr7: 0xD00_0402 | 0x20), vcpu: 0)
        let e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.pc == 0x100E && e.dr6 == dr6Fixed | 0x4)
        // The execute breakpoint is still a fault on the next entry.
        let f = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(f.pc == 0x100E && f.dr6 == dr6Fixed | 0x1)
    }

    @Test func dr7HighBitsFailVMEntry() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        // KVM accepts the ioctl; VM entry then fails (invalid guest state).
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0x1003, 0, 0, 0], dr7: 0x1_0000_0402), vcpu: 0)
        #expect(try b.run(vcpu: 0) == .failEntry(reason: 0x8000_0021))
        // Without USE_HW_BP the guest's own DR7 is loaded, so entry succeeds.
        try b.setGuestDebug(x86State(ENABLE, dr: [0x1003, 0, 0, 0], dr7: 0x1_0000_0402), vcpu: 0)
        b.maxInstructionsPerRun = 10
        #expect(try b.run(vcpu: 0) == .interrupted)
    }

    @Test func int3NeedsUseSoftwareBreakpointsAndReportsStaleDR6() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        // A #DB exit first, so dr6/dr7 in kvm_run hold something.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0x1003, 0, 0, 0], dr7: 0x402), vcpu: 0)
        _ = try b.run(vcpu: 0)
        try b.writeMemory(0x1006, [0xCC])
        try b.setGuestDebug(x86State(ENABLE | X86_USE_SW_BP), vcpu: 0)
        let e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.exception == 3 && e.pc == 0x1006)
        #expect(e.dr6 == dr6Fixed | 0x1 && e.dr7 == 0x402)   // stale, from the #DB exit
        // Without USE_SW_BP the guest would take #BP itself.
        try b.setGuestDebug(x86State(ENABLE), vcpu: 0)
        let error = thrownError { () throws(DebugError) in try b.run(vcpu: 0) }
        guard case .unsupported(let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("USE_SW_BP"))
    }

    @Test func injectQueuesOnceThenEBUSY() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        try b.setGuestDebug(x86State(X86_INJECT_BP), vcpu: 0)
        let busy = thrownError { () throws(DebugError) in try b.setGuestDebug(x86State(ENABLE | X86_INJECT_DB), vcpu: 0) }
        #expect(busy == .system(call: "KVM_SET_GUEST_DEBUG", errno: 16))
        #expect(b.installedState(vcpu: 0) == x86State(X86_INJECT_BP))
        guard case .unsupported = thrownError({ () throws(DebugError) in try b.run(vcpu: 0) }) else {
            Issue.record("delivery of an injected #BP should be unsupported")
            return
        }
    }

    @Test func unknownControlBitsAreAcceptedAndRecorded() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        let s = x86State(ENABLE | SINGLESTEP | 0x20_0000)
        try b.setGuestDebug(s, vcpu: 0)
        #expect(b.installedState(vcpu: 0) == s)
        #expect(try #require(x86Debug(try b.run(vcpu: 0))).pc == 0x1003)
    }

    @Test func eachCallReplacesTheWholeState() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0x1003, 0, 0, 0], dr7: 0x402), vcpu: 0)
        #expect(try #require(x86Debug(try b.run(vcpu: 0))).pc == 0x1003)
        // Same registers, USE_HW_BP dropped: the guest's own (empty) DRs are back.
        try b.setGuestDebug(x86State(ENABLE | SINGLESTEP, dr: [0x1003, 0, 0, 0], dr7: 0x402), vcpu: 0)
        for expected: UInt64 in [0x1006, 0x100E, 0x1016, 0x1003, 0x1006] {
            let e = try #require(x86Debug(try b.run(vcpu: 0)))
            #expect(e.pc == expected && e.dr6 == dr6Fixed | bs)
        }
        // ENABLE clear: everything off, even with USE_HW_BP and SINGLESTEP.
        try b.setGuestDebug(x86State(SINGLESTEP | X86_USE_HW_BP, dr: [0x1003, 0, 0, 0], dr7: 0x402), vcpu: 0)
        b.maxInstructionsPerRun = 100
        #expect(try b.run(vcpu: 0) == .interrupted)
    }

    @Test func setRegsAfterAStepDropsKVMsTrapFlag() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        try b.setGuestDebug(x86State(ENABLE | SINGLESTEP), vcpu: 0)
        #expect(try #require(x86Debug(try b.run(vcpu: 0))).pc == 0x1003)
        // KVM_SET_REGS re-derives TF from singlestep_rip (captured at SET_GUEST_DEBUG, 0x1000).
        #expect(b.setRegister("rcx", 7, vcpu: 0))
        b.maxInstructionsPerRun = 50
        #expect(try b.run(vcpu: 0) == .interrupted)
        // Re-issuing SET_GUEST_DEBUG captures the current RIP and steps again.
        try b.setGuestDebug(x86State(ENABLE | SINGLESTEP), vcpu: 0)
        let pc = try b.programCounter(vcpu: 0)
        let e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.dr6 == dr6Fixed | bs && e.pc != pc)
    }

    @Test func interpreterSubsetLoopWithCompareAndBranch() throws {
        // mov ecx,5; xor rax,rax; l: add rax,3; dec rcx; jne l; hlt
        let code: [UInt8] = [0xB9, 0x05, 0, 0, 0, 0x48, 0x31, 0xC0, 0x48, 0x83, 0xC0, 0x03,
                             0x48, 0xFF, 0xC9, 0x75, 0xF7, 0xF4]
        let b = try FakeBackend(guest: x86Guest(.long, code))
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1012))
        #expect(b.register("rax", vcpu: 0) == 15)
        #expect(b.register("rcx", vcpu: 0) == 0)
    }

    @Test func interpreterSizedMovesAndImmediates() throws {
        let code: [UInt8] = [
            0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // mov rax, 0x1122334455667788
            0x88, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00,                   // mov [0x3000], al
            0x66, 0x89, 0x04, 0x25, 0x08, 0x30, 0x00, 0x00,             // mov [0x3008], ax
            0x89, 0x04, 0x25, 0x10, 0x30, 0x00, 0x00,                   // mov [0x3010], eax
            0x8B, 0x14, 0x25, 0x10, 0x30, 0x00, 0x00,                   // mov edx, [0x3010]
            0x41, 0xB0, 0x7F,                                           // mov r8b, 0x7f
            0x4C, 0x89, 0xC6,                                           // mov rsi, r8
            0x39, 0xD0,                                                 // cmp eax, edx
            0x74, 0x01,                                                 // je +1 (skip the int3)
            0xCC,
            0xF4,                                                       // hlt
        ]
        let b = try FakeBackend(guest: x86Guest(.long, code))
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1000 + UInt64(code.count)))
        #expect(try b.word(0x3000) == 0x88)
        #expect(try b.word(0x3008) == 0x7788)
        #expect(try b.word(0x3010) == 0x5566_7788)
        #expect(b.register("rdx", vcpu: 0) == 0x5566_7788)
        #expect(b.register("rsi", vcpu: 0) == 0x7F)
    }

    @Test func realModeHighByteRegisters() throws {
        // mov ah, 0x12; mov al, 0x34; mov [0x3000], ax; hlt
        let b = try FakeBackend(guest: x86Guest(.real, [0xB4, 0x12, 0xB0, 0x34, 0xA3, 0x00, 0x30, 0xF4]))
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1008))
        #expect(try b.word(0x3000) == 0x1234)
    }

    @Test func dataWatchOnByteStore() throws {
        // mov [0x3003], al; mov [0x3004], al; hlt
        let code: [UInt8] = [0x88, 0x04, 0x25, 0x03, 0x30, 0, 0, 0x88, 0x04, 0x25, 0x04, 0x30, 0, 0, 0xF4]
        let b = try FakeBackend(guest: x86Guest(.long, code))
        // DR0 = 0x3002 LEN0 = 01 (2 bytes, covers 3002-3003) write; DR1 = 0x3000 LEN1 = 11 (3000-3003) write.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0x3002, 0x3000, 0, 0], dr7: 0xD5_040A), vcpu: 0)
        let e = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(e.pc == 0x1007 && e.dr6 == dr6Fixed | 0x3)
        // The byte at 0x3004 is outside both ranges.
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x100F))
    }

    @Test func unbackedStoreIsMMIOAndCompletesOnNextRun() throws {
        // mov [0x300000], rax; hlt   (RAM ends at 0x200000)
        let b = try FakeBackend(guest: x86Guest(.long, [0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00, 0xF4]))
        #expect(try b.run(vcpu: 0) == .mmio(address: 0x30_0000, isWrite: true, length: 8, pc: 0x1000))
        #expect(try b.programCounter(vcpu: 0) == 0x1000)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1009))
    }

    @Test func steppingOverHltReportsTheHalt() throws {
        // nop; hlt; nop
        let b = try FakeBackend(guest: x86Guest(.long, [0x90, 0xF4, 0x90]))
        try b.setGuestDebug(x86State(ENABLE | SINGLESTEP), vcpu: 0)
        #expect(try #require(x86Debug(try b.run(vcpu: 0))).pc == 0x1001)
        // KVM's emulated hlt overwrites the pending step exit (the TODO in kvm_emulate_halt).
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1002))
        #expect(try #require(x86Debug(try b.run(vcpu: 0))).pc == 0x1003)
    }

    @Test func fetchOutsideRAMIsAnEmulationFailure() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        try b.setProgramCounter(0x30_0000, vcpu: 0)
        #expect(try b.run(vcpu: 0) == .internalError(suberror: 1))
    }

    @Test func unsupportedInstructionNamesPcAndBytes() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        try b.writeMemory(0x1003, [0x0F, 0x05])   // syscall (ud2 is modelled: it raises #UD)
        let error = thrownError { () throws(DebugError) in try b.run(vcpu: 0) }
        #expect(error == .unsupportedInstruction(pc: 0x1003, arch: .x86_64,
                                                 bytes: [0x0F, 0x05, 0xC0, 0x48, 0x89, 0x04, 0x25, 0x00]))
        #expect(error?.message.contains("unsupported instruction at pc 0x1003") == true)
        #expect(error?.message.contains("0f 05") == true)
    }

    // MARK: - The gcc -O0 subset (frames, calls, memory ALU forms, jcc) and paging

    /// A frame, a counted loop and a call in the shapes `gcc -O0` emits for
    /// Tests/Fixtures/gdb-prog (assembled with GNU as; guest at 0x1000, `total` at 0x3000).
    static let frameLoopCode: [UInt8] = {
        var c: [UInt8] = [
            0x31, 0xED,                                                 // 1000 xor ebp, ebp
            0xE8, 0x19, 0x00, 0x00, 0x00,                               // 1002 call f (1020)
            0xF4,                                                       // 1007 hlt
        ]
        c += [UInt8](repeating: 0x90, count: 0x20 - c.count)
        c += [
            0x55,                                                       // 1020 f: push rbp
            0x48, 0x89, 0xE5,                                           // 1021 mov rbp, rsp
            0x48, 0x83, 0xEC, 0x10,                                     // 1024 sub rsp, 0x10
            0x48, 0xC7, 0x45, 0xF8, 0x01, 0x00, 0x00, 0x00,             // 1028 mov qword [rbp-8], 1
            0x48, 0xC7, 0x05, 0xC5, 0x1F, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, // 1030 mov qword [rip+0x1fc5], 7 (total)
            0xEB, 0x14,                                                 // 103b jmp cond
            0x48, 0x8B, 0x45, 0xF8,                                     // 103d body: mov rax, [rbp-8]
            0x48, 0x0F, 0xAF, 0xC0,                                     // 1041 imul rax, rax
            0x48, 0x01, 0x05, 0xB4, 0x1F, 0x00, 0x00,                   // 1045 add [rip+0x1fb4], rax (total)
            0x48, 0x83, 0x45, 0xF8, 0x01,                               // 104c add qword [rbp-8], 1
            0x48, 0x83, 0x7D, 0xF8, 0x05,                               // 1051 cond: cmp qword [rbp-8], 5
            0x7E, 0xE5,                                                 // 1056 jle body
            0x48, 0x8B, 0x15, 0xA1, 0x1F, 0x00, 0x00,                   // 1058 mov rdx, [rip+0x1fa1] (total)
            0x59,                                                       // 105f pop rcx
            0x51,                                                       // 1060 push rcx
            0xC9,                                                       // 1061 leave
            0xC3,                                                       // 1062 ret
        ]
        return c
    }()

    @Test func frameCallLoopAndReturn() throws {
        let b = try FakeBackend(guest: x86Guest(.long, Self.frameLoopCode))
        let rsp = try #require(b.register("rsp", vcpu: 0))
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1008))
        // 7 (the RIP-relative store counts its imm32 in the instruction's end) + 1+4+9+16+25.
        #expect(try b.word(0x3000) == 62)
        #expect(b.register("rdx", vcpu: 0) == 62)
        // pop rcx got the saved rbp (0); leave and ret restored rsp to its value before the call.
        #expect(b.register("rcx", vcpu: 0) == 0)
        #expect(b.register("rsp", vcpu: 0) == rsp)
        #expect(b.register("rbp", vcpu: 0) == 0)
        #expect(try b.word(rsp - 8) == 0x1007, "call pushed its return address")
        #expect(try b.word(rsp - 0x18) == 5 + 1, "the loop variable at [rbp-8] ended at 6")
    }

    @Test func stackAccessesAreDataAccesses() throws {
        let b = try FakeBackend(guest: x86Guest(.long, Self.frameLoopCode))
        let slot = try #require(b.register("rsp", vcpu: 0)) - 8
        // DR0 = the return-address slot, G0, R/W0 = 01 (write), LEN0 = 10 (8 bytes): the call's push.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [slot, 0, 0, 0], dr7: 0x90402), vcpu: 0)
        let call = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(call.pc == 0x1020 && call.dr6 == dr6Fixed | 1, "trap after call, at its target")
        // R/W0 = 11 (read/write): ret reads the slot, so the trap lands at the return address.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [slot, 0, 0, 0], dr7: 0xB0402), vcpu: 0)
        let ret = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(ret.pc == 0x1007 && ret.dr6 == dr6Fixed | 1)
    }

    /// Every jcc condition but p/np after `cmp rax, rbx`, judged by the SDM's definitions.
    @Test(arguments: [(UInt64(3), UInt64(5)), (5, 3), (5, 5), (~0, 1), (1, ~0), (0x8000_0000_0000_0000, 1), (0x7FFF_FFFF_FFFF_FFFF, ~0)])
    func conditionalJumpsAfterCompare(a: UInt64, b: UInt64) throws {
        let sa = Int64(bitPattern: a), sb = Int64(bitPattern: b)
        let expected: [UInt8: Bool] = [
            0x0: sa.subtractingReportingOverflow(sb).overflow, 0x2: a < b, 0x4: a == b, 0x6: a <= b,
            0x8: Int64(bitPattern: a &- b) < 0, 0xC: sa < sb, 0xE: sa <= sb,
        ]
        for (cc, taken) in expected {
            for negate in [false, true] {
                // cmp rax, rbx; jcc +1; hlt (not taken, pc 0x1006); hlt (taken, pc 0x1007)
                let code: [UInt8] = [0x48, 0x39, 0xD8, 0x70 | cc | (negate ? 1 : 0), 0x01, 0xF4, 0xF4]
                let f = try FakeBackend(guest: x86Guest(.long, code))
                f.setRegister("rax", a, vcpu: 0)
                f.setRegister("rbx", b, vcpu: 0)
                let halted = try f.run(vcpu: 0)
                #expect(halted == .halt(pc: taken != negate ? 0x1007 : 0x1006),
                        "j\(String(cc | (negate ? 1 : 0), radix: 16)) after cmp \(hex(a)), \(hex(b))")
            }
        }
    }

    @Test func imulSetsCarryAndOverflowWhenTheProductDoesNotFit() throws {
        // imul eax, ebx; jo +1; hlt; hlt   (0F 80 rel32 form for the second: jno)
        for (a, b, overflow) in [(UInt64(0x1_0000), UInt64(0x1_0000), true), (UInt64(0x100), UInt64(0x100), false),
                                 (UInt64(0xFFFF_FFFF), UInt64(2), false)] {
            let f = try FakeBackend(guest: x86Guest(.long, [0x0F, 0xAF, 0xC3, 0x0F, 0x80, 0x01, 0, 0, 0, 0xF4, 0xF4]))
            f.setRegister("rax", a, vcpu: 0)
            f.setRegister("rbx", b, vcpu: 0)
            #expect(try f.run(vcpu: 0) == .halt(pc: overflow ? 0x100B : 0x100A), "imul \(hex(a)) x \(hex(b))")
            let product = UInt64(bitPattern: Int64(Int32(bitPattern: UInt32(a))) &* Int64(Int32(bitPattern: UInt32(b))))
            #expect(f.register("rax", vcpu: 0) == product & 0xFFFF_FFFF, "32-bit result zero-extended")
        }
    }

    /// `paged-counter` loads its own CR3 and runs at 0xffffffff80000000: fetches, the stack
    /// and the RIP-relative `inc` go through its tables (inc qword [rip], jmp rax, call, ret).
    @Test func pagedGuestRunsThroughItsOwnTables() throws {
        let g = BuiltinGuests.pagedCounterX86()
        let b = try FakeBackend(guest: g)
        let inner = try #require(g.symbol("inner")).address, load = try #require(g.symbol("load")).address
        let counter = try #require(g.symbol("counter")).address
        // DR0 = inner (execute), DR1 = counter (write, 8 bytes): virtual addresses, as DR0-DR3 compare.
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [inner, counter, 0, 0], dr7: 0x9_0000 << 4 | 0x40A), vcpu: 0)
        let atInner = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(atInner.pc == inner && atInner.dr6 == dr6Fixed | 1)
        guard case .x86_64(let regs) = try b.registers(vcpu: 0) else { Issue.record("not x86 registers"); return }
        #expect(regs.cr3 == BuiltinGuests.pagedPML4, "mov cr3 is visible to KVM_GET_SREGS")
        #expect(regs.generalRegisters[4] == BuiltinGuests.pagedBase + 0x2FE0 - 16, "two calls pushed onto the high stack")
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [0, counter, 0, 0], dr7: 0x90_0408), vcpu: 0)
        let store = try #require(x86Debug(try b.run(vcpu: 0)))
        #expect(store.pc == load && store.dr6 == dr6Fixed | 2)
        // counter is physical 0x3000.
        #expect(try b.word(0x3000) == 1)
    }

    @Test func unmappedAccessIsATripleFault() throws {
        let g = BuiltinGuests.pagedCounterX86()
        let b = try FakeBackend(guest: g)
        // After its tables are live, point the load at the unmapped page after the stack.
        let load = try #require(g.symbol("load")).address
        try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [load, 0, 0, 0], dr7: 0x402), vcpu: 0)
        #expect(try #require(x86Debug(try b.run(vcpu: 0))).pc == load)
        try b.setGuestDebug(x86State(ENABLE), vcpu: 0)
        b.setRegister("rip", BuiltinGuests.pagedBase + 0x3000, vcpu: 0)
        #expect(try b.run(vcpu: 0) == .shutdown)
    }
}
