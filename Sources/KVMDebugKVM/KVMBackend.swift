import CKVM
import KVMDebugModel
import Synchronization

/// The real backend: guest debugging through `/dev/kvm`.
///
/// Either creates its own VM (a built-in guest or a user image), or adopts the
/// vCPU fds and guest memory a host VMM already owns (`init(adopting:)`).
public final class KVMBackend: DebugBackend {
    /// Whether the x86 vCPUs made from now on read a stop's registers from `kvm_run`
    /// (KVM_CAP_SYNC_REGS) rather than with two ioctls. On by default; `kvmdbg` turns it off with
    /// `KVMDBG_SYNC_REGS=0`, the benchmark's baseline row.
    public static let syncsRegisters = Atomic<Bool>(true)

    public let arch: Arch
    public private(set) var capabilities: Capabilities
    public let system: KVMSystem?
    public let vm: KVMVM?
    public let vcpus: [KVMVCPU]
    private let memory: GuestMemory
    private let ownedMapping: (UnsafeMutableRawPointer, Int)?
    /// x86: the XSAVE area's size (KVM_CAP_XSAVE2, else 4096 with KVM_CAP_XSAVE); nil: the
    /// kernel has no XSAVE and FP state goes through KVM_GET_FPU.
    private let xsaveSize: Int?
    /// The VM's memory slots as protection watchpoints change them (nil: cannot, see
    /// `pageProtectionUnavailable`). Changed only while no vCPU runs.
    private let slotTable: KVMMemorySlots?
    private let slotRefusal: String?

    public var vcpuCount: Int { vcpus.count }

    /// The memslots kvmdbg reads guest memory through (its own, or the adopted VMM's regions).
    public var ramRegions: [RAMRegion]? {
        memory.regions.map { RAMRegion(base: $0.guestAddress, size: $0.size) }.sorted { $0.base < $1.base }
    }

    /// Creates a VM with `vcpus` vCPUs, loads `guest` and puts every vCPU at its entry
    /// (x86: real or long mode as the guest says; arm64: EL1, MMU off).
    public init(guest: Guest, vcpus count: Int = 1, path: String = "/dev/kvm", system shared: KVMSystem? = nil) throws(DebugError) {
        try guest.validate()
        try guest.arch.validate(mode: guest.mode)
        guard let host = Arch.host, host == guest.arch else {
            throw .unsupported(reason: "an \(guest.arch.name) guest cannot run on KVM on this \(Arch.host?.name ?? "unknown") host; use --backend fake")
        }
        let sys: KVMSystem
        if let shared { sys = shared } else { sys = try KVMSystem(path: path) }
        if sys.check(.setGuestDebug) == 0 {
            throw .capabilityMissing(capability: "KVM_CAP_SET_GUEST_DEBUG", detail: "this kernel cannot debug guests")
        }
        let vm = try sys.createVM()
        let caps = KVMBackend.probe(system: sys, vm: vm, arch: host)
        if count < 1 || count > caps.maxVCPUs {
            throw .unsupported(reason: "--vcpus \(count) is outside 1...\(caps.maxVCPUs) (KVM_CAP_MAX_VCPUS)")
        }
        let size = Int(guest.memorySize)
        let mem = try Sys.mapShared(fd: -1, length: size)
        var built: [KVMVCPU] = []
        do {
            try vm.setUserMemoryRegion(slot: 0, guestAddress: guest.memoryBase, size: guest.memorySize, host: mem)
            let memory = GuestMemory(regions: [GuestMemoryRegion(guestAddress: guest.memoryBase, size: guest.memorySize, host: mem)])
            try memory.write(guest.loadAddress, guest.image)
            for d in guest.data { try memory.write(d.address, d.bytes) }
            let mmapSize = try sys.vcpuMmapSize()
            for i in 0..<count {
                let v = try vm.createVCPU(id: i, mmapSize: mmapSize, syncRegisters: KVMBackend.syncsRegisters.load(ordering: .relaxed))
                built.append(v)
                try KVMBackend.boot(v, index: i, guest: guest, vm: vm, memory: memory)
            }
            self.memory = memory
        } catch {
            built.removeAll()
            Sys.unmap(mem, length: size)
            throw error
        }
        arch = host
        capabilities = caps
        system = sys
        self.vm = vm
        vcpus = built
        ownedMapping = (mem, size)
        xsaveSize = KVMBackend.xsaveSize(system: sys, vm: vm)
        capabilities.x86AVX = KVMBackend.hasAVX(built, xsaveSize: xsaveSize)
        capabilities.arm64SVEQuadwords = KVMBackend.sveQuadwords(built)
        let readOnly = vm.check(.readOnlyMemory) ?? sys.check(.readOnlyMemory)
        if let why = KVMBackend.nisvRefusal(vm: vm, system: sys, arch: host) {
            slotTable = nil
            slotRefusal = why
        } else if readOnly <= 0 {
            slotTable = nil
            slotRefusal = "this kernel has no read-only memory slots (KVM_CAP_READONLY_MEM is 0)"
        } else {
            slotTable = KVMMemorySlots(vm: vm, slots: [KVMMemorySlot(
                id: 0, guestAddress: guest.memoryBase, size: guest.memorySize, hostAddress: UInt64(UInt(bitPattern: mem)))])
            slotRefusal = nil
        }
    }

