import Synchronization
import KVMDebugModel

/// The debugger core: per-vCPU tables, lazy state sync, stop decoding and
/// continuing past breakpoints, over any `DebugBackend`.
///
/// Threads: table changes (`insert`, `remove`) may come from a controlling thread
/// while vCPUs run; `resume(vcpu:)` runs on that vCPU's own thread. A change only
/// marks the affected vCPUs dirty; each vCPU takes its new state itself, right
/// before it next enters the guest, and only when the state really changed.
///
/// Continuing past an execute breakpoint (x86 #DB fault, arm64 EC 0x30) or an arm64
/// watchpoint (taken before the access) disarms just that point, single-steps one
/// instruction with every other point still armed, and re-arms. This is portable:
/// RFLAGS.RF is ignored by some KVM flavours (PVM), and arm64 has no equivalent.
public final class Debugger<Backend: DebugBackend>: @unchecked Sendable {
    public let backend: Backend
    /// Use x86 BLOCKIRQ while stepping when the kernel advertises it.
    public var blockInterruptsWhileStepping: Bool {
        get { blockIRQ.load(ordering: .relaxed) }
        set { blockIRQ.store(newValue, ordering: .relaxed) }
    }

    private let lock = DebugLock()
    /// Guarded by `lock`.
    private var _tables: DebugTables
    private var patches: [SoftwarePatch] = []
    private var readWatchValues: [ReadWatchValue] = []
    /// Per-vCPU state, each touched only by the thread running that vCPU.
    private let vcpus: [VCPUDebugState]
    private let blockIRQ = Atomic<Bool>(true)
    /// SET_GUEST_DEBUG2 advertises x86 BLOCKIRQ; read once, as the table capacities are
    /// (reading `backend.capabilities` per run copied the whole struct).
    private let blockIRQSupported: Bool
    private let foreignPolicy = Atomic<UInt8>(ForeignBreakpointPolicy.report.rawValue)
    /// Guarded by `lock`: the watches memory protection serves and the pages they hold.
    private var protection = ProtectionTable()
    /// Set before the first slot change: from then on a `KVM_EXIT_MMIO` on guest RAM is a
    /// protected page's (RAM never exits otherwise), completed here, never reported as MMIO.
    private let protectionUsed = Atomic<Bool>(false)
    private let mechanismChoice = Atomic<UInt8>(WatchMechanismChoice.automatic.rawValue)
    private let hardwareWatchTraps = Atomic<Bool>(true)
    /// Guarded by `lock`: when set, what `hardwareWatchpointsTrap` answers.
    private var watchTrapsAnswer: (@Sendable () -> Bool)? = nil
    private let breakChoice = Atomic<UInt8>(WatchMechanismChoice.hardware.rawValue)
    /// Guarded by `lock`: guest-virtual to guest-physical for a vCPU (the session's page walk);
    /// nil: identity.
    private var translator: ((UInt64, Int, Debugger<Backend>) throws(DebugError) -> UInt64)? = nil

    /// What resuming does with a BRK the guest ran that kvmdbg did not plant (opt-in;
    /// arm64 only, where TDE routes every guest BRK to the host and there is no INJECT flag).
    public var foreignBreakpointPolicy: ForeignBreakpointPolicy {
        get { ForeignBreakpointPolicy(rawValue: foreignPolicy.load(ordering: .relaxed)) ?? .report }
        set { foreignPolicy.store(newValue.rawValue, ordering: .relaxed) }
    }

    public init(backend: Backend) {
        self.backend = backend
        let n = backend.vcpuCount
        let caps = backend.capabilities
        _tables = DebugTables(arch: backend.arch, vcpuCount: n, capacity: caps.slots)
        blockIRQSupported = caps.supports(.x86BlockIRQ)
        var states: [VCPUDebugState] = []
        for v in 0..<n { states.append(VCPUDebugState(arch: backend.arch, layout: _tables.encoded[v])) }
        vcpus = states
    }

    /// A snapshot of the debug tables.
    public var tables: DebugTables { lock.withLock { _tables } }

