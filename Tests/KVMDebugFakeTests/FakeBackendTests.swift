import KVMDebugCore
import KVMTestSupport
import KVMDebugFake
import Testing

/// Backend-level behaviour shared by both architectures: capabilities, the trace,
/// kicks, several vCPUs and guest memory.
@Suite struct FakeBackendTests {
    @Test func capabilitiesPerArch() throws {
        let x = try FakeBackend(guest: BuiltinGuests.counterX86(.long)).capabilities
        #expect(x.backend == "fake" && x.arch == .x86_64 && x.setGuestDebug)
        #expect(x.supportedControl?.rawValue == 0x1F_0003)
        #expect(x.slots == SlotCapacity(breakpoints: 4, watchpoints: 4))
        #expect(x.reportedHardwareBreakpoints == 0 && x.reportedHardwareWatchpoints == 0)
        #expect(x.maxVCPUs == 1024)
        let a = try FakeBackend(guest: BuiltinGuests.counterArm64()).capabilities
        #expect(a.backend == "fake" && a.arch == .arm64)
        #expect(a.supportedControl?.rawValue == 0x3_0003)
        #expect(a.slots == SlotCapacity(breakpoints: 6, watchpoints: 4))
        #expect(a.reportedHardwareBreakpoints == 6 && a.reportedHardwareWatchpoints == 4)
        #expect(a.maxVCPUs == 512)
    }

    @Test func traceRecordsEveryIoctlInOrder() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long), vcpus: 2)
        let s = x86State(ENABLE | SINGLESTEP)
        try b.setGuestDebug(s, vcpu: 1)
        _ = try b.run(vcpu: 1)
        _ = try b.programCounter(vcpu: 1)
        try b.setProgramCounter(0x1003, vcpu: 1)
        b.setRegister("rax", 5, vcpu: 0)
        _ = b.register("rax", vcpu: 0)       // inspection only: not an ioctl
        _ = try b.readMemory(0x2000, count: 8)
        // A pc write is a read-modify-write of the register file (KVM_GET_REGS, KVM_SET_REGS).
        #expect(b.trace == [.setGuestDebug(vcpu: 1, state: s), .run(vcpu: 1), .getRegisters(vcpu: 1),
                            .getRegisters(vcpu: 1), .setRegisters(vcpu: 1), .setRegisters(vcpu: 0)])
        #expect(b.setGuestDebugCount == 1)
        #expect(b.installedState(vcpu: 1) == s)
        #expect(b.installedState(vcpu: 0) == nil)
        b.clearTrace()
        #expect(b.trace.isEmpty)
    }

    @Test(arguments: BuiltinGuests.all)
    func kickBeforeRunIsAnImmediateExit(guest: Guest) throws {
        let b = try FakeBackend(guest: guest)
        b.kick(vcpu: 0)
        #expect(try b.run(vcpu: 0) == .interrupted)
        #expect(try b.programCounter(vcpu: 0) == guest.entry)
        // The kick is consumed.
        b.maxInstructionsPerRun = 5
        #expect(try b.run(vcpu: 0) == .interrupted)
        #expect(try b.programCounter(vcpu: 0) != guest.entry)
    }

    @Test func kickFromAnotherThreadStopsAFreeRunningVCPU() async throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        let running = Task.detached { () throws(DebugError) -> VCPUExit in try b.run(vcpu: 0) }
        b.kick(vcpu: 0)
        #expect(try await running.value == .interrupted)
    }

    @Test(arguments: BuiltinGuests.all)
    func twoVCPUsHaveIndependentStateAndShareMemory(guest: Guest) throws {
        let b = try FakeBackend(guest: guest, vcpus: 2)
        let loop = try #require(guest.symbol("loop")).address
        let indexRegister = guest.arch == .x86_64 ? "rdi" : "x0"
        #expect(b.register(indexRegister, vcpu: 1) == 1)
        // Breakpoint at loop on vCPU 0 only; vCPU 1 single-steps.
        if guest.arch == .x86_64 {
            try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [loop, 0, 0, 0], dr7: 0x402), vcpu: 0)
            try b.setGuestDebug(x86State(ENABLE | SINGLESTEP), vcpu: 1)
        } else {
            try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, bcr: [0: 0x1E7], bvr: [0: loop]), vcpu: 0)
            try b.setGuestDebug(arm64State(ENABLE | SINGLESTEP), vcpu: 1)
        }
        #expect(try b.run(vcpu: 0).debugPC == loop)
        let first = try b.run(vcpu: 1).debugPC
        #expect(first != nil && first != guest.entry)
        #expect(try b.programCounter(vcpu: 0) == loop)
        #expect(try b.programCounter(vcpu: 1) == first)
        // vCPU 1 steps to the store and through it; vCPU 0 sees its write.
        let store = try #require(guest.symbol("store")).address
        var pc = try b.programCounter(vcpu: 1)
        while pc != store { pc = try #require(try b.run(vcpu: 1).debugPC) }
        _ = try b.run(vcpu: 1)
        // smp-counter's vCPU 1 stores to its own word; counter's to the shared one.
        let written = try BuiltinGuests.counterAddress(of: 1, in: guest) ?? #require(guest.symbol("counter")).address
        #expect(try b.word(written) == 1)
        #expect(try b.programCounter(vcpu: 0) == loop)
    }

    @Test func vcpusRunConcurrentlyOnTheirOwnThreads() async throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64(), vcpus: 4)
        b.maxInstructionsPerRun = 20_000
        let exits = try await withThrowingTaskGroup(of: VCPUExit.self) { group in
            for i in 0..<4 {
                group.addTask { try b.run(vcpu: i) }
            }
            var out: [VCPUExit] = []
            for try await e in group { out.append(e) }
            return out
        }
        #expect(exits == Array(repeating: .interrupted, count: 4))
        #expect(try b.word(0x11000) > 0)
        #expect(b.trace.count == 4)
    }

    @Test func memoryBoundsAndBadVCPUs() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        #expect(try b.readMemory(0x11008, count: 8) == littleEndianBytes(BuiltinGuests.dataPattern))
        #expect(thrownError { () throws(DebugError) in try b.readMemory(0xFFFF, count: 2) }
                == .badGuestAddress(address: 0xFFFF, length: 2))
        #expect(thrownError { () throws(DebugError) in try b.writeMemory(0x2FFFF, [1, 2]) }
                == .badGuestAddress(address: 0x2FFFF, length: 2))
        #expect(thrownError { () throws(DebugError) in try b.run(vcpu: 1) } == .noSuchVCPU(index: 1, count: 1))
        #expect(b.register("x0", vcpu: 3) == nil)
        #expect(!b.setRegister("bogus", 1, vcpu: 0))
        #expect(b.trace.isEmpty)
        #expect(thrownError { () throws(DebugError) in try FakeBackend(guest: BuiltinGuests.counterArm64(), vcpus: 0) } != nil)
        #expect(thrownError { () throws(DebugError) in try FakeBackend(guest: BuiltinGuests.counterArm64(), hardwareBreakpoints: 17) } != nil)
    }

    @Test func wrongArchRegistersAreRejected() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        guard case .unsupported = thrownError({ () throws(DebugError) in try b.setGuestDebug(x86State(ENABLE), vcpu: 0) }) else {
            Issue.record("x86 registers on an arm64 vCPU should be rejected")
            return
        }
    }
}

extension VCPUExit {
    /// The pc of a debug exit, nil otherwise.
    var debugPC: UInt64? {
        if case .debug(let d) = self { return d.pc }
        return nil
    }
}
