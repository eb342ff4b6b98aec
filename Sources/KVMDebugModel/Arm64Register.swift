/// One arm64 register kvmdbg reads or writes, named by its `KVM_{GET,SET}_ONE_REG` id.
///
/// `kvmID` follows Documentation/virt/kvm/api.rst (arm64):
/// - core registers: KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
///   offsetof(struct kvm_regs, field) / 4. `struct kvm_regs` is user_pt_regs (x[31] at 0,
///   sp 248, pc 256, pstate 264), then sp_el1 (272), elr_el1 (280), spsr[5] (288; spsr[0]
///   is SPSR_EL1);
/// - system registers: ARM64_SYS_REG(op0, op1, CRn, CRm, op2) = 0x6030_0000_0013_0000 |
///   op0 << 14 | op1 << 11 | CRn << 7 | CRm << 3 | op2 (encodings from the Arm ARM).
public enum Arm64Register: Sendable, Hashable {
    /// X0...X30.
    case x(Int)
    /// SP_EL0 (`user_pt_regs.sp`).
    case spEL0
    /// SP_EL1 (`kvm_regs.sp_el1`).
    case spEL1
    case pc
    /// PSTATE (NZCV, DAIF, M[3:0] ...).
    case pstate
    /// ELR_EL1 (core register `elr_el1`).
    case elrEL1
    /// SPSR_EL1 (core register `spsr[0]`).
    case spsrEL1
    /// ESR_EL1: ARM64_SYS_REG(3, 0, 5, 2, 0).
    case esrEL1
    /// FAR_EL1: ARM64_SYS_REG(3, 0, 6, 0, 0).
    case farEL1
    /// VBAR_EL1: ARM64_SYS_REG(3, 0, 12, 0, 0).
    case vbarEL1
    /// SCTLR_EL1: ARM64_SYS_REG(3, 0, 1, 0, 0) (M, bit 0: stage-1 MMU on).
    case sctlrEL1
    /// TCR_EL1: ARM64_SYS_REG(3, 0, 2, 0, 2) (T0SZ, T1SZ, TG0, TG1).
    case tcrEL1
    /// TTBR0_EL1: ARM64_SYS_REG(3, 0, 2, 0, 0).
    case ttbr0EL1
    /// TTBR1_EL1: ARM64_SYS_REG(3, 0, 2, 0, 1).
    case ttbr1EL1

    static let core: UInt64 = 0x6030_0000_0010_0000

    /// ARM64_SYS_REG(op0, op1, CRn, CRm, op2).
    public static func systemRegisterID(op0: UInt64, op1: UInt64, crn: UInt64, crm: UInt64, op2: UInt64) -> UInt64 {
        0x6030_0000_0013_0000 | (op0 & 3) << 14 | (op1 & 7) << 11 | (crn & 15) << 7 | (crm & 15) << 3 | (op2 & 7)
    }

    /// The KVM_{GET,SET}_ONE_REG id.
    public var kvmID: UInt64 {
        switch self {
        case .x(let n): return Self.core | UInt64(n * 2)
        case .spEL0: return Self.core | 0x3E
        case .spEL1: return Self.core | 0x44
        case .pc: return Self.core | 0x40
        case .pstate: return Self.core | 0x42
        case .elrEL1: return Self.core | 0x46
        case .spsrEL1: return Self.core | 0x48
        case .esrEL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 5, crm: 2, op2: 0)
        case .farEL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 6, crm: 0, op2: 0)
        case .vbarEL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 12, crm: 0, op2: 0)
        case .sctlrEL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 1, crm: 0, op2: 0)
        case .tcrEL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 2, crm: 0, op2: 2)
        case .ttbr0EL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 2, crm: 0, op2: 0)
        case .ttbr1EL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 2, crm: 0, op2: 1)
        }
    }

    /// Lowercase name: `x0`...`x30`, `sp_el0`, `sp_el1`, `pc`, `pstate`, `elr_el1`, ...
    public var name: String {
        switch self {
        case .x(let n): return "x\(n)"
        case .spEL0: return "sp_el0"
        case .spEL1: return "sp_el1"
        case .pc: return "pc"
        case .pstate: return "pstate"
        case .elrEL1: return "elr_el1"
        case .spsrEL1: return "spsr_el1"
        case .esrEL1: return "esr_el1"
        case .farEL1: return "far_el1"
        case .vbarEL1: return "vbar_el1"
        case .sctlrEL1: return "sctlr_el1"
        case .tcrEL1: return "tcr_el1"
        case .ttbr0EL1: return "ttbr0_el1"
        case .ttbr1EL1: return "ttbr1_el1"
        }
    }
}
