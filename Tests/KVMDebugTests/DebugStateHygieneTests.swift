import Foundation
import Testing
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// Guest RAM without what the guest itself changes as it runs: the counter word, and on x86
/// long mode the page tables at the top of RAM (real CPUs set their Accessed bits).
func ramOutsideCounters(_ b: some DebugBackend, _ g: Guest) throws(DebugError) -> [UInt8] {
    let end = g.arch == .x86_64 && g.mode == .long ? X86Boot.tablesBase(for: g) : g.memoryBase + g.memorySize
    var ram = try b.readMemory(g.memoryBase, count: Int(end - g.memoryBase))
    let counter = Int(g.symbol("counter")!.address - g.memoryBase)
    for i in counter..<(counter + 8) { ram[i] = 0 }
    return ram
}

/// The offsets (as hex, at most 8) where two RAM snapshots differ: empty when equal. Tests
/// compare this, never the arrays, so a failure prints where, not two megabytes.
func changedOffsets(_ a: [UInt8], _ b: [UInt8]) -> [String] {
    guard a.count == b.count else { return ["sizes \(a.count) and \(b.count)"] }
    return a.indices.lazy.filter { a[$0] != b[$0] }.prefix(8).map { hex(UInt64($0)) }
}

/// A backend that forwards to the fake and calls `duringRun` once inside the next `run`
/// whose vCPU is stepping: another thread's change landing in the middle of a step-over.
final class InterposedBackend: DebugBackend, @unchecked Sendable {
    let inner: FakeBackend
    var duringRun: (() -> Void)?
    init(_ inner: FakeBackend) { self.inner = inner }
    var arch: Arch { inner.arch }
    var vcpuCount: Int { inner.vcpuCount }
    var capabilities: Capabilities { inner.capabilities }
    func setGuestDebug(_ state: GuestDebugState, vcpu: Int) throws(DebugError) { try inner.setGuestDebug(state, vcpu: vcpu) }
    func run(vcpu: Int) throws(DebugError) -> VCPUExit {
        if inner.installedState(vcpu: vcpu)?.control.contains(.singleStep) == true, let f = duringRun {
            duringRun = nil
            f()
        }
        return try inner.run(vcpu: vcpu)
    }
    func registers(vcpu: Int) throws(DebugError) -> RegisterFile { try inner.registers(vcpu: vcpu) }
    func setRegisters(_ file: RegisterFile, vcpu: Int) throws(DebugError) { try inner.setRegisters(file, vcpu: vcpu) }
    func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8] { try inner.readMemory(address, count: count) }
    func writeMemory(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError) { try inner.writeMemory(address, bytes) }
    func kick(vcpu: Int) { inner.kick(vcpu: vcpu) }
}

/// Issue 12 part 3: whatever ends a debug session, the guest is left as if never debugged.
@Suite struct DebugStateHygieneTests {
    static let guests = [BuiltinGuests.counterX86(.long), BuiltinGuests.counterArm64()]

    @Test(arguments: guests)
    func closeUnpatchesMemoryAndDisablesEveryVCPU(_ g: Guest) throws {
        let b = try boundedFake(g, vcpus: 2)
        let before = try ramOutsideCounters(b, g)
        let session = DebugSession(backend: b)
        let loop = g.symbol("loop")!.address, store = g.symbol("store")!.address
        try session.insert(.software(address: loop))
        try session.insert(.hardware(address: store), on: .vcpu(1))
        try session.insert(.watch(address: g.symbol("counter")!.address, length: 8, kind: .write))
        let r = try session.resumeAll()
        #expect(!r.stops.isEmpty)
        _ = try session.resume([.step, nil])
        // While debugging, the int3/brk is in memory and the states are enabled.
        #expect(changedOffsets(try ramOutsideCounters(b, g), before) != [])
        #expect(b.installedState(vcpu: 0)?.control.contains(.enable) == true)
        session.close()
        #expect(changedOffsets(try ramOutsideCounters(b, g), before) == [], "an int3/brk left in guest memory")
        for v in 0..<2 {
            #expect(b.installedState(vcpu: v) == .disabled(g.arch), "vCPU \(v): \(String(describing: b.installedState(vcpu: v)))")
        }
        #expect(session.tables.points(on: 0).isEmpty && session.tables.points(on: 1).isEmpty)
        // Idempotent: a second close issues nothing.
        let calls = b.setGuestDebugCount
        session.close()
        #expect(b.setGuestDebugCount == calls)
    }

    @Test func closeOfAnUndebuggedSessionIssuesNoIoctl() throws {
        let b = try boundedFake(BuiltinGuests.counterX86(.long), vcpus: 3)
        let session = DebugSession(backend: b)
        session.close()
        #expect(b.setGuestDebugCount == 0)
    }

    @Test func droppingTheSessionDisablesLikeClose() throws {
        let g = BuiltinGuests.counterArm64()
        let b = try boundedFake(g)
        let before = try ramOutsideCounters(b, g)
        do {
            let session = DebugSession(backend: b)
            try session.insert(.software(address: g.symbol("loop")!.address))
            _ = try session.resumeAll()
        }
        #expect(changedOffsets(try ramOutsideCounters(b, g), before) == [])
        #expect(b.installedState(vcpu: 0) == .disabled(.arm64))
    }

