import Foundation
import Synchronization
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// Kernel faults, injected by the fake backend so they are tested on every host: an ioctl
/// failing with EFAULT/EINVAL/ENOMEM/EBUSY/EIO is a typed error naming the ioctl; KVM_RUN's
/// EINTR/EAGAIN are kicks; every exit other than a debug exit ends the run with its reason
/// and the guest's last pc. Afterwards the session still works.
@Suite struct KernelFaultTests {
    static let errnos: [Int32] = [EFAULT, EINVAL, ENOMEM, EBUSY, EIO]
    static let ioctls = FakeIoctl.allCases
    static let arches: [Arch] = [.x86_64, .arm64]

    func guest(_ arch: Arch) -> Guest { arch == .x86_64 ? BuiltinGuests.counterX86(.long) : BuiltinGuests.counterArm64() }

    @Test(arguments: arches, ioctls)
    func everyIoctlFailureIsTypedAndNamesTheIoctl(_ arch: Arch, _ call: FakeIoctl) throws {
        for e in Self.errnos {
            let g = guest(arch)
            let b = try boundedFake(g)
            let s = DebugSession(backend: b)
            let loop = try #require(g.symbol("loop")).address
            try s.insert(.hardware(address: loop))
            b.inject(.fail(call, errno: e))
            let error = thrownError { () throws(DebugError) in
                switch call {
                case .getRegisters: _ = try s.registers(vcpu: 0)
                case .setRegisters: try s.setRegisters(try { () throws(DebugError) -> RegisterFile in
                        var r = try b.registers(vcpu: 0)  // read outside the session: its cache stays empty
                        r.pc = loop
                        return r
                    }(), vcpu: 0)
                case .setGuestDebug, .run: _ = try s.resumeAll()
                }
            }
            let name = call.name(on: arch)
            #expect(error == .system(call: name, errno: e), "\(arch.name) \(name) errno \(e): got \(String(describing: error))")
            let m = error?.message ?? ""
            #expect(m.hasPrefix("\(name) failed: ") && !m.contains("\n"), "\(m)")
            #expect(s.tables.global == [.hardware(address: loop)], "the tables survive a failed ioctl")
            // The next round works: the fault was one-shot and nothing was left half-done.
            let r = try s.resumeAll()
            #expect(r.stops.first?.reason == .hardwareBreakpoint && r.stops.first?.pc == loop, "\(name) errno \(e): \(r.events)")
        }
    }

