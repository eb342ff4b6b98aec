import Foundation
import Synchronization
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// Which backend an SMP test runs on.
enum SMPBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case fake, kvm
    var testDescription: String { rawValue }
}

/// Many vCPUs under one debugger: per-vCPU isolation, all-stop, lazy sync.
/// Each scenario runs on the fake backend and on this host's KVM (a named skip when unusable).
@Suite(.serialized) struct SMPTests {
    func guest() throws -> Guest { try BuiltinGuests.guest(named: "smp-counter", arch: .x86_64, mode: .long) }


    /// Runs `body` with a Debugger over the chosen backend.
    func withDebugger<R>(_ b: SMPBackend, vcpus: Int, _ body: (any SMPHarness) throws -> R) throws -> R {
        let g = try guest()
        switch b {
        case .fake: return try body(Harness(debugger: Debugger(backend: try FakeBackend(guest: g, vcpus: vcpus)), guest: g))
        case .kvm:
            try #require(KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
            return try body(Harness(debugger: Debugger(backend: try KVMBackend(guest: g, vcpus: vcpus)), guest: g))
        }
    }

    static let backends: [SMPBackend] = KVMHost.usable ? [.fake, .kvm] : [.fake]

    @Test(arguments: backends, [2, 8])
    func aBreakpointOnOneVCPUStopsOnlyThatVCPU(_ b: SMPBackend, _ n: Int) throws {
        try withDebugger(b, vcpus: n) { h in
            let target = n - 1  // a vCPU other than 0 really traps
            let stops = try h.run(points: [("store@\(target)", .hardware)], maxStops: 4, timeout: 5)
            #expect(stops.count == 4)
            for s in stops {
                #expect(s.stop.vcpu == target)
                #expect(s.stop.reason == .hardwareBreakpoint && s.stop.pc == h.guest.symbol("store")!.address)
                #expect(s.stopped == Array(0..<n))
            }
            // Lazy sync: only the armed vCPU ever got a KVM_SET_GUEST_DEBUG; the others kept
            // KVM's initial "debugging off" and were never re-synced. The armed one: 1 initial
            // + 2 per continue (disarm+step, re-arm) between its 4 stops.
            var expected = [Int](repeating: 0, count: n)
            expected[target] = 1 + 2 * 3
            #expect(h.setGuestDebugCalls == expected)
        }
    }

