/// The architecture part of a `KVM_EXIT_DEBUG` exit (`run->debug.arch`), plus the pc.
public enum DebugExit: Sendable, Hashable {
    /// x86 `kvm_debug_exit_arch`: exception 1 (#DB) or 3 (#BP), pc = linear RIP, DR6, DR7.
    /// DR6/DR7 are stale on #BP exits and must not be decoded then.
    case x86(exception: UInt32, pc: UInt64, dr6: UInt64, dr7: UInt64)
    /// arm64 `kvm_debug_exit_arch`: ESR_EL2 (hsr | hsr_high << 32), FAR (valid only for
    /// watchpoint exits), and the PC read with KVM_GET_ONE_REG.
    case arm64(esr: UInt64, far: UInt64, pc: UInt64)
    /// A `KVM_EXIT_MMIO` on a page kvmdbg protected for a watchpoint (`PageProtection`):
    /// the guest-physical address, direction and length KVM reported, and the pc after the
    /// access completed (trap-like, as an x86 data breakpoint).
    case protection(address: UInt64, isWrite: Bool, length: Int, pc: UInt64)

    /// The guest pc at the exit.
    public var pc: UInt64 {
        switch self {
        case .x86(_, let pc, _, _): return pc
        case .arm64(_, _, let pc): return pc
        case .protection(_, _, _, let pc): return pc
        }
    }
}

/// One return from KVM_RUN, mirroring the kernel's `KVM_EXIT_*` reasons kvmdbg handles.
public enum VCPUExit: Sendable, Hashable {
    /// KVM_EXIT_DEBUG (4).
    case debug(DebugExit)
    /// KVM_EXIT_HLT (5): the guest executed hlt (x86) or the fake backend's wfi/hlt.
    case halt(pc: UInt64)
    /// KVM_EXIT_IO (2).
    case io(port: UInt16, isWrite: Bool, size: Int, pc: UInt64)
    /// KVM_EXIT_MMIO (6).
    case mmio(address: UInt64, isWrite: Bool, length: Int, pc: UInt64)
    /// KVM_RUN returned EINTR or KVM_EXIT_INTR (10): kicked by a signal / immediate_exit.
    case interrupted
    /// KVM_EXIT_SHUTDOWN (8): triple fault or PSCI off.
    case shutdown
    /// KVM_EXIT_SYSTEM_EVENT (24): PSCI SYSTEM_OFF/RESET on arm64.
    case systemEvent(type: UInt32)
    /// KVM_EXIT_FAIL_ENTRY (9): hardware refused VM entry (e.g. DR7[63:32] set).
    case failEntry(reason: UInt64)
    /// KVM_EXIT_INTERNAL_ERROR (17): e.g. suberror 1, emulation failure.
    case internalError(suberror: UInt32)
    /// KVM_EXIT_EXCEPTION (1) or any reason kvmdbg does not decode.
    case unknown(reason: UInt32)

    /// A short name for the exit, used as the end reason.
    public var name: String {
        switch self {
        case .debug: return "debug"
        case .halt: return "guest-halted"
        case .io: return "io"
        case .mmio: return "mmio"
        case .interrupted: return "interrupted"
        case .shutdown: return "shutdown"
        case .systemEvent: return "system-event"
        case .failEntry: return "fail-entry"
        case .internalError: return "internal-error"
        case .unknown(let r): return "exit-\(r)"
        }
    }
}
