import CKVM
import KVMDebugModel
import Synchronization

/// A vCPU fd and its `kvm_run` mapping.
///
/// Created by `KVMVM.createVCPU` (owns and closes the fd) or with `borrowing:` on
/// a host VMM's vCPU fd: then kvmdbg maps its own view of kvm_run, unmaps it on
/// deinit, and never closes the fd, whose lifetime stays the VMM's.
public final class KVMVCPU {
    public let fd: Int32
    private let ownsFD: Bool
    private let run: UnsafeMutablePointer<kvm_run>
    private let mmapSize: Int
    private let kickWith: KVMKick
    /// The index `kick` passes to a custom kick.
    let index: Int
    /// The thread that last entered KVM_RUN, for `kick` (read from other threads).
    private let runningThread = Atomic<UInt>(0)
    /// Kicks not yet consumed by an interrupted KVM_RUN: a kick is never lost, even
    /// when it lands between two KVM_RUN calls.
    private let pendingKicks = Atomic<Int>(0)
    /// x86: KVM copies the registers and special registers into `kvm_run.s.regs` on every exit
    /// (`KVM_CAP_SYNC_REGS`), so a stop's registers cost no `KVM_GET_REGS`/`KVM_GET_SREGS`
    /// (about 4.5 us each on PVM, two per stop). Only on vCPUs kvmdbg created: a host VMM's
    /// own ioctls on an adopted fd would leave the copy stale without kvmdbg knowing.
    public let syncsRegisters: Bool
    /// `kvm_run.s.regs` holds the vCPU's registers now: set by each KVM_RUN, cleared by every
    /// ioctl that may change them (the copy is only refreshed by the next exit).
    private var synced = false

    init(fd: Int32, ownsFD: Bool, mmapSize: Int, kick: KVMKick, index: Int = 0, syncRegisters: Bool = false) throws(DebugError) {
        self.fd = fd
        self.ownsFD = ownsFD
        self.mmapSize = mmapSize
        self.kickWith = kick
        self.index = index
        #if arch(x86_64)
        syncsRegisters = syncRegisters && ownsFD
        #else
        syncsRegisters = false
        #endif
        if let s = kick.signal {
            if !Sys.installKickHandler(s) { throw .system(call: "sigaction(kick signal \(s))", errno: Sys.errno) }
            try Sys.setSignalMask(fd, blocked: Sys.onlyDeliverable(s))
        }
        let p = try Sys.mapShared(fd: fd, length: mmapSize)
        // SAFETY: the kernel's kvm_run page is at least sizeof(struct kvm_run).
        run = unsafe p.bindMemory(to: kvm_run.self, capacity: 1)
        #if arch(x86_64)
        // Kept by KVM across runs (only an invalid bit is refused, with EINVAL at KVM_RUN).
        // SAFETY: a store into the live kvm_run mapping, before any KVM_RUN on this fd.
        if syncsRegisters { unsafe run.pointee.kvm_valid_regs = UInt64(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS) }
        #endif
    }

    /// Uses a vCPU fd a host VMM owns. `mmapSize` is `KVM_GET_VCPU_MMAP_SIZE`. With
    /// `.signal(n)` kvmdbg installs a handler for n and sets the fd's
    /// `KVM_SET_SIGNAL_MASK` to let only n in during KVM_RUN; with `.custom` it touches
    /// neither (see `KVMKick`).
    public convenience init(borrowing fd: Int32, mmapSize: Int, kick: KVMKick = .default, index: Int = 0) throws(DebugError) {
        try self.init(fd: fd, ownsFD: false, mmapSize: mmapSize, kick: kick, index: index)
    }

    deinit {
        Sys.unmap(UnsafeMutableRawPointer(run), length: mmapSize)
        if ownsFD { Sys.close(fd) }
    }

