import KVMDebugModel

/// Decodes one instruction of `FakeX86Interpreter`'s subset (its table lists the rows): the
/// prefixes, then one function per opcode family. Memory operands are resolved from the
/// registers of the moment the instruction is decoded (right before it executes).
struct FakeX86Decoder {
    typealias Interp = FakeX86Interpreter
    typealias Operand = Interp.Operand
    typealias Instruction = Interp.Instruction

    /// Raised inside the decoder; mapped to a result by `FakeX86Interpreter.decode`.
    enum Failure: Error {
        /// The bytes ran out (the instruction crosses the end of RAM).
        case truncated
        case unsupported
    }

    let bytes: [UInt8]
    let rip: UInt64
    let long: Bool
    let registers: FakeX86Registers
    /// Bytes consumed so far.
    private var i = 0
    private var operandOverride = false
    /// F2 / F3: only as SSE's mandatory prefixes.
    private var repeatPrefix: UInt8 = 0
    private var rex: UInt8 = 0

    init(_ bytes: [UInt8], rip: UInt64, mode: CPUMode, registers: FakeX86Registers) {
        self.bytes = bytes
        self.rip = rip
        self.long = mode == .long
        self.registers = registers
    }

    private var hasREX: Bool { rex != 0 }
    private var rexW: Bool { rex & 8 != 0 }
    private var rexR: Bool { rex & 4 != 0 }
    private var rexX: Bool { rex & 2 != 0 }
    private var rexB: Bool { rex & 1 != 0 }
    /// The operand size in bytes (66 and REX.W applied).
    private var size: Int { long ? (rexW ? 8 : (operandOverride ? 2 : 4)) : (operandOverride ? 4 : 2) }
    private var ipMask: UInt64 { long ? ~0 : 0xFFFF }

    /// The prefixes, then the instruction.
    mutating func decode() throws(Failure) -> Instruction {
        var opcode = try byte()
        while opcode == 0x66 || opcode == 0xF2 || opcode == 0xF3 {
            if opcode == 0x66 { operandOverride = true } else { repeatPrefix = opcode }
            opcode = try byte()
        }
        guard repeatPrefix == 0 || (long && opcode & 0xF0 == 0x40) || (long && opcode == 0x0F) else { throw .unsupported }
        if long && opcode & 0xF0 == 0x40 {
            rex = opcode
            opcode = try byte()
        }
        if opcode == 0x0F {
            guard long else { throw .unsupported }
            return try twoByte(try byte())
        }
        if let insn = try arithmetic(opcode) { return insn }
        if let insn = try move(opcode) { return insn }
        if let insn = try control(opcode) { return insn }
        throw .unsupported
    }

    // MARK: Bytes and operands

    private mutating func byte() throws(Failure) -> UInt8 {
        guard i < bytes.count else { throw .truncated }
        defer { i += 1 }
        return bytes[i]
    }

