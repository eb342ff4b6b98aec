/// The `KVM_CAP_*` numbers kvmdbg asks about (include/uapi/linux/kvm.h).
public enum Capability: Int32, Sendable, CaseIterable {
    /// KVM_CAP_SET_GUEST_DEBUG (23): KVM_SET_GUEST_DEBUG exists.
    case setGuestDebug = 23
    /// KVM_CAP_MAX_VCPUS (66).
    case maxVCPUs = 66
    /// KVM_CAP_NR_VCPUS (9): recommended vCPU count.
    case recommendedVCPUs = 9
    /// KVM_CAP_GUEST_DEBUG_HW_BPS (119): arm64 hardware breakpoints.
    case guestDebugHardwareBreakpoints = 119
    /// KVM_CAP_GUEST_DEBUG_HW_WPS (120): arm64 hardware watchpoints.
    case guestDebugHardwareWatchpoints = 120
    /// KVM_CAP_SET_GUEST_DEBUG2 (195): returns the supported control mask.
    case setGuestDebug2 = 195
    /// KVM_CAP_DEBUGREGS (50): x86 KVM_GET/SET_DEBUGREGS.
    case debugRegisters = 50
    /// KVM_CAP_ADJUST_CLOCK (39): x86 kvmclock present (KVM_KVMCLOCK_CTRL needs it).
    case adjustClock = 39
    /// KVM_CAP_XSAVE (55): x86 KVM_GET/SET_XSAVE (the 4096-byte XSAVE area).
    case xsave = 55
    /// KVM_CAP_XSAVE2 (208): the XSAVE area's size for KVM_GET_XSAVE2 (>= 4096).
    case xsave2 = 208
    /// KVM_CAP_READONLY_MEM (81): memory slots may carry KVM_MEM_READONLY (protection watchpoints).
    case readOnlyMemory = 81
    /// KVM_CAP_ARM_NISV_TO_USER (177): arm64 data aborts without a valid syndrome (ESR_EL2.ISV = 0:
    /// ldp/stp, writeback, SIMD) on memory no writable slot backs can exit KVM_EXIT_ARM_NISV
    /// once enabled on the VM (KVM_ENABLE_CAP); otherwise KVM_RUN fails with ENOSYS.
    case armNISVToUser = 177
    /// KVM_CAP_ARM_SVE (170): arm64 vCPUs may be created with SVE (KVM_ARM_VCPU_SVE).
    case armSVE = 170
    /// KVM_CAP_SYNC_REGS (74): the register classes KVM copies into `kvm_run.s.regs` on every
    /// exit when asked (x86: KVM_SYNC_X86_REGS 1, _SREGS 2, _EVENTS 4).
    case syncRegs = 74

    /// The C name.
    public var name: String {
        switch self {
        case .setGuestDebug: return "KVM_CAP_SET_GUEST_DEBUG"
        case .maxVCPUs: return "KVM_CAP_MAX_VCPUS"
        case .recommendedVCPUs: return "KVM_CAP_NR_VCPUS"
        case .guestDebugHardwareBreakpoints: return "KVM_CAP_GUEST_DEBUG_HW_BPS"
        case .guestDebugHardwareWatchpoints: return "KVM_CAP_GUEST_DEBUG_HW_WPS"
        case .setGuestDebug2: return "KVM_CAP_SET_GUEST_DEBUG2"
        case .debugRegisters: return "KVM_CAP_DEBUGREGS"
        case .adjustClock: return "KVM_CAP_ADJUST_CLOCK"
        case .xsave: return "KVM_CAP_XSAVE"
        case .xsave2: return "KVM_CAP_XSAVE2"
        case .armNISVToUser: return "KVM_CAP_ARM_NISV_TO_USER"
        case .readOnlyMemory: return "KVM_CAP_READONLY_MEM"
        case .armSVE: return "KVM_CAP_ARM_SVE"
        case .syncRegs: return "KVM_CAP_SYNC_REGS"
        }
    }
}

/// What a backend can do for guest debugging, probed from the kernel (on the VM fd
/// where possible: some VM types report fewer slots than the system fd).
public struct Capabilities: Sendable, Hashable {
    public var arch: Arch
    /// KVM_CAP_SET_GUEST_DEBUG.
    public var setGuestDebug: Bool
    /// KVM_CAP_SET_GUEST_DEBUG2, decoded; nil when the kernel does not report it.
    public var supportedControl: GuestDebugControl?
    /// Hardware comparators per vCPU: arm64 from HW_BPS/HW_WPS; x86 DR0-DR3.
    public var slots: SlotCapacity
    /// arm64 KVM_CAP_GUEST_DEBUG_HW_BPS / _WPS as reported (0 on x86).
    public var reportedHardwareBreakpoints: Int
    public var reportedHardwareWatchpoints: Int
    /// KVM_CAP_MAX_VCPUS.
    public var maxVCPUs: Int
    /// Which backend answered: "kvm" or "fake".
    public var backend: String
    /// Free-form facts about the host (e.g. "PVM" for kvm_pvm).
    public var notes: [String]
    /// x86: the vCPUs have AVX (CPUID XSAVE and AVX), so the ymm upper halves are served.
    public var x86AVX = false
    /// arm64: the vCPUs were created with SVE (`KVM_ARM_VCPU_SVE`), all with this vector length
    /// in quadwords (`KVM_REG_ARM64_SVE_VLS`); Z/P/FFR/VG are then served and V is Z's low half.
    public var arm64SVEQuadwords: Int? = nil

    public init(arch: Arch, setGuestDebug: Bool, supportedControl: GuestDebugControl?, slots: SlotCapacity,
                reportedHardwareBreakpoints: Int, reportedHardwareWatchpoints: Int, maxVCPUs: Int,
                backend: String, notes: [String] = []) {
        self.arch = arch
        self.setGuestDebug = setGuestDebug
        self.supportedControl = supportedControl
        self.slots = slots
        self.reportedHardwareBreakpoints = reportedHardwareBreakpoints
        self.reportedHardwareWatchpoints = reportedHardwareWatchpoints
        self.maxVCPUs = maxVCPUs
        self.backend = backend
        self.notes = notes
    }

    /// True when SET_GUEST_DEBUG2 advertises `flag` (or, without that cap, for the base flags).
    public func supports(_ flag: GuestDebugControl) -> Bool {
        if let mask = supportedControl { return mask.contains(flag) }
        // Kernels without SET_GUEST_DEBUG2 still know ENABLE/SINGLESTEP and the USE_* bits.
        let base: GuestDebugControl
        switch arch {
        case .x86_64: base = [.enable, .singleStep, .x86UseSoftwareBreakpoints, .x86UseHardwareBreakpoints]
        case .arm64: base = [.enable, .singleStep, .arm64UseSoftwareBreakpoints, .arm64UseHardware]
        }
        return setGuestDebug && base.contains(flag)
    }
}
