import KVMDebugCore

/// The x86 instruction subset the fake executes, in 16-bit real mode (CS = DS = 0)
/// and 64-bit long mode (flat, identity-mapped).
///
/// Small on purpose: enough for the built-in guests and hand-written test guests.
/// Anything else is `DebugError.unsupportedInstruction`. Prefixes: 66 (operand size)
/// and, in long mode, one REX right before the opcode; no others.
///
/// | Bytes              | Instruction                       | Notes                                  |
/// |--------------------|-----------------------------------|----------------------------------------|
/// | 90                 | nop                               | not with REX.B (that is xchg)          |
/// | F4                 | hlt                               | exit `.halt`, pc after it              |
/// | CC                 | int3                              | handled by the CPU (KVM #BP intercept) |
/// | 31/01/29/39 /r     | xor/add/sub/cmp r/m, r            | mod = 11 only; sets ZF                 |
/// | 83 /0 /5 /7 ib     | add/sub/cmp r/m, imm8 (sign-ext.) | mod = 11 only; sets ZF                 |
/// | 40+r / 48+r        | inc/dec r16/r32                   | real mode only (REX in long mode)      |
/// | FF /0, FF /1       | inc/dec r/m                       | mod = 11 only; sets ZF                 |
/// | C1 /4 ib           | shl r/m16/32/64, imm8             | mod = 11 only; count masked to 5 bits  |
/// |                    |                                   | (6 with REX.W); ZF only, none if 0     |
/// | 88 / 89 /r         | mov r/m8, r8 / mov r/m, r         | register or memory operand             |
/// | 8A / 8B /r         | mov r8, r/m8 / mov r, r/m         | register or memory operand             |
/// | A0-A3              | mov al/ax/eax/rax <-> [moffs]     | moffs16 (real) / moffs64 (long)        |
/// | B0+r ib, B8+r imm  | mov r, imm                        | imm64 with REX.W                       |
/// | EB cb, E9 cw/cd    | jmp rel8 / rel16 / rel32          |                                        |
/// | 74 cb, 75 cb       | je / jne (jz / jnz) rel8          | tests ZF only                          |
///
/// Memory operands (the effective address is resolved at decode time, from the
/// registers of that moment):
/// - real mode: every 16-bit form of SDM vol. 2 table 2-1: mod=00 [bx+si] [bx+di]
///   [bp+si] [bp+di] [si] [di] disp16 [bx]; mod=01/10 the same bases (rm=110 is
///   [bp]) + disp8 (sign-extended) / disp16; wrapped to 16 bits, DS = SS = base 0;
/// - long mode: mod=00 rm=101 (RIP + disp32), or mod=00 rm=100 with a SIB byte whose
///   base is 101 (no base): [index*scale + disp32], disp32 sign-extended, index any
///   of 16 registers with REX.X (index 100 without REX.X = none: absolute disp32).
/// Only ZF is computed (also by shl: CF/OF/SF/PF are not modelled): je/jne are the
/// only branches that read flags.
enum FakeX86Interpreter {
    enum ALU: Sendable, Hashable { case add, sub, xor, cmp }

    enum Operand: Sendable, Hashable {
        case register(FakeX86Register)
        case memory(UInt64)
        case immediate(UInt64)
    }

    enum Operation: Sendable, Hashable {
        case nop
        case hlt
        case int3
        case mov(destination: Operand, source: Operand)
        case alu(ALU, destination: FakeX86Register, source: Operand)
        case incDec(FakeX86Register, delta: UInt64)
        /// shl by a count already masked to the operand size (0 = no effect, flags kept).
        case shiftLeft(FakeX86Register, count: UInt64)
        case jump(target: UInt64)
        case jumpIfZero(Bool, target: UInt64)
    }

    /// One decoded instruction.
    struct Instruction: Sendable, Hashable {
        var length: Int
        /// Operand size in bytes (1, 2, 4 or 8).
        var size: Int
        var operation: Operation
        /// Where the instruction ends (RIP after it, wrapped to 16 bits in real mode).
        var next: UInt64

        /// The data access the instruction makes, if any.
        var access: FakeAccess? {
            switch operation {
            case .mov(.memory(let a), _): return FakeAccess(address: a, size: size, isWrite: true)
            case .mov(_, .memory(let a)): return FakeAccess(address: a, size: size, isWrite: false)
            default: return nil
            }
        }
    }

    /// Raised inside the decoder; mapped to a result by `decode`.
    private enum Failure: Error {
        /// The bytes ran out (the instruction crosses the end of RAM).
        case truncated
        case unsupported
    }

    /// Decodes the instruction in `bytes` (fetched at `rip`). Returns nil when the
    /// instruction runs past the fetched bytes (end of RAM: KVM's emulation failure).
    /// Memory operands are resolved with `registers` (the vCPU's, right before execution).
    static func decode(_ bytes: [UInt8], rip: UInt64, pc: UInt64, mode: CPUMode,
                       registers: FakeX86Registers) throws(DebugError) -> Instruction? {
        do throws(Failure) {
            return try decodeOrFail(bytes, rip: rip, mode: mode, registers: registers)
        } catch {
            switch error {
            case .truncated: return nil
            case .unsupported: throw .unsupportedInstruction(pc: pc, arch: .x86_64, bytes: Array(bytes.prefix(8)))
            }
        }
    }