    /// arm64: turns on KVM_CAP_ARM_NISV_TO_USER, so a protected page's stp/ldp (no valid
    /// syndrome) exits KVM_EXIT_ARM_NISV instead of failing KVM_RUN with ENOSYS (io_mem_abort,
    /// arch/arm64/kvm/mmio.c); returns why protection cannot be offered when the kernel lacks it.
    /// x86: nothing to do (KVM's emulator decodes every access).
    private static func nisvRefusal(vm: KVMVM, system sys: KVMSystem, arch: Arch) -> String? {
        guard arch == .arm64 else { return nil }
        if (vm.check(.armNISVToUser) ?? sys.check(.armNISVToUser)) <= 0 {
            return "this kernel cannot report arm64 accesses without a valid syndrome (KVM_CAP_ARM_NISV_TO_USER is 0): an ldp/stp to a protected page would end KVM_RUN with ENOSYS"
        }
        do throws(DebugError) { try vm.enableCapability(.armNISVToUser) } catch {
            return "KVM_ENABLE_CAP(KVM_CAP_ARM_NISV_TO_USER) failed (\(error.message)): an ldp/stp to a protected page would end KVM_RUN with ENOSYS"
        }
        return nil
    }

    /// Adopts a host VMM's vCPU fds and guest memory. kvmdbg never closes those fds or
    /// unmaps that memory; the VMM must keep them alive while this object lives.
    /// `vmFD` (optional) lets capabilities be probed on the VM fd.
    ///
    /// `kick` says how kvmdbg brings the VMM's vCPU threads out of KVM_RUN: by default it
    /// owns SIGUSR1 (handler installed, `KVM_SET_SIGNAL_MASK` set on each adopted fd); a
    /// VMM that uses SIGUSR1 itself picks another signal or supplies its own kick (`KVMKick`).
    ///
    /// `memorySlots` (with `vmFD`) hands over the VMM's slot table, so watchpoints the hardware
    /// cannot serve are served by protecting pages: kvmdbg asks `slotConsent` before each
    /// change to one of those slots and puts every slot back exactly as given on
    /// `removeAllPoints`, detach and `close()`. Meanwhile the VMM must not change those slots
    /// itself. Without them, such watchpoints are refused.
    public init(adopting vcpuFDs: [Int32], memory regions: [GuestMemoryRegion], vmFD: Int32? = nil,
                path: String = "/dev/kvm", kick: KVMKick = .default,
                memorySlots: [KVMMemorySlot] = [], slotConsent: KVMSlotConsent? = nil) throws(DebugError) {
        guard let host = Arch.host else { throw .unsupported(reason: "KVM guest debug needs an x86_64 or arm64 host") }
        let sys = try KVMSystem(path: path)
        let vm = vmFD.map { KVMVM(borrowing: $0) }
        arch = host
        capabilities = KVMBackend.probe(system: sys, vm: vm, arch: host)
        let mmapSize = try sys.vcpuMmapSize()
        var built: [KVMVCPU] = []
        for (i, fd) in vcpuFDs.enumerated() {
            built.append(try KVMVCPU(borrowing: fd, mmapSize: mmapSize, kick: kick, index: i))
        }
        vcpus = built
        memory = GuestMemory(regions: regions)
        system = sys
        self.vm = vm
        ownedMapping = nil
        if let vm, !memorySlots.isEmpty, host == .x86_64, (vm.check(.readOnlyMemory) ?? sys.check(.readOnlyMemory)) > 0 {
            slotTable = KVMMemorySlots(vm: vm, slots: memorySlots, consent: slotConsent)
            slotRefusal = nil
        } else {
            slotTable = nil
            slotRefusal = host != .x86_64 ? "protection watchpoints on adopted arm64 vCPUs are not offered: they need KVM_CAP_ARM_NISV_TO_USER enabled on the VMM's VM, which changes what its own KVM_RUN reports"
                : vmFD == nil || memorySlots.isEmpty ? "adopted vCPUs: the host VMM did not hand over its VM fd and memory slot table (KVMBackend.init(adopting:memorySlots:slotConsent:))"
                : "this kernel has no read-only memory slots (KVM_CAP_READONLY_MEM is 0)"
        }
        xsaveSize = KVMBackend.xsaveSize(system: sys, vm: vm)
        capabilities.x86AVX = KVMBackend.hasAVX(built, xsaveSize: xsaveSize)
        capabilities.arm64SVEQuadwords = KVMBackend.sveQuadwords(built)
    }

