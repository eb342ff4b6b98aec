/// arm64 registers kvmdbg reads or writes beyond the pc: the ones needed to hand a
/// guest's own BRK back to its EL1 vector (there is no arm64 INJECT flag), plus the
/// general registers for checks.
///
/// `kvmID` is the `KVM_{GET,SET}_ONE_REG` id (Documentation/virt/kvm/api.rst, arm64):
/// - core registers: KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
///   offsetof(struct kvm_regs, field) / 4. `struct kvm_regs` is user_pt_regs (x[31], sp,
///   pc, pstate: 272 bytes), then sp_el1 (272), elr_el1 (280), spsr[5] (288; spsr[0] is
///   SPSR_EL1);
/// - system registers: ARM64_SYS_REG(op0, op1, CRn, CRm, op2) = 0x6030_0000_0013_0000 |
///   op0 << 14 | op1 << 11 | CRn << 7 | CRm << 3 | op2.
public enum Arm64Register: Sendable, Hashable {
    /// X0...X30.
    case x(Int)
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

    static let core: UInt64 = 0x6030_0000_0010_0000

    /// ARM64_SYS_REG(op0, op1, CRn, CRm, op2).
    public static func systemRegisterID(op0: UInt64, op1: UInt64, crn: UInt64, crm: UInt64, op2: UInt64) -> UInt64 {
        0x6030_0000_0013_0000 | (op0 & 3) << 14 | (op1 & 7) << 11 | (crn & 15) << 7 | (crm & 15) << 3 | (op2 & 7)
    }

    /// The KVM_{GET,SET}_ONE_REG id.
    public var kvmID: UInt64 {
        switch self {
        case .x(let n): return Self.core | UInt64(n * 2)
        case .pc: return Self.core | 0x40
        case .pstate: return Self.core | 0x42
        case .elrEL1: return Self.core | 0x46
        case .spsrEL1: return Self.core | 0x48
        case .esrEL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 5, crm: 2, op2: 0)
        case .farEL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 6, crm: 0, op2: 0)
        case .vbarEL1: return Self.systemRegisterID(op0: 3, op1: 0, crn: 12, crm: 0, op2: 0)
        }
    }

    /// Lowercase name: `x0`...`x30`, `pc`, `pstate`, `elr_el1`, `spsr_el1`, `esr_el1`, `far_el1`, `vbar_el1`.
    public var name: String {
        switch self {
        case .x(let n): return "x\(n)"
        case .pc: return "pc"
        case .pstate: return "pstate"
        case .elrEL1: return "elr_el1"
        case .spsrEL1: return "spsr_el1"
        case .esrEL1: return "esr_el1"
        case .farEL1: return "far_el1"
        case .vbarEL1: return "vbar_el1"
        }
    }
}

extension DebugBackend {
    /// Default for backends without arm64 register access (x86, host VMM adapters).
    public func arm64Register(_ register: Arm64Register, vcpu: Int) throws(DebugError) -> UInt64 {
        throw .unsupported(reason: "this backend cannot read arm64 register \(register.name)")
    }

    /// Default for backends without arm64 register access.
    public func setArm64Register(_ register: Arm64Register, _ value: UInt64, vcpu: Int) throws(DebugError) {
        throw .unsupported(reason: "this backend cannot write arm64 register \(register.name)")
    }
}
