import CKVM
import KVMDebugModel

/// A VM fd. Owns it (closes on deinit) unless created with `borrowing`.
public final class KVMVM {
    public let fd: Int32
    private let owns: Bool

    init(owning fd: Int32) {
        self.fd = fd
        owns = true
    }

    /// Wraps a VM fd a host VMM owns; kvmdbg never closes it. The VMM keeps it open
    /// for as long as this object lives.
    public init(borrowing fd: Int32) {
        self.fd = fd
        owns = false
    }

    deinit { if owns { Sys.close(fd) } }

    /// KVM_CHECK_EXTENSION on the VM fd (some VM types report fewer slots than /dev/kvm).
    /// Returns nil when the kernel refuses the ioctl on VM fds.
    public func check(_ cap: Capability) -> Int? {
        let r = Sys.checkExtension(fd, cap)
        return r < 0 ? nil : Int(r)
    }

    /// x86 KVM copies registers and special registers into `kvm_run` on each exit when asked:
    /// KVM_CAP_SYNC_REGS reports KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS. Asked once per VM, not
    /// once per vCPU created.
    private lazy var offersSyncedRegisters: Bool = {
        #if arch(x86_64)
        let both = Int(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)
        return (check(.syncRegs) ?? 0) & both == both
        #else
        return false
        #endif
    }()

    /// Turns on a VM capability that takes no arguments (arm64: KVM_CAP_ARM_NISV_TO_USER, so a
    /// data abort without a valid syndrome exits KVM_EXIT_ARM_NISV instead of failing KVM_RUN with
    /// ENOSYS). The corresponding ioctl is `KVM_ENABLE_CAP`.
    public func enableCapability(_ cap: Capability) throws(DebugError) {
        try Sys.enableCapability(fd, cap)
    }

    /// Adds guest RAM. The corresponding ioctl is `KVM_SET_USER_MEMORY_REGION`.
    public func setUserMemoryRegion(slot: UInt32, guestAddress: UInt64, size: UInt64,
                                    host: UnsafeMutableRawPointer) throws(DebugError) {
        var r = kvm_userspace_memory_region()
        r.slot = slot
        r.flags = 0
        r.guest_phys_addr = guestAddress
        r.memory_size = size
        r.userspace_addr = UInt64(UInt(bitPattern: host))
        try Sys.setUserMemoryRegion(fd, &r)
    }

    /// Creates, or with `size` 0 deletes, memory slot `slot` with `flags` (KVM_MEM_READONLY,
    /// KVM_MEM_LOG_DIRTY_PAGES). The corresponding ioctl is `KVM_SET_USER_MEMORY_REGION`; an
    /// existing slot cannot change in place (EINVAL), so a change is a delete and an add.
    public func setUserMemoryRegion(_ s: KVMMemorySlot) throws(DebugError) {
        var r = kvm_userspace_memory_region()
        r.slot = s.id
        r.flags = s.flags
        r.guest_phys_addr = s.guestAddress
        r.memory_size = s.size
        r.userspace_addr = s.hostAddress
        try Sys.setUserMemoryRegion(fd, &r)
    }

    /// Creates vCPU `id` and maps its kvm_run. The corresponding ioctl is `KVM_CREATE_VCPU`.
    /// With a kick signal, `KVM_SET_SIGNAL_MASK` makes it the only signal deliverable
    /// inside KVM_RUN, whatever the calling thread's own mask (pooled threads often
    /// block everything): a kick always lands.
    /// With `syncRegisters` (and KVM_CAP_SYNC_REGS), a stop's x86 registers come from `kvm_run`
    /// instead of KVM_GET_REGS/KVM_GET_SREGS (see `KVMVCPU`).
    public func createVCPU(id: Int, mmapSize: Int, kick: KVMKick = .default, syncRegisters: Bool = true) throws(DebugError) -> KVMVCPU {
        let v = try Sys.createVCPU(fd, id: id)
        do {
            return try KVMVCPU(fd: v, ownsFD: true, mmapSize: mmapSize, kick: kick, index: id,
                               syncRegisters: syncRegisters && offersSyncedRegisters)
        } catch {
            Sys.close(v)
            throw error
        }
    }

    #if arch(arm64)
    /// The preferred CPU target for KVM_ARM_VCPU_INIT. The corresponding ioctl is `KVM_ARM_PREFERRED_TARGET`.
    public func preferredTarget() throws(DebugError) -> kvm_vcpu_init {
        try Sys.armPreferredTarget(fd)
    }
    #endif
}