    /// Installs the whole debug state. The corresponding ioctl is `KVM_SET_GUEST_DEBUG`.
    /// Requires `KVM_CAP_SET_GUEST_DEBUG`.
    public func setGuestDebug(_ state: GuestDebugState) throws(DebugError) {
        var d = kvm_guest_debug()
        d.control = state.control.rawValue
        switch state.registers {
        case .x86(let r):
            #if arch(x86_64)
            d.arch.debugreg = (r.address[0], r.address[1], r.address[2], r.address[3], 0, 0, 0, r.dr7)
            #else
            throw .unsupported(reason: "x86 debug registers on a non-x86 host")
            #endif
        case .arm64(let r):
            #if arch(arm64)
            copy(r.bcr, into: &d.arch.dbg_bcr)
            copy(r.bvr, into: &d.arch.dbg_bvr)
            copy(r.wcr, into: &d.arch.dbg_wcr)
            copy(r.wvr, into: &d.arch.dbg_wvr)
            #else
            throw .unsupported(reason: "arm64 debug registers on a non-arm64 host")
            #endif
        }
        // KVM rewrites RFLAGS here (its single-step TF); a stop's registers are read before it.
        synced = false
        try Sys.setGuestDebug(fd, &d)
    }

    /// Copies 16 values into a C array imported as a tuple.
    private func copy<T>(_ values: [UInt64], into tuple: inout T) {
        // SAFETY: T is a homogeneous tuple of 16 UInt64 (a C __u64[16]); we write 16 values at most.
        unsafe withUnsafeMutableBytes(of: &tuple) { raw in
            for (i, v) in values.prefix(16).enumerated() {
                unsafe raw.storeBytes(of: v, toByteOffset: i * 8, as: UInt64.self)
            }
        }
    }

    /// Enters the guest and returns the exit, read from `kvm_run` in this one place. The
    /// corresponding ioctl is `KVM_RUN`. EINTR/EAGAIN (a kick) and KVM_EXIT_INTR return
    /// `.interrupted`; never retried here. Where `kvm_run` carries no pc (arm64 debug
    /// exits, halt, I/O, MMIO) it is read with one register ioctl.
    public func runOnce() throws(DebugError) -> VCPUExit {
        runningThread.store(Sys.currentThread(), ordering: .sequentiallyConsistent)
        let (r, e) = Sys.run(fd)
        // KVM stores s.regs on every way out of the arch run, an immediate_exit EINTR included
        // (checked against KVM_GET_REGS/SREGS on this host); other errors may skip it.
        synced = syncsRegisters && (r >= 0 || e == EINTR)
        // Out of KVM_RUN: no more signals to this thread (it may be a pooled thread that exits).
        runningThread.store(0, ordering: .sequentiallyConsistent)
        if r < 0 {
            if e == EINTR || e == EAGAIN { return consumeKick() }
            throw .system(call: "KVM_RUN", errno: e)
        }
        let reason = unsafe run.pointee.exit_reason
        switch Int32(reason) {
        case KVM_EXIT_INTR: return consumeKick()
        case KVM_EXIT_DEBUG:
            #if arch(x86_64)
            let a = unsafe run.pointee.debug.arch
            return .debug(.x86(exception: a.exception, pc: a.pc, dr6: a.dr6, dr7: a.dr7))
            #elseif arch(arm64)
            let a = unsafe run.pointee.debug.arch
            let high = (unsafe run.pointee.flags) & 1 != 0 ? UInt64(a.hsr_high) << 32 : 0
            return .debug(.arm64(esr: UInt64(a.hsr) | high, far: a.far, pc: try programCounter()))
            #else
            return .unknown(reason: reason)
            #endif
        case KVM_EXIT_HLT: return .halt(pc: try programCounter())
        case KVM_EXIT_IO:
            let io = unsafe run.pointee.io
            return .io(port: io.port, isWrite: io.direction == KVM_EXIT_IO_OUT, size: Int(io.size), pc: try programCounter())
        case KVM_EXIT_MMIO:
            let m = unsafe run.pointee.mmio
            return .mmio(address: m.phys_addr, isWrite: m.is_write != 0, length: Int(m.len), pc: try programCounter())
        case KVM_EXIT_ARM_NISV:
            let n = unsafe run.pointee.arm_nisv
            return .armNISV(faultIPA: n.fault_ipa, esrISS: n.esr_iss, pc: try programCounter())
        case KVM_EXIT_SHUTDOWN: return .shutdown
        case KVM_EXIT_SYSTEM_EVENT:
            let e = unsafe run.pointee.system_event
            // SAFETY: `data` is a __u64[16] inside the live kvm_run mapping; ndata is clamped to 16.
            let words = unsafe withUnsafeBytes(of: e.data) { raw in (0..<Int(min(e.ndata, 16))).map { unsafe raw.load(fromByteOffset: $0 * 8, as: UInt64.self) } }
            return .systemEvent(type: e.type, data: words)
        case KVM_EXIT_FAIL_ENTRY:
            let f = unsafe run.pointee.fail_entry
            return .failEntry(reason: f.hardware_entry_failure_reason, cpu: f.cpu)
        case KVM_EXIT_INTERNAL_ERROR:
            let i = unsafe run.pointee.internal
            // SAFETY: `data` is a __u64[16] inside the live kvm_run mapping; ndata is clamped to 16.
            let words = unsafe withUnsafeBytes(of: i.data) { raw in (0..<Int(min(i.ndata, 16))).map { unsafe raw.load(fromByteOffset: $0 * 8, as: UInt64.self) } }
            return .internalError(suberror: i.suberror, data: words)
        default: return .unknown(reason: reason)
        }
    }

