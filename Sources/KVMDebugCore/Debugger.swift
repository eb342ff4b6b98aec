/// How to resume a stopped vCPU.
public enum ResumeMode: Sendable, Hashable {
    /// Run until the next debug stop or exit.
    case `continue`
    /// Retire one instruction (every armed point stays armed).
    case step
}

/// What one resume ended with.
public enum RunEvent: Sendable, Hashable {
    /// A decoded KVM_EXIT_DEBUG.
    case stop(Stop)
    /// Any other exit (halt, interrupted, shutdown, internal error, ...).
    case exit(VCPUExit)
}

/// The debugger core: per-vCPU tables, lazy state sync, stop decoding and
/// continuing past breakpoints, over any `DebugBackend`.
///
/// Continuing past an execute breakpoint (x86 #DB fault, arm64 EC 0x30) or an arm64
/// watchpoint (taken before the access) disarms just that point, single-steps one
/// instruction with every other point still armed, and re-arms. This is portable:
/// RFLAGS.RF is ignored by some KVM flavours (PVM), and arm64 has no equivalent.
public final class Debugger<Backend: DebugBackend> {
    public let backend: Backend
    public private(set) var tables: DebugTables
    /// KVM_SET_GUEST_DEBUG calls issued, per vCPU.
    public private(set) var setGuestDebugCalls: [Int]
    /// Use x86 BLOCKIRQ while stepping when the kernel advertises it.
    public var blockInterruptsWhileStepping = true

    private var installed: [GuestDebugState?]
    /// What `installed` was built from, so an unchanged vCPU skips even rebuilding it.
    private var installedKey: [InstalledKey?]
    private var installedLayout: [EncodedDebugRegisters]
    private var lastStop: [Stop?]
    /// x86: KVM re-applies TF only while RIP equals the RIP it saw at the last
    /// KVM_SET_GUEST_DEBUG, so a register write that moves the pc forces a re-sync.
    private var pcWritten: [Bool]
    private var patches: [SoftwarePatch] = []
    private var readWatchValues: [ReadWatchValue] = []

    public init(backend: Backend) {
        self.backend = backend
        let n = backend.vcpuCount
        tables = DebugTables(arch: backend.arch, vcpuCount: n, capacity: backend.capabilities.slots)
        setGuestDebugCalls = [Int](repeating: 0, count: n)
        installed = [GuestDebugState?](repeating: nil, count: n)
        installedKey = [InstalledKey?](repeating: nil, count: n)
        installedLayout = tables.encoded
        lastStop = [Stop?](repeating: nil, count: n)
        pcWritten = [Bool](repeating: false, count: n)
    }

    /// Total KVM_SET_GUEST_DEBUG calls over all vCPUs.
    public var totalSetGuestDebugCalls: Int { setGuestDebugCalls.reduce(0, +) }

    // MARK: - Table changes (no ioctl: affected vCPUs are only marked dirty)

    /// Arms `point` on one vCPU or all; all-or-nothing over the targeted vCPUs.
    /// Software breakpoints are patched into guest memory here (0xCC / brk #0).
    public func insert(_ point: DebugPoint, on target: VCPUTarget = .all) throws(DebugError) {
        var newPatch: SoftwarePatch? = nil
        if case .software(let a) = point, !isPatched(a) {
            let insn = softwareBreakpointInstruction
            let original = try backend.readMemory(a, count: insn.count)
            newPatch = SoftwarePatch(address: a, original: original)
        }
        try tables.insert(point, on: target)
        if let p = newPatch {
            do {
                try backend.writeMemory(p.address, softwareBreakpointInstruction)
            } catch {
                try? tables.remove(point, from: target)  // undo: nothing half-applied
                throw error
            }
            patches.append(p)
        }
        if case .watch(let a, let l, .read) = point, backend.arch == .x86_64 {
            let v = (try? backend.readMemory(a, count: Int(l))) ?? []
            readWatchValues.append(ReadWatchValue(point: point, value: v))
        }
    }

    /// Removes exactly `point` from `target`; unpatches memory when no vCPU uses it any more.
    public func remove(_ point: DebugPoint, from target: VCPUTarget = .all) throws(DebugError) {
        try tables.remove(point, from: target)
        if case .software(let a) = point, !tables.softwareBreakpoints.contains(a),
           let i = patches.firstIndex(where: { $0.address == a }) {
            try backend.writeMemory(a, patches[i].original)
            patches.remove(at: i)
        }
        if case .watch = point, !anyVCPUArms(point) {
            readWatchValues.removeAll { $0.point == point }
        }
    }

