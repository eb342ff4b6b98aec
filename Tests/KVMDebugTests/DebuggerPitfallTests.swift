import Dispatch
import Testing
import KVMDebugCLI
import KVMDebugConformance
import KVMDebugCore
import KVMTestSupport
import KVMDebugFake

// The KVM guest-debug pitfalls of shared/KVM-DEBUG-ABI.md, checked on what the
// Debugger asks of the backend (the fake's ioctl trace) rather than on its own
// bookkeeping. Expected register values are written out by hand from the SDM / Arm ARM
// field maps, never produced with kvmdbg's encoders.
//
// Built-in counter, x86 long mode: 1000 entry: xor rax,rax; 1003 loop: inc rax;
// 1006 store: mov [0x2000],rax; 100e load: mov rbx,[0x2008]; 1016 jmp loop.
// arm64: 10000 entry; 1000c loop: add; 10010 store: str x0,[x1]; 10014 load; 10018 b loop.
// counter = 0x2000 (arm64 0x11000), data = 0x2008 (0x11008).

// MARK: - Hand-written decoders of what was installed

/// One enabled x86 DR slot, decoded by hand: DR7 L<i>/G<i> = bits 2i/2i+1,
/// R/W<i> = bits 16+4i, LEN<i> = bits 18+4i (00 = 1, 01 = 2, 11 = 4, 10 = 8 bytes).
private struct DRSlot: Hashable, CustomStringConvertible {
    var address: UInt64
    var rw: UInt64
    var len: UInt64
    var description: String { "(\(hex(address)) rw=\(rw) len=\(len))" }
}

private let loopExec = DRSlot(address: 0x1003, rw: 0b00, len: 0b00)
private let storeExec = DRSlot(address: 0x1006, rw: 0b00, len: 0b00)
private let counterWrite8 = DRSlot(address: 0x2000, rw: 0b01, len: 0b10)

private func x86Regs(_ s: GuestDebugState) -> X86DebugRegisters? {
    if case .x86(let r) = s.registers { return r }
    return nil
}

/// The enabled DR slots of a state, as a set (slot numbers may move between states).
private func enabledSlots(_ s: GuestDebugState) -> Set<DRSlot> {
    guard let r = x86Regs(s) else { return [] }
    var out = Set<DRSlot>()
    for i in 0..<4 where (r.dr7 >> UInt64(2 * i)) & 0b11 != 0 {
        out.insert(DRSlot(address: r.address[i], rw: (r.dr7 >> UInt64(16 + 4 * i)) & 3,
                          len: (r.dr7 >> UInt64(18 + 4 * i)) & 3))
    }
    return out
}

private func arm64Regs(_ s: GuestDebugState) -> Arm64DebugRegisters? {
    if case .arm64(let r) = s.registers { return r }
    return nil
}

/// BVR values of breakpoints whose DBGBCR.E (bit 0) is set.
private func armedBreakpoints(_ s: GuestDebugState) -> Set<UInt64> {
    guard let r = arm64Regs(s) else { return [] }
    var out = Set<UInt64>()
    for i in 0..<16 where r.bcr[i] & 1 == 1 { out.insert(r.bvr[i]) }
    return out
}

/// (WVR, LSC = bits 4:3, BAS = bits 12:5) of watchpoints whose DBGWCR.E is set.
private struct WPSlot: Hashable { var wvr: UInt64; var lsc: UInt64; var bas: UInt64 }
private func armedWatchpoints(_ s: GuestDebugState) -> Set<WPSlot> {
    guard let r = arm64Regs(s) else { return [] }
    var out = Set<WPSlot>()
    for i in 0..<16 where r.wcr[i] & 1 == 1 {
        out.insert(WPSlot(wvr: r.wvr[i], lsc: (r.wcr[i] >> 3) & 3, bas: (r.wcr[i] >> 5) & 0xFF))
    }
    return out
}

private func isStep(_ s: GuestDebugState) -> Bool { s.control.rawValue & SINGLESTEP != 0 }

private extension FakeBackend {
    /// Every KVM_SET_GUEST_DEBUG state in the trace, in order.
    var debugStates: [GuestDebugState] {
        trace.compactMap { if case .setGuestDebug(_, let s) = $0 { return s } else { return nil } }
    }
    /// The trace as short tokens: "sgd" / "sgd+ss" / "run" / "getregs" / "setregs".
    var shape: [String] {
        trace.map {
            switch $0 {
            case .setGuestDebug(_, let s): return isStep(s) ? "sgd+ss" : "sgd"
            case .run: return "run"
            case .getRegisters: return "getregs"
            case .setRegisters: return "setregs"
            case .getFPRegisters: return "getfp"
            case .setFPRegisters: return "setfp"
            case .getGuestDebugRegisters: return "getdr"
            case .setGuestDebugRegisters: return "setdr"
            }
        }
    }
    func word64(_ a: UInt64) throws -> UInt64 { littleEndianValue(try readMemory(a, count: 8)) }
}

