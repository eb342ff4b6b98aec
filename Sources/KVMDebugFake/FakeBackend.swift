import KVMDebugModel
import KVMDebugSession

/// A pure-Swift stand-in for `/dev/kvm`: KVM's ABI checks for KVM_SET_GUEST_DEBUG
/// plus a tiny interpreter per architecture whose debug exits follow the
/// architecture's rules (Intel SDM DR6/DR7; Arm ARM DBGBCR/DBGWCR), so kvmdbg's
/// encoders are checked against the architecture rather than against themselves.
///
/// Threading: guest memory and the call trace are locked; each vCPU's state belongs
/// to the thread that runs it (as with KVM's vCPU fds); `kick` works from any thread.
public final class FakeBackend: DebugBackend, @unchecked Sendable {
    public let arch: Arch
    public let vcpuCount: Int

    /// The fake's one RAM range (the guest's `memoryBase`, `memorySize`), as KVM's memslot would be.
    public var ramRegions: [RAMRegion]? { [RAMRegion(base: memory.base, size: memory.size)] }
    public var capabilities: Capabilities
    /// If set, `run` returns `.interrupted` after this many instructions (a test
    /// safety net); nil runs until an exit or a kick.
    public var maxInstructionsPerRun: Int?
    /// Called on the vCPU's thread after every KVM_RUN that got to the guest, with the vCPU's
    /// index and the instructions the run retired: lets a harness bound a round by
    /// instructions instead of time (the fuzzer's rounds).
    public var runFinished: (@Sendable (_ vcpu: Int, _ instructions: Int) -> Void)?
    /// The guest this VM was built from.
    public let guest: Guest

    private let memory: FakeMemory
    /// RAM as `init` loaded it, built by the first `reset` (a VM never reset pays nothing).
    private var initialMemory: FakeMemory?
    /// arm64 breakpoint and watchpoint slots per vCPU, for `reset`.
    private let slots: (breakpoints: Int, watchpoints: Int)
    private let vcpus: [FakeVCPU]
    private let calls = DebugLocked<[FakeCall]>([])
    /// Injected faults, per vCPU, oldest first.
    private let faults: DebugLocked<[[FakeFault]]>

    /// Builds a VM with `vcpus` vCPUs, all at `guest.entry`, and the guest's RAM loaded.
    ///
    /// `hardwareBreakpoints`/`hardwareWatchpoints` are arm64's HW_BPS/HW_WPS
    /// (default 6/4, as measured on the QEMU lane); x86 always has DR0-DR3.
    /// `x86AVX` gives x86 vCPUs the AVX XSAVE component (KVM's ABI: YMM_Hi128 in the XSAVE
    /// area), as a vCPU whose CPUID offers AVX has; off by default, like this host's PVM.
    /// `arm64SVEQuadwords` (1...16) creates arm64 vCPUs with SVE of that vector length (KVM's
    /// ONE_REG ABI for Z/P/FFR/VLS; the V ids refused); nil by default: no SVE.
    public init(guest: Guest, vcpus: Int = 1, hardwareBreakpoints: Int = 6, hardwareWatchpoints: Int = 4,
                x86AVX: Bool = false, arm64SVEQuadwords: Int? = nil) throws(DebugError) {
        try guest.validate()
        let maxVCPUs = guest.arch == .x86_64 ? 1024 : 512
        guard vcpus >= 1, vcpus <= maxVCPUs else {
            throw .unsupported(reason: "the fake backend runs 1...\(maxVCPUs) vCPUs for \(guest.arch.name), not \(vcpus)")
        }
        try guest.arch.validate(mode: guest.mode)
        if let vq = arm64SVEQuadwords, guest.arch != .arm64 || !(1...Arm64SVERegister.maxVQ).contains(vq) {
            throw .unsupported(reason: "SVE is an arm64 feature of 1...\(Arm64SVERegister.maxVQ) quadwords (128...2048 bits), not \(vq) on \(guest.arch.name)")
        }
        switch guest.arch {
        case .x86_64:
            capabilities = Capabilities(
                arch: .x86_64, setGuestDebug: true, supportedControl: .x86ValidMask, slots: .x86,
                reportedHardwareBreakpoints: 0, reportedHardwareWatchpoints: 0, maxVCPUs: maxVCPUs,
                backend: "fake", notes: ["fake: models VMX hardware debug (RF honoured, data breakpoints fire)"])
        case .arm64:
            guard (0...16).contains(hardwareBreakpoints), (0...16).contains(hardwareWatchpoints) else {
                throw .unsupported(reason: "arm64 has 0...16 breakpoint and watchpoint slots (KVM_ARM_MAX_DBG_REGS), not \(hardwareBreakpoints)/\(hardwareWatchpoints)")
            }
            capabilities = Capabilities(
                arch: .arm64, setGuestDebug: true, supportedControl: .arm64ValidMask,
                slots: SlotCapacity(breakpoints: hardwareBreakpoints, watchpoints: hardwareWatchpoints),
                reportedHardwareBreakpoints: hardwareBreakpoints, reportedHardwareWatchpoints: hardwareWatchpoints,
                maxVCPUs: maxVCPUs, backend: "fake", notes: ["fake: models QEMU's Armv8 debug (FAR = max(access, watched start))"])
        }
        capabilities.x86AVX = guest.arch == .x86_64 && x86AVX
        capabilities.arm64SVEQuadwords = arm64SVEQuadwords
        self.guest = guest
        arch = guest.arch
        vcpuCount = vcpus
        memory = FakeMemory(guest: guest)
        faults = DebugLocked([[FakeFault]](repeating: [], count: vcpus))
        slots = (hardwareBreakpoints, hardwareWatchpoints)
        self.vcpus = (0..<vcpus).map { i in
            FakeVCPU(index: i, cpu: Self.resetCPU(i, guest: guest, breakpoints: hardwareBreakpoints, watchpoints: hardwareWatchpoints,
                                                  x86AVX: x86AVX, sveVQ: arm64SVEQuadwords))
        }
    }

