import KVMDebugCore
import KVMDebugFake

// Section 6: protection watchpoints (memory slots instead of debug registers), each figure
// against a baseline measured in the same process, interleaved with it.

/// The library's loop on the long-mode counter guest: `body(n)` continues n times to the next
/// stop, with `points` armed (watches by `mechanism`).
func watchLoop<B: DebugBackend>(_ backend: B, points: [DebugPoint], mechanism: WatchMechanismChoice,
                                breaks: WatchMechanismChoice = .hardware) throws(DebugError) -> (Int) throws -> Void {
    let d = Debugger(backend: backend)
    d.watchMechanism = mechanism
    d.breakMechanism = breaks
    for p in points { try d.insert(p) }
    return { n in
        for _ in 0..<n {
            guard case .stop = try d.resume(vcpu: 0, mode: .continue) else { fatalError("watch loop: expected a stop") }
        }
    }
}

/// Arm + disarm of one global protection watch on `backend` (through a session, so the watch's
/// page is translated on every vCPU): microseconds per cycle, one sample per repetition.
func armDisarm<B: DebugBackend>(_ backend: B, reps: Int, cycles: Int) throws(DebugError) -> Summary {
    let s = DebugSession(backend: backend)
    defer { s.close() }
    s.debugger.watchMechanism = .protection
    let w = DebugPoint.watch(address: 0x2000, length: 8, kind: .write)
    try s.insert(w)  // the first arm splits the slot and reads every vCPU's registers once
    try s.remove(w)
    var perRep: [Double] = []
    for _ in 0..<reps {
        let t0 = nowNanoseconds()
        for _ in 0..<cycles {
            try s.insert(w)
            try s.remove(w)
        }
        perRep.append(Double(nowNanoseconds() - t0) / Double(cycles) / 1000)
    }
    return Summary(perRep)
}

/// One arm/disarm row.
struct ArmRow: Codable {
    var backend: String
    var vcpus: Int
    var microseconds: Summary
}

/// The protection section: a write-watch hit against a hardware breakpoint's hit+continue
/// cycle, an unrelated store on a watched page (a breakpoint cycle with and without the watch),
/// and arming/disarming at 1, 64 and 1024 vCPUs.
func protectionFigures(reps: Int, seconds: Double, kvm: Bool, maxVCPUs: Int) -> (figures: [RatioFigure], arm: [ArmRow], notes: [String]) {
    var out: [RatioFigure] = []
    var arm: [ArmRow] = []
    var notes: [String] = []
    let guest = BuiltinGuests.counterX86(.long)
    let loop = guest.symbol("loop")!.address, counter = guest.symbol("counter")!.address
    let watch = DebugPoint.watch(address: counter, length: 8, kind: .write)
    // Same page as `counter`, never written: every store to `counter` exits and is filtered.
    let neighbour = DebugPoint.watch(address: counter + 16, length: 8, kind: .write)
    var backends: [(String, () throws(DebugError) -> any DebugBackend)] = [("fake", { () throws(DebugError) in try FakeBackend(guest: guest) })]
    #if arch(x86_64)
    if kvm { backends.append(("kvm", { () throws(DebugError) in try KVMBackend(guest: guest) })) }
    #endif
    for (name, make) in backends {
        do {
            func loopOn(_ points: [DebugPoint], _ m: WatchMechanismChoice, breaks: WatchMechanismChoice = .hardware) throws -> (Int) throws -> Void {
                let b = try make()
                if let f = b as? FakeBackend { return try watchLoop(f, points: points, mechanism: m, breaks: breaks) }
                #if arch(x86_64)
                if let k = b as? KVMBackend { return try watchLoop(k, points: points, mechanism: m, breaks: breaks) }
                #endif
                fatalError("unknown backend")
            }
            out.append(try interleaved("\(name) protection watch hit", baselineName: "hw breakpoint hit+continue",
                                       reps: reps, seconds: seconds,
                                       library: try loopOn([watch], .protection),
                                       baseline: try loopOn([.hardware(address: loop)], .hardware)))
            out.append(try interleaved("\(name) bp + unrelated store", baselineName: "hw breakpoint hit+continue",
                                       reps: reps, seconds: seconds,
                                       library: try loopOn([.hardware(address: loop), neighbour], .protection),
                                       baseline: try loopOn([.hardware(address: loop)], .hardware)))
            // An access watch on a word of the code page makes it a hole: every instruction
            // fetched from it is stepped through with the slot back (5 instructions per loop).
            out.append(try interleaved("\(name) watch hit, code page hole", baselineName: "protection watch hit",
                                       reps: reps, seconds: seconds,
                                       library: try loopOn([watch, .watch(address: 0x1800, length: 8, kind: .access)], .protection),
                                       baseline: try loopOn([watch], .protection)))
            // An execute breakpoint by a code-page hole (`monitor break-mode hole`) on the loop:
            // the other four instructions of the page are stepped through every iteration.
            out.append(try interleaved("\(name) hole breakpoint cycle", baselineName: "hw breakpoint hit+continue",
                                       reps: reps, seconds: seconds,
                                       library: try loopOn([.hardware(address: loop)], .hardware, breaks: .protection),
                                       baseline: try loopOn([.hardware(address: loop)], .hardware)))
        } catch {
            notes.append("protection \(name): \((error as? DebugError)?.message ?? "\(error)")")
        }
    }
    var kvmCap = 0
    #if arch(x86_64)
    if kvm { kvmCap = (try? KVMBackend.capabilities().maxVCPUs) ?? 0 }
    #endif
    let smp = BuiltinGuests.smpCounterX86(.long)
    for n in [1, 64, 1024] where n <= maxVCPUs {
        do throws(DebugError) {
            arm.append(ArmRow(backend: "fake", vcpus: n, microseconds: try armDisarm(try FakeBackend(guest: smp, vcpus: n), reps: reps, cycles: 20)))
        } catch { notes.append("arm fake \(n): \(error.message)") }
        #if arch(x86_64)
        if kvm {
            if n <= kvmCap {
                do throws(DebugError) {
                    arm.append(ArmRow(backend: "kvm", vcpus: n, microseconds: try armDisarm(try KVMBackend(guest: smp, vcpus: n), reps: reps, cycles: 20)))
                } catch { notes.append("arm kvm \(n): \(error.message)") }
            } else {
                notes.append("arm kvm \(n): skipped, KVM_CAP_MAX_VCPUS is \(kvmCap)")
            }
        }
        #endif
    }
    return (out, arm, notes)
}
