/// The architecture part of a `KVM_EXIT_DEBUG` exit (`run->debug.arch`), plus the pc.
public enum DebugExit: Sendable, Hashable {
    /// x86 `kvm_debug_exit_arch`: exception 1 (#DB) or 3 (#BP), pc = linear RIP, DR6, DR7.
    /// DR6/DR7 are stale on #BP exits and must not be decoded then.
    case x86(exception: UInt32, pc: UInt64, dr6: UInt64, dr7: UInt64)
    /// arm64 `kvm_debug_exit_arch`: ESR_EL2 (hsr | hsr_high << 32), FAR (valid only for
    /// watchpoint exits), and the PC read with KVM_GET_ONE_REG.
    case arm64(esr: UInt64, far: UInt64, pc: UInt64)
    /// A `KVM_EXIT_MMIO` on a page kvmdbg protected for a watchpoint (`PageProtection`):
    /// the guest-physical address, direction and length KVM reported, and the pc: x86, after the
    /// access completed (trap-like, as an x86 data breakpoint); arm64, at the access, which
    /// completes on resume (as an arm64 watchpoint). Length 0: an arm64 KVM_EXIT_ARM_NISV, whose
    /// size KVM does not give (address = fault_ipa).
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
    /// KVM_EXIT_ARM_NISV (28): an arm64 data abort on memory no writable slot backs whose
    /// syndrome is not valid (ESR_EL2.ISV = 0: ldp/stp, writeback, SIMD), reported only where
    /// the VM enabled KVM_CAP_ARM_NISV_TO_USER. `fault_ipa` is the faulting guest-physical
    /// address (HPFAR's page plus FAR's low 12 bits), `esr_iss` the ESR bits KVM keeps (CM bit 8,
    /// WnR bit 6, FSC bits 5:0); no size, no data. The instruction has not run: pc is at it.
    case armNISV(faultIPA: UInt64, esrISS: UInt64, pc: UInt64)
    /// KVM_RUN returned EINTR or KVM_EXIT_INTR (10): kicked by a signal / immediate_exit.
    case interrupted
    /// KVM_EXIT_SHUTDOWN (8): an x86 triple fault. `kvm_run` carries no field; the
    /// registers are read after it (what they hold depends on the KVM flavour, see `ExitReport`).
    case shutdown
    /// KVM_EXIT_SYSTEM_EVENT (24): `system_event.type` (KVM_SYSTEM_EVENT_SHUTDOWN 1, RESET 2,
    /// CRASH 3, WAKEUP 4, SUSPEND 5, SEV_TERM 6, TDX_FATAL 7) and its `ndata` words
    /// (`data[0]` is the older `flags`, e.g. KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2).
    case systemEvent(type: UInt32, data: [UInt64] = [])
    /// KVM_EXIT_FAIL_ENTRY (9): hardware refused VM entry (e.g. DR7[63:32] set):
    /// `fail_entry.hardware_entry_failure_reason` and the host `cpu` it happened on.
    case failEntry(reason: UInt64, cpu: UInt32? = nil)
    /// KVM_EXIT_INTERNAL_ERROR (17): `internal.suberror` (KVM_INTERNAL_ERROR_EMULATION 1,
    /// SIMUL_EX 2, DELIVERY_EV 3, UNEXPECTED_EXIT_REASON 4) and its `ndata` data words.
    case internalError(suberror: UInt32, data: [UInt64] = [])
    /// KVM_EXIT_EXCEPTION (1) or any reason kvmdbg does not decode.
    case unknown(reason: UInt32)

    /// A short name for the exit, used as the end reason.
    public var name: String {
        switch self {
        case .debug: return "debug"
        case .halt: return "guest-halted"
        case .io: return "io"
        case .mmio: return "mmio"
        case .armNISV: return "arm-nisv"
        case .interrupted: return "interrupted"
        case .shutdown: return "shutdown"
        case .systemEvent: return "system-event"
        case .failEntry: return "fail-entry"
        case .internalError: return "internal-error"
        case .unknown(let r): return "exit-\(r)"
        }
    }
}