    /// Which mechanism new watchpoints may use (`auto` by default: hardware while slots last
    /// and data watchpoints trap here, memory protection otherwise). Points already armed keep theirs.
    public var watchMechanism: WatchMechanismChoice {
        get { WatchMechanismChoice(rawValue: mechanismChoice.load(ordering: .relaxed)) ?? .automatic }
        set { mechanismChoice.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// Whether this host's hardware data watchpoints really trap (the feature probe's
    /// `write-watchpoint`; false under PVM). True until told otherwise.
    public var hardwareWatchpointsTrap: Bool {
        get {
            if let answer = lock.withLock({ watchTrapsAnswer }) { return answer() }
            return hardwareWatchTraps.load(ordering: .relaxed)
        }
        set {
            lock.withLock { watchTrapsAnswer = nil }
            hardwareWatchTraps.store(newValue, ordering: .relaxed)
        }
    }

    /// Lets `answer` decide `hardwareWatchpointsTrap` each time a watch is inserted (it may block
    /// until a feature probe running beside a server is done).
    public func decideHardwareWatchpointsTrap(by answer: @escaping @Sendable () -> Bool) {
        lock.withLock { watchTrapsAnswer = answer }
    }

    /// What serves new execute breakpoints (`.hardware` points): `.hardware` (the default:
    /// comparators only), `.automatic` (comparators while they last, then a code-page hole),
    /// or `.protection` (always a hole). A hole makes every instruction fetched from that page
    /// exit: each is stepped through with the page filled in (tens of µs each), and a fetch at
    /// the breakpoint's address is the stop. For hosts where int3 does not trap and the slots
    /// run out (GDB's `monitor break-mode`).
    public var breakMechanism: WatchMechanismChoice {
        get { WatchMechanismChoice(rawValue: breakChoice.load(ordering: .relaxed)) ?? .hardware }
        set { breakChoice.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// Sets how watch addresses (guest-virtual) become guest-physical pages for protection,
    /// per vCPU; `DebugSession` passes its page walk. Without one, addresses are physical.
    public func setTranslator(_ t: ((UInt64, Int, Debugger<Backend>) throws(DebugError) -> UInt64)?) {
        lock.withLock { translator = t }
    }

    /// What serves `point` (nil: not an armed watch).
    public func mechanism(of point: DebugPoint) -> WatchMechanism? {
        lock.withLock { _tables.mechanism(of: point) }
    }

    /// The pages protection holds now, with how (`monitor points`).
    public var protectedPages: [(page: UInt64, protection: PageProtection)] {
        lock.withLock { protection.applied.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    /// KVM_SET_GUEST_DEBUG calls issued before runs, per vCPU (`disableDebugging`'s are not counted).
    public var setGuestDebugCalls: [Int] { vcpus.map { $0.setGuestDebugCalls.load(ordering: .relaxed) } }

    /// Total KVM_SET_GUEST_DEBUG calls over all vCPUs.
    public var totalSetGuestDebugCalls: Int { setGuestDebugCalls.reduce(0, +) }

    // MARK: - Table changes (no ioctl: affected vCPUs are only marked dirty)

    /// Arms `point` on one vCPU or all; all-or-nothing over the targeted vCPUs.
    /// Software breakpoints are patched into guest memory here (0xCC / brk #0), at the
    /// guest-physical address each targeted vCPU reaches the point's virtual address
    /// through (`physical`, from `DebugSession.translate`; nil: identity), once per
    /// distinct physical address.
    public func insert(_ point: DebugPoint, on target: VCPUTarget = .all,
                       physical: [(vcpu: Int, address: UInt64)]? = nil) throws(DebugError) {
        if point.isWatch { return try insertServed(point, on: target, choice: watchMechanism, traps: hardwareWatchpointsTrap) }
        if case .hardware = point, breakMechanism != .hardware {
            return try insertServed(point, on: target, choice: breakMechanism, traps: true)
        }
        try lock.withLock { () throws(DebugError) in
            var newPatches: [SoftwarePatch] = []
            var uses: [(physical: UInt64, use: SoftwareUse)] = []
            if case .software(let va) = point {
                var targeted: [Int] = []
                switch target {
                case .all: targeted = Array(0..<backend.vcpuCount)
                case .vcpu(let v): try checkVCPU(v); targeted = [v]
                }
                for v in targeted {
                    let pa = physical?.first(where: { $0.vcpu == v })?.address ?? va
                    uses.append((pa, SoftwareUse(vcpu: v, virtual: va)))
                    if !isPatched(pa) && !newPatches.contains(where: { $0.address == pa }) {
                        let original = try backend.readMemory(pa, count: softwareBreakpointInstruction.count)
                        newPatches.append(SoftwarePatch(address: pa, original: original))
                    }
                }
            }
            try _tables.insert(point, on: target)
            var written: [SoftwarePatch] = []
            for p in newPatches {
                do throws(DebugError) {
                    try backend.writeMemory(p.address, softwareBreakpointInstruction)
                    written.append(p)
                } catch {
                    // Undo: nothing half-applied.
                    for w in written { try? unpatch(w) }
                    try? _tables.remove(point, from: target)
                    throw error
                }
            }
            patches += newPatches
            for u in uses {
                if let i = patches.firstIndex(where: { $0.address == u.physical }), !patches[i].users.contains(u.use) {
                    patches[i].users.append(u.use)
                }
            }
        }
    }

    /// Arms a watchpoint (or an execute breakpoint) by the mechanism `choice` picks: a
    /// comparator while they last and `traps`, memory protection otherwise; all-or-nothing.
    private func insertServed(_ point: DebugPoint, on target: VCPUTarget, choice: WatchMechanismChoice,
                              traps: Bool) throws(DebugError) {
        try lock.withLock { () throws(DebugError) in
            // A point already armed elsewhere keeps its mechanism.
            var useProtection: Bool
            switch _tables.mechanism(of: point) {
            case .protection?: useProtection = true
            case .hardware?: useProtection = false
            case nil: useProtection = choice == .protection || (choice == .automatic && !traps)
            }
            if !useProtection {
                do throws(DebugError) {
                    try _tables.insert(point, on: target)
                    if case .watch(let a, let l, .read) = point, backend.arch == .x86_64,
                       !readWatchValues.contains(where: { $0.point == point }) {
                        let v = (try? backend.readMemory(a, count: Int(l))) ?? []
                        readWatchValues.append(ReadWatchValue(point: point, value: v))
                    }
                    return
                } catch {
                    // Out of slots (or a range no slot set expresses): protection serves it.
                    guard choice == .automatic, _tables.mechanism(of: point) == nil,
                          backend.pageProtectionUnavailable == nil else { throw error }
                    switch error {
                    case .noFreeSlot, .unencodableWatch: useProtection = true
                    default: throw error
                    }
                }
            }
            if let why = backend.pageProtectionUnavailable {
                if !point.isWatch { throw .unsupported(reason: "a breakpoint by a code-page hole cannot be set: \(why)") }
                if choice == .automatic && !traps {
                    throw .unsupported(reason: "data watchpoints do not trap on this host's KVM (feature probe), and memory protection cannot serve them: \(why)")
                }
                throw .unsupported(reason: "a protection watchpoint cannot be set: \(why)")
            }
            let va = point.address
            var length: UInt64 = 1  // an execute breakpoint: the fetch of its first byte
            if case .watch(_, let l, _) = point { length = l }
            try WatchPiece.checkRange(address: va, length: length, arch: backend.arch)
            if length > Self.protectionMaxLength {
                throw .unencodableWatch(address: va, length: length, arch: backend.arch,
                                        reason: "a protection watchpoint covers at most \(Self.protectionMaxLength >> 20) MiB; watch a smaller range")
            }
            let targeted: [Int]
            switch target {
            case .all: targeted = Array(0..<backend.vcpuCount)
            case .vcpu(let v): try checkVCPU(v); targeted = [v]
            }
            var ranges: [Int: [ProtectedRange]] = [:]
            if let t = translator {
                for v in targeted {
                    ranges[v] = try Self.physicalRanges(va, length, vcpu: v) { (a, v) throws(DebugError) in try t(a, v, self) }
                }
            } else {
                let identity = [ProtectedRange(physical: va, length: length, virtual: va)]
                for v in targeted { ranges[v] = identity }
            }
            for r in ranges.values.first ?? [] where (try? backend.readMemory(r.physical, count: 1)) == nil {
                throw .badGuestAddress(address: r.physical, length: r.length)
            }
            if backend.arch == .arm64, let why = arm64HoleRefusal(point, ranges: ranges) { throw .unsupported(reason: why) }
            try _tables.insert(point, on: target, mechanism: .protection)
            protection.add(point, ranges: ranges)
            do throws(DebugError) {
                try applyProtection()
            } catch {
                try? _tables.remove(point, from: target)
                protection.remove(point, vcpus: targeted)
                try? applyProtection()
                throw error
            }
        }
    }

    /// arm64: why `point` cannot be served by leaving its pages out of the slots, or nil. KVM
    /// turns an instruction fetch from memory no slot backs into a prefetch abort it injects
    /// into the guest (kvm_handle_guest_abort: -ENOEXEC, kvm_inject_pabt), never an exit, so
    /// code there cannot be stepped through as on x86: execute breakpoints by a hole are
    /// refused, and a read or access watch is refused on a page where a stopped vCPU's pc or
    /// exception vectors are known to be (what the session has read; other code on such a page
    /// would take that abort: see docs/watchpoints.md). Write watches (read-only slots) fetch freely.
    private func arm64HoleRefusal(_ point: DebugPoint, ranges: [Int: [ProtectedRange]]) -> String? {
        let why = "on arm64 KVM turns an instruction fetch from a page left out of the memory slots into a prefetch abort injected into the guest, never an exit"
        guard case .watch(_, _, let kind) = point else { return "a breakpoint by a code-page hole cannot be set: \(why)" }
        if kind == .write { return nil }
        let t = translator
        let mask = ~(PageProtection.pageSize - 1)
        let pages = Set(ranges.values.joined().flatMap { r in
            stride(from: r.physical & mask, to: r.physical &+ r.length, by: Int(PageProtection.pageSize))
        })
        for v in 0..<backend.vcpuCount {
            let st = vcpus[v]
            var code: [(UInt64, String)] = []
            if let s = st.lastStop { code.append((s.pc, "pc")) }
            if case .arm64(let r)? = st.registers {
                code.append((r.pc, "pc"))
                code.append((r.vbarEL1 & ~0x7FF, "exception vectors (VBAR_EL1)"))
            }
            for (va, what) in code {
                let pa = (try? physical(va, vcpu: v, t)) ?? va
                if pages.contains(pa & mask) {
                    return "a \(kind == .read ? "read" : "access") watch by memory protection would leave page \(hex(pa & mask)) out of the memory slots, and it holds vCPU \(v)'s \(what): \(why); watch it for writes, or by a debug register (--watch-mechanism hardware)"
                }
            }
        }
        return nil
    }

    /// The longest range one protection watch may cover (16 MiB: 4096 pages to translate).
    static var protectionMaxLength: UInt64 { 16 << 20 }

    /// `[va, va+length)` translated page by page for one vCPU, physically adjacent pieces merged.
    private static func physicalRanges(_ va: UInt64, _ length: UInt64, vcpu: Int,
                                       translate: (UInt64, Int) throws(DebugError) -> UInt64) throws(DebugError) -> [ProtectedRange] {
        var out: [ProtectedRange] = []
        var a = va
        var left = length
        while left > 0 {
            let inPage = min(left, PageProtection.pageSize - (a & (PageProtection.pageSize - 1)))
            let pa = try translate(a, vcpu)
            if let last = out.last, last.physical &+ last.length == pa {
                out[out.count - 1].length += inPage
            } else {
                out.append(ProtectedRange(physical: pa, length: inPage, virtual: a))
            }
            a &+= inPage
            left -= inPage
        }
        return out
    }

    /// Caller holds `lock`. Brings every page's slot to what the protected watches need.
    private func applyProtection() throws(DebugError) {
        let want = protection.wanted()
        var pages = Set(protection.applied.keys)
        pages.formUnion(want.keys)
        for page in pages.sorted() {
            let w = want[page] ?? .none
            if w == (protection.applied[page] ?? .none) { continue }
            protectionUsed.store(true, ordering: .sequentiallyConsistent)
            try backend.setPageProtection(w, page: page)
            protection.applied[page] = w == .none ? nil : w
        }
    }

    /// Removes exactly `point` from `target`; unpatches memory when no vCPU uses it any more.
    public func remove(_ point: DebugPoint, from target: VCPUTarget = .all) throws(DebugError) {
        try lock.withLock { () throws(DebugError) in
            try _tables.remove(point, from: target)
            if case .software(let va) = point {
                var i = 0
                while i < patches.count {
                    patches[i].users.removeAll { $0.virtual == va && !_tables.isArmed(point, on: $0.vcpu) }
                    if patches[i].users.isEmpty {
                        try unpatch(patches[i])
                        patches.remove(at: i)
                    } else {
                        i += 1
                    }
                }
            }
            if case .watch = point, !anyVCPUArms(point) {
                readWatchValues.removeAll { $0.point == point }
            }
            if protection.serves(point) {
                switch target {
                case .all: protection.remove(point, vcpus: nil)
                case .vcpu(let v): protection.remove(point, vcpus: [v])
                }
                try applyProtection()
            }
        }
    }

    /// Sets a vCPU's pc (and remembers to re-issue the debug state, see `pcWritten`).
    public func setProgramCounter(_ pc: UInt64, vcpu: Int) throws(DebugError) {
        var file = try registers(vcpu: vcpu)
        file.pc = pc
        try setRegisters(file, vcpu: vcpu)
    }

    /// The vCPU's register file, read once per stop: the first ask costs the backend's
    /// ioctls, later ones until the vCPU runs again cost none.
    public func registers(vcpu: Int) throws(DebugError) -> RegisterFile {
        try checkVCPU(vcpu)
        let st = vcpus[vcpu]
        if let r = st.registers { return r }
        let r = try backend.registers(vcpu: vcpu)
        st.registers = r
        return r
    }

    /// Writes the vCPU's register file; a changed pc re-issues the debug state before the
    /// next step (the x86 TF rule, see `pcWritten`) and ends any pending step-over.
    public func setRegisters(_ file: RegisterFile, vcpu: Int) throws(DebugError) {
        try checkVCPU(vcpu)
        let st = vcpus[vcpu]
        let before = try registers(vcpu: vcpu)
        if before == file { return }
        try completePendingAccess(vcpu)
        st.registers = nil
        try backend.setRegisters(file, vcpu: vcpu)
        st.registers = file
        if before.pc != file.pc { st.pcWritten = true }
    }

    /// The vCPU's FP/SIMD registers, read once per stop and only when asked: a stop itself
    /// costs no FP ioctl (`DebugBackend.floatingPointRegisters`).
    public func floatingPointRegisters(vcpu: Int) throws(DebugError) -> FPRegisterFile {
        try cached(vcpu, { $0.fpRegisters }, { $0.fpRegisters = $1 }) { () throws(DebugError) in
            try backend.floatingPointRegisters(vcpu: vcpu)
        }
    }

    /// Writes the vCPU's FP/SIMD registers (nothing when unchanged).
    public func setFloatingPointRegisters(_ file: FPRegisterFile, vcpu: Int) throws(DebugError) {
        try writeCached(file, vcpu, try floatingPointRegisters(vcpu: vcpu), { $0.fpRegisters = $1 }) { () throws(DebugError) in
            try backend.setFloatingPointRegisters(file, vcpu: vcpu)
        }
    }

    /// The guest's own debug registers, read once per stop and only when asked.
    public func guestDebugRegisters(vcpu: Int) throws(DebugError) -> GuestOwnDebugRegisters {
        try cached(vcpu, { $0.guestDebugRegisters }, { $0.guestDebugRegisters = $1 }) { () throws(DebugError) in
            try backend.guestDebugRegisters(vcpu: vcpu)
        }
    }

    /// Writes the guest's own debug registers (nothing when unchanged).
    public func setGuestDebugRegisters(_ registers: GuestOwnDebugRegisters, vcpu: Int) throws(DebugError) {
        try writeCached(registers, vcpu, try guestDebugRegisters(vcpu: vcpu), { $0.guestDebugRegisters = $1 }) { () throws(DebugError) in
            try backend.setGuestDebugRegisters(registers, vcpu: vcpu)
        }
    }

    /// A per-stop cache slot of `VCPUDebugState`: the stored value, or `read` once.
    private func cached<T>(_ vcpu: Int, _ get: (VCPUDebugState) -> T?, _ set: (VCPUDebugState, T?) -> Void,
                           _ read: () throws(DebugError) -> T) throws(DebugError) -> T {
        try checkVCPU(vcpu)
        let st = vcpus[vcpu]
        if let r = get(st) { return r }
        let r = try read()
        set(st, r)
        return r
    }

    /// Writes `value` through `write` unless it equals `current`; the slot holds it afterwards
    /// (and nothing if the write failed, so the next read asks the backend).
    private func writeCached<T: Equatable>(_ value: T, _ vcpu: Int, _ current: T, _ set: (VCPUDebugState, T?) -> Void,
                                           _ write: () throws(DebugError) -> Void) throws(DebugError) {
        if current == value { return }
        let st = vcpus[vcpu]
        set(st, nil)
        try write()
        set(st, value)
    }

    /// The last stop reported for `vcpu`, if it has not run since.
    public func lastStop(of vcpu: Int) -> Stop? { vcpus[vcpu].lastStop }

    /// Reads guest memory as the guest sees it: software breakpoints are hidden, and where the
    /// guest stored over one since it was planted, its store shows (`SoftwarePatch.guestView`).
    public func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8] {
        try lock.withLock { () throws(DebugError) in
            var bytes = try backend.readMemory(address, count: count)
            let instruction = softwareBreakpointInstruction
            for p in patches {
                for (i, b) in p.original.enumerated() {
                    let a = p.address &+ UInt64(i)
                    guard a >= address && a < address &+ UInt64(count) else { continue }
                    let k = Int(a &- address)
                    if bytes[k] == instruction[i] { bytes[k] = b }
                }
            }
            return bytes
        }
    }

    /// The virtual addresses of software breakpoints whose instruction the guest has stored
    /// over (all or part) since it was planted: they will not trap until inserted again.
    /// Meaningful while no vCPU runs (a step-over briefly unpatches).
    public var overwrittenSoftwareBreakpoints: [UInt64] {
        lock.withLock {
            var out: Set<UInt64> = []
            for p in patches {
                guard let ram = try? backend.readMemory(p.address, count: p.original.count),
                      ram != softwareBreakpointInstruction else { continue }
                out.formUnion(p.users.map { $0.virtual })
            }
            return out.sorted()
        }
    }

    /// Writes guest memory as the guest sees it: bytes under a software breakpoint update
    /// the saved original and the breakpoint stays planted.
    public func writeMemory(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError) {
        try lock.withLock { () throws(DebugError) in
            var out = bytes
            let end = address &+ UInt64(bytes.count)
            for i in patches.indices {
                let p = patches[i]
                for j in 0..<p.original.count {
                    let a = p.address &+ UInt64(j)
                    guard a >= address && a < end else { continue }
                    patches[i].original[j] = bytes[Int(a &- address)]
                    out[Int(a &- address)] = softwareBreakpointInstruction[j]
                }
            }
            try backend.writeMemory(address, out)
        }
    }

    /// Removes every point from every vCPU and unpatches every software breakpoint, so the
    /// guest runs undisturbed (GDB detach, kill). The debug states follow lazily.
    public func removeAllPoints() {
        lock.withLock {
            for p in patches { try? unpatch(p) }
            patches.removeAll()
            readWatchValues.removeAll()
            _tables.removeAll()
            if !protection.isEmpty || !protection.applied.isEmpty {
                protection.removeAll()
                try? applyProtection()
                // Split slots merged back: the VM's memory map as before the first watch.
                try? backend.restoreMemorySlots()
                protection = ProtectionTable()
            }
        }
    }

    /// Leaves the guest as if never debugged: every point removed, every software breakpoint
    /// unpatched, and `KVM_SET_GUEST_DEBUG` with control 0 on each vCPU whose installed state
    /// is not already that. For a host VMM's adopted vCPUs, which live on after kvmdbg lets go
    /// (`DebugSession.close()` calls this). Call it only while no vCPU runs. Tries every vCPU
    /// and throws the first failure. The corresponding ioctl is `KVM_SET_GUEST_DEBUG`.
    public func disableDebugging() throws(DebugError) {
        removeAllPoints()
        let off = GuestDebugState.disabled(backend.arch)
        var first: DebugError? = nil
        for v in 0..<backend.vcpuCount where vcpus[v].installed != off {
            do throws(DebugError) {
                // Not counted in `setGuestDebugCalls`, which measures the syncs before runs
                // (the end event's figure); the backend's own trace still shows it.
                try backend.setGuestDebug(off, vcpu: v)
                vcpus[v].installed = off
                vcpus[v].installedKey = nil
            } catch {
                if first == nil { first = error }
            }
        }
        if let first { throw first }
    }

    /// Tells every vCPU's guest that it was held stopped (x86 KVM_KVMCLOCK_CTRL where the
    /// backend offers it), so a real guest does not report soft lockups after a long stop.
    public func notifyGuestPaused() {
        for v in 0..<backend.vcpuCount { backend.guestPaused(vcpu: v) }
    }

    // MARK: - Running

    /// True when `vcpu` sits on a point it must step over before it can go on.
    public func needsStepOver(vcpu: Int) -> Bool {
        !((try? pointsToStepOver(vcpu)) ?? []).isEmpty
    }

    /// Steps `vcpu` past the breakpoints or (arm64) watchpoint it sits on, if any, with
    /// every other point armed. Returns nil when the vCPU is ready to continue, or the
    /// event that interrupted the step-over (another point tripped, an exit, or `.kicked`).
    ///
    /// Under all-stop, callers do this while the other vCPUs are held, because a
    /// software breakpoint is briefly unpatched from shared memory meanwhile.
    public func stepOverPending(vcpu: Int) throws(DebugError) -> RunEvent? {
        try checkVCPU(vcpu)
        try checkRunnable(vcpu)
        let over = try pointsToStepOver(vcpu)
        if over.isEmpty { return nil }
        let event = try stepOver(over, vcpu: vcpu)
        switch event {
        case .kicked:
            // Kicked before the step retired: still sitting on the points (`stepOver`).
            return event
        case .exit:
            return finish(vcpu, event)
        case .stop(var s):
            // Stepping over can trip another point (a watchpoint, a step+data exit); it
            // goes through the same filter as any stop (x86 read-watch emulation).
            s.hits.removeAll { $0.reason == .singleStep }
            if !s.hits.isEmpty, let kept = try filter(s, mode: .continue) { return finish(vcpu, .stop(kept)) }
            vcpus[vcpu].lastStop = nil
            return nil
        }
    }

    /// Resumes `vcpu` until the next stop, exit or kick, syncing its debug state first if
    /// (and only if) it changed. Runs on one thread at a time per vCPU (its session thread,
    /// or the caller of a lone step).
    public func resume(vcpu: Int, mode: ResumeMode) throws(DebugError) -> RunEvent {
        try checkVCPU(vcpu)
        try checkRunnable(vcpu)
        try handBackForeignBreakpoint(vcpu)
        if mode == .step {
            let over = try pointsToStepOver(vcpu)
            if !over.isEmpty {
                // The user's step *is* the step-over.
                let event = try stepOver(over, vcpu: vcpu)
                guard case .stop(let s) = event else { return finish(vcpu, event) }
                return finish(vcpu, .stop(try filter(s, mode: .step) ?? s))
            }
        }
        if let e = try stepOverPending(vcpu: vcpu) { return e }
        while true {
            let event = try runOnce(vcpu, stepping: mode == .step, without: [])
            guard case .stop(let s) = event else { return finish(vcpu, event) }
            if let kept = try filter(s, mode: mode) { return finish(vcpu, .stop(kept)) }
            // Swallowed (a filtered read-watch write, or a software breakpoint owned by
            // another vCPU): step over it transparently and go on.
            vcpus[vcpu].lastStop = s
            if let e = try stepOverPending(vcpu: vcpu) { return e }
        }
    }

    // MARK: - Internals

    private func checkVCPU(_ vcpu: Int) throws(DebugError) {
        if vcpu < 0 || vcpu >= backend.vcpuCount { throw .noSuchVCPU(index: vcpu, count: backend.vcpuCount) }
    }

    /// With `.handBackToGuest`: when `vcpu` sits on a BRK or int3 it reported but kvmdbg did
    /// not plant (and its pc was not moved since), gives that exception to the guest now, so
    /// resuming runs the guest's own handler: arm64 through its EL1 vector
    /// (`Arm64ExceptionDelivery`), x86 with `KVM_GUESTDBG_INJECT_BP` where the kernel offers it.
    private func handBackForeignBreakpoint(_ vcpu: Int) throws(DebugError) {
        guard foreignBreakpointPolicy == .handBackToGuest else { return }
        if backend.arch == .x86_64 { return try injectForeignInt3(vcpu) }
        let st = vcpus[vcpu]
        guard let s = st.lastStop, case .arm64(let esr, _, let pc) = s.exit,
              Arm64DebugEncoding.ExceptionClass(rawValue: Arm64DebugEncoding.esrClass(esr)) == .brk64,
              s.hits.contains(where: { $0.reason == .softwareBreakpoint && $0.point == nil }) else { return }
        if st.pcWritten, try registers(vcpu: vcpu).pc != pc { return }
        st.forgetRegisters()
        try Arm64ExceptionDelivery.deliver(esr: esr, pc: pc, vcpu: vcpu, on: backend)
        st.lastStop = nil
        st.pcWritten = true
    }

    /// x86 half of `handBackForeignBreakpoint`: re-issues the vCPU's state plus INJECT_BP, which
    /// KVM queues as #BP at once; VMX/SVM re-inject it as a soft exception with the int3's
    /// length, so the guest's handler sees RIP after the int3, as on bare metal. Without the
    /// flag in `KVM_CAP_SET_GUEST_DEBUG2` the stop stays `.report` (re-reported on resume).
    private func injectForeignInt3(_ vcpu: Int) throws(DebugError) {
        let st = vcpus[vcpu]
        guard backend.capabilities.supports(.x86InjectBreakpoint),
              let s = st.lastStop, case .x86(let exception, let pc, _, _) = s.exit, exception == 3,
              s.hits.contains(where: { $0.reason == .softwareBreakpoint && $0.point == nil }) else { return }
        if st.pcWritten, try registers(vcpu: vcpu).pc != pc { return }
        let state = lock.withLock { _tables.guestDebugState(for: vcpu, stepping: false) }
        var inject = state
        inject.control.insert(.x86InjectBreakpoint)
        try issue(inject, vcpu: vcpu)
        // INJECT_BP acts once, inside the ioctl: what stays installed is `state`, so a continue
        // needs no second KVM_SET_GUEST_DEBUG (a step still re-issues with SINGLESTEP).
        st.installed = state
        st.installedKey = nil
        st.pcWritten = false
        st.lastStop = nil
    }

    /// Issues one KVM_SET_GUEST_DEBUG and counts it; the caller records what stays installed.
    private func issue(_ state: GuestDebugState, vcpu: Int) throws(DebugError) {
        try backend.setGuestDebug(state, vcpu: vcpu)
        vcpus[vcpu].setGuestDebugCalls.add(1, ordering: .relaxed)
    }

    private func finish(_ vcpu: Int, _ event: RunEvent) -> RunEvent {
        switch event {
        case .stop(let s): vcpus[vcpu].lastStop = s
        case .exit: vcpus[vcpu].lastStop = nil
        case .kicked: break  // the vCPU is where it was (`stepOver` kept a stop it still sits on)
        }
        if case .exit(let x) = event, x.endsVCPU { vcpus[vcpu].fatalExit = x }
        return event
    }

    /// The fatal exit `vcpu` stopped on (`VCPUExit.endsVCPU`), if any: it will not run again.
    public func fatalExit(of vcpu: Int) -> VCPUExit? {
        vcpu >= 0 && vcpu < vcpus.count ? vcpus[vcpu].fatalExit : nil
    }

    /// Throws `.fatalExit` when `vcpu` stopped on an exit it cannot run on from.
    private func checkRunnable(_ vcpu: Int) throws(DebugError) {
        if let x = vcpus[vcpu].fatalExit { throw .fatalExit(vcpu: vcpu, exit: x) }
    }

    private var softwareBreakpointInstruction: [UInt8] {
        switch backend.arch {
        case .x86_64: return [0xCC]                    // int3
        case .arm64: return [0x00, 0x00, 0x20, 0xD4]   // brk #0 (0xD4200000), little-endian
        }
    }

    /// Caller holds `lock`. Puts back what the guest sees at `p`: its original bytes, except
    /// where the guest stored over the breakpoint instruction meanwhile (its store stays).
    private func unpatch(_ p: SoftwarePatch) throws(DebugError) {
        let ram = try backend.readMemory(p.address, count: p.original.count)
        try backend.writeMemory(p.address, p.guestView(ram: ram, instruction: softwareBreakpointInstruction))
    }

    /// Caller holds `lock`. Whether guest-physical `a` holds a patch.
    private func isPatched(_ a: UInt64) -> Bool { patches.contains { $0.address == a } }

    /// Caller holds `lock`. The patch `vcpu` stopped on at virtual `pc`: its own, else one
    /// another vCPU planted at that virtual address (memory is shared; the hit is then
    /// swallowed by `filter` and stepped over).
    private func patchIndex(_ vcpu: Int, at pc: UInt64) -> Int? {
        patches.firstIndex { $0.serves(vcpu, at: pc) } ?? patches.firstIndex { $0.users.contains { $0.virtual == pc } }
    }

    /// Caller holds `lock`.
    private func anyVCPUArms(_ p: DebugPoint) -> Bool {
        for v in 0..<_tables.vcpuCount where _tables.isArmed(p, on: v) { return true }
        return false
    }

    /// What the vCPU must step over before it can go on: nothing unless its last stop
    /// was a breakpoint, or an arm64 watchpoint (taken before the access), and it has not
    /// moved since. Then every execute breakpoint at that pc (hardware and software:
    /// several can sit on one instruction, and stepping over one would re-fire the next
    /// forever) plus the watchpoints that fired.
    private func pointsToStepOver(_ vcpu: Int) throws(DebugError) -> [DebugPoint] {
        let st = vcpus[vcpu]
        guard let s = st.lastStop else { return [] }
        // A protection watch stop sits on nothing: its access is complete. (A code-page-hole
        // breakpoint sits on its instruction, as a hardware one does.)
        if case .protection = s.exit, !s.hits.contains(where: { $0.reason == .hardwareBreakpoint }) { return [] }
        // Most stops (steps, x86 watchpoints) sit on nothing: answer without the lock.
        let arm64 = backend.arch == .arm64
        if !s.hits.contains(where: { $0.reason == .hardwareBreakpoint || $0.reason == .softwareBreakpoint || (arm64 && $0.reason == .watchpoint) }) {
            return []
        }
        if st.pcWritten, try registers(vcpu: vcpu).pc != s.pc { return [] }
        return lock.withLock { () -> [DebugPoint] in
            var fired: [DebugPoint] = []
            var sitting = false
            for hit in s.hits {
                switch hit.reason {
                case .hardwareBreakpoint, .softwareBreakpoint:
                    sitting = true
                case .watchpoint:
                    // arm64 takes watchpoints before the access; x86 traps after it.
                    if backend.arch == .arm64, let p = hit.point, _tables.isArmed(p, on: vcpu) {
                        fired.append(p)
                        sitting = true
                    }
                default:
                    break
                }
            }
            guard sitting else { return [] }
            var out = fired
            if st.steppedOverAt == s.pc {
                for p in st.steppedOver where !out.contains(p) && _tables.isArmed(p, on: vcpu) { out.append(p) }
            }
            for p in _tables.points(on: vcpu) where p == .hardware(address: s.pc) && !out.contains(p) { out.append(p) }
            if patchIndex(vcpu, at: s.pc) != nil { out.append(.software(address: s.pc)) }
            return out
        }
    }

    /// Retires one instruction with `points` disarmed (software ones unpatched) and every
    /// other point armed, then re-patches.
    private func stepOver(_ points: [DebugPoint], vcpu: Int) throws(DebugError) -> RunEvent {
        let st = vcpus[vcpu]
        let last = st.lastStop
        let event = try stepOverOnce(points, vcpu: vcpu)
        switch event {
        case .kicked:
            // Kicked before the step retired: still on the points, which the next resume must
            // step over again, not hit again (checked by the pc: a signal may come after it).
            if let last, try backend.programCounter(vcpu: vcpu) == last.pc { st.lastStop = last }
        case .stop(let s) where s.pc == last?.pc:
            st.steppedOverAt = s.pc
            st.steppedOver = points
        default:
            st.steppedOverAt = nil
            st.steppedOver = []
        }
        return event
    }

    private func stepOverOnce(_ points: [DebugPoint], vcpu: Int) throws(DebugError) -> RunEvent {
        var restored: [UInt64] = []
        // Re-patched only while still inserted: a `remove` or `removeAllPoints` from another
        // thread during the step has already restored the original, which must stay. What
        // RAM holds now is the guest's view (its store during the step included): the new
        // original, unless a point inserted there meanwhile has planted the instruction already.
        defer {
            lock.withLock {
                for a in restored {
                    guard let i = patches.firstIndex(where: { $0.address == a }),
                          let now = try? backend.readMemory(a, count: patches[i].original.count),
                          now != softwareBreakpointInstruction else { continue }
                    patches[i].original = now
                    try? backend.writeMemory(a, softwareBreakpointInstruction)
                }
            }
        }
        for p in points {
            guard case .software(let a) = p else { continue }
            try lock.withLock { () throws(DebugError) in
                guard let i = patchIndex(vcpu, at: a) else { return }
                try unpatch(patches[i])
                restored.append(patches[i].address)
            }
        }
        return try runOnce(vcpu, stepping: true, without: points)
    }

    /// Installs the vCPU's state if it differs from what it has, runs once, decodes. Exits
    /// that belong to protection watchpoints (an access to a protected page, a fetch from a
    /// hole) are completed here and the vCPU runs on, unless a watch matched: then that is the stop.
    private func runOnce(_ vcpu: Int, stepping: Bool, without: [DebugPoint]) throws(DebugError) -> RunEvent {
        // Used once: the first such exit is the reported access; a later one is the next.
        var nisvReported = vcpus[vcpu].nisvReportedAt
        vcpus[vcpu].nisvReportedAt = nil
        vcpus[vcpu].mmioPending = false
        while true {
            try syncState(vcpu, stepping: stepping, without: without)
            let st = vcpus[vcpu]
            st.lastStop = nil
            st.forgetRegisters()
            let exit = try runProtected(vcpu)
            switch exit {
            case .debug(let d):
                return .stop(decode(d, vcpu: vcpu))
            case .mmio(let a, let w, let l, let pc) where protectionUsed.load(ordering: .relaxed):
                guard let old = try? backend.readMemory(a, count: l) else { return .exit(exit) }
                if let s = try protectedAccess(vcpu, address: a, isWrite: w, length: l, pc: pc, old: old,
                                               stepping: stepping, without: without) {
                    return .stop(s)
                }
            case .armNISV(let ipa, let iss, let pc) where protectionUsed.load(ordering: .relaxed):
                let reported = pc == nisvReported
                nisvReported = nil
                if let e = try unsyndromedAccess(vcpu, address: ipa, isWrite: iss & Self.esrWnR != 0, pc: pc, exit: exit,
                                                 reported: reported, stepping: stepping, without: without) {
                    return e
                }
            case .internalError(1, _) where protectionUsed.load(ordering: .relaxed):
                let pages = try holesFetched(vcpu)
                if pages.isEmpty { return .exit(exit) }
                if let s = try holeBreakpoint(vcpu, without: without) { return .stop(s) }
                if let e = try stepThroughHoles(vcpu, pages: pages, stepping: stepping) { return e }
            case .interrupted:
                return .kicked
            default:
                return .exit(exit)
            }
        }
    }

    /// Installs on every stopped vCPU whose table changed the state a run with `stepping` and no
    /// point stepped over would install (`DebugSession.preinstallDebugState`). The caller
    /// guarantees no vCPU runs. Failures are ignored: the next run syncs again and throws.
    /// The corresponding ioctl is `KVM_SET_GUEST_DEBUG`.
    public func preinstallDebugState(stepping: Bool) {
        for v in 0..<backend.vcpuCount where vcpus[v].fatalExit == nil && lock.withLock({ _tables.dirty[v] }) {
            try? syncState(v, stepping: stepping, without: [])
        }
    }

    /// Installs the vCPU's debug state if it differs from what it has.
    private func syncState(_ vcpu: Int, stepping: Bool, without: [DebugPoint]) throws(DebugError) {
        let st = vcpus[vcpu]
        let blockIRQ = blockIRQSupported && blockInterruptsWhileStepping
        let key = InstalledKey(stepping: stepping, without: without, blockIRQ: blockIRQ)
        // x86: KVM re-applies TF only while RIP equals the RIP it saw at the last
        // KVM_SET_GUEST_DEBUG, so a pc write forces a re-issue before a step.
        // The same after a step whose store exited as MMIO (`stepTrapStale`).
        let forced = (st.pcWritten || st.stepTrapStale) && stepping
        let sync: (GuestDebugState, EncodedDebugRegisters)? = lock.withLock {
            if _tables.dirty[vcpu] {
                st.built.removeAll(keepingCapacity: true)
            } else if st.installedKey == key && !forced {
                return nil
            }
            _tables.markSynced(vcpu)
            // Continuing past a breakpoint alternates two states (without it + step, all
            // armed): while the table is unchanged, reuse them instead of re-encoding.
            if let b = st.built.first(where: { $0.key == key }) { return (b.state, b.layout) }
            let layout = _tables.encoded(for: vcpu, without: without)
            let state = _tables.guestDebugState(for: vcpu, stepping: stepping, encoded: layout, blockIRQ: blockIRQ)
            if st.built.count == VCPUDebugState.builtLimit { st.built.removeFirst() }
            st.built.append(BuiltState(key: key, state: state, layout: layout))
            return (state, layout)
        }
        if let (state, layout) = sync {
            if state != st.installed || forced {
                try issue(state, vcpu: vcpu)
                st.installed = state
                st.pcWritten = false
                st.stepTrapStale = false
            }
            st.layout = layout
            st.installedKey = key
        }
    }

    // MARK: - Protection watchpoints (KVM_EXIT_MMIO on a protected page)

    /// ESR ISS bit 6, WnR: the aborted access was a write (kept in KVM_EXIT_ARM_NISV's esr_iss).
    static var esrWnR: UInt64 { 1 << 6 }

    /// KVM_RUN, with arm64's ENOSYS on a protected page explained: KVM fails the run so for an
    /// access without a valid syndrome when the VM has no KVM_CAP_ARM_NISV_TO_USER (io_mem_abort).
    private func runProtected(_ vcpu: Int) throws(DebugError) -> VCPUExit {
        do throws(DebugError) {
            return try backend.run(vcpu: vcpu)
        } catch {
            if case .system("KVM_RUN", 38) = error, backend.arch == .arm64, protectionUsed.load(ordering: .relaxed) {
                throw .unsupported(reason: "vCPU \(vcpu) made an access without a valid syndrome (ldp/stp, writeback, SIMD) to memory KVM cannot describe, and KVM_RUN failed with ENOSYS: this VM does not report such accesses (KVM_CAP_ARM_NISV_TO_USER), so a protection watchpoint cannot complete it; remove the protection watchpoints or use a kernel that offers the capability")
            }
            throw error
        }
    }

    /// arm64 KVM_EXIT_ARM_NISV on a page kvmdbg protected: an access KVM cannot describe (ldp/stp,
    /// writeback, SIMD: no size, no data; the instruction has not run). Its size being unknown,
    /// it is taken to cover `fault_ipa` to the end of its page: a watch there is a stop before
    /// the access, as an arm64 watchpoint's (pc at the instruction, old value read now, new value
    /// unknown). Otherwise, or when resuming from that stop (`reported`), the page gets its
    /// ordinary slot back, this vCPU steps that one instruction (other vCPUs running meanwhile are
    /// not watched on that page), and the page is protected again. Returns the event to report,
    /// or nil to run on.
    private func unsyndromedAccess(_ vcpu: Int, address a: UInt64, isWrite: Bool, pc: UInt64, exit: VCPUExit, reported: Bool,
                                   stepping: Bool, without: [DebugPoint]) throws(DebugError) -> RunEvent? {
        let page = a & ~(PageProtection.pageSize - 1)
        guard lock.withLock({ protection.applied[page] != nil }) else { return .exit(exit) }
        let span = page &+ PageProtection.pageSize &- a
        if !reported {
            let found = try accessHits(vcpu, address: a, length: span, isWrite: isWrite, without: without)
            if !found.isEmpty {
                let now = try backend.readMemory(a, count: Int(span))
                let hits = found.map { h in
                    let old = Array(now[Int(h.physical &- a)..<Int(h.physical &- a &+ h.count)])
                    // A load gets the bytes as they are; a store's are not known before it runs.
                    return StopHit(reason: .watchpoint, point: h.point, address: h.address, accessWasWrite: isWrite,
                                   oldValue: old, newValue: isWrite ? nil : old)
                }
                vcpus[vcpu].nisvReportedAt = pc
                return .stop(Stop(vcpu: vcpu, pc: pc, hits: hits,
                                  exit: .protection(address: a, isWrite: isWrite, length: 0, pc: pc)))
            }
        }
        try lock.withLock { () throws(DebugError) in
            protection.lifted[page, default: 0] += 1
            try applyProtection()
        }
        defer {
            lock.withLock {
                protection.lifted[page, default: 1] -= 1
                if protection.lifted[page] == 0 { protection.lifted[page] = nil }
                try? applyProtection()
            }
        }
        let event = try runOnce(vcpu, stepping: true, without: without)
        guard case .stop(var s) = event else { return event }
        // The step was ours: only a user's step reports it.
        if !stepping { s.hits.removeAll { $0.reason == .singleStep } }
        return s.hits.isEmpty ? nil : .stop(s)
    }

    /// arm64: completes an access KVM still has pending at a protection watch stop (a kick, then
    /// KVM_RUN: KVM finishes it before it looks at immediate_exit), so a register write is not
    /// followed by KVM moving the written PC past the access.
    private func completePendingAccess(_ vcpu: Int) throws(DebugError) {
        let st = vcpus[vcpu]
        guard st.mmioPending else { return }
        st.mmioPending = false
        backend.kick(vcpu: vcpu)
        st.forgetRegisters()
        let e = try backend.run(vcpu: vcpu)
        guard e == .interrupted else {
            throw .unsupported(reason: "completing vCPU \(vcpu)'s pending access before a register write gave \(e.name), not a kick: the write was not made")
        }
    }

    /// Completes the guest's access to a protected page exactly as the page would have (a
    /// store is written, a load gets the page's bytes) and returns the watch stop it makes,
    /// or nil when no watch of this vCPU matched (the vCPU runs on).
    private func protectedAccess(_ vcpu: Int, address a: UInt64, isWrite: Bool, length l: Int, pc: UInt64,
                                 old: [UInt8], stepping: Bool, without: [DebugPoint]) throws(DebugError) -> Stop? {
        var hits = try completeAccess(vcpu, address: a, isWrite: isWrite, length: l, old: old, without: without)
        let exit = DebugExit.protection(address: a, isWrite: isWrite, length: l, pc: pc)
        // arm64 reports a watch stop before the access, as its watchpoints do (gdb and lldb step
        // over it): the access stays pending in KVM, completed by the next KVM_RUN whatever it is
        // (kvm_handle_mmio_return moves the PC past it; while stepping, kvm_skip_instr leaves the
        // step active-pending, so the step ends right after it). A store's bytes are already in
        // memory (written above), a load's value in kvm_run.mmio.data.
        if backend.arch == .arm64 {
            if hits.isEmpty { return nil }
            vcpus[vcpu].mmioPending = true
            return Stop(vcpu: vcpu, pc: pc, hits: hits, exit: exit)
        }
        // KVM's emulator ends the instruction with __kvm_set_rflags on flags kvm_get_rflags
        // stripped of KVM's TF, which it adds back only at the RIP of the last
        // KVM_SET_GUEST_DEBUG (x86.c): on VMX/SVM the next step would run free (measured on
        // kvm_amd, x86 lane long/survive), so it re-issues the state first.
        if stepping { vcpus[vcpu].stepTrapStale = true }
        // x86: KVM drops the single-step trap of an instruction whose store exited (x86.c,
        // complete_emulated_mmio: "FIXME: return into emulator if single-stepping"): the store
        // has retired, so a step ends here, reported as the step it was.
        if isWrite {
            if stepping { hits.append(StopHit(reason: .singleStep)) }
            return hits.isEmpty ? nil : Stop(vcpu: vcpu, pc: pc, hits: hits, exit: exit)
        }
        if hits.isEmpty { return nil }
        // Report a load trap-like: retired first (KVM ignores register writes while it is
        // pending). KVM completes it before it looks at immediate_exit; a step's trap comes with
        // it, and so does the instruction's next access (a read-modify-write's store, a load's
        // part on the next page), completed here too.
        while true {
            backend.kick(vcpu: vcpu)
            // Registers read while matching (a page walk) are stale once the access completes.
            vcpus[vcpu].forgetRegisters()
            let after = try backend.run(vcpu: vcpu)
            if case .debug(let d) = after, stepping {
                hits += decode(d, vcpu: vcpu).hits.filter { $0.reason == .singleStep }
            }
            guard case .mmio(let a2, let w2, let l2, _) = after, let old2 = try? backend.readMemory(a2, count: l2) else { break }
            hits += try completeAccess(vcpu, address: a2, isWrite: w2, length: l2, old: old2, without: without)
            if w2 {
                if stepping { hits.append(StopHit(reason: .singleStep)) }
                break  // a store leaves nothing pending
            }
        }
        let at = try backend.programCounter(vcpu: vcpu)
        return Stop(vcpu: vcpu, pc: at, hits: hits, exit: .protection(address: a, isWrite: false, length: l, pc: at))
    }

    /// Does the access KVM exited for (writes a store's bytes; supplies a load's) and returns
    /// the watch hits it makes on this vCPU, lowest address first.
    private func completeAccess(_ vcpu: Int, address a: UInt64, isWrite: Bool, length l: Int,
                                old: [UInt8], without: [DebugPoint]) throws(DebugError) -> [StopHit] {
        let new: [UInt8]
        if isWrite {
            // KVM reports the store's bytes; it has not happened. A store over a planted
            // int3 updates the saved original (writeMemory), as a debugger write does.
            new = backend.mmioData(vcpu: vcpu, length: l)
            guard new.count == l else {
                throw .unsupported(reason: "the backend gave \(new.count) of the \(l) bytes vCPU \(vcpu) stored at \(hex(a)) (kvm_run.mmio.data)")
            }
            try writeMemory(a, new)
        } else {
            // A load gets the bytes as they are (planted int3s included, as from RAM).
            new = old
            backend.setMMIOData(old, vcpu: vcpu)
        }
        return try accessHits(vcpu, address: a, length: UInt64(l), isWrite: isWrite, without: without).map {
            StopHit(reason: .watchpoint, point: $0.point, address: $0.address, accessWasWrite: isWrite,
                    oldValue: old, newValue: new)
        }
    }

    /// The watches of this vCPU an access to `[a, a+length)` matches, lowest address first:
    /// protection watches, and debug-register watches not in `without` (being stepped over).
    private func accessHits(_ vcpu: Int, address a: UInt64, length l: UInt64, isWrite: Bool,
                            without: [DebugPoint]) throws(DebugError) -> [ProtectionHit] {
        var (found, hardware, t) = lock.withLock { () -> ([ProtectionHit], [DebugPoint], ((UInt64, Int, Debugger<Backend>) throws(DebugError) -> UInt64)?) in
            (protection.hits(vcpu: vcpu, address: a, length: l, isWrite: isWrite).filter { _tables.isArmed($0.point, on: vcpu) },
             _tables.hardwarePoints(on: vcpu).filter { $0.isWatch && !without.contains($0) }, translator)
        }
        // x86: KVM's emulator does not check data breakpoints; arm64: a stage-2 abort may be
        // taken before the watchpoint. A hardware watch on a page that is protected for
        // another watch is matched here, as protection would.
        if !hardware.isEmpty {
            var table = ProtectionTable()
            for p in hardware {
                guard case .watch(let va, let n, _) = p else { continue }
                let rs = try t.map { (t) throws(DebugError) in
                    try Self.physicalRanges(va, n, vcpu: vcpu) { (a, v) throws(DebugError) in try t(a, v, self) }
                }
                    ?? [ProtectedRange(physical: va, length: n, virtual: va)]
                table.add(p, ranges: [vcpu: rs])
            }
            found += table.hits(vcpu: vcpu, address: a, length: l, isWrite: isWrite)
        }
        // The lowest watched byte first, as DR6's lowest slot is for a hardware stop.
        found.sort { $0.address < $1.address }
        return found
    }

    /// `va` as guest-physical for `vcpu` through translator `t` (the caller's copy of
    /// `translator`), or `va` itself without one (no page walker given).
    private func physical(_ va: UInt64, vcpu: Int,
                          _ t: ((UInt64, Int, Debugger<Backend>) throws(DebugError) -> UInt64)?) throws(DebugError) -> UInt64 {
        guard let t else { return va }
        return try t(va, vcpu, self)
    }

    /// After an emulation failure: the hole pages the vCPU was fetching from (the pc's, and the
    /// next one for an instruction that may straddle into it), if kvmdbg made them; none: the
    /// guest's own failure, reported as it is.
    private func holesFetched(_ vcpu: Int) throws(DebugError) -> [UInt64] {
        let pc = try backend.programCounter(vcpu: vcpu)
        let t = lock.withLock { translator }
        var pages: [UInt64] = []
        // x86's longest instruction is 15 bytes.
        for va in [pc, pc &+ 14] where pages.isEmpty || va & ~(PageProtection.pageSize - 1) != pc & ~(PageProtection.pageSize - 1) {
            guard let pa = try? physical(va, vcpu: vcpu, t) else { continue }
            pages.append(pa & ~(PageProtection.pageSize - 1))
        }
        return lock.withLock { pages.filter { protection.applied[$0] == .hole } }
    }

    /// The execute breakpoint a fetch exit is (the vCPU fetched its address from its hole), unless
    /// it is being stepped over (`without`): a stop at the breakpoint, the instruction not run.
    private func holeBreakpoint(_ vcpu: Int, without: [DebugPoint]) throws(DebugError) -> Stop? {
        let pc = try backend.programCounter(vcpu: vcpu)
        let t = lock.withLock { translator }
        let pa = try physical(pc, vcpu: vcpu, t)
        guard let p = lock.withLock({ () -> DebugPoint? in
            guard let p = protection.breakpoint(vcpu: vcpu, physical: pa, virtual: pc),
                  _tables.isArmed(p, on: vcpu), !without.contains(p) else { return nil }
            return p
        }) else { return nil }
        return Stop(vcpu: vcpu, pc: pc, hits: [StopHit(reason: .hardwareBreakpoint, point: p, address: nil)],
                    exit: .protection(address: pa, isWrite: false, length: 0, pc: pc))
    }

    /// Code on a watched page keeps running: the hole is filled in (read-only, so stores still
    /// trap), one instruction is stepped, and the hole comes back. That instruction's own
    /// load from the page is not seen. Returns the event to report, or nil to run on.
    private func stepThroughHoles(_ vcpu: Int, pages: [UInt64], stepping: Bool) throws(DebugError) -> RunEvent? {
        try lock.withLock { () throws(DebugError) in
            for page in pages { protection.filled[page, default: 0] += 1 }
            try applyProtection()
        }
        defer {
            lock.withLock {
                for page in pages {
                    protection.filled[page, default: 1] -= 1
                    if protection.filled[page] == 0 { protection.filled[page] = nil }
                }
                try? applyProtection()
            }
        }
        let event = try runOnce(vcpu, stepping: true, without: [])
        guard case .stop(var s) = event else { return event }
        // The step was ours: only a user's step reports it.
        if !stepping { s.hits.removeAll { $0.reason == .singleStep } }
        return s.hits.isEmpty ? nil : .stop(s)
    }

    private func decode(_ d: DebugExit, vcpu: Int) -> Stop {
        let slots = vcpus[vcpu].layout.slots
        var hits: [StopHit]
        switch d {
        case .x86(let exception, let pc, let dr6, _):
            hits = X86DebugEncoding.decode(exception: exception, pc: pc, dr6: dr6, slots: slots)
        case .arm64(let esr, let far, let pc):
            hits = Arm64DebugEncoding.decode(esr: esr, far: far, pc: pc, slots: slots)
        case .protection:
            hits = []  // made by `protectedAccess`, never decoded
        }
        // Only a software-breakpoint hit needs the patch list (and its lock).
        if hits.contains(where: { $0.reason == .softwareBreakpoint }) {
            let patched = lock.withLock { patchIndex(vcpu, at: d.pc) != nil }
            for i in hits.indices where hits[i].reason == .softwareBreakpoint && !patched {
                hits[i].point = nil  // a BRK/int3 we did not patch in is the guest's own
            }
        }
        return Stop(vcpu: vcpu, pc: d.pc, hits: hits, exit: d)
    }

    /// Drops hits the user did not ask for; nil when nothing is left to report.
    private func filter(_ s: Stop, mode: ResumeMode) throws(DebugError) -> Stop? {
        // Nothing to judge (no planted int3/BRK, no x86 read watch): the stop stands as is.
        let x86 = backend.arch == .x86_64
        if !s.hits.isEmpty && !s.hits.contains(where: { hit in
            switch hit.reason {
            case .softwareBreakpoint: return hit.point != nil
            case .watchpoint:
                if x86, let p = hit.point, case .watch(_, _, .read) = p { return true }
                return false
            default: return false
            }
        }) { return s }
        var out = s
        out.hits = []
        for hit in s.hits {
            switch hit.reason {
            case .softwareBreakpoint:
                // Patched for another vCPU (memory is shared): not this vCPU's stop.
                if let p = hit.point, !lock.withLock({ _tables.isArmed(p, on: s.vcpu) }) { continue }
            case .watchpoint:
                if let p = hit.point, case .watch(let a, let l, .read) = p, backend.arch == .x86_64 {
                    // x86 has no read-only watchpoint: an access hit whose bytes changed was a write.
                    let now = try backend.readMemory(a, count: Int(l))
                    let changed = lock.withLock { () -> Bool in
                        guard let i = readWatchValues.firstIndex(where: { $0.point == p }) else { return false }
                        let changed = readWatchValues[i].value != now
                        readWatchValues[i].value = now
                        return changed
                    }
                    if changed { continue }
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