    /// The first `length` (at most 8) bytes of `kvm_run.mmio.data`: what the last
    /// `KVM_EXIT_MMIO` store wrote. Read between runs only.
    public func mmioData(length: Int) -> [UInt8] {
        let n = max(0, min(length, 8))
        // SAFETY: mmio.data is a __u8[8] inside the live kvm_run mapping; at most 8 bytes read.
        return unsafe withUnsafeBytes(of: run.pointee.mmio.data) { raw in Array(raw.prefix(n)) }
    }

    /// Sets `kvm_run.mmio.data`: KVM hands it to the load it exited on at the next KVM_RUN.
    public func setMMIOData(_ bytes: [UInt8]) {
        // SAFETY: at most 8 bytes into the __u8[8] mmio.data of the live kvm_run mapping.
        unsafe withUnsafeMutableBytes(of: &run.pointee.mmio.data) { raw in
            for (i, b) in bytes.prefix(8).enumerated() { raw[i] = b }
        }
    }

    /// Clears immediate_exit once a kick has been seen, re-arming it if another
    /// kick arrived meanwhile.
    private func consumeKick() -> VCPUExit {
        _ = pendingKicks.exchange(0, ordering: .sequentiallyConsistent)
        if let s = kickWith.signal { while Sys.takePendingSignal(s) {} }
        unsafe Sys.setImmediateExit(run, 0)
        if pendingKicks.load(ordering: .sequentiallyConsistent) > 0 { unsafe Sys.setImmediateExit(run, 1) }
        return .interrupted
    }

    /// Makes the next (or current) KVM_RUN return at once: sets kvm_run.immediate_exit,
    /// then signals the thread inside KVM_RUN, or calls the VMM's own kick. Safe from any thread.
    public func kick() {
        pendingKicks.add(1, ordering: .sequentiallyConsistent)
        unsafe Sys.setImmediateExit(run, 1)
        switch kickWith {
        case .signal(let s):
            let t = runningThread.load(ordering: .sequentiallyConsistent)
            if t != 0 { Sys.signal(thread: t, s) }
        case .custom(let f):
            f(index)
        }
    }

    /// The program counter alone. x86: `KVM_GET_REGS` (or the exit's synced copy); arm64:
    /// `KVM_GET_ONE_REG` of PC.
    public func programCounter() throws(DebugError) -> UInt64 {
        #if arch(x86_64)
        return try registers().rip
        #elseif arch(arm64)
        return try Sys.getOneReg(fd, Arm64Register.pc.kvmID)
        #else
        throw .unsupported(reason: "unsupported host")
        #endif
    }