private func stopOf(_ e: RunEvent) -> Stop? {
    if case .stop(let s) = e { return s }
    return nil
}

/// Sends a kick to `vcpu` after `seconds` unless cancelled: a resume that would spin
/// forever (a bug) ends with `.interrupted` instead of hanging the test run.
private final class Watchdog: @unchecked Sendable {
    private let item: DispatchWorkItem
    init(_ backend: some DebugBackend, vcpu: Int = 0, seconds: Double) {
        nonisolated(unsafe) let b = backend
        item = DispatchWorkItem { b.kick(vcpu: vcpu) }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: item)
    }
    func cancel() { item.cancel() }
    deinit { item.cancel() }
}

// MARK: - Full state, stepping, continuing (fake)

@Suite struct DebuggerPitfallTests {
    let x86 = BuiltinGuests.counterX86(.long)
    let arm = BuiltinGuests.counterArm64()

    @Test func everySetGuestDebugCarriesTheWholeState() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1003))
        try d.insert(.watch(address: 0x2000, length: 8, kind: .write))
        #expect(b.trace.isEmpty, "inserting is lazy: no ioctl before the vCPU runs")

        var reasons: [(StopReason, UInt64)] = []
        for mode: ResumeMode in [.continue, .continue, .continue, .step, .step, .continue] {
            let s = try #require(stopOf(try d.resume(vcpu: 0, mode: mode)))
            reasons.append((s.reason, s.pc))
        }
        #expect(reasons.map(\.0) == [.hardwareBreakpoint, .watchpoint, .hardwareBreakpoint, .singleStep, .watchpoint, .hardwareBreakpoint])
        #expect(reasons.map(\.1) == [0x1003, 0x100e, 0x1003, 0x1006, 0x100e, 0x1003])

        let states = b.debugStates
        // 1 initial, 2 continue past loop (step without it + full), 3 none (x86 watch
        // traps after the access, nothing to step over), 4 step over loop, 5 full+step,
        // 6 full again.
        #expect(states.count == 6, "\(b.shape)")
        #expect(d.totalSetGuestDebugCalls == states.count)
        var steppedOver = 0
        for s in states {
            #expect(s.control.rawValue & 0x1 != 0 && s.control.rawValue & X86_USE_HW_BP != 0, "ENABLE|USE_HW_BP in every state")
            let slots = enabledSlots(s)
            if slots == [loopExec, counterWrite8] { continue }
            // The only state allowed to miss a point: the step over the breakpoint the vCPU sits on.
            #expect(slots == [counterWrite8] && isStep(s), "state \(slots) is neither full nor a step over loop")
            steppedOver += 1
        }
        #expect(steppedOver == 2)
        // Every DR7 keeps bit 10 set and bits 63:32 clear.
        for s in states { #expect(x86Regs(s).map { $0.dr7 & 0x400 != 0 && $0.dr7 >> 32 == 0 } == true) }
    }

    @Test func singleStepKeepsEveryOtherPointArmedOnX86() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1003))
        try d.insert(.hardware(address: 0x1006))
        try d.insert(.watch(address: 0x2000, length: 8, kind: .write))
        // Step from entry lands on loop (a step stop), the next resume hits the armed
        // breakpoint there, the next steps over it with the other two armed.
        let pcs = try (0..<3).map { _ in try #require(stopOf(try d.resume(vcpu: 0, mode: .step))) }
        #expect(pcs.map(\.reason) == [.singleStep, .hardwareBreakpoint, .singleStep])
        #expect(pcs.map(\.pc) == [0x1003, 0x1003, 0x1006])
        let steps = b.debugStates.filter(isStep)
        #expect(steps.count == 2)
        #expect(enabledSlots(steps[0]) == [loopExec, storeExec, counterWrite8])
        #expect(enabledSlots(steps[1]) == [storeExec, counterWrite8], "step over loop: loop out, the rest in")
        // DR7 enable bits (L<i>/G<i>) of DR0-DR2 really are set in the SINGLESTEP state.
        let dr7 = try #require(x86Regs(steps[0])).dr7
        #expect(dr7 & 0b11 != 0 && (dr7 >> 2) & 0b11 != 0 && (dr7 >> 4) & 0b11 != 0 && (dr7 >> 6) & 0b11 == 0)
    }

    @Test func singleStepKeepsEveryOtherPointArmedOnArm64() throws {
        let b = try boundedFake(arm)
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1000c))
        try d.insert(.hardware(address: 0x10018))
        try d.insert(.watch(address: 0x11000, length: 8, kind: .write))
        let counterW = WPSlot(wvr: 0x11000, lsc: 0b10, bas: 0xFF)
        // entry -> 10004 -> 10008 -> 1000c (step), then the breakpoint at loop, then step over it.
        let stops = try (0..<5).map { _ in try #require(stopOf(try d.resume(vcpu: 0, mode: .step))) }
        #expect(stops.map(\.pc) == [0x10004, 0x10008, 0x1000c, 0x1000c, 0x10010])
        #expect(stops.map(\.reason) == [.singleStep, .singleStep, .singleStep, .hardwareBreakpoint, .singleStep])
        let steps = b.debugStates.filter(isStep)
        #expect(steps.count == 2, "one state for plain steps, one for the step over loop")
        #expect(armedBreakpoints(steps[0]) == [0x1000c, 0x10018])
        #expect(armedWatchpoints(steps[0]) == [counterW])
        #expect(armedBreakpoints(steps[1]) == [0x10018], "step over loop: its BCR.E clear, the other set")
        #expect(armedWatchpoints(steps[1]) == [counterW])
        for s in b.debugStates {
            #expect(s.control.rawValue & ~UInt32(0x3_0003) == 0, "arm64 control stays inside KVM_GUESTDBG_VALID_MASK 0x30003")
            #expect(s.control.rawValue & 0x2_0000 != 0, "USE_HW")
        }
    }

    @Test func continuingPastAnX86ExecuteBreakpointDisarmsStepsAndRearms() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1003))
        let first = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
        #expect(first.pc == 0x1003 && first.reason == .hardwareBreakpoint)
        let full = try #require(b.installedState(vcpu: 0))
        #expect(b.register("rax", vcpu: 0) == 0, "a fault: inc not executed yet")
        b.clearTrace()

        let second = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
        #expect(second.pc == 0x1003 && second.reason == .hardwareBreakpoint)
        #expect(b.shape == ["sgd+ss", "run", "sgd", "run"], "disarm + step, then re-arm + run")
        let states = b.debugStates
        #expect(enabledSlots(states[0]).isEmpty, "the breakpoint is out while stepping over it")
        #expect(states[1] == full, "then exactly the full state again")
        // Never RF: no KVM_SET_REGS at all, and RFLAGS.RF (bit 16) never set.
        #expect(!b.shape.contains("setregs"))
        #expect(try #require(b.register("rflags", vcpu: 0)) & 0x1_0000 == 0)
        #expect(b.register("rax", vcpu: 0) == 1, "exactly one trip round the loop")
        #expect(try b.word64(0x2000) == 1)
    }

    @Test func x86WatchpointContinuesWithoutAStep() throws {
        // x86 data breakpoints are traps: the store is done, nothing to step over.
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        try d.insert(.watch(address: 0x2000, length: 8, kind: .write))
        _ = try d.resume(vcpu: 0, mode: .continue)
        b.clearTrace()
        let s = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
        #expect(s.reason == .watchpoint && s.pc == 0x100e)
        #expect(b.shape == ["run"])
        #expect(try b.word64(0x2000) == 2)
    }

    // MARK: TF pitfall

    @Test func stepAfterSettingThePCReissuesTheDebugStateOnTheFake() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        #expect(try stopOf(d.resume(vcpu: 0, mode: .step))?.pc == 0x1003)
        #expect(try stopOf(d.resume(vcpu: 0, mode: .step))?.pc == 0x1006)
        #expect(d.setGuestDebugCalls == [1], "unchanged SINGLESTEP state: not re-sent between steps")

        // KVM captured singlestep_rip = 0x1000 when the state was installed; move RIP
        // anywhere else (jmp loop at 0x1016) and KVM_SET_REGS drops TF.
        try d.setProgramCounter(0x1016, vcpu: 0)
        b.clearTrace()
        let s = try #require(stopOf(try d.resume(vcpu: 0, mode: .step)))
        #expect(d.setGuestDebugCalls == [2], "the state is the same, but KVM must see it again after KVM_SET_REGS moved RIP")
        // (KVM_GET_REGS may come first: the Debugger checks whether the pc still sits on the stop.)
        #expect(b.shape.filter { $0 != "getregs" } == ["sgd+ss", "run"], "\(b.shape)")
        #expect(s.reason == .singleStep && s.pc == 0x1003, "one instruction (jmp loop) from the new pc")
        #expect(b.register("rax", vcpu: 0) == 1, "inc ran once before, nothing since")
        // And it does not repeat for the following step.
        #expect(try stopOf(d.resume(vcpu: 0, mode: .step))?.pc == 0x1006)
        #expect(d.setGuestDebugCalls == [2])
    }

    @Test func theFakeModelsKVMDroppingTFAfterSetRegs() throws {
        // The pitfall itself, on raw backend calls: without a new KVM_SET_GUEST_DEBUG the
        // guest runs freely after KVM_SET_REGS moved RIP.
        let b = try boundedFake(x86)
        try b.setGuestDebug(GuestDebugState(control: [.enable, .singleStep], registers: .x86(X86DebugRegisters())), vcpu: 0)
        let first = try b.run(vcpu: 0)
        guard case .debug(let d) = first else { Issue.record("no step exit: \(first)"); return }
        #expect(d.pc == 0x1003)
        try b.setProgramCounter(0x1016, vcpu: 0)
        b.maxInstructionsPerRun = 200
        #expect(try b.run(vcpu: 0) == .interrupted)
    }

    @Test func movingThePCOffABreakpointSkipsTheStepOver() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1003))
        _ = try d.resume(vcpu: 0, mode: .continue)
        try d.setProgramCounter(0x1000, vcpu: 0)
        // Moved away: no step-over, the breakpoint fires again after xor.
        let s = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
        #expect(s.pc == 0x1003 && s.reason == .hardwareBreakpoint)
        #expect(b.register("rax", vcpu: 0) == 0, "xor ran, inc did not")
    }

    // MARK: Lazy sync

    @Test(arguments: [1, 2, 5, 8])
    func continuesPastABreakpointCostExactlyTwoCallsEach(stops n: Int) throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1003))
        for _ in 0..<n { #expect(try stopOf(d.resume(vcpu: 0, mode: .continue))?.pc == 0x1003) }
        // 1 initial state, then per further stop: step-over state + full state.
        #expect(d.setGuestDebugCalls == [1 + 2 * (n - 1)])
        #expect(b.setGuestDebugCount == 1 + 2 * (n - 1))
    }

    @Test func nothingToStepOverMeansOneCallInTotal() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        try d.insert(.watch(address: 0x2000, length: 8, kind: .write))
        for i in 1...6 {
            #expect(try stopOf(d.resume(vcpu: 0, mode: .continue))?.reason == .watchpoint)
            #expect(try b.word64(0x2000) == UInt64(i))
        }
        #expect(b.setGuestDebugCount == 1)
        // Plain steps: one SINGLESTEP state serves them all.
        for _ in 0..<6 { _ = try d.resume(vcpu: 0, mode: .step) }
        #expect(b.setGuestDebugCount == 2)
    }

    @Test func onlyTheChangedVCPUIsResynced() throws {
        let b = try boundedFake(x86, vcpus: 2)
        let d = Debugger(backend: b)
        try d.insert(.watch(address: 0x2000, length: 8, kind: .write))
        _ = try d.resume(vcpu: 0, mode: .continue)
        _ = try d.resume(vcpu: 1, mode: .continue)
        #expect(d.setGuestDebugCalls == [1, 1])
        // A point local to vCPU 1 leaves vCPU 0 alone.
        try d.insert(.hardware(address: 0x1016), on: .vcpu(1))
        #expect(d.tables.dirty == [false, true])
        b.clearTrace()
        _ = try d.resume(vcpu: 0, mode: .continue)
        _ = try d.resume(vcpu: 0, mode: .continue)
        #expect(d.setGuestDebugCalls == [1, 1])
        #expect(b.trace.allSatisfy { $0.vcpu == 0 } && !b.shape.contains("sgd"))
        _ = try d.resume(vcpu: 1, mode: .continue)
        #expect(d.setGuestDebugCalls == [1, 2])
        let v1 = try #require(b.installedState(vcpu: 1))
        #expect(enabledSlots(v1) == [counterWrite8, DRSlot(address: 0x1016, rw: 0, len: 0)])
        #expect(enabledSlots(try #require(b.installedState(vcpu: 0))) == [counterWrite8])
    }

    // MARK: BLOCKIRQ

    @Test func blockIRQIsSetInStepStatesWhenAdvertised() throws {
        let b = try boundedFake(x86)
        #expect(b.capabilities.supportedControl?.rawValue == 0x1F_0003)
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1003))
        _ = try d.resume(vcpu: 0, mode: .continue)  // full state
        _ = try d.resume(vcpu: 0, mode: .continue)  // step over (a step) + full
        _ = try d.resume(vcpu: 0, mode: .step)      // step over
        _ = try d.resume(vcpu: 0, mode: .step)      // plain step
        let states = b.debugStates
        #expect(states.filter(isStep).count == 3)
        for s in states {
            #expect((s.control.rawValue & BLOCKIRQ != 0) == isStep(s), "BLOCKIRQ exactly in the SINGLESTEP states: \(s.control.names(for: .x86_64))")
        }
    }

    @Test func blockIRQCanBeTurnedOff() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        d.blockInterruptsWhileStepping = false
        for _ in 0..<3 { _ = try d.resume(vcpu: 0, mode: .step) }
        #expect(b.debugStates.count == 1)
        #expect(b.debugStates.allSatisfy { isStep($0) && $0.control.rawValue & BLOCKIRQ == 0 })
    }

    @Test(arguments: [UInt32?.none, 0x3_0003, 0xF_0003])
    func blockIRQNeedsTheCapability(mask: UInt32?) throws {
        let b = try boundedFake(x86)
        b.capabilities.supportedControl = mask.map { GuestDebugControl(rawValue: $0) }
        let d = Debugger(backend: b)
        _ = try d.resume(vcpu: 0, mode: .step)
        let s = try #require(b.installedState(vcpu: 0))
        #expect(isStep(s) && s.control.rawValue & BLOCKIRQ == 0)
    }

    @Test func arm64NeverGetsBlockIRQ() throws {
        let b = try boundedFake(arm)
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1000c))
        for m: ResumeMode in [.continue, .continue, .step] { _ = try d.resume(vcpu: 0, mode: m) }
        #expect(b.debugStates.filter(isStep).count == 2)
        #expect(b.debugStates.allSatisfy { $0.control.rawValue & ~UInt32(0x3_0003) == 0 })
    }

    // MARK: Software breakpoints

    @Test func x86SoftwareBreakpointPatchIsHiddenAndRestored() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        let image = x86.image
        try d.insert(.software(address: 0x100e))
        #expect(try b.readMemory(0x100e, count: 1) == [0xCC], "int3 in guest memory")
        #expect(try d.readMemory(0x1000, count: image.count) == image, "hidden from debugger reads")
        #expect(try d.readMemory(0x100e, count: 1) == [0x48])
        #expect(b.trace.isEmpty)
        // Stop, continue: the patch is put back after stepping over the original instruction.
        let s1 = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
        #expect(s1.reason == .softwareBreakpoint && s1.pc == 0x100e)
        #expect(b.installedState(vcpu: 0).map { $0.control.rawValue & 0x1_0000 != 0 } == true, "USE_SW_BP")
        let s2 = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
        #expect(s2.reason == .softwareBreakpoint && s2.pc == 0x100e)
        #expect(try b.readMemory(0x100e, count: 1) == [0xCC])
        #expect(b.register("rbx", vcpu: 0) == BuiltinGuests.dataPattern, "the original load ran once")
        try d.remove(.software(address: 0x100e))
        #expect(try b.readMemory(0x1000, count: image.count) == image)
    }

    @Test func arm64SoftwareBreakpointPatchIsHiddenEvenInPartialReads() throws {
        let b = try boundedFake(arm)
        let d = Debugger(backend: b)
        let image = arm.image
        try d.insert(.software(address: 0x10014))
        #expect(try b.readMemory(0x10014, count: 4) == [0x00, 0x00, 0x20, 0xD4], "brk #0 = 0xd4200000 little-endian")
        #expect(try d.readMemory(0x10000, count: image.count) == image)
        #expect(try d.readMemory(0x10016, count: 4) == Array(image[0x16..<0x1a]))
        #expect(try d.readMemory(0x10012, count: 4) == Array(image[0x12..<0x16]))
        try d.remove(.software(address: 0x10014))
        #expect(try b.readMemory(0x10000, count: image.count) == image)
    }

    @Test func theLastUserOfAPatchRestoresTheBytes() throws {
        let b = try boundedFake(x86, vcpus: 2)
        let d = Debugger(backend: b)
        try d.insert(.software(address: 0x1006), on: .vcpu(0))
        try d.insert(.software(address: 0x1006), on: .vcpu(1))
        #expect(try b.readMemory(0x1006, count: 1) == [0xCC])
        try d.remove(.software(address: 0x1006), from: .vcpu(0))
        #expect(try b.readMemory(0x1006, count: 1) == [0xCC], "vCPU 1 still uses it")
        try d.remove(.software(address: 0x1006), from: .vcpu(1))
        #expect(try b.readMemory(0x1006, count: 1) == [0x48])
        #expect(d.tables.softwareBreakpoints.isEmpty)
    }

    @Test func aFailedInsertChangesNothing() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        for a: UInt64 in [0x1000, 0x1003, 0x1006, 0x100e] { try d.insert(.hardware(address: a)) }
        let tables = d.tables
        let ram = try b.readMemory(0, count: 0x3000)
        #expect(throws: DebugError.noFreeSlot(vcpu: 0, kind: .debugRegister, capacity: 4, needed: 5)) {
            try d.insert(.hardware(address: 0x1016))
        }
        // Hardware only (auto would serve the watch by memory protection).
        d.watchMechanism = .hardware
        #expect(throws: DebugError.noFreeSlot(vcpu: 0, kind: .debugRegister, capacity: 4, needed: 5)) {
            try d.insert(.watch(address: 0x2008, length: 8, kind: .access))
        }
        // A software point outside RAM, or for a vCPU that does not exist: memory untouched.
        #expect(throws: DebugError.self) { try d.insert(.software(address: 0x30_0000)) }
        #expect(throws: DebugError.noSuchVCPU(index: 3, count: 1)) { try d.insert(.software(address: 0x1016), on: .vcpu(3)) }
        #expect(d.tables.global == tables.global && d.tables.local == tables.local)
        #expect(d.tables.encoded == tables.encoded && d.tables.dirty == tables.dirty)
        #expect(try b.readMemory(0, count: 0x3000) == ram)
        #expect(b.trace.isEmpty)
    }

    @Test func runnerArmIsAllOrNothing() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        let runner = GuestRunner(debugger: d)
        let ram = try b.readMemory(0, count: 0x3000)
        let raw: [(String, PointSpec.Kind)] = [("load", .software), ("loop", .hardware), ("counter:8:w", .watch),
                                                ("store", .hardware), ("load", .hardware), ("jump", .hardware)]
        let specs = try raw.map { pair throws(DebugError) in try PointSpec.parse(pair.0, kind: pair.1, symbols: x86.symbols) }
        #expect(throws: DebugError.noFreeSlot(vcpu: 0, kind: .debugRegister, capacity: 4, needed: 5)) {
            try runner.arm(specs)
        }
        #expect(d.tables.points(on: 0).isEmpty, "already-armed points were taken back")
        #expect(d.tables.softwareBreakpoints.isEmpty)
        #expect(try b.readMemory(0, count: 0x3000) == ram, "the int3 at load was removed again")
        // Nothing left behind: the first four fit afterwards.
        try runner.arm(Array(specs.prefix(5)))
        #expect(d.tables.points(on: 0).count == 5)
    }

    @Test func removalIsExact() throws {
        let b = try boundedFake(x86)
        let d = Debugger(backend: b)
        let w = DebugPoint.watch(address: 0x2000, length: 8, kind: .write)
        try d.insert(w)
        for other: DebugPoint in [.watch(address: 0x2000, length: 4, kind: .write),
                                  .watch(address: 0x2000, length: 8, kind: .access),
                                  .watch(address: 0x2000, length: 8, kind: .read),
                                  .watch(address: 0x2004, length: 8, kind: .write),
                                  .hardware(address: 0x2000), .software(address: 0x2000)] {
            #expect(throws: DebugError.notArmed(point: other, target: .all)) { try d.remove(other) }
        }
        #expect(throws: DebugError.notArmed(point: w, target: .vcpu(0))) { try d.remove(w, from: .vcpu(0)) }
        #expect(d.tables.points(on: 0) == [w])
        #expect(enabledSlots(d.tables.guestDebugState(for: 0, stepping: false)) == [counterWrite8])
        try d.remove(w)
        #expect(d.tables.points(on: 0).isEmpty)
        #expect(d.tables.guestDebugState(for: 0, stepping: false) == .disabled(.x86_64))
    }

    // MARK: arm64 watchpoint continuation

    @Test func arm64WatchpointContinuationStepsOnceWithItDisarmed() throws {
        let b = try boundedFake(arm)
        let d = Debugger(backend: b)
        try d.insert(.watch(address: 0x11000, length: 8, kind: .write))
        let s1 = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
        #expect(s1.reason == .watchpoint && s1.pc == 0x10010, "taken before the str")
        let w1 = try b.word64(0x11000)
        let full = try #require(b.installedState(vcpu: 0))
        b.clearTrace()
        let s2 = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
        #expect(s2.reason == .watchpoint && s2.pc == 0x10010)
        #expect(b.shape == ["sgd+ss", "run", "sgd", "run"])
        let states = b.debugStates
        #expect(states.filter(isStep).count == 1)
        #expect(armedWatchpoints(states[0]).isEmpty, "the watchpoint is disarmed for the step")
        #expect(states[1] == full)
        #expect(try b.word64(0x11000) == w1 + 1, "exactly one store between two watch stops")
        // And once more.
        _ = try d.resume(vcpu: 0, mode: .continue)
        #expect(try b.word64(0x11000) == w1 + 2)
    }
}