    /// vCPU `index` as KVM creates it: at the guest's entry, debugging off, FP/SIMD and the
    /// guest's own debug registers at their reset values.
    private static func resetCPU(_ index: Int, guest: Guest, breakpoints: Int, watchpoints: Int, x86AVX: Bool,
                                 sveVQ: Int?) -> any FakeCPU {
        let cpu: any FakeCPU = guest.arch == .x86_64
            ? FakeX86CPU(index: index, mode: guest.mode, entry: guest.entry, pageTables: X86Boot.tablesBase(for: guest),
                         stack: X86Boot.initialStackPointer(for: guest))
            : FakeArm64CPU(index: index, entry: guest.entry, breakpoints: breakpoints, watchpoints: watchpoints, sveVQ: sveVQ)
        (cpu as? FakeX86CPU)?.fpu.avx = x86AVX
        return cpu
    }

    /// Puts the VM back as `init` built it, without rebuilding it: RAM as loaded (only the
    /// pages written since are copied back), every vCPU reset with debugging off, no pending
    /// kick, fault, memory-slot protection or recorded call. For callers that run many short sessions on one VM (the
    /// fuzzer); call it only while no vCPU runs (no session open on it).
    public func reset() {
        let initial = initialMemory ?? FakeMemory(guest: guest)
        initialMemory = initial
        memory.restore(from: initial)
        memory.clearProtections()
        for v in vcpus {
            v.cpu = Self.resetCPU(v.index, guest: guest, breakpoints: slots.breakpoints, watchpoints: slots.watchpoints,
                                  x86AVX: capabilities.x86AVX, sveVQ: capabilities.arm64SVEQuadwords)
            (v.cpu as? FakeArm64CPU)?.nisvToUser = arm64NISVToUser
            v.installed = nil
            _ = v.kick.consume()
        }
        faults.withLock { f in for i in f.indices { f[i].removeAll() } }
        clearTrace()
    }

    private func vcpu(_ index: Int) throws(DebugError) -> FakeVCPU {
        guard index >= 0, index < vcpus.count else { throw .noSuchVCPU(index: index, count: vcpus.count) }
        return vcpus[index]
    }

    private func record(_ call: FakeCall) {
        calls.withLock { $0.append(call) }
    }

    // MARK: DebugBackend

    public func setGuestDebug(_ state: GuestDebugState, vcpu index: Int) throws(DebugError) {
        let v = try vcpu(index)
        record(.setGuestDebug(vcpu: index, state: state))
        try failIfInjected(.setGuestDebug, vcpu: index)
        try v.cpu.install(state)
        v.installed = state
    }