    /// Sets a vCPU's pc (and remembers to re-issue the debug state, see `pcWritten`).
    public func setProgramCounter(_ pc: UInt64, vcpu: Int) throws(DebugError) {
        try backend.setProgramCounter(pc, vcpu: vcpu)
        pcWritten[vcpu] = true
    }

    /// The last stop reported for `vcpu`, if it has not run since.
    public func lastStop(of vcpu: Int) -> Stop? { lastStop[vcpu] }

    /// Reads guest memory as the guest sees it: software breakpoints are hidden.
    public func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8] {
        var bytes = try backend.readMemory(address, count: count)
        for p in patches {
            for (i, b) in p.original.enumerated() {
                let a = p.address &+ UInt64(i)
                if a >= address && a < address &+ UInt64(count) { bytes[Int(a &- address)] = b }
            }
        }
        return bytes
    }

    // MARK: - Running

    /// Resumes `vcpu` until the next stop or exit, syncing its debug state first if
    /// (and only if) it changed. Runs on the vCPU's own thread.
    public func resume(vcpu: Int, mode: ResumeMode) throws(DebugError) -> RunEvent {
        if vcpu < 0 || vcpu >= backend.vcpuCount { throw .noSuchVCPU(index: vcpu, count: backend.vcpuCount) }
        if let over = try pointToStepOver(vcpu) {
            let event = try stepOver(over, vcpu: vcpu)
            switch event {
            case .exit:
                return finish(vcpu, event)
            case .stop(var s):
                if mode == .step { return finish(vcpu, event) }
                // Stepping over one point can trip another (a watchpoint, a step+data exit).
                s.hits.removeAll { $0.reason == .singleStep }
                if !s.hits.isEmpty { return finish(vcpu, .stop(s)) }
                lastStop[vcpu] = nil
            }
        }
        while true {
            let event = try runOnce(vcpu, stepping: mode == .step, without: nil)
            guard case .stop(let s) = event else { return finish(vcpu, event) }
            if let kept = try filter(s, mode: mode) { return finish(vcpu, .stop(kept)) }
            // Swallowed (a filtered read-watch write, or a software breakpoint owned by
            // another vCPU): step over it transparently and go on.
            lastStop[vcpu] = s
            if let over = try pointToStepOver(vcpu) {
                let e = try stepOver(over, vcpu: vcpu)
                if case .exit = e { return finish(vcpu, e) }
            }
            lastStop[vcpu] = nil
        }
    }

    // MARK: - Internals

    private func finish(_ vcpu: Int, _ event: RunEvent) -> RunEvent {
        if case .stop(let s) = event { lastStop[vcpu] = s } else { lastStop[vcpu] = nil }
        return event
    }

    private var softwareBreakpointInstruction: [UInt8] {
        switch backend.arch {
        case .x86_64: return [0xCC]                    // int3
        case .arm64: return [0x00, 0x00, 0x20, 0xD4]   // brk #0 (0xD4200000), little-endian
        }
    }

    private func isPatched(_ a: UInt64) -> Bool { patches.contains { $0.address == a } }

    private func anyVCPUArms(_ p: DebugPoint) -> Bool {
        for v in 0..<tables.vcpuCount where tables.isArmed(p, on: v) { return true }
        return false
    }

    /// The point the vCPU is sitting on and must step over before it can go on, if any.
    private func pointToStepOver(_ vcpu: Int) throws(DebugError) -> DebugPoint? {
        guard let s = lastStop[vcpu] else { return nil }
        if pcWritten[vcpu] {
            let pc = try backend.programCounter(vcpu: vcpu)
            if pc != s.pc { return nil }
        }
        for hit in s.hits {
            guard let p = hit.point else { continue }
            switch hit.reason {
            case .hardwareBreakpoint:
                if tables.isArmed(p, on: vcpu) { return p }
            case .softwareBreakpoint:
                if isPatched(p.address) { return p }
            case .watchpoint:
                // arm64 takes watchpoints before the access; x86 traps after it.
                if backend.arch == .arm64 && tables.isArmed(p, on: vcpu) { return p }
            default:
                break
            }
        }
        return nil
    }

    /// Retires one instruction with `point` disarmed and every other point armed.
    private func stepOver(_ point: DebugPoint, vcpu: Int) throws(DebugError) -> RunEvent {
        if case .software(let a) = point, let p = patches.first(where: { $0.address == a }) {
            try backend.writeMemory(a, p.original)
            let event: RunEvent
            do {
                event = try runOnce(vcpu, stepping: true, without: nil)
            } catch {
                try? backend.writeMemory(a, softwareBreakpointInstruction)
                throw error
            }
            try backend.writeMemory(a, softwareBreakpointInstruction)
            return event
        }
        return try runOnce(vcpu, stepping: true, without: point)
    }

    /// Installs the vCPU's state if it differs from what it has, runs once, decodes.
    private func runOnce(_ vcpu: Int, stepping: Bool, without: DebugPoint?) throws(DebugError) -> RunEvent {
        let blockIRQ = blockInterruptsWhileStepping && backend.capabilities.supports(.x86BlockIRQ)
        let key = InstalledKey(stepping: stepping, without: without, blockIRQ: blockIRQ)
        let unchanged = !tables.dirty[vcpu] && installedKey[vcpu] == key
        if !unchanged || (pcWritten[vcpu] && stepping) {
            let state = tables.guestDebugState(for: vcpu, stepping: stepping, without: without, blockIRQ: blockIRQ)
            if tables.dirty[vcpu] || installed[vcpu] != state || (pcWritten[vcpu] && stepping) {
                try backend.setGuestDebug(state, vcpu: vcpu)
                setGuestDebugCalls[vcpu] += 1
                installed[vcpu] = state
                installedLayout[vcpu] = tables.encoded(for: vcpu, without: without)
                pcWritten[vcpu] = false
            }
            installedKey[vcpu] = key
            tables.markSynced(vcpu)
        }
        lastStop[vcpu] = nil
        let exit = try backend.run(vcpu: vcpu)
        guard case .debug(let d) = exit else { return .exit(exit) }
        return .stop(decode(d, vcpu: vcpu))
    }

    private func decode(_ d: DebugExit, vcpu: Int) -> Stop {
        let slots = installedLayout[vcpu].slots
        var hits: [StopHit]
        switch d {
        case .x86(let exception, let pc, let dr6, _):
            hits = X86DebugEncoding.decode(exception: exception, pc: pc, dr6: dr6, slots: slots)
        case .arm64(let esr, let far, let pc):
            hits = Arm64DebugEncoding.decode(esr: esr, far: far, pc: pc, slots: slots)
        }
        for i in hits.indices where hits[i].reason == .softwareBreakpoint {
            // A BRK/int3 we did not patch in is the guest's own.
            if !isPatched(d.pc) { hits[i].point = nil }
        }
        return Stop(vcpu: vcpu, pc: d.pc, hits: hits, exit: d)
    }

    /// Drops hits the user did not ask for; nil when nothing is left to report.
    private func filter(_ s: Stop, mode: ResumeMode) throws(DebugError) -> Stop? {
        var out = s
        out.hits = []
        for hit in s.hits {
            switch hit.reason {
            case .softwareBreakpoint:
                // Patched for another vCPU (memory is shared): not this vCPU's stop.
                if let p = hit.point, !tables.isArmed(p, on: s.vcpu) { continue }
            case .watchpoint:
                if let p = hit.point, case .watch(let a, let l, .read) = p, backend.arch == .x86_64 {
                    // x86 has no read-only watchpoint: an access hit whose bytes changed was a write.
                    let now = try backend.readMemory(a, count: Int(l))
                    if let i = readWatchValues.firstIndex(where: { $0.point == p }) {
                        let changed = readWatchValues[i].value != now
                        readWatchValues[i].value = now
                        if changed { continue }
                    }
                }
            default:
                break
            }
            out.hits.append(hit)
        }
        if out.hits.isEmpty {
            return mode == .step ? Stop(vcpu: s.vcpu, pc: s.pc, hits: [StopHit(reason: .singleStep)], exit: s.exit) : nil
        }
        return out
    }
}

/// The inputs a vCPU's installed debug state was built from.
struct InstalledKey: Sendable, Hashable {
    var stepping: Bool
    var without: DebugPoint?
    var blockIRQ: Bool
}

/// Original bytes under a software breakpoint.
struct SoftwarePatch: Sendable {
    var address: UInt64
    var original: [UInt8]
}

/// Last seen bytes under an x86 read watchpoint (emulated with R/W=11).
struct ReadWatchValue: Sendable {
    var point: DebugPoint
    var value: [UInt8]
}