// MARK: - Points that meet at one instruction, and stops found while stepping over

/// Found while writing these tests: the Debugger steps over only one point at a time (two
/// points that fire at one instruction re-trigger each other forever), and the stop a
/// step-over produces does not go through `filter` (x86 read-watch value check).
@Suite struct DebuggerStepOverInteractionTests {
    /// Runs `n` continues and returns (reason, counter word) at each stop.
    private func run<B: DebugBackend>(_ d: Debugger<B>, _ n: Int, counter: UInt64) throws -> [(StopReason, UInt64)] {
        var out: [(StopReason, UInt64)] = []
        for _ in 0..<n {
            let s = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
            out.append((s.reason, littleEndianValue(try d.readMemory(counter, count: 8))))
        }
        return out
    }

    /// arm64 breakpoint and watchpoint on the same `str`: the breakpoint is taken, then
    /// stepping over it with the breakpoint disarmed takes the watchpoint (before the access),
    /// then stepping over that with the *breakpoint re-armed* takes the breakpoint again:
    /// the guest never gets past the store.
    @Test func arm64BreakpointAndWatchpointOnOneInstructionMakeProgress() throws {
        let d = Debugger(backend: try boundedFake(BuiltinGuests.counterArm64()))
        try d.insert(.hardware(address: 0x10010))
        try d.insert(.watch(address: 0x11000, length: 8, kind: .write))
        let stops = try run(d, 6, counter: 0x11000)
        #expect(stops.map(\.0) == [.hardwareBreakpoint, .watchpoint, .hardwareBreakpoint, .watchpoint, .hardwareBreakpoint, .watchpoint])
        #expect(stops.map(\.1) == [0, 0, 1, 1, 2, 2], "the store must retire once per loop: counter words \(stops.map(\.1))")
    }