    public func run(vcpu index: Int) throws(DebugError) -> VCPUExit {
        let v = try vcpu(index)
        record(.run(vcpu: index))
        switch takeFault(vcpu: index, { f in
            if case .exit = f { return true }
            if case .fail(.run, _) = f { return true }
            return false
        }) {
        case .exit(let e)?: return e
        case .fail(_, let e)?:
            if e == FakeErrno.eintr || e == FakeErrno.eagain { return .interrupted }
            throw kvmError("KVM_RUN", e)
        case nil: break
        }
        var budget = FakeRunBudget(limit: maxInstructionsPerRun, kick: v.kick)
        let exit = try v.cpu.run(memory: memory, budget: &budget)
        runFinished?(index, budget.executed)
        return exit
    }

    public func programCounter(vcpu index: Int) throws(DebugError) -> UInt64 {
        let v = try vcpu(index)
        record(.getRegisters(vcpu: index))
        try failIfInjected(.getRegisters, vcpu: index)
        return v.cpu.programCounter
    }

    public func registers(vcpu index: Int) throws(DebugError) -> RegisterFile {
        let v = try vcpu(index)
        record(.getRegisters(vcpu: index))
        try failIfInjected(.getRegisters, vcpu: index)
        return v.cpu.registerFile
    }

    public func setRegisters(_ file: RegisterFile, vcpu index: Int) throws(DebugError) {
        let v = try vcpu(index)
        guard file.arch == arch else { throw kvmError("KVM_SET_REGS", FakeErrno.einval) }
        record(.setRegisters(vcpu: index))
        try failIfInjected(.setRegisters, vcpu: index)
        try v.cpu.setRegisterFile(file)
    }

