import KVMDebugModel

/// One x86 general-purpose register operand: an index 0-15, or AH/CH/DH/BH.
struct FakeX86Register: Sendable, Hashable {
    var index: Int
    /// Bits 15:8 of register `index` (AH, CH, DH, BH: 8-bit encodings 4-7 without REX).
    var highByte: Bool = false
}

/// The x86 registers KVM_GET_REGS returns that the fake models.
///
/// Writes follow the operand-size rules: 8- and 16-bit writes keep the other bits;
/// 32-bit writes zero-extend in long mode (SDM vol. 1 §3.4.1.1) and keep the upper
/// half in real mode.
struct FakeX86Registers: Sendable, Hashable {
    static let names = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]

    /// RFLAGS bits the fake uses.
    static let flagCarry: UInt64 = 1 << 0
    static let flagFixed: UInt64 = 0x2
    static let flagZero: UInt64 = 1 << 6
    static let flagSign: UInt64 = 1 << 7
    static let flagOverflow: UInt64 = 1 << 11
    static let flagTrap: UInt64 = 1 << 8
    static let flagResume: UInt64 = 1 << 16

    var gpr = [UInt64](repeating: 0, count: 16)
    var rip: UInt64 = 0
    var rflags: UInt64 = flagFixed

    static func mask(_ size: Int) -> UInt64 { size >= 8 ? ~0 : (1 << UInt64(8 * size)) - 1 }

    func read(_ r: FakeX86Register, size: Int) -> UInt64 {
        if r.highByte { return (gpr[r.index] >> 8) & 0xFF }
        return gpr[r.index] & Self.mask(size)
    }

    mutating func write(_ r: FakeX86Register, size: Int, _ value: UInt64, mode: CPUMode) {
        if r.highByte {
            gpr[r.index] = (gpr[r.index] & ~0xFF00) | ((value & 0xFF) << 8)
        } else if size == 8 || (size == 4 && mode == .long) {
            gpr[r.index] = value & Self.mask(size)
        } else {
            let m = Self.mask(size)
            gpr[r.index] = (gpr[r.index] & ~m) | (value & m)
        }
    }

    /// Sets ZF from a result of `size` bytes.
    mutating func setZeroFlag(_ result: UInt64, size: Int) {
        if result & Self.mask(size) == 0 { rflags |= Self.flagZero } else { rflags &= ~Self.flagZero }
    }

    var zeroFlag: Bool { rflags & Self.flagZero != 0 }

    func flag(_ bit: UInt64) -> Bool { rflags & bit != 0 }

    mutating func setFlag(_ bit: UInt64, _ on: Bool) {
        if on { rflags |= bit } else { rflags &= ~bit }
    }

    /// CF, ZF, SF, OF of `a op b = result` at `size` bytes (SDM vol. 1 §3.4.3.1): add
    /// carries out of the top bit; sub/cmp borrow (a < b unsigned); OF when the signs of
    /// the operands agree (add) or differ (sub) and the result's sign is not a's; xor
    /// clears CF and OF.
    mutating func setArithmeticFlags(_ op: FakeX86Interpreter.ALU, _ a: UInt64, _ b: UInt64, _ result: UInt64, size: Int) {
        let m = Self.mask(size), top: UInt64 = 1 << UInt64(8 * size - 1)
        let a = a & m, b = b & m, res = result & m
        setZeroFlag(res, size: size)
        setFlag(Self.flagSign, res & top != 0)
        switch op {
        case .add:
            setFlag(Self.flagCarry, res < a)
            setFlag(Self.flagOverflow, (~(a ^ b) & (a ^ res)) & top != 0)
        case .sub, .cmp:
            setFlag(Self.flagCarry, a < b)
            setFlag(Self.flagOverflow, ((a ^ b) & (a ^ res)) & top != 0)
        case .and, .or, .xor, .test:
            setFlag(Self.flagCarry, false)
            setFlag(Self.flagOverflow, false)
        }
    }
}