    /// x86: every vCPU's CPUID offers AVX and the XSAVE area reaches YMM_Hi128 (KVM_GET_CPUID2;
    /// a failing call counts as no AVX: the ymm halves are then left out, not invented).
    private static func hasAVX(_ vcpus: [KVMVCPU], xsaveSize: Int?) -> Bool {
        #if arch(x86_64)
        guard let size = xsaveSize, size >= X86FPRegisterFile.Offset.endOfAVX, !vcpus.isEmpty else { return false }
        return vcpus.allSatisfy { (try? $0.hasAVX()) == true }
        #else
        return false
        #endif
    }

    /// arm64: the vector length every vCPU was created with (the VLS pseudo-register, which KVM
    /// serves only on SVE vCPUs: for adopted fds, what the VMM configured); nil when a vCPU has
    /// no SVE or they differ: then the V ids serve FP/SIMD (and fail on an SVE vCPU: unavailable).
    private static func sveQuadwords(_ vcpus: [KVMVCPU]) -> Int? {
        #if arch(arm64)
        guard let first = vcpus.first?.sveQuadwords() else { return nil }
        return vcpus.dropFirst().allSatisfy { $0.sveQuadwords() == first } ? first : nil
        #else
        return nil
        #endif
    }

    /// KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) on the VM fd (the size KVM_GET_XSAVE2 fills), else
    /// 4096 with KVM_CAP_XSAVE, else nil (x86 only).
    private static func xsaveSize(system: KVMSystem, vm: KVMVM?) -> Int? {
        guard Arch.host == .x86_64 else { return nil }
        let two = vm?.check(.xsave2) ?? system.check(.xsave2)
        if two >= 4096 { return two }
        return system.check(.xsave) > 0 ? 4096 : nil
    }

    deinit {
        if let (p, n) = ownedMapping { Sys.unmap(p, length: n) }
    }

    /// arm64: a WFI waits in the kernel (kvm_vcpu_wfi) even while single-stepping. x86: a VM
    /// kvmdbg created has no in-kernel irqchip, so `hlt` exits (KVM_EXIT_HLT); an adopted
    /// VMM's vCPU may have one, and then `hlt` waits in the kernel too (and a VMM's own kick
    /// knows its vCPU threads, not the thread kvmdbg would step on).
    public var runMayWaitInKernel: Bool {
        #if arch(arm64)
        return true
        #else
        return ownedMapping == nil  // adopted
        #endif
    }

