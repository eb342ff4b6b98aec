import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// `DebugSession.continuesOnCallingThread`: a continue of the only vCPU that runs runs on the
/// caller of `start` (step-over included), and an `interrupt()` from another thread still ends
/// it, on the fake and on this host's KVM (where the kick must reach the caller inside KVM_RUN).
@Suite(.serialized) struct LoneContinueTests {
    static let backends: [SMPBackend] = KVMHost.usable ? [.fake, .kvm] : [.fake]

    /// Which thread ran the round's end (the round-finished handler runs there).
    final class EndThread: @unchecked Sendable {
        private let lock = NSLock()
        private var ids: [UInt] = []
        func record() { lock.withLock { ids.append(UInt(pthread_self())) } }
        var last: UInt? { lock.withLock { ids.last } }
        var count: Int { lock.withLock { ids.count } }
    }

    func check<B: DebugBackend>(_ s: DebugSession<B>, _ g: Guest) throws {
        let ended = EndThread()
        s.setRoundFinishedHandler { ended.record() }
        let me = UInt(pthread_self())
        let loop = try #require(g.symbol("loop")).address
        try s.debugger.insert(.hardware(address: loop), on: .all)
        // Off (the default): the vCPU's own thread runs the continue.
        let first = try s.resume([.continue])
        #expect(first.stops.first?.reason == .hardwareBreakpoint && first.stops.first?.pc == loop)
        // The handler runs on that thread just after `wait` may return: wait for it (bounded).
        waitUntil { ended.count >= 1 }
        #expect(ended.count == 1 && ended.last != me, "off: a vCPU thread ended the round")
        // On: the round (its step-over past the breakpoint too) is over when `start` returns.
        s.continuesOnCallingThread = true
        for _ in 0..<3 {
            try s.start([.continue])
            #expect(s.isRoundOver, "the continue ran on the caller and is over")
            #expect(ended.last == me, "on: the caller ended the round")
            let r = try s.wait()
            #expect(r.stops.first?.reason == .hardwareBreakpoint && r.stops.first?.pc == loop, "\(r.events)")
        }
        // With no point left the guest loops forever: another thread's interrupt() ends it.
        s.removeAllPoints()
        let interrupter = Thread {
            waitUntil(seconds: 30) { s.isRunning }
            // A hold, not a wait: the caller gets into the guest meanwhile; the interrupt is
            // never lost, so the length decides nothing.
            usleep(20_000)
            s.interrupt()
        }
        interrupter.start()
        try s.start([.continue])
        let r = try s.wait()
        #expect(r.interrupted && r.events.isEmpty, "\(r.events)")
        let pc = try s.registers(vcpu: 0).pc
        #expect(pc >= g.entry && pc < loop + 0x20, "stopped inside the guest's loop, at \(hex(pc))")
    }

    @Test(arguments: backends)
    func aLoneContinueRunsOnTheCallerAndAnInterruptStillEndsIt(_ b: SMPBackend) throws {
        let g = BuiltinGuests.counterX86(.long)
        switch b {
        case .fake: try check(DebugSession(backend: try FakeBackend(guest: g)), g)
        case .kvm:
            try #require(KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
            try check(DebugSession(backend: try KVMBackend(guest: g)), g)
        }
    }

    /// Two vCPUs continuing are never run on the caller (it can run one).
    @Test func aContinueOfSeveralVCPUsStaysOnTheirThreads() throws {
        let g = try BuiltinGuests.guest(named: "smp-counter", arch: .x86_64, mode: .long)
        let s = DebugSession(backend: try FakeBackend(guest: g, vcpus: 2))
        s.continuesOnCallingThread = true
        let ended = EndThread()
        s.setRoundFinishedHandler { ended.record() }
        try s.debugger.insert(.hardware(address: try #require(g.symbol("loop")).address), on: .all)
        let r = try s.resume([.continue, .continue])
        #expect(!r.stops.isEmpty)
        #expect(ended.last != UInt(pthread_self()))
    }
}
