import Foundation
import Testing
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// `DebugSession.runsRoundsOnCallingThread` (the fuzzer's sessions): every round runs on the
/// caller of `start`, the launched vCPUs in turn, and one vCPU's stop does not cut short the
/// turn of a vCPU still to run, so a round reports every vCPU's stop, the same each time.
@Suite struct RoundsOnCallingThreadTests {
    final class EndThreads: @unchecked Sendable {
        private let lock = NSLock()
        private var ids: [UInt] = []
        func record() { lock.withLock { ids.append(UInt(pthread_self())) } }
        var all: [UInt] { lock.withLock { ids } }
    }

    @Test(arguments: [Arch.x86_64, .arm64])
    func everyVCPUTakesItsTurn(_ arch: Arch) throws {
        let guest = arch == .x86_64 ? BuiltinGuests.smpCounterX86(.long) : BuiltinGuests.smpCounterArm64()
        let store = try #require(guest.symbol("store")).address
        let backend = try FakeBackend(guest: guest, vcpus: 3)
        let session = DebugSession(backend: backend)
        defer { session.close() }
        session.runsRoundsOnCallingThread = true
        let ended = EndThreads()
        session.setRoundFinishedHandler { ended.record() }
        try session.insert(.hardware(address: store))
        for round in 0..<3 {
            try session.start([.continue, nil, .continue])
            #expect(session.isRoundOver, "round \(round) is over when start returns")
            let r = try session.wait()
            // vCPU 0's stop came first; vCPU 2 still ran its turn to its own stop (a kick
            // would have ended it with no event), and vCPU 1, not launched, stayed put.
            #expect(r.stops.map(\.pc) == [store, store] && r.events.map(\.vcpu) == [0, 2] && !r.interrupted,
                    "round \(round): \(r.events)")
        }
        #expect(ended.all == [UInt](repeating: UInt(pthread_self()), count: 3), "every round ended on the caller")
        #expect(try session.registers(vcpu: 1).pc == guest.entry)
        // A step of several vCPUs runs in turn too: each retires one instruction.
        let step = try session.resume([.step, .step, .step])
        #expect(step.events.map(\.vcpu) == [0, 1, 2] && step.stops.allSatisfy { $0.reason == .singleStep }, "\(step.events)")
    }

    /// Without a vCPU thread there is nothing to move: refused, not accepted and ignored.
    @Test func movingAVCPUThreadIsRefused() throws {
        let session = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.smpCounterX86(.long), vcpus: 2))
        defer { session.close() }
        session.runsRoundsOnCallingThread = true
        let e = thrownError { () throws(DebugError) in try session.moveVCPUThread(1, toCPU: 0) }
        #expect(e?.message.contains("no vCPU thread to move") == true, "\(String(describing: e))")
    }
}