    @Test(arguments: arches, [EINTR, EAGAIN])
    func kvmRunInterruptedIsAKickNotAnError(_ arch: Arch, _ e: Int32) throws {
        let g = guest(arch)
        let b = try boundedFake(g, vcpus: 2)
        let loop = try #require(g.symbol("loop")).address
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: loop))
        b.inject(.fail(.run, errno: e), vcpu: 0)
        #expect(try d.resume(vcpu: 0, mode: .continue) == .kicked)
        // In a session round a stray EINTR sends the vCPU back in: the round ends at the breakpoint.
        let s = DebugSession(debugger: d)
        b.inject(.fail(.run, errno: e), vcpu: 1)
        let r = try s.resume([nil, .continue])
        #expect(r.events.map(\.vcpu) == [1] && r.stops.first?.pc == loop && !r.interrupted, "\(r.events)")
    }

    /// A kick that lands on a step-over (a stale all-stop kick, a stray signal, an interrupt)
    /// returns before the step retires: the vCPU still sits on its breakpoint, and the next
    /// resume steps over it again. Once it forgot the stop and re-reported the breakpoint
    /// without running an instruction.
    @Test(arguments: arches, [ResumeMode.continue, .step])
    func aKickDuringAStepOverLeavesTheVCPUOnItsPoint(_ arch: Arch, _ mode: ResumeMode) throws {
        let g = guest(arch)
        let b = try boundedFake(g)
        let loop = try #require(g.symbol("loop")).address
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: loop))
        guard case .stop(let first) = try d.resume(vcpu: 0, mode: .continue), first.pc == loop else {
            Issue.record("no stop at loop"); return
        }
        b.inject(.fail(.run, errno: EINTR), vcpu: 0)
        #expect(try d.resume(vcpu: 0, mode: mode) == .kicked)
        #expect(try d.registers(vcpu: 0).pc == loop, "kicked before the step retired")
        let ran = Mutex<Int>(0)
        b.runFinished = { _, n in ran.withLock { $0 += n } }
        guard case .stop(let next) = try d.resume(vcpu: 0, mode: mode) else { Issue.record("no stop"); return }
        let n = ran.withLock { $0 }
        if mode == .step {
            #expect(next.reason == .singleStep && next.pc != loop && n == 1, "\(next.reason.name) at \(hex(next.pc)) after \(n) instructions")
        } else {
            #expect(next.reason == .hardwareBreakpoint && next.pc == loop && n > 1, "\(next.reason.name) at \(hex(next.pc)) after \(n) instructions")
        }
        // The same through a session round: the kick sends the step-over's vCPU back to it.
        b.inject(.fail(.run, errno: EINTR), vcpu: 0)
        ran.withLock { $0 = 0 }
        let s = DebugSession(debugger: d)
        let r = try s.resume([.continue])
        #expect(r.stops.first?.pc == loop && ran.withLock { $0 } > 1, "\(r.events) after \(ran.withLock { $0 }) instructions")
    }

    static let exits: [VCPUExit] = [
        .halt(pc: 0x1006), .io(port: 0x3F8, isWrite: true, size: 1, pc: 0x1006),
        .mmio(address: 0xFEE0_0000, isWrite: false, length: 4, pc: 0x1006), .shutdown, .systemEvent(type: 1),
        .failEntry(reason: 0x8000_0021), .internalError(suberror: 1), .unknown(reason: 99),
    ]

    @Test(arguments: exits)
    func everyOtherExitEndsTheRunWithItsReasonAndThePC(_ exit: VCPUExit) throws {
        let g = BuiltinGuests.counterX86(.long)
        let b = try boundedFake(g, vcpus: 2)
        b.inject(.exit(exit), vcpu: 1)
        let runner = GuestRunner(session: DebugSession(backend: b))
        var plan = RunPlan()
        plan.timeout = 5
        let end = try runner.run(plan) { _ in }
        #expect(end.reason == exit.name, "\(end)")
        let detail = try #require(end.detail, "\(end)")
        #expect(detail.hasPrefix("vCPU 1: "), "\(detail)")
        #expect(detail.contains("pc 0x"), "the guest's last pc: \(detail)")
        // The other vCPU was held, not lost: the session can still step it.
        let r = try runner.session.resume([.step, nil])
        #expect(r.stops.first?.reason == .singleStep)
    }

    @Test func aFailedKickedRoundReportsTheErrorAfterEveryVCPUStopped() throws {
        // vCPU 1's KVM_RUN fails while vCPU 0 runs freely: the round must not hang, and
        // it ends with the typed error once vCPU 0 is kicked to a halt.
        let b = try boundedFake(BuiltinGuests.counterX86(.long), vcpus: 2)
        b.maxInstructionsPerRun = nil
        let s = DebugSession(backend: b)
        b.inject(.fail(.run, errno: EIO), vcpu: 1)
        let e = thrownError { () throws(DebugError) in _ = try s.resume([.continue, .continue], deadline: monotonicNanoseconds() + 5_000_000_000) }
        #expect(e == .system(call: "KVM_RUN", errno: EIO), "\(String(describing: e))")
        #expect(!s.isRunning)
        #expect(try s.resume([.step, nil]).stops.first?.reason == .singleStep)
    }
}

extension VCPUExit: CustomTestStringConvertible {
    public var testDescription: String { name }
}
