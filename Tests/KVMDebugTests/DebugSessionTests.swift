import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake

/// `DebugSession`: rounds with per-vCPU actions, interrupts, the round-finished handler,
/// the per-stop register cache, memory under software breakpoints, and the register
/// files of KVM and the fake compared (each scenario on the fake and on this host's KVM).
@Suite(.serialized) struct DebugSessionTests {
    static let backends: [SMPBackend] = KVMHost.usable ? [.fake, .kvm] : [.fake]

    func session(_ b: SMPBackend, _ g: Guest, vcpus: Int = 1) throws -> any SessionHarness {
        switch b {
        case .fake: return SessionBox(DebugSession(backend: try FakeBackend(guest: g, vcpus: vcpus)))
        case .kvm:
            try #require(KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
            return SessionBox(DebugSession(backend: try KVMBackend(guest: g, vcpus: vcpus)))
        }
    }

    func smp() throws -> Guest { try BuiltinGuests.guest(named: "smp-counter", arch: .x86_64, mode: .long) }

    @Test(arguments: backends)
    func steppingOneVCPUHoldsTheOthers(_ b: SMPBackend) throws {
        let s = try session(b, try smp(), vcpus: 2)
        let pc0 = try s.pc(0), pc1 = try s.pc(1)
        for _ in 0..<5 {
            let before0 = try s.pc(0)
            let r = try s.resume([nil, .step])
            #expect(r.events.map(\.vcpu) == [1], "only vCPU 1 ran: \(r.events)")
            #expect(r.stops.first?.reason == .singleStep)
            #expect(try s.pc(0) == before0, "vCPU 0 was held")
        }
        #expect(try s.pc(0) == pc0)
        #expect(try s.pc(1) != pc1)
    }

    /// A lone step runs on the caller's thread only where a run cannot wait in the kernel: the
    /// fake and a VM kvmdbg made itself (no in-kernel irqchip: `hlt` exits), not adopted fds.
    @Test func loneStepsRunOnTheCallingThreadOnlyWhereARunCannotWaitInTheKernel() throws {
        let fake = DebugSession(backend: try FakeBackend(guest: try smp(), vcpus: 1))
        #expect(fake.stepsOnCallingThread)
        try #require(KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
        let own = try KVMBackend(guest: try smp(), vcpus: 1)
        #expect(!own.runMayWaitInKernel && DebugSession(backend: own).stepsOnCallingThread)
        var page = [UInt8](repeating: 0, count: 4096)
        try page.withUnsafeMutableBytes { buf in
            let region = GuestMemoryRegion(guestAddress: 0, size: 4096, host: buf.baseAddress!)
            let adopted = try KVMBackend(adopting: [own.vcpus[0].fd], memory: [region], kick: .default)
            #expect(adopted.runMayWaitInKernel, "an adopted VMM's vCPU may halt in the kernel")
            #expect(!DebugSession(backend: adopted).stepsOnCallingThread)
        }
    }

    @Test(arguments: backends)
    func aStepAndAContinueInOneRoundEndWithTheStep(_ b: SMPBackend) throws {
        let g = try smp()
        let s = try session(b, g, vcpus: 2)
        // vCPU 0 continues (no point on it ever fires), vCPU 1 steps: the step ends the
        // round and vCPU 0 is kicked to a halt, all-stop.
        let r = try s.resume([.continue, .step])
        #expect(r.events.map(\.vcpu) == [1], "\(r.events)")
        #expect(r.stops.first?.reason == .singleStep)
        #expect(!r.interrupted)
        #expect(r.allStopNanoseconds != nil)
    }

