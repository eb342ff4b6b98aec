/// arm64 FP/SIMD registers: V0-V31 (128-bit), FPSR, FPCR: `struct user_fpsimd_state`, the
/// `fp_regs` member of `struct kvm_regs`, read and written one `KVM_{GET,SET}_ONE_REG` id each
/// (`Arm64FPRegister`). Not accepted for SVE-enabled vCPUs (api.rst: their Zn hold these bits).
public struct Arm64FPRegisterFile: Sendable, Hashable {
    /// V0...V31.
    public var v: [UInt128] = [UInt128](repeating: 0, count: 32)
    public var fpsr: UInt32 = 0
    public var fpcr: UInt32 = 0

    public init() {}

    /// Every register of the file with its ONE_REG id, in a fixed order.
    public static let all: [Arm64FPRegister] = (0..<32).map { Arm64FPRegister.v($0) } + [.fpsr, .fpcr]

    /// One register by id, as an unsigned value of its size.
    public subscript(_ r: Arm64FPRegister) -> UInt128 {
        get {
            switch r {
            case .v(let n): return v[n]
            case .fpsr: return UInt128(fpsr)
            case .fpcr: return UInt128(fpcr)
            }
        }
        set {
            switch r {
            case .v(let n): v[n] = newValue
            case .fpsr: fpsr = UInt32(truncatingIfNeeded: newValue)
            case .fpcr: fpcr = UInt32(truncatingIfNeeded: newValue)
            }
        }
    }
}

/// One arm64 FP/SIMD register named by its `KVM_{GET,SET}_ONE_REG` id.
///
/// api.rst (arm64 core registers): KVM_REG_ARM64 | size | KVM_REG_ARM_CORE |
/// offsetof(struct kvm_regs, fp_regs.x) / 4. `fp_regs` starts at byte 336 of `struct kvm_regs`,
/// so V0 is 0x6040_0000_0010_0054 (KVM_REG_SIZE_U128), Vn adds 4n; FPSR 0x6020_0000_0010_00D4
/// and FPCR 0x6020_0000_0010_00D5 (KVM_REG_SIZE_U32).
public enum Arm64FPRegister: Sendable, Hashable {
    case v(Int)
    case fpsr
    case fpcr

    /// Bytes the id's size field names (16 for Vn, 4 for FPSR/FPCR).
    public var bytes: Int {
        switch self {
        case .v: return 16
        case .fpsr, .fpcr: return 4
        }
    }

    /// The KVM_{GET,SET}_ONE_REG id.
    public var kvmID: UInt64 {
        switch self {
        case .v(let n): return 0x6040_0000_0010_0054 + UInt64(n * 4)
        case .fpsr: return 0x6020_0000_0010_00D4
        case .fpcr: return 0x6020_0000_0010_00D5
        }
    }

    /// Lowercase name: `v0`...`v31`, `fpsr`, `fpcr`.
    public var name: String {
        switch self {
        case .v(let n): return "v\(n)"
        case .fpsr: return "fpsr"
        case .fpcr: return "fpcr"
        }
    }
}
