import KVMDebugModel

/// The arm64 registers the fake models: X0-X30, SP (SP_EL1), PC and PSTATE, plus the
/// EL1 exception registers a guest's own vector table uses (ELR_EL1, SPSR_EL1,
/// ESR_EL1, FAR_EL1, VBAR_EL1), zero after reset (VBAR_EL1 is UNKNOWN
/// architecturally; guests set it before relying on it), and V0-V31/FPCR/FPSR, CPACR_EL1 and the
/// guest's own debug registers (`FakeArm64ControlRegister`).
///
/// Register number 31 is XZR or SP depending on the instruction, so reads and
/// writes say which one they mean.
struct FakeArm64Registers: Sendable, Hashable {
    static let names = (0...30).map { "x\($0)" } + ["sp", "pc", "pstate"] + FakeArm64SystemRegister.allCases.map(\.name)
    /// KVM_ARM_VCPU_INIT's reset PSTATE: EL1h with D, A, I, F masked.
    static let resetPSTATE: UInt64 = 0x3C5

    var x = [UInt64](repeating: 0, count: 31)
    var sp: UInt64 = 0
    var pc: UInt64 = 0
    var pstate: UInt64 = resetPSTATE
    /// The EL1 system registers, by `FakeArm64SystemRegister`.
    var system = [UInt64](repeating: 0, count: FakeArm64SystemRegister.allCases.count)
    /// V0-V31, FPSR, FPCR (Z/P/FFR with SVE), as ONE_REG serves them.
    var fp = FakeArm64FPU()
    /// The guest's own debug registers, as ONE_REG serves them.
    var debug = FakeGuestDebugRegisters(breakpoints: 0, watchpoints: 0)
    /// CPACR_EL1: KVM resets it to 0 (sys_regs.c, reset_val), so FPEN traps FP/SIMD at EL1
    /// until the guest sets it.
    var cpacr: UInt64 = 0

    func read(_ r: FakeArm64SystemRegister) -> UInt64 { system[r.rawValue] }
    mutating func write(_ r: FakeArm64SystemRegister, _ value: UInt64) { system[r.rawValue] = value }

    /// Whether CPACR_EL1.FPEN (bits 21:20) traps FP/SIMD instructions at the current EL:
    /// 0b11 traps nothing, 0b01 only EL0, 0b00 and 0b10 EL0 and EL1.
    var floatingPointTraps: Bool {
        let fpen = (cpacr >> 20) & 3
        return (pstate >> 2) & 3 == 0 ? fpen != 3 : fpen & 1 == 0
    }

    /// MRS of `c`; nil for a debug register slot the vCPU does not have (UNDEFINED).
    func read(_ c: FakeArm64ControlRegister) -> UInt64? {
        switch c {
        case .fpcr: return UInt64(fp.fpcr)
        case .fpsr: return UInt64(fp.fpsr)
        case .cpacr: return cpacr
        case .debug: return c.oneRegID.flatMap { debug.getArm64($0) }
        }
    }

    /// MSR of `c`; false (nothing written) for a debug register slot the vCPU does not have.
    /// FPCR and FPSR keep their low 32 bits (bits 63:32 are RES0; KVM's ABI holds 32).
    mutating func write(_ c: FakeArm64ControlRegister, _ value: UInt64) -> Bool {
        switch c {
        case .fpcr: fp.fpcr = UInt32(truncatingIfNeeded: value)
        case .fpsr: fp.fpsr = UInt32(truncatingIfNeeded: value)
        case .cpacr: cpacr = value
        case .debug: return c.oneRegID.map { debug.setArm64($0, value) } ?? false
        }
        return true
    }

    /// Xn, with 31 = XZR.
    func read(_ n: Int) -> UInt64 { n == 31 ? 0 : x[n] }
    /// Xn, with 31 = SP.
    func readSP(_ n: Int) -> UInt64 { n == 31 ? sp : x[n] }

    /// Writes Xn (31 = XZR: discarded); a 32-bit write clears the upper half.
    mutating func write(_ n: Int, _ value: UInt64, is64: Bool = true) {
        guard n != 31 else { return }
        x[n] = is64 ? value : value & 0xFFFF_FFFF
    }

    /// Writes Xn or SP (31 = SP).
    mutating func writeSP(_ n: Int, _ value: UInt64, is64: Bool = true) {
        let v = is64 ? value : value & 0xFFFF_FFFF
        if n == 31 { sp = v } else { x[n] = v }
    }

    /// PSTATE.N, Z, C, V (bits 31:28).
    var n: Bool { pstate & (1 << 31) != 0 }
    var z: Bool { pstate & (1 << 30) != 0 }
    var c: Bool { pstate & (1 << 29) != 0 }
    var v: Bool { pstate & (1 << 28) != 0 }

    mutating func setFlags(n: Bool, z: Bool, c: Bool, v: Bool) {
        pstate &= ~0xF000_0000
        if n { pstate |= 1 << 31 }
        if z { pstate |= 1 << 30 }
        if c { pstate |= 1 << 29 }
        if v { pstate |= 1 << 28 }
    }

    /// ConditionHolds() of the Arm ARM for a 4-bit condition code.
    func conditionHolds(_ cond: UInt32) -> Bool {
        let result: Bool
        switch cond >> 1 {
        case 0: result = z
        case 1: result = c
        case 2: result = n
        case 3: result = v
        case 4: result = c && !z
        case 5: result = n == v
        case 6: result = n == v && !z
        default: result = true
        }
        return cond & 1 == 1 && cond != 0xF ? !result : result
    }
}

/// The EL1 system registers the fake models (MRS/MSR), with their A64 encodings
/// o0:op1:CRn:CRm:op2 = instruction bits [19:5] (op0 = 2 + o0).
enum FakeArm64SystemRegister: Int, Sendable, Hashable, CaseIterable {
    case elrEL1, spsrEL1, esrEL1, farEL1, vbarEL1, sctlrEL1, tcrEL1, ttbr0EL1, ttbr1EL1

    /// (3, 0, 4, 0, 1), (3, 0, 4, 0, 0), (3, 0, 5, 2, 0), (3, 0, 6, 0, 0), (3, 0, 12, 0, 0),
    /// (3, 0, 1, 0, 0), (3, 0, 2, 0, 2), (3, 0, 2, 0, 0), (3, 0, 2, 0, 1).
    var encoding: UInt32 {
        switch self {
        case .elrEL1: return 0x4201
        case .spsrEL1: return 0x4200
        case .esrEL1: return 0x4290
        case .farEL1: return 0x4300
        case .vbarEL1: return 0x4600
        case .sctlrEL1: return 0x4080
        case .tcrEL1: return 0x4102
        case .ttbr0EL1: return 0x4100
        case .ttbr1EL1: return 0x4101
        }
    }

    /// The same register as KVM_{GET,SET}_ONE_REG names it.
    var kvmRegister: Arm64Register {
        switch self {
        case .elrEL1: return .elrEL1
        case .spsrEL1: return .spsrEL1
        case .esrEL1: return .esrEL1
        case .farEL1: return .farEL1
        case .vbarEL1: return .vbarEL1
        case .sctlrEL1: return .sctlrEL1
        case .tcrEL1: return .tcrEL1
        case .ttbr0EL1: return .ttbr0EL1
        case .ttbr1EL1: return .ttbr1EL1
        }
    }

    var name: String { kvmRegister.name }

    init?(encoding: UInt32) {
        guard let r = Self.allCases.first(where: { $0.encoding == encoding }) else { return nil }
        self = r
    }

    init?(name: String) {
        guard let r = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = r
    }
}