    /// Same with a software breakpoint (brk) on the arm64 `str` and a watchpoint.
    @Test func arm64SoftwareBreakpointAndWatchpointOnOneInstructionMakeProgress() throws {
        let d = Debugger(backend: try boundedFake(BuiltinGuests.counterArm64()))
        try d.insert(.software(address: 0x10010))
        try d.insert(.watch(address: 0x11000, length: 8, kind: .write))
        let stops = try run(d, 6, counter: 0x11000)
        #expect(stops.last.map { $0.1 >= 2 } == true, "the store must retire: counter words \(stops.map(\.1)), reasons \(stops.map(\.0.name))")
    }

    /// x86 hardware and software breakpoint at the same address: stepping over the int3
    /// re-arms the DR slot at the same pc, which faults again; stepping over the DR slot
    /// executes the int3 again.
    @Test func x86HardwareAndSoftwareBreakpointAtOneAddressMakeProgress() throws {
        let d = Debugger(backend: try boundedFake(BuiltinGuests.counterX86(.long)))
        try d.insert(.hardware(address: 0x1006))
        try d.insert(.software(address: 0x1006))
        let stops = try run(d, 6, counter: 0x2000)
        #expect(stops.last.map { $0.1 >= 2 } == true, "the store must retire: counter words \(stops.map(\.1)), reasons \(stops.map(\.0.name))")
    }