    @Test(arguments: backends)
    func interruptStopsARunningRoundWithEveryVCPUHeld(_ b: SMPBackend) throws {
        let g = try smp()
        let s = try session(b, g, vcpus: 4)
        let finished = DispatchSemaphore(value: 0)
        s.setHandler { finished.signal() }
        try s.start([ResumeMode?](repeating: .continue, count: 4))
        #expect(s.isRunning)
        // A hold, not a wait: the vCPUs run free meanwhile, and an interrupt at any moment of the
        // round ends it the same way, so the length decides nothing.
        Thread.sleep(forTimeInterval: 0.05)
        s.interrupt()
        let r = try s.wait()
        #expect(r.interrupted)
        #expect(r.events.isEmpty, "no vCPU had an event of its own: \(r.events)")
        // The handler runs on the last vCPU thread right after the round ends: waited for,
        // with a ceiling no loaded host reaches.
        #expect(finished.wait(timeout: .now() + 30) == .success, "the round-finished handler ran")
        #expect(!s.isRunning)
        let loop = try #require(g.symbol("loop")).address
        for v in 0..<4 {
            let pc = try s.pc(v)
            #expect(pc >= g.entry && pc < loop + 0x20, "vCPU \(v) stopped inside the guest's code, at \(hex(pc))")
        }
    }

    @Test(arguments: backends)
    func anInterruptBetweenRoundsEndsTheNextRoundAtOnce(_ b: SMPBackend) throws {
        let s = try session(b, BuiltinGuests.counterX86(.long))
        let pc = try s.pc(0)
        s.interrupt()
        let r = try s.resume([.continue])
        #expect(r.interrupted && r.events.isEmpty)
        #expect(try s.pc(0) == pc, "the vCPU never entered the guest")
        // And the interrupt was used up: the next round runs.
        let r2 = try s.resume([.step])
        #expect(!r2.interrupted && r2.stops.first?.reason == .singleStep)
    }

    @Test func registersAreReadOncePerStop() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        let s = DebugSession(backend: b)
        _ = try s.resume([.step])
        b.clearTrace()
        let r1 = try s.registers(vcpu: 0)
        let r2 = try s.registers(vcpu: 0)
        #expect(r1 == r2)
        #expect(b.trace == [.getRegisters(vcpu: 0)], "one read for the stop, then the cache")
        _ = try s.resume([.step])
        b.clearTrace()
        _ = try s.registers(vcpu: 0)
        #expect(b.trace == [.getRegisters(vcpu: 0)], "a new stop reads again")
    }

    @Test(arguments: backends)
    func writtenRegistersAreWhatTheGuestRunsWith(_ b: SMPBackend) throws {
        let g = BuiltinGuests.counterX86(.long)
        let s = try session(b, g)
        let store = try #require(g.symbol("store")).address
        guard case .x86_64(var r) = try s.registers(0) else { Issue.record("not x86"); return }
        r.rip = store
        r.rbx = 0x1234_5678
        try s.setRegisters(.x86_64(r), 0)
        guard case .x86_64(let back) = try s.registers(0) else { return }
        #expect(back.rip == store && back.rbx == 0x1234_5678)
        // The step starts at the written pc (KVM's TF rule: the debug state is re-issued).
        let st = try s.resume([.step])
        #expect(st.stops.first?.reason == .singleStep)
        #expect(try s.pc(0) != store)
        guard case .x86_64(let after) = try s.registers(0) else { return }
        #expect(after.rbx == 0x1234_5678)
    }

    @Test(arguments: [CPUMode.long, .real])
    func kvmAndFakeReportTheSameRegistersAtTheEntry(_ mode: CPUMode) throws {
        try #require(KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
        let g = BuiltinGuests.counterX86(mode)
        let k = DebugSession(backend: try KVMBackend(guest: g))
        let f = DebugSession(backend: try FakeBackend(guest: g))
        guard case .x86_64(let kr) = try k.registers(vcpu: 0), case .x86_64(let fr) = try f.registers(vcpu: 0) else {
            Issue.record("not x86")
            return
        }
        #expect(kr.generalRegisters == fr.generalRegisters)
        #expect(kr.rip == fr.rip && kr.rflags == fr.rflags)
        #expect([kr.cs.selector, kr.ss.selector, kr.ds.selector] == [fr.cs.selector, fr.ss.selector, fr.ds.selector])
        #expect(kr.cs.base == fr.cs.base && kr.fsBase == fr.fsBase && kr.gsBase == fr.gsBase)
        #expect(kr.cr0 == fr.cr0, "cr0 \(hex(kr.cr0)) vs \(hex(fr.cr0))")
        #expect(kr.cr3 == fr.cr3 && kr.cr4 == fr.cr4 && kr.efer == fr.efer)
        #expect(kr.isLongMode == (mode == .long) && kr.pagingEnabled == (mode == .long))
    }

    @Test(arguments: backends)
    func memoryWrittenUnderASoftwareBreakpointKeepsItPlanted(_ b: SMPBackend) throws {
        let g = BuiltinGuests.counterX86(.long)
        let s = try session(b, g)
        let load = try #require(g.symbol("load")).address
        let original = try s.read(load, 4)
        try s.insert(.software(address: load))
        #expect(try s.read(load, 4) == original, "reads hide the int3")
        #expect(try s.raw(load, 1) == [0xCC], "the int3 is planted in guest memory")
        var changed = original
        changed[1] ^= 0x01  // a byte after the int3
        changed[0] = original[0]
        try s.write(load, changed)
        #expect(try s.read(load, 4) == changed)
        #expect(try s.raw(load, 1) == [0xCC], "still planted after a write over it")
        try s.write(load, original)
        s.removeAll()
        #expect(try s.raw(load, 4) == original, "removing every point restores the bytes")
        #expect(s.pointCount == 0)
    }
}

