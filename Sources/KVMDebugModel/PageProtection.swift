/// How a guest-physical page is held so that the guest's accesses to it exit to kvmdbg.
///
/// The page stays backed by the same host memory; only its memory slot changes. The
/// corresponding ioctl is `KVM_SET_USER_MEMORY_REGION` (a slot cannot change in place:
/// delete, then re-add).
public enum PageProtection: Sendable, Hashable {
    /// An ordinary read/write slot: no exits.
    case none
    /// A slot of its own with `KVM_MEM_READONLY`: stores exit `KVM_EXIT_MMIO` (is_write, the
    /// exact address, length and data; the store not done, RIP already past it); loads and
    /// instruction fetches run at full speed.
    case readOnly
    /// No slot at all: loads exit `KVM_EXIT_MMIO` (RIP at the load; `kvm_run.mmio.data` is what
    /// the guest gets), stores as with `readOnly`, and an instruction fetch ends in
    /// `KVM_EXIT_INTERNAL_ERROR` (emulation) with RIP at the fetch.
    case hole

    /// The 4 KiB page size every protection works in.
    public static let pageSize: UInt64 = 0x1000

    /// `none`, `read-only` or `hole`.
    public var name: String {
        switch self {
        case .none: return "none"
        case .readOnly: return "read-only"
        case .hole: return "hole"
        }
    }
}