    private static func decodeOrFail(_ bytes: [UInt8], rip: UInt64, mode: CPUMode,
                                     registers: FakeX86Registers) throws(Failure) -> Instruction {
        var i = 0
        func byte() throws(Failure) -> UInt8 {
            guard i < bytes.count else { throw .truncated }
            defer { i += 1 }
            return bytes[i]
        }
        func little(_ n: Int) throws(Failure) -> UInt64 {
            var v: UInt64 = 0
            for k in 0..<n { v |= UInt64(try byte()) << UInt64(8 * k) }
            return v
        }
        func signExtend(_ v: UInt64, bytes n: Int) -> UInt64 {
            let shift = UInt64(64 - 8 * n)
            return UInt64(bitPattern: Int64(bitPattern: v << shift) >> Int64(shift))
        }

        let long = mode == .long
        var operandOverride = false
        var rex: UInt8 = 0
        var opcode = try byte()
        while opcode == 0x66 {
            operandOverride = true
            opcode = try byte()
        }
        if long && opcode & 0xF0 == 0x40 {
            rex = opcode
            opcode = try byte()
        }
        let hasREX = rex != 0
        let rexW = rex & 8 != 0, rexR = rex & 4 != 0, rexX = rex & 2 != 0, rexB = rex & 1 != 0
        let size: Int = long ? (rexW ? 8 : (operandOverride ? 2 : 4)) : (operandOverride ? 4 : 2)
        let ipMask: UInt64 = long ? ~0 : 0xFFFF

        func reg8(_ n: Int) -> FakeX86Register {
            !hasREX && n >= 4 && n < 8 ? FakeX86Register(index: n - 4, highByte: true) : FakeX86Register(index: n)
        }
        func register(_ n: Int, size: Int) -> FakeX86Register {
            size == 1 ? reg8(n) : FakeX86Register(index: n)
        }
        func end() -> UInt64 { (rip &+ UInt64(i)) & ipMask }

        /// ModRM: (reg field, r/m operand). Memory forms per the table above.
        func modRM(size: Int) throws(Failure) -> (reg: Int, rm: Operand) {
            let m = try byte()
            let mod = m >> 6, rm = Int(m & 7)
            let reg = Int((m >> 3) & 7) | (rexR ? 8 : 0)
            if mod == 3 { return (reg, .register(register(rm | (rexB ? 8 : 0), size: size))) }
            if !long {
                if mod == 0 && rm == 6 { return (reg, .memory(try little(2))) }
                // SDM vol. 2 table 2-1: BX, BP (base), SI, DI (index); rm = 110 is [bp] here.
                let bx = registers.gpr[3], bp = registers.gpr[5], si = registers.gpr[6], di = registers.gpr[7]
                let bases: [UInt64] = [bx &+ si, bx &+ di, bp &+ si, bp &+ di, si, di, bp, bx]
                var address = bases[rm]
                if mod == 1 { address &+= signExtend(UInt64(try byte()), bytes: 1) }
                if mod == 2 { address &+= try little(2) }
                return (reg, .memory(address & 0xFFFF))
            }
            guard mod == 0 else { throw .unsupported }
            if rm == 4 {
                let sib = try byte()
                // Base 101 with mod 00: no base, disp32. Index 100 without REX.X: no index.
                guard sib & 7 == 5 else { throw .unsupported }
                let index = Int((sib >> 3) & 7) | (rexX ? 8 : 0)
                let scaled = index == 4 ? 0 : registers.gpr[index] << UInt64(sib >> 6)
                return (reg, .memory(scaled &+ signExtend(try little(4), bytes: 4)))
            }
            if rm == 5 {
                let disp = signExtend(try little(4), bytes: 4)
                // RIP-relative: from the end of the instruction (no immediate follows in this subset).
                return (reg, .memory(end() &+ disp))
            }
            throw .unsupported
        }
        func relative(_ n: Int) throws(Failure) -> UInt64 {
            let disp = signExtend(try little(n), bytes: n)
            return (end() &+ disp) & ipMask
        }
        func done(_ size: Int, _ op: Operation) -> Instruction {
            Instruction(length: i, size: size, operation: op, next: end())
        }

        switch opcode {
        case 0x90:
            guard !rexB else { throw .unsupported }
            return done(size, .nop)
        case 0xF4:
            return done(size, .hlt)
        case 0xCC:
            return done(size, .int3)
        case 0x31, 0x01, 0x29, 0x39:
            let (reg, rm) = try modRM(size: size)
            guard case .register(let dst) = rm else { throw .unsupported }
            let alu: ALU = opcode == 0x31 ? .xor : opcode == 0x01 ? .add : opcode == 0x29 ? .sub : .cmp
            return done(size, .alu(alu, destination: dst, source: .register(FakeX86Register(index: reg))))
        case 0x83:
            let (reg, rm) = try modRM(size: size)
            guard case .register(let dst) = rm else { throw .unsupported }
            let alu: ALU
            switch reg & 7 {
            case 0: alu = .add
            case 5: alu = .sub
            case 7: alu = .cmp
            default: throw .unsupported
            }
            let imm = signExtend(UInt64(try byte()), bytes: 1)
            return done(size, .alu(alu, destination: dst, source: .immediate(imm)))
        case 0x40...0x4F where !long:
            let delta: UInt64 = opcode < 0x48 ? 1 : ~0
            return done(size, .incDec(FakeX86Register(index: Int(opcode & 7)), delta: delta))
        case 0xFF:
            let (reg, rm) = try modRM(size: size)
            guard case .register(let dst) = rm, reg & 7 <= 1 else { throw .unsupported }
            return done(size, .incDec(dst, delta: reg & 7 == 0 ? 1 : ~0))
        case 0xC1:
            let (reg, rm) = try modRM(size: size)
            guard case .register(let dst) = rm, reg & 7 == 4 else { throw .unsupported }
            let count = UInt64(try byte()) & (size == 8 ? 63 : 31)
            return done(size, .shiftLeft(dst, count: count))
        case 0x88, 0x89:
            let s = opcode == 0x88 ? 1 : size
            let (reg, rm) = try modRM(size: s)
            return done(s, .mov(destination: rm, source: .register(register(reg, size: s))))
        case 0x8A, 0x8B:
            let s = opcode == 0x8A ? 1 : size
            let (reg, rm) = try modRM(size: s)
            return done(s, .mov(destination: .register(register(reg, size: s)), source: rm))
        case 0xA0...0xA3:
            let s = opcode & 1 == 0 ? 1 : size
            let address = try little(long ? 8 : 2)
            let acc = FakeX86Register(index: 0)
            return opcode < 0xA2
                ? done(s, .mov(destination: .register(acc), source: .memory(address)))
                : done(s, .mov(destination: .memory(address), source: .register(acc)))
        case 0xB0...0xB7:
            let dst = reg8(Int(opcode & 7) | (rexB ? 8 : 0))
            return done(1, .mov(destination: .register(dst), source: .immediate(UInt64(try byte()))))
        case 0xB8...0xBF:
            let dst = FakeX86Register(index: Int(opcode & 7) | (rexB ? 8 : 0))
            return done(size, .mov(destination: .register(dst), source: .immediate(try little(size))))
        case 0xEB, 0xE9, 0x74, 0x75:
            // A 66 prefix on a long-mode branch truncates RIP differently on Intel and AMD.
            guard !(long && operandOverride) else { throw .unsupported }
            let target = try relative(opcode == 0xE9 ? (size == 2 ? 2 : 4) : 1)
            switch opcode {
            case 0x74: return done(size, .jumpIfZero(true, target: target))
            case 0x75: return done(size, .jumpIfZero(false, target: target))
            default: return done(size, .jump(target: target))
            }
        default:
            throw .unsupported
        }
    }

