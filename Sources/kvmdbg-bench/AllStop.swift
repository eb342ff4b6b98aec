import Foundation
import Foundation
import Synchronization
import KVMDebugCore
import KVMDebugFake

/// One row of section 3: all-stop latency over `rounds` rounds of `DebugSession`.
struct AllStopRow: Codable {
    var backend: String
    var vcpus: Int
    var latency: Latency
    var roundsPerSecond: Double
    /// Rounds measured (`latency.samples` counts those that had an all-stop).
    var rounds: Int
    /// Rounds asked for (`--rounds`); more than `rounds` when `--allstop-seconds` ran out first.
    var requestedRounds: Int
}

/// vCPU 0 alone has a breakpoint in the loop; every round continues all vCPUs, vCPU 0
/// hits it and the others are kicked out of KVM_RUN. `StopRound.allStopNanoseconds` is
/// the first vCPU's exit to the last vCPU out. Stops after `rounds` rounds or once
/// `maxSeconds` have passed, whichever comes first; the row says how many ran.
func allStop<B: DebugBackend>(_ name: String, backend: B, rounds: Int, maxSeconds: Double) throws(DebugError) -> AllStopRow {
    let s = DebugSession(backend: backend)
    defer { s.close() }
    try s.insert(.hardware(address: BuiltinGuests.smpCounterX86(.long).symbol("loop")!.address), on: .vcpu(0))
    for _ in 0..<5 { _ = try s.resumeAll() }  // warm-up: threads spawned, states synced
    var ns: [UInt64] = []
    let t0 = nowNanoseconds()
    let limit = t0 &+ UInt64(maxSeconds * 1e9)
    var done = 0
    while done < rounds {
        let r = try s.resumeAll()
        done += 1
        if let l = r.allStopNanoseconds { ns.append(l) }
        if nowNanoseconds() > limit { break }
    }
    let elapsed = Double(nowNanoseconds() - t0) / 1e9
    return AllStopRow(backend: name, vcpus: backend.vcpuCount, latency: Latency(ns), roundsPerSecond: Double(done) / elapsed,
                      rounds: done, requestedRounds: rounds)
}

/// The handshake between the kicking thread and the vCPU thread.
final class KickFlags: Sendable {
    let go = Atomic<Int>(0)
    let entered = Atomic<Int>(0)
    let returned = Atomic<UInt64>(0)
    let done = Atomic<Int>(0)
}

#if arch(x86_64)
/// What one kick costs: `kick` from this thread to the kicked vCPU thread's KVM_RUN
/// returning (`.interrupted`), the guest running freely meanwhile. Samples in ns.
func kickLatency(samples: Int) throws(DebugError) -> Latency {
    nonisolated(unsafe) let b = try KVMBackend(guest: BuiltinGuests.counterX86(.long))
    let flags = KickFlags()
    let thread = Thread {
        for i in 1...samples {
            while flags.go.load(ordering: .acquiring) < i { sched_yield() }
            flags.entered.store(i, ordering: .releasing)
            _ = try? b.run(vcpu: 0)
            flags.returned.store(nowNanoseconds(), ordering: .relaxed)
            flags.done.store(i, ordering: .releasing)
        }
    }
    thread.start()
    var out: [UInt64] = []
    for i in 1...samples {
        flags.go.store(i, ordering: .releasing)
        while flags.entered.load(ordering: .acquiring) < i { sched_yield() }
        usleep(500)  // let it get into KVM_RUN
        let t0 = nowNanoseconds()
        b.kick(vcpu: 0)
        while flags.done.load(ordering: .acquiring) < i { sched_yield() }
        out.append(flags.returned.load(ordering: .relaxed) &- t0)
    }
    return Latency(out)
}
#endif

/// `DebugSession.interrupt()` to `wait()` returning, the guest running freely between
/// (`start([.continue])` then a short pause): the Ctrl-C / gdb-reconnect path. Samples in ns.
func interruptLatency<B: DebugBackend>(backend: B, samples: Int) throws(DebugError) -> Latency {
    let s = DebugSession(backend: backend)
    defer { s.close() }
    var out: [UInt64] = []
    let stepFirst = ProcessInfo.processInfo.environment["BENCH_STEP_FIRST"] != nil
    for i in 0..<samples {
        if stepFirst { _ = try s.resume([ResumeMode?](repeating: .step, count: s.vcpuCount)) }
        if i % 1000 == 999 { FileHandle.standardError.write(Data("\(i + 1) ".utf8)) }
        try s.start([ResumeMode?](repeating: .continue, count: s.vcpuCount))
        if let p = ProcessInfo.processInfo.environment["BENCH_PAUSE_US"] { usleep(UInt32(p) ?? 0) } else { usleep(200) }
        let t0 = nowNanoseconds()
        s.interrupt()
        _ = try s.wait()
        out.append(nowNanoseconds() - t0)
    }
    return Latency(out)
}