    #if arch(x86_64)
    /// The corresponding ioctl is `KVM_GET_REGS`, or none: the last exit's `kvm_run.s.regs.regs`
    /// while nothing has changed them since (`KVM_CAP_SYNC_REGS`).
    public func registers() throws(DebugError) -> kvm_regs {
        // SAFETY: read between runs from the live kvm_run mapping, which KVM filled at the exit.
        if synced { return unsafe run.pointee.s.regs.regs }
        return try Sys.getRegs(fd)
    }

    /// The corresponding ioctl is `KVM_SET_REGS`.
    public func setRegisters(_ r: kvm_regs) throws(DebugError) {
        synced = false
        try Sys.setRegs(fd, r)
    }

    /// The corresponding ioctl is `KVM_GET_SREGS`, or none: the last exit's
    /// `kvm_run.s.regs.sregs` while nothing has changed them since (`KVM_CAP_SYNC_REGS`).
    public func specialRegisters() throws(DebugError) -> kvm_sregs {
        // SAFETY: read between runs from the live kvm_run mapping, which KVM filled at the exit.
        if synced { return unsafe run.pointee.s.regs.sregs }
        return try Sys.getSregs(fd)
    }

    /// The corresponding ioctl is `KVM_SET_SREGS`.
    public func setSpecialRegisters(_ s: kvm_sregs) throws(DebugError) {
        synced = false
        try Sys.setSregs(fd, s)
    }

    /// The XSAVE area: `size` bytes (KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2)). The corresponding
    /// ioctl is `KVM_GET_XSAVE2` when `size` > 4096, else `KVM_GET_XSAVE`. Requires `KVM_CAP_XSAVE`.
    public func xsave(size: Int) throws(DebugError) -> [UInt8] { try Sys.getXSAVE(fd, size: size) }

    /// Loads an XSAVE area read with `xsave(size:)`. The corresponding ioctl is `KVM_SET_XSAVE`.
    public func setXSAVE(_ area: [UInt8]) throws(DebugError) { synced = false; try Sys.setXSAVE(fd, area) }

    /// Whether the vCPU's CPUID offers XSAVE and AVX (leaf 1 ECX bits 26 and 28), so its XSAVE
    /// area holds YMM_Hi128. A vCPU nobody gave a CPUID (kvmdbg's own VMs) has none.
    /// The corresponding ioctl is `KVM_GET_CPUID2`.
    public func hasAVX() throws(DebugError) -> Bool {
        try Sys.getCPUID2(fd).contains { $0.0 == 1 && $0.4 & (1 << 26) != 0 && $0.4 & (1 << 28) != 0 }
    }

    /// The x87/SSE state. The corresponding ioctl is `KVM_GET_FPU`.
    public func fpu() throws(DebugError) -> kvm_fpu { try Sys.getFPU(fd) }

    /// The corresponding ioctl is `KVM_SET_FPU`.
    public func setFPU(_ f: kvm_fpu) throws(DebugError) { synced = false; try Sys.setFPU(fd, f) }

    /// The guest's own DR0-DR3, DR6, DR7. The corresponding ioctl is `KVM_GET_DEBUGREGS`.
    /// Requires `KVM_CAP_DEBUGREGS`.
    public func debugRegisters() throws(DebugError) -> kvm_debugregs { try Sys.getDebugRegs(fd) }

    /// The corresponding ioctl is `KVM_SET_DEBUGREGS`.
    public func setDebugRegisters(_ d: kvm_debugregs) throws(DebugError) { synced = false; try Sys.setDebugRegs(fd, d) }

    /// Tells the guest its clock was paused. The corresponding ioctl is `KVM_KVMCLOCK_CTRL`;
    /// EINVAL (guest without kvmclock) is not an error for a debugger.
    public func kvmclockPaused() -> Bool { synced = false; return Sys.kvmclockCtrl(fd) }

    /// The kernel's own walk of a guest linear address through the vCPU's page tables,
    /// to cross-check kvmdbg's (`X86PageWalk`). The corresponding ioctl is `KVM_TRANSLATE`.
    public func translate(_ address: UInt64) throws(DebugError) -> KernelTranslation {
        let t = try Sys.translate(fd, address)
        return KernelTranslation(physicalAddress: t.physical_address, valid: t.valid != 0,
                                 writable: t.writeable != 0, user: t.usermode != 0)
    }
    #endif