    /// An x86 read watchpoint (emulated with R/W=11 plus a value filter) on `counter`, which
    /// the guest only writes, and a breakpoint on the store: the write seen while stepping
    /// over the breakpoint must be filtered like any other, not reported as a read.
    @Test func x86ReadWatchHitDuringAStepOverIsFiltered() throws {
        let d = Debugger(backend: try boundedFake(BuiltinGuests.counterX86(.long)))
        try d.insert(.hardware(address: 0x1006))
        try d.insert(.watch(address: 0x2000, length: 8, kind: .read))
        var reasons: [String] = []
        for _ in 0..<4 {
            let s = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
            reasons.append("\(s.reason.name)@\(hex(s.pc))")
        }
        #expect(reasons == Array(repeating: "hw-breakpoint@0x1006", count: 4), "counter is never read: \(reasons)")
    }

    /// The same in step mode: the user's step *is* the step-over of the breakpoint, and the
    /// write it makes must not come back as a read-watchpoint hit.
    @Test func x86ReadWatchHitDuringASteppedStepOverIsFiltered() throws {
        let d = Debugger(backend: try boundedFake(BuiltinGuests.counterX86(.long)))
        try d.insert(.hardware(address: 0x1006))
        try d.insert(.watch(address: 0x2000, length: 8, kind: .read))
        let first = try #require(stopOf(try d.resume(vcpu: 0, mode: .continue)))
        #expect(first.reason == .hardwareBreakpoint && first.pc == 0x1006)
        let step = try #require(stopOf(try d.resume(vcpu: 0, mode: .step)))
        #expect(step.pc == 0x100e)
        #expect(step.hits.map(\.reason) == [.singleStep], "the store wrote counter; a read watch must not fire: \(step.hits)")
    }