    /// x86: the fake's KVM_GET_XSAVE area decoded by kvmdbg's `X86FPRegisterFile`; arm64: each
    /// `Arm64FPRegister` id asked of the fake's ONE_REG model.
    public func floatingPointRegisters(vcpu index: Int) throws(DebugError) -> FPRegisterFile {
        let v = try vcpu(index)
        record(.getFPRegisters(vcpu: index))
        switch arch {
        case .x86_64:
            return .x86_64(X86FPRegisterFile(xsave: v.x86FPU.xsave(), hasAVX: capabilities.x86AVX))
        case .arm64:
            if let vq = capabilities.arm64SVEQuadwords {
                var sve = Arm64SVERegisters(vq: vq)
                for r in Arm64SVERegister.all {
                    guard let bytes = try v.arm64FPU.get(r.kvmID), bytes.count == r.bytes else { throw kvmError("KVM_GET_ONE_REG", FakeErrno.enoent) }
                    r.store(bytes, into: &sve)
                }
                let word = { (r: Arm64FPRegister) throws(DebugError) -> UInt32 in
                    guard let b = try v.arm64FPU.get(r.kvmID), b.count == 4 else { throw kvmError("KVM_GET_ONE_REG", FakeErrno.enoent) }
                    return b.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << UInt32(8 * $1.offset) }
                }
                return .arm64(Arm64FPRegisterFile(sve: sve, fpsr: try word(.fpsr), fpcr: try word(.fpcr)))
            }
            var f = Arm64FPRegisterFile()
            for r in Arm64FPRegisterFile.all {
                guard let bytes = try v.arm64FPU.get(r.kvmID), bytes.count == r.bytes else {
                    throw kvmError("KVM_GET_ONE_REG", FakeErrno.enoent)
                }
                f[r] = bytes.enumerated().reduce(UInt128(0)) { $0 | UInt128($1.element) << UInt128(8 * $1.offset) }
            }
            return .arm64(f)
        }
    }

    /// x86: KVM_GET_XSAVE, the fields stored, KVM_SET_XSAVE (the fake's checks); arm64: one
    /// KVM_SET_ONE_REG per register.
    public func setFloatingPointRegisters(_ file: FPRegisterFile, vcpu index: Int) throws(DebugError) {
        let v = try vcpu(index)
        guard file.arch == arch else { throw kvmError(arch == .x86_64 ? "KVM_SET_XSAVE" : "KVM_SET_ONE_REG", FakeErrno.einval) }
        record(.setFPRegisters(vcpu: index))
        switch file {
        case .x86_64(let f):
            var area = v.x86FPU.xsave()
            f.store(intoXSAVE: &area)
            try v.x86FPU.load(xsave: area)
        case .arm64(let f):
            var fpu = v.arm64FPU
            if let sve = f.sveToWrite {
                for r in Arm64SVERegister.all {
                    guard try fpu.set(r.kvmID, r.slice(r.value(in: sve))) else { throw kvmError("KVM_SET_ONE_REG", FakeErrno.enoent) }
                }
                for r in [Arm64FPRegister.fpsr, .fpcr] {
                    let bytes = (0..<r.bytes).map { UInt8(truncatingIfNeeded: f[r] >> UInt128(8 * $0)) }
                    guard try fpu.set(r.kvmID, bytes) else { throw kvmError("KVM_SET_ONE_REG", FakeErrno.enoent) }
                }
                v.arm64FPU = fpu
                return
            }
            for r in Arm64FPRegisterFile.all {
                let bytes = (0..<r.bytes).map { UInt8(truncatingIfNeeded: f[r] >> UInt128(8 * $0)) }
                guard try fpu.set(r.kvmID, bytes) else { throw kvmError("KVM_SET_ONE_REG", FakeErrno.enoent) }
            }
            v.arm64FPU = fpu
        }
    }

    /// x86: KVM_GET_DEBUGREGS; arm64: each debug system register id asked of the fake.
    public func guestDebugRegisters(vcpu index: Int) throws(DebugError) -> GuestOwnDebugRegisters {
        let v = try vcpu(index)
        record(.getGuestDebugRegisters(vcpu: index))
        let g = v.guestDebug
        switch arch {
        case .x86_64:
            var r = X86GuestDebugRegisters()
            r.address = g.db
            r.dr6 = g.dr6
            r.dr7 = g.dr7
            return .x86(r)
        case .arm64:
            var r = Arm64GuestDebugRegisters(breakpoints: capabilities.reportedHardwareBreakpoints,
                                             watchpoints: capabilities.reportedHardwareWatchpoints)
            for (id, _) in r.byID {
                guard let value = g.getArm64(id) else { throw kvmError("KVM_GET_ONE_REG", FakeErrno.enoent) }
                _ = r.set(id: id, value)
            }
            return .arm64(r)
        }
    }

    /// x86: KVM_SET_DEBUGREGS; arm64: one KVM_SET_ONE_REG per register.
    public func setGuestDebugRegisters(_ registers: GuestOwnDebugRegisters, vcpu index: Int) throws(DebugError) {
        let v = try vcpu(index)
        record(.setGuestDebugRegisters(vcpu: index))
        var g = v.guestDebug
        switch (registers, arch) {
        case (.x86(let r), .x86_64):
            try g.setX86(db: r.address, dr6: r.dr6, dr7: r.dr7, flags: 0)
        case (.arm64(let r), .arm64):
            for (id, value) in r.byID where !g.setArm64(id, value) { throw kvmError("KVM_SET_ONE_REG", FakeErrno.enoent) }
        default:
            throw kvmError(arch == .x86_64 ? "KVM_SET_DEBUGREGS" : "KVM_SET_ONE_REG", FakeErrno.einval)
        }
        v.guestDebug = g
    }

    public func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8] {
        guard let bytes = memory.read(address, count) else {
            throw .badGuestAddress(address: address, length: UInt64(max(count, 0)))
        }
        return bytes
    }

    public func writeMemory(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError) {
        // The interpreters fetch from this same memory, so no I-cache maintenance is needed.
        guard memory.write(address, bytes) else {
            throw .badGuestAddress(address: address, length: UInt64(bytes.count))
        }
    }

    // MARK: Page protection (the memory slots KVM_SET_USER_MEMORY_REGION would change)

    /// arm64: whether the VM has KVM_CAP_ARM_NISV_TO_USER enabled, as kvmdbg's KVM backend
    /// enables it where the kernel offers it (true by default). Off, an ldp/stp (no valid
    /// syndrome) to a protected page fails KVM_RUN with ENOSYS, and protection is refused as on such a kernel.
    public var arm64NISVToUser = true {
        didSet { for v in vcpus { (v.cpu as? FakeArm64CPU)?.nisvToUser = arm64NISVToUser } }
    }

    public var pageProtectionUnavailable: String? {
        arch == .arm64 && !arm64NISVToUser
            ? "this kernel cannot report arm64 accesses without a valid syndrome (KVM_CAP_ARM_NISV_TO_USER is 0): an ldp/stp to a protected page would end KVM_RUN with ENOSYS"
            : nil
    }

    /// Changes the page's slot as KVM_SET_USER_MEMORY_REGION would, whatever
    /// `pageProtectionUnavailable` says (that is the session's policy, not KVM's).
    public func setPageProtection(_ protection: PageProtection, page: UInt64) throws(DebugError) {
        guard memory.setProtection(protection, page: page) else {
            throw .badGuestAddress(address: page, length: PageProtection.pageSize)
        }
    }

    public func restoreMemorySlots() throws(DebugError) { memory.clearProtections() }

    /// The protection of the page holding guest-physical `address` (an inspection aid).
    public func pageProtection(at address: UInt64) -> PageProtection { memory.protection(at: address) }

    public func mmioData(vcpu index: Int, length: Int) -> [UInt8] {
        guard index >= 0, index < vcpus.count else { return [] }
        return Array(vcpus[index].cpu.mmioData.prefix(max(0, min(length, 8))))
    }

    public func setMMIOData(_ bytes: [UInt8], vcpu index: Int) {
        guard index >= 0, index < vcpus.count else { return }
        let b = Array(bytes.prefix(8))
        vcpus[index].cpu.mmioData = b + [UInt8](repeating: 0, count: 8 - b.count)
    }

    public func kick(vcpu index: Int) {
        guard index >= 0, index < vcpus.count else { return }
        vcpus[index].kick.raise()
    }

    // MARK: Faults

    /// Queues `fault` for vCPU `vcpu`'s next matching call (one-shot; several queue up).
    public func inject(_ fault: FakeFault, vcpu index: Int = 0) {
        guard index >= 0, index < vcpus.count else { return }
        faults.withLock { $0[index].append(fault) }
    }

    /// Takes the oldest queued fault of `vcpu` that `matches`.
    private func takeFault(vcpu index: Int, _ matches: (FakeFault) -> Bool) -> FakeFault? {
        faults.withLock { f -> FakeFault? in
            guard let i = f[index].firstIndex(where: matches) else { return nil }
            return f[index].remove(at: i)
        }
    }

    private func failIfInjected(_ call: FakeIoctl, vcpu index: Int) throws(DebugError) {
        let hit = takeFault(vcpu: index) { f in
            if case .fail(let c, _) = f { return c == call }
            return false
        }
        if case .fail(_, let e)? = hit { throw kvmError(call.name(on: arch), e) }
    }

    // MARK: Inspection for tests

    /// Every ioctl issued so far, in order (memory access is mmap, not an ioctl).
    public var trace: [FakeCall] { calls.withLock { $0 } }

    /// How many KVM_SET_GUEST_DEBUG calls were issued (including failed ones).
    public var setGuestDebugCount: Int {
        calls.withLock { calls in
            calls.reduce(0) { n, call in
                if case .setGuestDebug = call { return n + 1 }
                return n
            }
        }
    }

    /// Guest-physical addresses of the 4 KiB pages of RAM written since `init` or the last
    /// `reset`, by anyone: the guest's stores, `writeMemory`, software breakpoint patches.
    public var writtenPages: [UInt64] { memory.writtenPages() }

    /// Those of `writtenPages` that the guest's own stores wrote to.
    public var guestStoredPages: [UInt64] { memory.writtenPages(byGuest: true) }

    /// Forgets the recorded calls.
    public func clearTrace() { calls.withLock { $0.removeAll() } }

    /// The last state KVM_SET_GUEST_DEBUG accepted on `vcpu`, exactly as passed; nil if none.
    public func installedState(vcpu index: Int) -> GuestDebugState? {
        guard index >= 0, index < vcpus.count else { return nil }
        return vcpus[index].installed
    }

    /// Reads a register without recording an ioctl (an inspection aid).
    ///
    /// x86: rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8...r15, rip, rflags (without
    /// KVM's hidden TF). arm64: x0...x30, sp, pc, pstate. nil for other names or vCPUs.
    public func register(_ name: String, vcpu index: Int) -> UInt64? {
        guard index >= 0, index < vcpus.count else { return nil }
        return vcpus[index].cpu.register(name)
    }

    /// Writes a register, recorded as KVM_SET_REGS / KVM_SET_ONE_REG with KVM's side
    /// effects (on x86 it re-evaluates the single-step TF). False for unknown names or vCPUs.
    @discardableResult
    public func setRegister(_ name: String, _ value: UInt64, vcpu index: Int) -> Bool {
        guard index >= 0, index < vcpus.count else { return false }
        guard vcpus[index].cpu.register(name) != nil else { return false }
        record(.setRegisters(vcpu: index))
        return vcpus[index].cpu.setRegister(name, value)
    }
}