    private mutating func little(_ n: Int) throws(Failure) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<n { v |= UInt64(try byte()) << UInt64(8 * k) }
        return v
    }

    private func signExtend(_ v: UInt64, bytes n: Int) -> UInt64 {
        let shift = UInt64(64 - 8 * n)
        return UInt64(bitPattern: Int64(bitPattern: v << shift) >> Int64(shift))
    }

    private func reg8(_ n: Int) -> FakeX86Register {
        !hasREX && n >= 4 && n < 8 ? FakeX86Register(index: n - 4, highByte: true) : FakeX86Register(index: n)
    }

    private func register(_ n: Int, size: Int) -> FakeX86Register {
        size == 1 ? reg8(n) : FakeX86Register(index: n)
    }

    /// RIP after the bytes consumed so far (wrapped to 16 bits in real mode).
    private func end() -> UInt64 { (rip &+ UInt64(i)) & ipMask }

    /// The instruction ending at the bytes consumed so far. Read the operands into locals first:
    /// `self` (and so `i`) is loaded before the arguments of a call are evaluated.
    private func done(_ size: Int, _ op: Interp.Operation) -> Instruction {
        Instruction(length: i, size: size, operation: op, next: end())
    }

    /// ModRM: (reg field, r/m operand). Memory forms per the interpreter's table; `immediate`
    /// is the size of an immediate after the ModRM bytes (RIP-relative counts from the end of
    /// the whole instruction).
    private mutating func modRM(size: Int, immediate: Int = 0) throws(Failure) -> (reg: Int, rm: Operand) {
        let m = try byte()
        let mod = m >> 6, rm = Int(m & 7)
        let reg = Int((m >> 3) & 7) | (rexR ? 8 : 0)
        if mod == 3 { return (reg, .register(register(rm | (rexB ? 8 : 0), size: size))) }
        if !long { return (reg, .memory(try realModeAddress(mod: mod, rm: rm))) }
        var address: UInt64 = 0
        if rm == 4 {
            // SIB: base 101 with mod 00 is "no base, disp32"; index 100 without REX.X is none.
            let sib = try byte()
            let index = Int((sib >> 3) & 7) | (rexX ? 8 : 0)
            if index != 4 { address = registers.gpr[index] << UInt64(sib >> 6) }
            let base = Int(sib & 7)
            if base == 5 && mod == 0 {
                return (reg, .memory(address &+ signExtend(try little(4), bytes: 4)))
            }
            address &+= registers.gpr[base | (rexB ? 8 : 0)]
        } else if rm == 5 && mod == 0 {
            let disp = signExtend(try little(4), bytes: 4)
            return (reg, .memory(end() &+ UInt64(immediate) &+ disp))
        } else {
            address = registers.gpr[rm | (rexB ? 8 : 0)]
        }
        if mod == 1 { address &+= signExtend(UInt64(try byte()), bytes: 1) }
        if mod == 2 { address &+= signExtend(try little(4), bytes: 4) }
        return (reg, .memory(address))
    }

    /// A 16-bit memory operand (SDM vol. 2 table 2-1: BX, BP as base, SI, DI as index;
    /// rm = 110 is [bp] except with mod 00, where it is disp16), wrapped to 16 bits.
    private mutating func realModeAddress(mod: UInt8, rm: Int) throws(Failure) -> UInt64 {
        if mod == 0 && rm == 6 { return try little(2) }
        let bx = registers.gpr[3], bp = registers.gpr[5], si = registers.gpr[6], di = registers.gpr[7]
        let bases: [UInt64] = [bx &+ si, bx &+ di, bp &+ si, bp &+ di, si, di, bp, bx]
        var address = bases[rm]
        if mod == 1 { address &+= signExtend(UInt64(try byte()), bytes: 1) }
        if mod == 2 { address &+= try little(2) }
        return address & 0xFFFF
    }

    private mutating func relative(_ n: Int) throws(Failure) -> UInt64 {
        let disp = signExtend(try little(n), bytes: n)
        return (end() &+ disp) & ipMask
    }

    /// Memory operands of the ALU and inc/dec forms are long mode only (real mode keeps the
    /// original register-only subset).
    private func aluOperand(_ rm: Operand) throws(Failure) -> Operand {
        if case .memory = rm, !long { throw .unsupported }
        return rm
    }

    private mutating func branch(_ n: Int, condition: UInt8?) throws(Failure) -> Instruction {
        // A 66 prefix on a long-mode branch truncates RIP differently on Intel and AMD.
        guard !(long && operandOverride) else { throw .unsupported }
        let target = try relative(n)
        guard let c = condition else { return done(size, .jump(target: target)) }
        guard c >> 1 != 5 else { throw .unsupported }  // jp/jnp: PF is not modelled
        return done(size, .jumpIf(Interp.Condition(code: c), target: target))
    }

    // MARK: One-byte opcodes

    /// The ALU, inc/dec and shift rows; nil for other opcodes.
    private mutating func arithmetic(_ opcode: UInt8) throws(Failure) -> Instruction? {
        func alu(_ low: UInt8) -> Interp.ALU {
            switch low {
            case 0x00: return .add
            case 0x08: return .or
            case 0x20: return .and
            case 0x28: return .sub
            case 0x30: return .xor
            default: return .cmp
            }
        }
        switch opcode {
        case 0x85:
            let (reg, rm) = try modRM(size: size)
            return done(size, .alu(.test, destination: try aluOperand(rm), source: .register(FakeX86Register(index: reg))))
        case 0x01, 0x09, 0x21, 0x29, 0x31, 0x39:
            let (reg, rm) = try modRM(size: size)
            return done(size, .alu(alu(opcode & 0xF8), destination: try aluOperand(rm), source: .register(FakeX86Register(index: reg))))
        case 0x03, 0x0B, 0x23, 0x2B, 0x33, 0x3B:
            let (reg, rm) = try modRM(size: size)
            return done(size, .alu(alu(opcode & 0xF8), destination: .register(FakeX86Register(index: reg)), source: try aluOperand(rm)))
        case 0x83:
            let (reg, rm) = try modRM(size: size, immediate: 1)
            let dst = try aluOperand(rm)
            let op: Interp.ALU
            switch reg & 7 {
            case 0: op = .add
            case 1: op = .or
            case 4: op = .and
            case 5: op = .sub
            case 7: op = .cmp
            default: throw .unsupported
            }
            let imm = signExtend(UInt64(try byte()), bytes: 1)
            return done(size, .alu(op, destination: dst, source: .immediate(imm)))
        case 0x40...0x4F where !long:
            let delta: UInt64 = opcode < 0x48 ? 1 : ~0
            return done(size, .incDec(.register(FakeX86Register(index: Int(opcode & 7))), delta: delta))
        case 0xFF:
            let (reg, rm) = try modRM(size: size)
            switch reg & 7 {
            case 0, 1:
                return done(size, .incDec(try aluOperand(rm), delta: reg & 7 == 0 ? 1 : ~0))
            case 4:
                // jmp r64: the target is the register's value now (64-bit operand, REX.W or not).
                guard long, !operandOverride, case .register(let r) = rm else { throw .unsupported }
                return done(8, .jump(target: registers.gpr[r.index]))
            default:
                throw .unsupported
            }
        case 0xC1:
            let (reg, rm) = try modRM(size: size, immediate: 1)
            guard case .register(let dst) = rm, reg & 7 == 4 else { throw .unsupported }
            let count = UInt64(try byte()) & (size == 8 ? 63 : 31)
            return done(size, .shiftLeft(dst, count: count))
        default:
            return nil
        }
    }

    /// The mov rows; nil for other opcodes.
    private mutating func move(_ opcode: UInt8) throws(Failure) -> Instruction? {
        switch opcode {
        case 0x88, 0x89:
            let s = opcode == 0x88 ? 1 : size
            let (reg, rm) = try modRM(size: s)
            return done(s, .mov(destination: rm, source: .register(register(reg, size: s))))
        case 0x8A, 0x8B:
            let s = opcode == 0x8A ? 1 : size
            let (reg, rm) = try modRM(size: s)
            return done(s, .mov(destination: .register(register(reg, size: s)), source: rm))
        case 0xC7 where long:
            let (reg, rm) = try modRM(size: size, immediate: size == 2 ? 2 : 4)
            guard reg & 7 == 0 else { throw .unsupported }
            let imm = size == 2 ? try little(2) : signExtend(try little(4), bytes: 4)
            return done(size, .mov(destination: rm, source: .immediate(imm)))
        case 0xA0...0xA3:
            let s = opcode & 1 == 0 ? 1 : size
            let address = try little(long ? 8 : 2)
            let acc = FakeX86Register(index: 0)
            return opcode < 0xA2
                ? done(s, .mov(destination: .register(acc), source: .memory(address)))
                : done(s, .mov(destination: .memory(address), source: .register(acc)))
        case 0xB0...0xB7:
            let dst = reg8(Int(opcode & 7) | (rexB ? 8 : 0))
            let imm = UInt64(try byte())
            return done(1, .mov(destination: .register(dst), source: .immediate(imm)))
        case 0xB8...0xBF:
            let dst = FakeX86Register(index: Int(opcode & 7) | (rexB ? 8 : 0))
            let imm = try little(size)
            return done(size, .mov(destination: .register(dst), source: .immediate(imm)))
        default:
            return nil
        }
    }

    /// nop, hlt, int3, the stack rows and the branches; nil for other opcodes.
    private mutating func control(_ opcode: UInt8) throws(Failure) -> Instruction? {
        let stack = long && !operandOverride
        let rsp = registers.gpr[4]
        switch opcode {
        case 0x90:
            guard !rexB else { throw .unsupported }
            return done(size, .nop)
        case 0xF4:
            return done(size, .hlt)
        case 0xCC:
            return done(size, .int3)
        case 0x50...0x57 where stack:
            let r = FakeX86Register(index: Int(opcode & 7) | (rexB ? 8 : 0))
            return done(8, .push(r, slot: rsp &- 8))
        case 0x58...0x5F where stack:
            return done(8, .pop(FakeX86Register(index: Int(opcode & 7) | (rexB ? 8 : 0)), slot: rsp))
        case 0xE8 where stack:
            let target = try relative(4)
            return done(8, .call(target: target, slot: rsp &- 8))
        case 0xC3 where stack:
            return done(8, .ret(slot: rsp))
        case 0xC9 where stack:
            return done(8, .leave(slot: registers.gpr[5]))
        case 0xEB:
            return try branch(1, condition: nil)
        case 0xE9:
            return try branch(size == 2 ? 2 : 4, condition: nil)
        case 0x70...0x7F:
            return try branch(1, condition: opcode & 0xF)
        default:
            return nil
        }
    }

    // MARK: Two-byte opcodes (long mode)

    /// `0F second`: the SSE rows, then jcc rel32, imul, the system rows.
    private mutating func twoByte(_ second: UInt8) throws(Failure) -> Instruction {
        if let op = Interp.sse(second, prefix: repeatPrefix, operandOverride: operandOverride, rexW: rexW) {
            let s = op == .movdquLoad || op == .movdquStore || op == .pxor ? 16
                : op == .cvtsi2sd && !rexW ? 4 : 8
            let (reg, rm) = try modRM(size: 8)
            return done(s, .sse(op, xmm: reg, rm: rm))
        }
        guard repeatPrefix == 0 else { throw .unsupported }
        switch second {
        case 0x80...0x8F:
            return try branch(4, condition: second & 0xF)
        case 0xAF:
            let (reg, rm) = try modRM(size: size)
            return done(size, .imul(FakeX86Register(index: reg), source: rm))
        case 0xAE:
            return try stateGroup()
        default:
            return try system(second)
        }
    }

    /// Group 15 (0F AE, SDM vol. 2 table A-6) with a memory operand: /0 fxsave, /1 fxrstor
    /// (REX.W: the 64 forms), /2 ldmxcsr, /3 stmxcsr. No 66 prefix (another instruction).
    private mutating func stateGroup() throws(Failure) -> Instruction {
        guard !operandOverride else { throw .unsupported }
        let (reg, rm) = try modRM(size: 8)
        guard case .memory = rm else { throw .unsupported }
        switch reg & 7 {
        case 0: return done(512, .sse(rexW ? .fxsave64 : .fxsave, xmm: 0, rm: rm))
        case 1: return done(512, .sse(rexW ? .fxrstor64 : .fxrstor, xmm: 0, rm: rm))
        case 2: return done(4, .sse(.ldmxcsr, xmm: 0, rm: rm))
        case 3: return done(4, .sse(.stmxcsr, xmm: 0, rm: rm))
        default: throw .unsupported
        }
    }

    /// mov to/from CR and DR, lidt, ud2.
    private mutating func system(_ second: UInt8) throws(Failure) -> Instruction {
        switch second {
        case 0x21, 0x23:
            // mov r64, drN / mov drN, r64 (mod is ignored: always a register); DR4/5 alias 6/7
            // only with CR4.DE clear, which kvmdbg's guests do not rely on: refused.
            let m = try byte()
            let n = Int((m >> 3) & 7)
            guard !rexR, n != 4, n != 5 else { throw .unsupported }
            return done(8, .moveDR(n, FakeX86Register(index: Int(m & 7) | (rexB ? 8 : 0)), toDR: second == 0x23))
        case 0x0B:
            return done(size, .ud2)
        case 0x01:
            let (reg, rm) = try modRM(size: 8)
            guard reg & 7 == 3, case .memory(let a) = rm else { throw .unsupported }
            return done(8, .loadIDT(address: a))
        case 0x22:
            // mov cr, r64 (mod is ignored: always a register); CR3 and CR4 are modelled.
            let m = try byte()
            guard !rexR else { throw .unsupported }
            let src = FakeX86Register(index: Int(m & 7) | (rexB ? 8 : 0))
            switch (m >> 3) & 7 {
            case 3: return done(8, .loadCR3(src))
            case 4: return done(8, .loadCR4(src))
            default: throw .unsupported
            }
        default:
            throw .unsupported
        }
    }
}