    /// Probes capabilities on the VM fd where the kernel allows it, else /dev/kvm.
    public static func probe(system: KVMSystem, vm: KVMVM?, arch: Arch) -> Capabilities {
        func ask(_ c: Capability) -> Int { vm?.check(c) ?? system.check(c) }
        let debug2 = ask(.setGuestDebug2)
        let bps = ask(.guestDebugHardwareBreakpoints)
        let wps = ask(.guestDebugHardwareWatchpoints)
        var maxV = ask(.maxVCPUs)
        if maxV == 0 { maxV = ask(.recommendedVCPUs) }
        if maxV == 0 { maxV = 4 }  // api.rst: assume 4 when neither cap is there
        let slots: SlotCapacity = arch == .x86_64 ? .x86 : SlotCapacity(breakpoints: min(bps, 16), watchpoints: min(wps, 16))
        return Capabilities(
            arch: arch, setGuestDebug: ask(.setGuestDebug) > 0,
            supportedControl: debug2 > 0 ? GuestDebugControl(rawValue: UInt32(truncatingIfNeeded: debug2)) : nil,
            slots: slots, reportedHardwareBreakpoints: bps, reportedHardwareWatchpoints: wps,
            maxVCPUs: maxV, backend: "kvm")
    }

    /// Capabilities of `/dev/kvm` on this host, probed on a scratch VM fd.
    /// With `system`, that open `/dev/kvm` is used (a command opens it once).
    public static func capabilities(path: String = "/dev/kvm", system shared: KVMSystem? = nil) throws(DebugError) -> Capabilities {
        guard let host = Arch.host else { throw .unsupported(reason: "KVM guest debug needs an x86_64 or arm64 host") }
        let sys: KVMSystem
        if let shared { sys = shared } else { sys = try KVMSystem(path: path) }
        let vm = try? sys.createVM()
        return probe(system: sys, vm: vm, arch: host)
    }

    // MARK: DebugBackend

    public func setGuestDebug(_ state: GuestDebugState, vcpu: Int) throws(DebugError) {
        try vcpus[vcpu].setGuestDebug(state)
    }

    public func run(vcpu: Int) throws(DebugError) -> VCPUExit {
        try vcpus[vcpu].runOnce()
    }

    public func programCounter(vcpu: Int) throws(DebugError) -> UInt64 {
        try vcpus[vcpu].programCounter()
    }

    public func registers(vcpu: Int) throws(DebugError) -> RegisterFile {
        #if arch(x86_64)
        let v = vcpus[vcpu]
        return .x86_64(X86RegisterFile(kvm: try v.registers(), try v.specialRegisters()))
        #elseif arch(arm64)
        var r = Arm64RegisterFile()
        for id in Arm64RegisterFile.all { r[id] = try vcpus[vcpu].oneRegister(id) }
        return .arm64(r)
        #else
        throw .unsupported(reason: "unsupported host")
        #endif
    }

    /// Writes back what differs from the vCPU's current registers: x86 KVM_SET_REGS, and
    /// KVM_SET_SREGS only when a special register changed; arm64 one KVM_SET_ONE_REG per
    /// changed register.
    public func setRegisters(_ file: RegisterFile, vcpu: Int) throws(DebugError) {
        let v = vcpus[vcpu]
        switch file {
        case .x86_64(let f):
            #if arch(x86_64)
            var regs = try v.registers()
            f.store(into: &regs)
            try v.setRegisters(regs)
            var sregs = try v.specialRegisters()
            if X86RegisterFile(kvm: regs, sregs) != f {
                f.store(into: &sregs)
                try v.setSpecialRegisters(sregs)
            }
            #else
            throw .unsupported(reason: "x86 registers on a non-x86 host")
            #endif
        case .arm64(let f):
            #if arch(arm64)
            for id in Arm64RegisterFile.all {
                let now = try v.oneRegister(id)
                if now != f[id] { try v.setOneRegister(id, f[id]) }
            }
            #else
            throw .unsupported(reason: "arm64 registers on a non-arm64 host")
            #endif
        }
    }

