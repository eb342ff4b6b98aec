import CKVM

/// An open `/dev/kvm`: the system-level fd. Closes it on deinit.
///
/// Sendable: it is an fd and immutable; the kernel serialises the ioctls on it.
public final class KVMSystem: @unchecked Sendable {
    public let fd: Int32

    /// Opens `/dev/kvm` (or `path`) read/write. Throws `.deviceMissing` / `.permissionDenied`
    /// with what to do, and refuses an API version other than 12.
    public init(path: String = "/dev/kvm") throws(DebugError) {
        // Checked on a local fd: once `self.fd` is set, deinit owns the close.
        let candidate = try Sys.open(path, readWrite: true)
        let v = Sys.apiVersion(candidate)
        if v != 12 {
            Sys.close(candidate)
            throw .capabilityMissing(capability: "KVM API version 12", detail: "\(path) reports \(v) (is it really /dev/kvm?)")
        }
        fd = candidate
    }

    deinit { Sys.close(fd) }

    /// Asks the kernel about a capability. The corresponding ioctl is `KVM_CHECK_EXTENSION`.
    public func check(_ cap: Capability) -> Int { Int(max(0, Sys.checkExtension(fd, cap))) }

    /// Size of each vCPU's kvm_run mapping. The corresponding ioctl is `KVM_GET_VCPU_MMAP_SIZE`.
    public func vcpuMmapSize() throws(DebugError) -> Int {
        try Sys.vcpuMmapSize(fd)
    }

    /// Creates a VM. The corresponding ioctl is `KVM_CREATE_VM`.
    public func createVM() throws(DebugError) -> KVMVM {
        let vm = try Sys.createVM(fd)
        return KVMVM(owning: vm)
    }
}

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
    public func createVCPU(id: Int, mmapSize: Int, kick: KVMKick = .default) throws(DebugError) -> KVMVCPU {
        let v = try Sys.createVCPU(fd, id: id)
        do {
            return try KVMVCPU(fd: v, ownsFD: true, mmapSize: mmapSize, kick: kick, index: id)
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
