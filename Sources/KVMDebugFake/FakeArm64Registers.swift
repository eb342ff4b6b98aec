/// The arm64 registers the fake models: X0-X30, SP (SP_EL1), PC and PSTATE.
///
/// Register number 31 is XZR or SP depending on the instruction, so reads and
/// writes say which one they mean.
struct FakeArm64Registers: Sendable, Hashable {
    static let names = (0...30).map { "x\($0)" } + ["sp", "pc", "pstate"]
    /// KVM_ARM_VCPU_INIT's reset PSTATE: EL1h with D, A, I, F masked.
    static let resetPSTATE: UInt64 = 0x3C5

    var x = [UInt64](repeating: 0, count: 31)
    var sp: UInt64 = 0
    var pc: UInt64 = 0
    var pstate: UInt64 = resetPSTATE

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