    /// vCPU 0 runs into an int3 patched for vCPU 1 only (memory is shared): the Debugger
    /// swallows it and steps over it. A watchpoint of vCPU 0 that fires in that very step
    /// must still be reported, not dropped.
    @Test func x86WatchpointHitWhileSteppingOverAnotherVCPUsInt3IsReported() throws {
        let b = try boundedFake(BuiltinGuests.counterX86(.long), vcpus: 2)
        let d = Debugger(backend: b)
        try d.insert(.software(address: 0x1006), on: .vcpu(1))
        try d.insert(.watch(address: 0x2000, length: 8, kind: .write))
        let dog = Watchdog(b, seconds: 0.5)
        let e = try d.resume(vcpu: 0, mode: .continue)
        dog.cancel()
        let s = try #require(stopOf(e), "resume spun without reporting the watch stop (\(e))")
        #expect(s.reason == .watchpoint && s.pc == 0x100e && s.vcpu == 0)
        #expect(try b.word64(0x2000) == 1)
    }

    /// arm64 version: the watchpoint is taken before the store, so dropping it also means
    /// the store never retires (the brk is re-patched, swallowed, stepped over, watch...).
    @Test func arm64WatchpointHitWhileSteppingOverAnotherVCPUsBrkIsReported() throws {
        let b = try boundedFake(BuiltinGuests.counterArm64(), vcpus: 2)
        let d = Debugger(backend: b)
        try d.insert(.software(address: 0x10010), on: .vcpu(1))
        try d.insert(.watch(address: 0x11000, length: 8, kind: .write))
        let dog = Watchdog(b, seconds: 0.5)
        let e = try d.resume(vcpu: 0, mode: .continue)
        dog.cancel()
        let s = try #require(stopOf(e), "resume spun without reporting the watch stop (\(e))")
        #expect(s.reason == .watchpoint && s.pc == 0x10010 && s.vcpu == 0)
    }
}

