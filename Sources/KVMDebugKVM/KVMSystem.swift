import CKVM
import KVMDebugModel

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
