import KVMDebugModel

/// A value the host writes into one FP/SIMD register (x86 xmm`register`, arm64 v`register`),
/// as gdb's `P` packet does.
public struct FPWrite: Sendable, Hashable {
    public var register: Int
    public var value: UInt128

    public init(register: Int, value: UInt128) {
        self.register = register
        self.value = value
    }
}

/// The host side of a state-survival run (`GuestRunner.survive`), on vCPU 0 of a guest that
/// keeps the survival contract (`SurvivalGuest` in KVMDebugGuests: `work`, `tick`, `release`,
/// `done`, `result`, `probe`, `expect`).
public struct SurvivalPlan: Sendable {
    public var work: UInt64
    public var tick: UInt64
    public var release: UInt64
    public var done: UInt64
    public var result: UInt64
    public var probe: UInt64
    public var expect: UInt64
    /// Rounds of: continue with a breakpoint on `work` and a write watch on `tick` (two stops),
    /// `steps` single-steps, detach (every point off, `KVM_SET_GUEST_DEBUG` control 0) and run
    /// `detachedSeconds`, move the vCPU thread to the next allowed host CPU, re-arm and stop at `work`.
    public var rounds = 3
    public var steps = 3
    /// Single-steps from the entry before anything else, with no point armed (the guest's own
    /// setup then runs under KVM_GUESTDBG_SINGLESTEP alone).
    public var entrySteps = 0
    public var detachedSeconds = 0.02
    /// Written in the first round, into the register and into `expect`.
    public var hostWrite: FPWrite? = nil
    /// Written into the register in the last round without telling the guest: its check must
    /// then fail (the comparison's own test).
    public var clobber: FPWrite? = nil
    /// Ceiling of the whole run (each round ends at its stop long before).
    public var timeout: Double = 20

    public init(work: UInt64, tick: UInt64, release: UInt64, done: UInt64, result: UInt64, probe: UInt64, expect: UInt64) {
        self.work = work
        self.tick = tick
        self.release = release
        self.done = done
        self.result = result
        self.probe = probe
        self.expect = expect
    }
}

/// How a survival run came out.
public struct SurvivalReport: Sendable, Hashable {
    /// Every debug stop, in order (the detached runs have none).
    public var stops: [Stop] = []
    /// `checked` once the guest stopped at `done`; else the exit or limit that ended the run.
    public var end = "checked"
    /// The guest's `result` word (0: every register as written), read at `done`.
    public var result: UInt64? = nil
    /// The 16 bytes at `probe` at `done`, as a little-endian value.
    public var probe: UInt128? = nil
    /// What the detached runs reported instead of being interrupted (expected: nothing).
    public var detachedEvents: [String] = []
    /// The host CPU vCPU 0's thread ran on in each round (after its move).
    public var hostCPUs: [Int] = []
}