    /// x86: KVM_GET_XSAVE2 / KVM_GET_XSAVE, or KVM_GET_FPU without XSAVE; arm64: one
    /// KVM_GET_ONE_REG per `fp_regs` id, or on an SVE vCPU per Z/P/FFR id (slice 0) plus FPSR/FPCR. The ymm upper halves are kept only where the vCPUs have
    /// AVX (`Capabilities.x86AVX`): a VM kvmdbg creates has no CPUID, so none (README "Registers").
    public func floatingPointRegisters(vcpu: Int) throws(DebugError) -> FPRegisterFile {
        let v = vcpus[vcpu]
        #if arch(x86_64)
        if let size = xsaveSize { return .x86_64(X86FPRegisterFile(xsave: try v.xsave(size: size), hasAVX: capabilities.x86AVX)) }
        return .x86_64(X86FPRegisterFile(kvm: try v.fpu()))
        #elseif arch(arm64)
        if let vq = capabilities.arm64SVEQuadwords {
            var sve = Arm64SVERegisters(vq: vq)
            for r in Arm64SVERegister.all { r.store(try v.oneRegister(r), into: &sve) }
            return .arm64(Arm64FPRegisterFile(sve: sve, fpsr: UInt32(truncatingIfNeeded: Self.value(try v.oneRegister(Arm64FPRegister.fpsr))),
                                              fpcr: UInt32(truncatingIfNeeded: Self.value(try v.oneRegister(Arm64FPRegister.fpcr)))))
        }
        var f = Arm64FPRegisterFile()
        for r in Arm64FPRegisterFile.all { f[r] = Self.value(try v.oneRegister(r)) }
        return .arm64(f)
        #else
        throw .unsupported(reason: "unsupported host")
        #endif
    }

    /// x86: the area read again, the fields stored into it, KVM_SET_XSAVE (or KVM_SET_FPU);
    /// arm64: KVM_SET_ONE_REG for each register that differs from the vCPU's.
    public func setFloatingPointRegisters(_ file: FPRegisterFile, vcpu: Int) throws(DebugError) {
        let v = vcpus[vcpu]
        switch file {
        case .x86_64(let f):
            #if arch(x86_64)
            if let size = xsaveSize {
                var area = try v.xsave(size: size)
                f.store(intoXSAVE: &area)
                try v.setXSAVE(area)
            } else {
                var k = try v.fpu()
                f.store(into: &k)
                try v.setFPU(k)
            }
            #else
            throw .unsupported(reason: "x86 registers on a non-x86 host")
            #endif
        case .arm64(let f):
            #if arch(arm64)
            if let sve = f.sveToWrite {
                // SVE vCPU: V lives in Z (the V ids are refused); FPSR/FPCR keep their core ids.
                for r in Arm64SVERegister.all {
                    let want = r.value(in: sve)
                    if Array(try v.oneRegister(r).prefix(want.count)) != want { try v.setOneRegister(r, want) }
                }
                for r in [Arm64FPRegister.fpsr, .fpcr] where Self.value(try v.oneRegister(r)) != f[r] {
                    try v.setOneRegister(r, Self.bytes(f[r], count: r.bytes))
                }
                return
            }
            for r in Arm64FPRegisterFile.all {
                let now = Self.value(try v.oneRegister(r))
                if now != f[r] { try v.setOneRegister(r, Self.bytes(f[r], count: r.bytes)) }
            }
            #else
            throw .unsupported(reason: "arm64 registers on a non-arm64 host")
            #endif
        }
    }

    /// x86: KVM_GET_DEBUGREGS; arm64: KVM_GET_ONE_REG per DBGB*/DBGW* slot the kernel reports
    /// (KVM_CAP_GUEST_DEBUG_HW_BPS/WPS) and MDSCR_EL1.
    public func guestDebugRegisters(vcpu: Int) throws(DebugError) -> GuestOwnDebugRegisters {
        let v = vcpus[vcpu]
        #if arch(x86_64)
        let d = try v.debugRegisters()
        var g = X86GuestDebugRegisters()
        g.address = [d.db.0, d.db.1, d.db.2, d.db.3]
        g.dr6 = d.dr6
        g.dr7 = d.dr7
        return .x86(g)
        #elseif arch(arm64)
        var g = Arm64GuestDebugRegisters(breakpoints: capabilities.reportedHardwareBreakpoints,
                                         watchpoints: capabilities.reportedHardwareWatchpoints)
        for (id, _) in g.byID { _ = g.set(id: id, try v.oneRegister(id: id)) }
        return .arm64(g)
        #else
        throw .unsupported(reason: "unsupported host")
        #endif
    }