    @Test(arguments: backends, [1, 2, 4, 8, 64])
    func allStopHoldsEveryVCPU(_ b: SMPBackend, _ n: Int) throws {
        try withDebugger(b, vcpus: n) { h in
            var rounds = 0
            var latencies: [Double] = []
            let end = try h.runRaw(points: [("store@0", .hardware)], maxStops: 3, timeout: 20) { s in
                rounds += 1
                #expect(s.stopped == Array(0..<n))
                if n > 1 { latencies.append(try #require(s.allStopMicroseconds)) }
                // While the stop is reported nobody runs: every counter word stays put.
                let before = (0..<n).map { h.counter(of: $0) }
                // A hold, not a wait: a counter that moves in it disproves the all-stop; a longer
                // hold only looks harder.
                Thread.sleep(forTimeInterval: 0.02)
                #expect((0..<n).map { h.counter(of: $0) } == before)
            }
            #expect(end.reason == "max-stops" && rounds == 3)
            print("all-stop latency \(b.rawValue) N=\(n): \(latencies.map { Int($0) }) us")
            // The vCPUs did run between stops: vCPU 0 stored once per stop.
            #expect(h.counter(of: 0) >= 2)
        }
    }

    @Test(arguments: backends)
    func addingAGlobalBreakpointToIdleVCPUsIssuesNoIoctlUntilTheyRun(_ b: SMPBackend) throws {
        try withDebugger(b, vcpus: 64) { h in
            try h.insert(.hardware(address: h.guest.symbol("loop")!.address), on: .all)
            #expect(h.setGuestDebugCalls.allSatisfy { $0 == 0 })
            let stops = try h.run(points: [], maxStops: 1, timeout: 10)
            #expect(stops.count == 1)
            // Each of the 64 vCPUs took its state exactly once, on its own thread, before entering.
            #expect(h.setGuestDebugCalls == [Int](repeating: 1, count: 64))
        }
    }

    @Test(arguments: backends)
    func globalInsertThatDoesNotFitOneVCPUFailsWhole(_ b: SMPBackend) throws {
        try withDebugger(b, vcpus: 4) { h in
            let g = h.guest
            for s in ["loop", "store", "load", "jump"] { try h.insert(.hardware(address: g.symbol(s)!.address), on: .vcpu(3)) }
            let entry = DebugPoint.hardware(address: g.entry)
            #expect(throws: DebugError.noFreeSlot(vcpu: 3, kind: .debugRegister, capacity: 4, needed: 5)) {
                try h.insert(entry, on: .all)
            }
            // Nothing changed anywhere: vCPU 0 has no point, vCPU 3 its four.
            #expect(h.tables.points(on: 0).isEmpty && h.tables.points(on: 3).count == 4)
            #expect(h.setGuestDebugCalls.allSatisfy { $0 == 0 })
        }
    }

    @Test(arguments: backends)
    func repeatedInsertAndRemoveWhileRunningNeitherRacesNorDeadlocks(_ b: SMPBackend) throws {
        try withDebugger(b, vcpus: 4) { h in
            let never = DebugPoint.hardware(address: 0x1800)  // never executed: no stops
            let done = Atomic<Bool>(false)
            let toggler = Thread {
                var i = 0
                while !done.load(ordering: .relaxed) {
                    let target: VCPUTarget = i % 2 == 0 ? .all : .vcpu(i % 4)
                    try? h.insert(never, on: target)
                    try? h.remove(never, from: target)
                    i += 1
                }
            }
            toggler.start()
            let end = try h.runRaw(points: [], maxStops: 1, timeout: 1) { _ in }
            done.store(true, ordering: .relaxed)
            #expect(waitUntil { !toggler.isExecuting }, "the toggler ended")
            #expect(end.reason == "timeout")
        }
    }
}

/// Type-erased access to a Debugger + GuestRunner over either backend.
protocol SMPHarness: Sendable {
    var guest: Guest { get }
    var setGuestDebugCalls: [Int] { get }
    var tables: DebugTables { get }
    func insert(_ p: DebugPoint, on t: VCPUTarget) throws
    func remove(_ p: DebugPoint, from t: VCPUTarget) throws
    func counter(of v: Int) -> UInt64
    func runRaw(points: [(String, PointSpec.Kind)], maxStops: Int, timeout: Double, onStop: (ReportedStop) throws -> Void) throws -> RunEnd
}

extension SMPHarness {
    func run(points: [(String, PointSpec.Kind)], maxStops: Int, timeout: Double) throws -> [ReportedStop] {
        var out: [ReportedStop] = []
        _ = try runRaw(points: points, maxStops: maxStops, timeout: timeout) { out.append($0) }
        return out
    }
}

struct Harness<B: DebugBackend>: SMPHarness, @unchecked Sendable {
    let debugger: Debugger<B>
    let guest: Guest
    var setGuestDebugCalls: [Int] { debugger.setGuestDebugCalls }
    var tables: DebugTables { debugger.tables }
    func insert(_ p: DebugPoint, on t: VCPUTarget) throws { try debugger.insert(p, on: t) }
    func remove(_ p: DebugPoint, from t: VCPUTarget) throws { try debugger.remove(p, from: t) }
    func counter(of v: Int) -> UInt64 {
        guard let a = BuiltinGuests.counterAddress(of: v, in: guest) else { return 0 }
        return littleEndianValue((try? debugger.readMemory(a, count: 8)) ?? [])
    }
    func runRaw(points: [(String, PointSpec.Kind)], maxStops: Int, timeout: Double, onStop: (ReportedStop) throws -> Void) throws -> RunEnd {
        var plan = RunPlan()
        plan.points = try points.map { try PointSpec.parse($0.0, kind: $0.1, symbols: guest.symbols) }
        plan.maxStops = maxStops
        plan.timeout = timeout
        var failure: (any Error)? = nil
        let end = try GuestRunner(debugger: debugger).run(plan) { rec in
            if case .stop(let s) = rec, failure == nil {
                do { try onStop(s) } catch { failure = error }
            }
        }
        if let failure { throw failure }
        return end
    }
}