    #if arch(arm64)
    /// Reads one register. The corresponding ioctl is `KVM_GET_ONE_REG`.
    public func oneRegister(_ r: Arm64Register) throws(DebugError) -> UInt64 { try Sys.getOneReg(fd, r.kvmID) }

    /// Writes one register. The corresponding ioctl is `KVM_SET_ONE_REG`.
    public func setOneRegister(_ r: Arm64Register, _ value: UInt64) throws(DebugError) { try Sys.setOneReg(fd, r.kvmID, value) }

    /// Reads one FP/SIMD register (16 or 4 bytes, little-endian). The corresponding ioctl is `KVM_GET_ONE_REG`.
    public func oneRegister(_ r: Arm64FPRegister) throws(DebugError) -> [UInt8] { try Sys.getOneReg(fd, r.kvmID, bytes: r.bytes) }

    /// Writes one FP/SIMD register. The corresponding ioctl is `KVM_SET_ONE_REG`.
    public func setOneRegister(_ r: Arm64FPRegister, _ bytes: [UInt8]) throws(DebugError) { try Sys.setOneReg(fd, r.kvmID, bytes: bytes) }

    /// Reads one SVE register's slice 0 (`Arm64SVERegister.bytes` long, zero-padded past the
    /// vector length). The corresponding ioctl is `KVM_GET_ONE_REG`.
    public func oneRegister(_ r: Arm64SVERegister) throws(DebugError) -> [UInt8] { try Sys.getOneReg(fd, r.kvmID, bytes: r.bytes) }

    /// Writes one SVE register's slice 0 (padded to the id's size). The corresponding ioctl is `KVM_SET_ONE_REG`.
    public func setOneRegister(_ r: Arm64SVERegister, _ bytes: [UInt8]) throws(DebugError) {
        try Sys.setOneReg(fd, r.kvmID, bytes: r.slice(bytes))
    }

    /// Completes the SVE configuration of a vCPU initialised with KVM_ARM_VCPU_SVE (feature 4,
    /// arch/arm64/include/uapi/asm/kvm.h). The corresponding ioctl is `KVM_ARM_VCPU_FINALIZE`.
    public func finalizeSVE() throws(DebugError) { try Sys.armVCPUFinalize(fd, feature: 4) }

    /// The vCPU's SVE vector length in quadwords, or nil when it has no SVE (KVM refuses
    /// `KVM_REG_ARM64_SVE_VLS` on vCPUs created without it) or a length past one slice.
    /// The corresponding ioctl is `KVM_GET_ONE_REG`.
    public func sveQuadwords() -> Int? {
        guard let vls = try? oneRegister(Arm64SVERegister.vls) else { return nil }
        return Arm64SVERegisters.maxVQ(vls: vls)
    }

    /// Reads a 64-bit register by raw id (the guest's debug system registers).
    /// The corresponding ioctl is `KVM_GET_ONE_REG`.
    public func oneRegister(id: UInt64) throws(DebugError) -> UInt64 { try Sys.getOneReg(fd, id) }

    /// Writes a 64-bit register by raw id. The corresponding ioctl is `KVM_SET_ONE_REG`.
    public func setOneRegister(id: UInt64, _ value: UInt64) throws(DebugError) { try Sys.setOneReg(fd, id, value) }

    /// Initialises the vCPU. The corresponding ioctl is `KVM_ARM_VCPU_INIT`.
    public func armInit(_ i: kvm_vcpu_init) throws(DebugError) { try Sys.armVCPUInit(fd, i) }
    #endif
}

/// What `KVM_TRANSLATE` answers (`struct kvm_translation`'s outputs).
public struct KernelTranslation: Sendable, Hashable {
    public var physicalAddress: UInt64
    /// False when the address does not translate (then `physicalAddress` means nothing).
    public var valid: Bool
    public var writable: Bool
    public var user: Bool
}
