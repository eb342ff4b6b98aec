import CKVM
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
    /// The thread that last entered KVM_RUN, for `kick` (read from other threads).
    private let runningThread = Atomic<UInt>(0)
    /// Kicks not yet consumed by an interrupted KVM_RUN: a kick is never lost, even
    /// when it lands between two KVM_RUN calls.
    private let pendingKicks = Atomic<Int>(0)

    init(fd: Int32, ownsFD: Bool, mmapSize: Int) throws(DebugError) {
        self.fd = fd
        self.ownsFD = ownsFD
        self.mmapSize = mmapSize
        let p = try Sys.mapShared(fd: fd, length: mmapSize)
        // SAFETY: the kernel's kvm_run page is at least sizeof(struct kvm_run).
        run = unsafe p.bindMemory(to: kvm_run.self, capacity: 1)
    }

    /// Uses a vCPU fd a host VMM owns. `mmapSize` is `KVM_GET_VCPU_MMAP_SIZE`.
    public convenience init(borrowing fd: Int32, mmapSize: Int) throws(DebugError) {
        try self.init(fd: fd, ownsFD: false, mmapSize: mmapSize)
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
        _ = try Sys.check(ckvm_set_guest_debug(fd, &d), "KVM_SET_GUEST_DEBUG")
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

    /// Enters the guest. The corresponding ioctl is `KVM_RUN`. EINTR (a kick) returns
    /// `.interrupted`; it is never retried here. `pc` fills the arm64 debug exit.
    public func runOnce() throws(DebugError) -> RawExit {
        runningThread.store(UInt(ckvm_thread_self()), ordering: .sequentiallyConsistent)
        let r = ckvm_run(fd)
        let e = ckvm_errno()
        // Out of KVM_RUN: no more signals to this thread (it may be a pooled thread that exits).
        runningThread.store(0, ordering: .sequentiallyConsistent)
        if r < 0 {
            if e == EINTR || e == EAGAIN { return consumeKick() }
            throw .system(call: "KVM_RUN", errno: e)
        }
        let reason = unsafe run.pointee.exit_reason
        if Int32(reason) == KVM_EXIT_INTR { return consumeKick() }
        switch Int32(reason) {
        case KVM_EXIT_DEBUG:
            #if arch(x86_64)
            let a = unsafe run.pointee.debug.arch
            return .debugX86(exception: a.exception, pc: a.pc, dr6: a.dr6, dr7: a.dr7)
            #elseif arch(arm64)
            let a = unsafe run.pointee.debug.arch
            let high = (unsafe run.pointee.flags) & 1 != 0 ? UInt64(a.hsr_high) << 32 : 0
            return .debugArm64(esr: UInt64(a.hsr) | high, far: a.far)
            #else
            return .other(.unknown(reason: reason))
            #endif
        case KVM_EXIT_HLT: return .other(.halt(pc: 0))
        case KVM_EXIT_IO:
            let io = unsafe run.pointee.io
            return .other(.io(port: io.port, isWrite: io.direction == KVM_EXIT_IO_OUT, size: Int(io.size), pc: 0))
        case KVM_EXIT_MMIO:
            let m = unsafe run.pointee.mmio
            return .other(.mmio(address: m.phys_addr, isWrite: m.is_write != 0, length: Int(m.len), pc: 0))
        case KVM_EXIT_SHUTDOWN: return .other(.shutdown)
        case KVM_EXIT_SYSTEM_EVENT: return .other(.systemEvent(type: unsafe run.pointee.system_event.type))
        case KVM_EXIT_FAIL_ENTRY:
            return .other(.failEntry(reason: unsafe run.pointee.fail_entry.hardware_entry_failure_reason))
        case KVM_EXIT_INTERNAL_ERROR: return .other(.internalError(suberror: unsafe run.pointee.internal.suberror))
        default: return .other(.unknown(reason: reason))
        }
    }

    /// Clears immediate_exit once a kick has been seen, re-arming it if another
    /// kick arrived meanwhile.
    private func consumeKick() -> RawExit {
        _ = pendingKicks.exchange(0, ordering: .sequentiallyConsistent)
        while ckvm_take_pending_kick() > 0 {}
        // SAFETY: the mapping lives as long as self.
        unsafe ckvm_set_immediate_exit(run, 0)
        if pendingKicks.load(ordering: .sequentiallyConsistent) > 0 { unsafe ckvm_set_immediate_exit(run, 1) }
        return .interrupted
    }

    /// Makes the next (or current) KVM_RUN return at once: sets kvm_run.immediate_exit,
    /// then signals the thread inside KVM_RUN (handler installed without SA_RESTART).
    /// Safe from any thread.
    public func kick() {
        pendingKicks.add(1, ordering: .sequentiallyConsistent)
        // SAFETY: a single atomic byte store into our own mapping; KVM reads it at entry.
        unsafe ckvm_set_immediate_exit(run, 1)
        let t = runningThread.load(ordering: .sequentiallyConsistent)
        if t != 0 { _ = ckvm_thread_kill(UInt(t), ckvm_kick_signal()) }
    }

    #if arch(x86_64)
    /// The corresponding ioctl is `KVM_GET_REGS`.
    public func registers() throws(DebugError) -> kvm_regs {
        var r = kvm_regs()
        _ = try Sys.check(ckvm_get_regs(fd, &r), "KVM_GET_REGS")
        return r
    }

    /// The corresponding ioctl is `KVM_SET_REGS`.
    public func setRegisters(_ r: kvm_regs) throws(DebugError) {
        var r = r
        _ = try Sys.check(ckvm_set_regs(fd, &r), "KVM_SET_REGS")
    }

    /// The corresponding ioctl is `KVM_GET_SREGS`.
    public func specialRegisters() throws(DebugError) -> kvm_sregs {
        var s = kvm_sregs()
        _ = try Sys.check(ckvm_get_sregs(fd, &s), "KVM_GET_SREGS")
        return s
    }

    /// The corresponding ioctl is `KVM_SET_SREGS`.
    public func setSpecialRegisters(_ s: kvm_sregs) throws(DebugError) {
        var s = s
        _ = try Sys.check(ckvm_set_sregs(fd, &s), "KVM_SET_SREGS")
    }

    /// Tells the guest its clock was paused. The corresponding ioctl is `KVM_KVMCLOCK_CTRL`;
    /// EINVAL (guest without kvmclock) is not an error for a debugger.
    public func kvmclockPaused() -> Bool { ckvm_kvmclock_ctrl(fd) == 0 }
    #endif

    #if arch(arm64)
    /// Reads one register. The corresponding ioctl is `KVM_GET_ONE_REG`.
    public func oneRegister(_ id: UInt64) throws(DebugError) -> UInt64 {
        var value: UInt64 = 0
        try unsafe withUnsafeMutablePointer(to: &value) { (p) throws(DebugError) in
            var r = kvm_one_reg(id: id, addr: UInt64(UInt(bitPattern: p)))
            _ = try Sys.check(ckvm_get_one_reg(fd, &r), "KVM_GET_ONE_REG")
        }
        return value
    }

    /// Writes one register. The corresponding ioctl is `KVM_SET_ONE_REG`.
    public func setOneRegister(_ id: UInt64, _ value: UInt64) throws(DebugError) {
        var value = value
        try unsafe withUnsafeMutablePointer(to: &value) { (p) throws(DebugError) in
            var r = kvm_one_reg(id: id, addr: UInt64(UInt(bitPattern: p)))
            _ = try Sys.check(ckvm_set_one_reg(fd, &r), "KVM_SET_ONE_REG")
        }
    }

    /// Initialises the vCPU. The corresponding ioctl is `KVM_ARM_VCPU_INIT`.
    public func armInit(_ i: kvm_vcpu_init) throws(DebugError) {
        var i = i
        _ = try Sys.check(ckvm_arm_vcpu_init(fd, &i), "KVM_ARM_VCPU_INIT")
    }
    #endif
}

/// A KVM_RUN result before the backend adds the pc.
public enum RawExit: Sendable {
    case debugX86(exception: UInt32, pc: UInt64, dr6: UInt64, dr7: UInt64)
    case debugArm64(esr: UInt64, far: UInt64)
    case interrupted
    case other(VCPUExit)
}