    /// Executes a decoded instruction whose memory operand (if any) is in RAM.
    /// int3 and hlt only advance RIP here; the CPU turns them into exits.
    static func execute(_ insn: Instruction, registers r: inout FakeX86Registers, memory: FakeMemory, mode: CPUMode) {
        let size = insn.size
        func value(_ op: Operand) -> UInt64 {
            switch op {
            case .register(let reg): return r.read(reg, size: size)
            case .memory(let a): return memory.load(a, size: size) ?? 0
            case .immediate(let v): return v & FakeX86Registers.mask(size)
            }
        }
        var next = insn.next
        switch insn.operation {
        case .nop, .hlt, .int3:
            break
        case .mov(let dst, let src):
            let v = value(src)
            switch dst {
            case .register(let reg): r.write(reg, size: size, v, mode: mode)
            case .memory(let a): memory.store(a, size: size, v)
            case .immediate: break
            }
        case .alu(let alu, let dst, let src):
            let a = r.read(dst, size: size), b = value(src)
            let result: UInt64
            switch alu {
            case .add: result = a &+ b
            case .sub, .cmp: result = a &- b
            case .xor: result = a ^ b
            }
            r.setZeroFlag(result, size: size)
            if alu != .cmp { r.write(dst, size: size, result, mode: mode) }
        case .incDec(let reg, let delta):
            let result = r.read(reg, size: size) &+ delta
            r.setZeroFlag(result, size: size)
            r.write(reg, size: size, result, mode: mode)
        case .shiftLeft(let reg, let count):
            guard count != 0 else { break }
            // A count >= a 16-bit operand's width (16...31) shifts everything out.
            let result = r.read(reg, size: size) << count
            r.setZeroFlag(result, size: size)
            r.write(reg, size: size, result, mode: mode)
        case .jump(let target):
            next = target
        case .jumpIfZero(let whenZero, let target):
            if r.zeroFlag == whenZero { next = target }
        }
        r.rip = next
    }
}