    /// x86: KVM_SET_DEBUGREGS of the read state with DR0-3, DR6, DR7 replaced; arm64:
    /// KVM_SET_ONE_REG per register that differs.
    public func setGuestDebugRegisters(_ registers: GuestOwnDebugRegisters, vcpu: Int) throws(DebugError) {
        let v = vcpus[vcpu]
        switch registers {
        case .x86(let g):
            #if arch(x86_64)
            var d = try v.debugRegisters()
            d.db = (g.address[0], g.address[1], g.address[2], g.address[3])
            d.dr6 = g.dr6
            d.dr7 = g.dr7
            d.flags = 0
            try v.setDebugRegisters(d)
            #else
            throw .unsupported(reason: "x86 debug registers on a non-x86 host")
            #endif
        case .arm64(let g):
            #if arch(arm64)
            for (id, value) in g.byID where try v.oneRegister(id: id) != value { try v.setOneRegister(id: id, value) }
            #else
            throw .unsupported(reason: "arm64 debug registers on a non-arm64 host")
            #endif
        }
    }

    /// A little-endian ONE_REG value as a number.
    private static func value(_ bytes: [UInt8]) -> UInt128 {
        var v: UInt128 = 0
        for (i, b) in bytes.enumerated() { v |= UInt128(b) << UInt128(8 * i) }
        return v
    }

    private static func bytes(_ v: UInt128, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: v >> UInt128(8 * $0)) }
    }

    public func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8] {
        try memory.read(address, count: count)
    }

    public func writeMemory(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError) {
        try memory.write(address, bytes)
    }

    public func kick(vcpu: Int) { vcpus[vcpu].kick() }

    // MARK: Page protection

    public var pageProtectionUnavailable: String? { slotRefusal }

    /// Splits the page into a slot of its own (read-only) or out of the slots (a hole), or
    /// makes its slot ordinary again. The corresponding ioctl is `KVM_SET_USER_MEMORY_REGION`.
    public func setPageProtection(_ protection: PageProtection, page: UInt64) throws(DebugError) {
        guard let t = slotTable else { throw .unsupported(reason: slotRefusal ?? "no memory slots to change") }
        try t.set(protection, page: page)
    }

    /// The memory slots as they were before the first protection.
    public func restoreMemorySlots() throws(DebugError) { try slotTable?.restore() }

    /// The VM's memory slots now (for tests and `monitor points`).
    public var memorySlots: [KVMMemorySlot] { slotTable?.slots ?? [] }

    public func mmioData(vcpu: Int, length: Int) -> [UInt8] { vcpus[vcpu].mmioData(length: length) }

    public func setMMIOData(_ bytes: [UInt8], vcpu: Int) { vcpus[vcpu].setMMIOData(bytes) }

    /// The kernel's walk of `address` on `vcpu`, for cross-checking `X86PageWalk`. The
    /// corresponding ioctl is `KVM_TRANSLATE` (x86; other hosts: `.unsupported`).
    public func kernelTranslate(_ address: UInt64, vcpu: Int) throws(DebugError) -> KernelTranslation {
        #if arch(x86_64)
        return try vcpus[vcpu].translate(address)
        #else
        throw .unsupported(reason: "KVM_TRANSLATE is implemented for x86 guests only")
        #endif
    }

    /// x86: KVM_KVMCLOCK_CTRL, so the guest does not report soft lockups after a long
    /// stop. EINVAL (a guest without kvmclock, like the built-in ones) is ignored.
    public func guestPaused(vcpu: Int) {
        #if arch(x86_64)
        _ = vcpus[vcpu].kvmclockPaused()
        #endif
    }

    // MARK: Boot

    private static func boot(_ v: KVMVCPU, index: Int, guest: Guest, vm: KVMVM, memory: GuestMemory) throws(DebugError) {
        #if arch(x86_64)
        try X86Boot.setUp(v, index: index, guest: guest, memory: memory)
        #elseif arch(arm64)
        try Arm64Boot.setUp(v, index: index, guest: guest, vm: vm)
        #endif
    }
}