extension GuestRunner {
    /// Runs `plan` on vCPU 0 (see `SurvivalPlan`) from where the guest is (its entry), then
    /// releases the guest's loop and stops at `done`, where `result` and `probe` are read.
    /// Every `KVM_RUN` happens on vCPU 0's own thread (`stepsOnCallingThread` off), which is the
    /// thread moved between host CPUs. An exit or a missing stop ends the run early (`end`).
    public func survive(_ plan: SurvivalPlan) throws(DebugError) -> SurvivalReport {
        var report = SurvivalReport()
        let deadline = monotonicNanoseconds() &+ UInt64(plan.timeout * 1e9)
        session.stepsOnCallingThread = false
        session.continuesOnCallingThread = false
        let cpus = allowedHostCPUs()
        // One round of vCPU 0 until its next stop; false when the run ended instead.
        func go(_ mode: ResumeMode) throws(DebugError) -> Bool {
            let r = try session.resume(onlyVCPU0(mode), deadline: deadline)
            for e in r.events {
                switch e.event {
                case .stop(let s): report.stops.append(s)
                case .exit(let x):
                    report.end = x.name
                    return false
                case .kicked: break  // a round never reports one (DebugSession.wait drops them)
                }
            }
            if r.events.isEmpty { report.end = r.timedOut ? "timeout" : "interrupted" }
            return !r.events.isEmpty
        }
        for _ in 0..<plan.entrySteps { guard try go(.step) else { return report } }
        try session.insert(.hardware(address: plan.work))
        guard try go(.continue) else { return report }
        for k in 0..<plan.rounds {
            try session.insert(.watch(address: plan.tick, length: 8, kind: .write))
            guard try go(.continue), try go(.continue) else { return report }
            for _ in 0..<plan.steps { guard try go(.step) else { return report } }
            if k == 0, let w = plan.hostWrite {
                try writeVector(w)
                try session.writeMemory(plan.expect, littleEndian(w.value), vcpu: 0)
            }
            if k == plan.rounds - 1, let c = plan.clobber { try writeVector(c) }
            guard try runDetached(plan, deadline: deadline, into: &report) else { return report }
            try session.moveVCPUThread(0, toCPU: cpus[(k + 1) % cpus.count])
            try session.insert(.hardware(address: plan.work))
            guard try go(.continue) else { return report }
            report.hostCPUs.append(session.lastHostCPU(of: 0) ?? -1)
        }
        try session.writeMemory(plan.release, littleEndianBytes(1), vcpu: 0)
        session.removeAllPoints()
        try session.insert(.hardware(address: plan.done))
        guard try go(.continue) else { return report }
        report.result = try littleEndianValue(session.readMemory(plan.result, count: 8, vcpu: 0))
        let p = try session.readMemory(plan.probe, count: 16, vcpu: 0)
        report.probe = UInt128(littleEndianValue(Array(p[0..<8]))) | UInt128(littleEndianValue(Array(p[8..<16]))) << 64
        return report
    }

    /// Detaches (every point off, guest debugging disabled) and lets vCPU 0 run until a
    /// deadline interrupts it; anything it reports instead is kept. False when it exited.
    private func runDetached(_ plan: SurvivalPlan, deadline: UInt64, into report: inout SurvivalReport) throws(DebugError) -> Bool {
        try debugger.disableDebugging()
        let until = min(deadline, monotonicNanoseconds() &+ UInt64(plan.detachedSeconds * 1e9))
        let r = try session.resume(onlyVCPU0(.continue), deadline: until)
        for e in r.events {
            switch e.event {
            case .stop(let s):
                report.detachedEvents.append("\(s.reason.name)@\(hex(s.pc))")
            case .exit(let x):
                report.detachedEvents.append(x.name)
                report.end = x.name
                return false
            case .kicked: break  // a round never reports one (DebugSession.wait drops them)
            }
        }
        return true
    }

    /// Resume actions that run vCPU 0 alone.
    private func onlyVCPU0(_ mode: ResumeMode) -> [ResumeMode?] {
        var a = [ResumeMode?](repeating: nil, count: session.vcpuCount)
        a[0] = mode
        return a
    }

    /// Writes `w` into vCPU 0's FP/SIMD register file (x86 xmm, arm64 v).
    private func writeVector(_ w: FPWrite) throws(DebugError) {
        var file = try session.floatingPointRegisters(vcpu: 0)
        switch file {
        case .x86_64(var x):
            guard w.register >= 0, w.register < x.xmm.count else { throw .unsupported(reason: "no xmm\(w.register)") }
            x.xmm[w.register] = w.value
            file = .x86_64(x)
        case .arm64(var f):
            guard w.register >= 0, w.register < f.v.count else { throw .unsupported(reason: "no v\(w.register)") }
            f.v[w.register] = w.value
            file = .arm64(f)
        }
        try session.setFloatingPointRegisters(file, vcpu: 0)
    }

    private func littleEndian(_ v: UInt128) -> [UInt8] {
        littleEndianBytes(UInt64(truncatingIfNeeded: v)) + littleEndianBytes(UInt64(truncatingIfNeeded: v >> 64))
    }
}
