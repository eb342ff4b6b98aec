/// The registers MRS/MSR reach beyond the EL1 system registers of `FakeArm64SystemRegister`,
/// each kept where KVM's ONE_REG serves it: FPCR and FPSR with V0-V31 (`fp_regs`), the guest's
/// own debug registers (DBGBVR/DBGBCR/DBGWVR/DBGWCR<n>_EL1, MDSCR_EL1) in
/// FakeGuestDebugRegisters, and CPACR_EL1, whose FPEN decides whether FP/SIMD instructions run.
enum FakeArm64ControlRegister: Sendable, Hashable {
    case fpcr, fpsr, cpacr
    /// A debug system register (op0 2, op1 0, CRn 0), by its CRm and op2: DBGBVR<n>_EL1 is
    /// (n, 4), DBGBCR (n, 5), DBGWVR (n, 6), DBGWCR (n, 7), MDSCR_EL1 (2, 2).
    case debug(crm: UInt32, op2: UInt32)

    /// From MRS/MSR bits [19:5], o0:op1:CRn:CRm:op2 with op0 = 2 + o0: FPCR is (3, 3, 4, 4, 0),
    /// FPSR (3, 3, 4, 4, 1), CPACR_EL1 (3, 0, 1, 0, 2); nil for any other register.
    init?(encoding e: UInt32) {
        switch e {
        case 0x5A20: self = .fpcr
        case 0x5A21: self = .fpsr
        case 0x4082: self = .cpacr
        default:
            // op0 2, op1 0, CRn 0: bits 14:7 zero.
            let crm = (e >> 3) & 15, op2 = e & 7
            guard e & 0x7F80 == 0, op2 >= 4 || (crm == 2 && op2 == 2) else { return nil }
            self = .debug(crm: crm, op2: op2)
        }
    }

    /// FPCR and FPSR: instructions that reach them are FP/SIMD instructions (CPACR_EL1.FPEN).
    var isFloatingPoint: Bool { self == .fpcr || self == .fpsr }

    /// The debug register's KVM_{GET,SET}_ONE_REG id, ARM64_SYS_REG(2, 0, 0, CRm, op2).
    var oneRegID: UInt64? {
        guard case .debug(let crm, let op2) = self else { return nil }
        return 0x6030_0000_0013_0000 | 2 << 14 | UInt64(crm) << 3 | UInt64(op2)
    }

    /// The architectural name, for messages.
    var name: String {
        switch self {
        case .fpcr: return "FPCR"
        case .fpsr: return "FPSR"
        case .cpacr: return "CPACR_EL1"
        case .debug(let crm, let op2):
            if op2 == 2 { return "MDSCR_EL1" }
            return ["DBGBVR", "DBGBCR", "DBGWVR", "DBGWCR"][Int(op2 - 4)] + "\(crm)_EL1"
        }
    }
}