    /// A `remove` from another thread while the vCPU steps over that very software breakpoint:
    /// the step-over must not plant the int3 again when it finishes.
    @Test(arguments: [true, false])
    func removeDuringAStepOverLeavesNoInt3(_ removeAll: Bool) throws {
        let g = BuiltinGuests.counterX86(.long)
        let fake = try boundedFake(g)
        let before = try ramOutsideCounters(fake, g)
        let b = InterposedBackend(fake)
        let d = Debugger(backend: b)
        let loop = g.symbol("loop")!.address
        try d.insert(.software(address: loop))
        #expect(try fake.readMemory(loop, count: 1) == [0xCC])
        guard case .stop(let s) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(s.pc == loop)
        b.duringRun = {
            if removeAll { d.removeAllPoints() } else { try? d.remove(.software(address: loop)) }
        }
        _ = try d.resume(vcpu: 0, mode: .step)
        #expect(b.duringRun == nil, "the step-over ran")
        #expect(changedOffsets(try ramOutsideCounters(fake, g), before) == [], "int3 re-planted after its removal")
    }

    // MARK: A guest's own int3 (x86)

    /// The counter guest with an int3 of its own at `loop` and one of ours at `store` (so #BP
    /// is intercepted at all).
    func foreignInt3(policy: ForeignBreakpointPolicy, injectBP: Bool = true)
        throws -> (FakeBackend, Debugger<FakeBackend>, UInt64) {
        let g = BuiltinGuests.counterX86(.long)
        let b = try boundedFake(g)
        if !injectBP { b.capabilities.supportedControl?.remove(.x86InjectBreakpoint) }
        let loop = g.symbol("loop")!.address
        try b.writeMemory(loop, [0xCC])  // the guest's, not kvmdbg's
        let d = Debugger(backend: b)
        d.foreignBreakpointPolicy = policy
        try d.insert(.software(address: g.symbol("store")!.address))
        guard case .stop(let s) = try d.resume(vcpu: 0, mode: .continue) else { throw DebugError.unsupported(reason: "no stop") }
        #expect(s.pc == loop && s.reason == .softwareBreakpoint && s.primary.point == nil)
        return (b, d, loop)
    }

    @Test func aGuestsOwnInt3IsInjectedBackWithInjectBP() throws {
        let (b, d, loop) = try foreignInt3(policy: .handBackToGuest)
        b.clearTrace()
        // The fake queues the #BP and, having no IDT to deliver it through, says so on KVM_RUN.
        let e = thrownError { () throws(DebugError) in try d.resume(vcpu: 0, mode: .continue) }
        #expect(e?.message.contains("KVM_GUESTDBG_INJECT_BP queued #BP") == true, "\(String(describing: e))")
        let issued = b.trace.compactMap { c -> UInt32? in
            if case .setGuestDebug(_, let st) = c { return st.control.rawValue }
            return nil
        }
        #expect(issued == [ENABLE | X86_USE_HW_BP | X86_USE_SW_BP | X86_INJECT_BP])
        // The guest's byte and our point are untouched: only the exception went to the guest.
        #expect(try b.readMemory(loop, count: 1) == [0xCC])
        #expect(d.tables.softwareBreakpoints.count == 1)
    }

    @Test(arguments: [(ForeignBreakpointPolicy.report, true), (.handBackToGuest, false)])
    func withoutHandBackTheInt3IsReportedAgain(_ policy: ForeignBreakpointPolicy, _ injectBP: Bool) throws {
        let (b, d, loop) = try foreignInt3(policy: policy, injectBP: injectBP)
        guard case .stop(let s) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(s.pc == loop && s.reason == .softwareBreakpoint && s.primary.point == nil)
        #expect(!b.trace.contains { if case .setGuestDebug(_, let st) = $0 { return st.control.contains(.x86InjectBreakpoint) }; return false })
    }
}

/// The same on this host's KVM: after close, no breakpoint traps any more.
@Suite(KVMHost.required) struct KVMDebugStateHygieneTests {
    @Test func closeLeavesAKVMGuestUntrappedAndUnpatched() throws {
        let g = BuiltinGuests.counterX86(.long)
        let b = try KVMBackend(guest: g, vcpus: 1)
        let before = try ramOutsideCounters(b, g)
        let session = DebugSession(backend: b)
        let loop = g.symbol("loop")!.address
        try session.insert(.hardware(address: loop))
        try session.insert(.software(address: g.symbol("jump")!.address))
        let r = try session.resumeAll()
        #expect(r.stops.first?.pc == loop)
        #expect(changedOffsets(try ramOutsideCounters(b, g), before) != [])
        session.close()
        let changed = changedOffsets(try ramOutsideCounters(b, g), before)
        #expect(changed == [], "changed at \(changed)")
        // The breakpoint at `loop` is gone from the vCPU: a second session that installs
        // nothing runs the guest freely until its deadline.
        let again = DebugSession(backend: b)
        defer { again.close() }
        let free = try again.resume([.continue], deadline: monotonicNanoseconds() + 100_000_000)
        #expect(free.stops.isEmpty && free.timedOut, "\(free.stops)")
    }
}
