/// The `control` word of `struct kvm_guest_debug`.
///
/// Generic bits are `KVM_GUESTDBG_ENABLE`/`_SINGLESTEP`; the top 16 bits are per
/// architecture (arch/x86/include/uapi/asm/kvm.h, arch/arm64/include/uapi/asm/kvm.h).
/// Also the decoded `KVM_CAP_SET_GUEST_DEBUG2` mask.
public struct GuestDebugControl: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// KVM_GUESTDBG_ENABLE (0x1): without it KVM turns all guest debugging off.
    public static let enable = GuestDebugControl(rawValue: 0x1)
    /// KVM_GUESTDBG_SINGLESTEP (0x2).
    public static let singleStep = GuestDebugControl(rawValue: 0x2)
    /// x86 KVM_GUESTDBG_USE_SW_BP (0x10000): intercept #BP (int3).
    public static let x86UseSoftwareBreakpoints = GuestDebugControl(rawValue: 0x1_0000)
    /// x86 KVM_GUESTDBG_USE_HW_BP (0x20000): load debugreg[0..3] and [7] instead of the guest's DRs.
    public static let x86UseHardwareBreakpoints = GuestDebugControl(rawValue: 0x2_0000)
    /// x86 KVM_GUESTDBG_INJECT_DB (0x40000): queue #DB into the guest.
    public static let x86InjectDebugException = GuestDebugControl(rawValue: 0x4_0000)
    /// x86 KVM_GUESTDBG_INJECT_BP (0x80000): queue #BP into the guest (hand a guest int3 back).
    public static let x86InjectBreakpoint = GuestDebugControl(rawValue: 0x8_0000)
    /// x86 KVM_GUESTDBG_BLOCKIRQ (0x100000): no IRQ/NMI/SMI injection while set (steps stay in line).
    public static let x86BlockIRQ = GuestDebugControl(rawValue: 0x10_0000)
    /// arm64 KVM_GUESTDBG_USE_SW_BP (1 << 16).
    public static let arm64UseSoftwareBreakpoints = GuestDebugControl(rawValue: 1 << 16)
    /// arm64 KVM_GUESTDBG_USE_HW (1 << 17): load dbg_bcr/bvr/wcr/wvr.
    public static let arm64UseHardware = GuestDebugControl(rawValue: 1 << 17)

    /// x86 KVM_GUESTDBG_VALID_MASK = 0x1F0003.
    public static let x86ValidMask = GuestDebugControl(rawValue: 0x1F_0003)
    /// arm64 KVM_GUESTDBG_VALID_MASK = 0x30003.
    public static let arm64ValidMask = GuestDebugControl(rawValue: 0x3_0003)

    /// The flags set in this word, by their KVM names, for one architecture.
    public func names(for arch: Arch) -> [String] {
        var out: [String] = []
        if contains(.enable) { out.append("ENABLE") }
        if contains(.singleStep) { out.append("SINGLESTEP") }
        switch arch {
        case .x86_64:
            if contains(.x86UseSoftwareBreakpoints) { out.append("USE_SW_BP") }
            if contains(.x86UseHardwareBreakpoints) { out.append("USE_HW_BP") }
            if contains(.x86InjectDebugException) { out.append("INJECT_DB") }
            if contains(.x86InjectBreakpoint) { out.append("INJECT_BP") }
            if contains(.x86BlockIRQ) { out.append("BLOCKIRQ") }
            let known = GuestDebugControl.x86ValidMask.rawValue
            if rawValue & ~known != 0 { out.append("unknown(\(hex(UInt64(rawValue & ~known))))") }
        case .arm64:
            if contains(.arm64UseSoftwareBreakpoints) { out.append("USE_SW_BP") }
            if contains(.arm64UseHardware) { out.append("USE_HW") }
            let known = GuestDebugControl.arm64ValidMask.rawValue
            if rawValue & ~known != 0 { out.append("unknown(\(hex(UInt64(rawValue & ~known))))") }
        }
        return out
    }
}

/// x86 `struct kvm_guest_debug_arch`: KVM reads `debugreg[0..3]` and `debugreg[7]` only.
public struct X86DebugRegisters: Sendable, Hashable {
    /// DR0-DR3: linear addresses.
    public var address: [UInt64]
    /// DR7: L/G enables, R/W and LEN fields; bit 10 always set, bits 63:32 zero.
    public var dr7: UInt64

    public init(address: [UInt64] = [0, 0, 0, 0], dr7: UInt64 = 0x400) {
        self.address = address
        self.dr7 = dr7
    }
}

/// arm64 `struct kvm_guest_debug_arch`: 16 of each register, 32-bit values in 64-bit fields.
public struct Arm64DebugRegisters: Sendable, Hashable {
    /// DBGBCR<n>_EL1.
    public var bcr: [UInt64]
    /// DBGBVR<n>_EL1.
    public var bvr: [UInt64]
    /// DBGWCR<n>_EL1.
    public var wcr: [UInt64]
    /// DBGWVR<n>_EL1.
    public var wvr: [UInt64]

    public init() {
        bcr = [UInt64](repeating: 0, count: 16)
        bvr = bcr
        wcr = bcr
        wvr = bcr
    }
}

/// Architecture registers of a `struct kvm_guest_debug`.
public enum ArchDebugRegisters: Sendable, Hashable {
    case x86(X86DebugRegisters)
    case arm64(Arm64DebugRegisters)
}

/// A whole `struct kvm_guest_debug`: what one KVM_SET_GUEST_DEBUG installs.
///
/// KVM replaces the vCPU's entire debug state with each call, so this is always
/// rebuilt in full from that vCPU's table, never patched.
public struct GuestDebugState: Sendable, Hashable {
    public var control: GuestDebugControl
    public var registers: ArchDebugRegisters

    public init(control: GuestDebugControl, registers: ArchDebugRegisters) {
        self.control = control
        self.registers = registers
    }

    /// Debugging off: control = 0, all registers zero (x86 DR7 keeps its fixed bit 10).
    public static func disabled(_ arch: Arch) -> GuestDebugState {
        switch arch {
        case .x86_64: return GuestDebugState(control: [], registers: .x86(X86DebugRegisters()))
        case .arm64: return GuestDebugState(control: [], registers: .arm64(Arm64DebugRegisters()))
        }
    }
}