/// A session over either backend, for tests that run on both.
protocol SessionHarness {
    func resume(_ actions: [ResumeMode?]) throws -> StopRound
    func start(_ actions: [ResumeMode?]) throws
    func wait() throws -> StopRound
    func interrupt()
    func setHandler(_ h: @escaping @Sendable () -> Void)
    var isRunning: Bool { get }
    func pc(_ v: Int) throws -> UInt64
    func registers(_ v: Int) throws -> RegisterFile
    func setRegisters(_ r: RegisterFile, _ v: Int) throws
    func read(_ a: UInt64, _ n: Int) throws -> [UInt8]
    func raw(_ a: UInt64, _ n: Int) throws -> [UInt8]
    func write(_ a: UInt64, _ bytes: [UInt8]) throws
    func insert(_ p: DebugPoint) throws
    func removeAll()
    var pointCount: Int { get }
}

struct SessionBox<B: DebugBackend>: SessionHarness {
    let s: DebugSession<B>
    init(_ s: DebugSession<B>) { self.s = s }
    func resume(_ actions: [ResumeMode?]) throws -> StopRound { try s.resume(actions) }
    func start(_ actions: [ResumeMode?]) throws { try s.start(actions) }
    func wait() throws -> StopRound { try s.wait() }
    func interrupt() { s.interrupt() }
    func setHandler(_ h: @escaping @Sendable () -> Void) { s.setRoundFinishedHandler(h) }
    var isRunning: Bool { s.isRunning }
    func pc(_ v: Int) throws -> UInt64 { try s.registers(vcpu: v).pc }
    func registers(_ v: Int) throws -> RegisterFile { try s.registers(vcpu: v) }
    func setRegisters(_ r: RegisterFile, _ v: Int) throws { try s.setRegisters(r, vcpu: v) }
    func read(_ a: UInt64, _ n: Int) throws -> [UInt8] { try s.readMemory(a, count: n, vcpu: 0) }
    func raw(_ a: UInt64, _ n: Int) throws -> [UInt8] { try s.backend.readMemory(a, count: n) }
    func write(_ a: UInt64, _ bytes: [UInt8]) throws { try s.writeMemory(a, bytes, vcpu: 0) }
    func insert(_ p: DebugPoint) throws { try s.insert(p) }
    func removeAll() { s.removeAllPoints() }
    var pointCount: Int { s.tables.global.count + s.tables.local.reduce(0) { $0 + $1.count } }
}