// MARK: - Real KVM

@Suite(KVMHost.required, .serialized) struct DebuggerPitfallKVMTests {
    #if arch(x86_64)
    @Test func stepAfterSettingThePCReissuesTheDebugStateOnKVM() throws {
        let b = try KVMBackend(guest: BuiltinGuests.counterX86(.long))
        let d = Debugger(backend: b)
        let dog = Watchdog(b, seconds: 2)
        defer { dog.cancel() }
        #expect(try stopOf(d.resume(vcpu: 0, mode: .step))?.pc == 0x1003)
        #expect(try stopOf(d.resume(vcpu: 0, mode: .step))?.pc == 0x1006)
        #expect(d.setGuestDebugCalls == [1])
        // singlestep_rip is 0x1000 (RIP when SINGLESTEP was installed): move RIP elsewhere.
        try d.setProgramCounter(0x1016, vcpu: 0)
        let e = try d.resume(vcpu: 0, mode: .step)
        let s = try #require(stopOf(e), "the step after KVM_SET_REGS did not stop: \(e)")
        #expect(s.reason == .singleStep && s.pc == 0x1003, "one instruction: jmp loop")
        #expect(d.setGuestDebugCalls == [2])
        #expect(try b.vcpus[0].registers().rax == 1, "inc ran once before the jump, not since")
        #expect(try stopOf(d.resume(vcpu: 0, mode: .step))?.pc == 0x1006)
        #expect(d.setGuestDebugCalls == [2])
    }

