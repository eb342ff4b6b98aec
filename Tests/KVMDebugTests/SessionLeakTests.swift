import Foundation
import Testing
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// Issue 12 part 4: thousands of sessions created, run and destroyed leave no fd, thread or
/// mapping behind (counted in /proc/self before and after; `ProcessCounts`). Growth of fewer
/// than one per four cycles is allowed: other suites' threads and mappings come and go
/// meanwhile, while a leak of even one per cycle exceeds it.
@Suite(.serialized) struct SessionLeakTests {
    /// One cycle: a backend, a session with 2 vCPU threads, a breakpoint hit, close, drop.
    func cycle<B: DebugBackend>(_ make: () throws -> B, _ g: Guest) throws {
        let session = DebugSession(backend: try make())
        try session.insert(.hardware(address: g.symbol("loop")!.address))
        let r = try session.resumeAll()
        #expect(!r.stops.isEmpty && r.stops.allSatisfy { $0.reason == .hardwareBreakpoint })
        session.close()
    }

    /// Runs `cycles` cycles after a warm-up (first-use allocations are not leaks) and returns
    /// the counts before and after (once they settled within `slack`, or after 10 s).
    func measure(_ cycles: Int, slack: Int, _ body: () throws -> Void) rethrows -> (ProcessCounts, ProcessCounts) {
        for _ in 0..<5 { try body() }
        let before = ProcessCounts.take()
        for _ in 0..<cycles { try body() }
        return (before, ProcessCounts.settled(within: slack, since: before))
    }

    @Test func twoThousandFakeSessionsLeaveNothing() throws {
        let g = BuiltinGuests.counterX86(.long)
        let (before, after) = try measure(2000, slack: 2000 / 4) { try cycle({ try boundedFake(g, vcpus: 2) }, g) }
        print("fake sessions x2000: before \(before); after \(after)")
        #expect(after.grewAtMost(2000 / 4, since: before), "before \(before); after \(after)")
    }

}

// In the serialized ResourceTests suite: its snapshot tests count kvm fds and mappings, which
// this test's 300 VMs would otherwise churn under them.
extension ResourceTests {
    @Test func threeHundredKVMSessionsLeaveNothing() throws {
        let g = BuiltinGuests.counterX86(.long)
        let t = SessionLeakTests()
        let start = monotonicNanoseconds()
        let (before, after) = try t.measure(300, slack: 300 / 2) { try t.cycle({ try KVMBackend(guest: g, vcpus: 2) }, g) }
        let ms = (monotonicNanoseconds() - start) / 1_000_000
        print("KVM sessions x300 (\(ms) ms): before \(before); after \(after)")
        // Suites in parallel (in-process GDB servers keep parked reader threads) come and go; a
        // per-session leak is at least 300 (one fd, two threads, two mappings per session).
        #expect(after.grewAtMost(300 / 2, since: before), "before \(before); after \(after)")
    }
}