    /// The raw pitfall on this host's KVM: after KVM_SET_REGS moves RIP away from the RIP
    /// SINGLESTEP was installed at, does the next KVM_RUN still step? x86.c
    /// (`__kvm_set_rflags`) drops TF on VMX/SVM; PVM was measured to keep it. Either way
    /// the Debugger re-issues the state (previous test), so both are fine for kvmdbg.
    @Test func tfAfterSetRegsMovesRIPMatchesThisHostsFlavour() throws {
        let b = try KVMBackend(guest: BuiltinGuests.counterX86(.long))
        try b.setGuestDebug(GuestDebugState(control: [.enable, .singleStep], registers: .x86(X86DebugRegisters())), vcpu: 0)
        let first = try b.run(vcpu: 0)
        guard case .debug(let d) = first else { Issue.record("no step exit: \(first)"); return }
        #expect(d.pc == 0x1003)
        // Anywhere but singlestep_rip (0x1000, where SINGLESTEP was installed).
        try b.setProgramCounter(0x1016, vcpu: 0)
        let dog = Watchdog(b, seconds: 0.3)
        let second = try b.run(vcpu: 0)
        dog.cancel()
        if KVMHost.availability.isPVM {
            guard case .debug(let e) = second else {
                Issue.record("PVM used to keep TF after KVM_SET_REGS (measured); now: \(second)")
                return
            }
            #expect(e.pc == 0x1003, "one step (jmp loop) from the new RIP")
        } else {
            #expect(second == .interrupted, "x86.c drops TF when RIP != singlestep_rip; got \(second)")
        }
    }

    @Test(KVMHost.requiring(.executeBreakpoint))
    func continuingPastABreakpointOnKVMMatchesTheFakeCallCount() throws {
        let g = BuiltinGuests.counterX86(.long)
        let kvm = Debugger(backend: try KVMBackend(guest: g))
        let fake = Debugger(backend: try boundedFake(g))
        let dog = Watchdog(kvm.backend, seconds: 2)
        defer { dog.cancel() }
        try kvm.insert(.hardware(address: 0x1003))
        try fake.insert(.hardware(address: 0x1003))
        for _ in 0..<5 {
            let k = try #require(stopOf(try kvm.resume(vcpu: 0, mode: .continue)))
            let f = try #require(stopOf(try fake.resume(vcpu: 0, mode: .continue)))
            #expect(StopSignature(k) == StopSignature(f))
            #expect(k.primary.slot == 0)
        }
        #expect(kvm.setGuestDebugCalls == [9] && fake.setGuestDebugCalls == [9])
        #expect(try kvm.readMemory(0x2000, count: 8) == littleEndianBytes(4), "four stores between five stops")
    }
    #endif
}
