import KVMDebugModel

/// The x86 instruction subset the fake executes, in 16-bit real mode (CS = DS = 0)
/// and 64-bit long mode (flat; linear addresses go through CR3's 4-level tables, see
/// `FakeX86Paging`).
///
/// Small on purpose: enough for the built-in guests, hand-written test guests, and the
/// `gcc -O0` code of the C fixture `Tests/Fixtures/gdb-prog` (frames, calls, a counted
/// loop) and of `fp.c` (`double` in SSE registers). Anything else is
/// `DebugError.unsupportedInstruction`. Prefixes: 66 (operand size), F2/F3 (SSE only) and,
/// in long mode, one REX right before the opcode; no others.
///
/// | Bytes              | Instruction                       | Notes                                  |
/// |--------------------|-----------------------------------|----------------------------------------|
/// | 90                 | nop                               | not with REX.B (that is xchg)          |
/// | F4                 | hlt                               | exit `.halt`, pc after it              |
/// | CC                 | int3                              | handled by the CPU (KVM #BP intercept) |
/// | 01/09/21/29/31/39  | add/or/and/sub/xor/cmp r/m, r     | register or memory r/m (long mode)     |
/// | 03/0B/23/2B/33/3B  | add/or/and/sub/xor/cmp r, r/m     | register or memory r/m (long mode)     |
/// | 83 /0/1/4/5/7 ib   | add/or/and/sub/cmp r/m, imm8      | sign-extended; r/m as above            |
/// | 40+r / 48+r        | inc/dec r16/r32                   | real mode only (REX in long mode)      |
/// | FF /0, FF /1       | inc/dec r/m                       | register or memory r/m (long mode)     |
/// | FF /4              | jmp r/m64                         | long mode, register operand            |
/// | C1 /4 ib           | shl r/m16/32/64, imm8             | mod = 11 only; count masked to 5 bits  |
/// |                    |                                   | (6 with REX.W); ZF only, none if 0     |
/// | 0F AF /r           | imul r, r/m                       | long mode; CF = OF = signed overflow   |
/// | 88 / 89 /r         | mov r/m8, r8 / mov r/m, r         | register or memory operand             |
/// | 8A / 8B /r         | mov r8, r/m8 / mov r, r/m         | register or memory operand             |
/// | C7 /0 id           | mov r/m, imm32                    | long mode; sign-extended with REX.W    |
/// | A0-A3              | mov al/ax/eax/rax <-> [moffs]     | moffs16 (real) / moffs64 (long)        |
/// | B0+r ib, B8+r imm  | mov r, imm                        | imm64 with REX.W                       |
/// | 50+r / 58+r        | push r64 / pop r64                | long mode                              |
/// | E8 cd / C3         | call rel32 / ret                  | long mode, 8-byte return address       |
/// | C9                 | leave                             | long mode: rsp = rbp; pop rbp          |
/// | 0F 22 /3           | mov cr3, r64                      | long mode: new tables, TLB flushed     |
/// | 0F 22 /4           | mov cr4, r64                      | long mode: OSFXSR enables the SSE rows |
/// | 0F 21 / 0F 23 /r   | mov r64, drN / mov drN, r64       | long mode; the guest's own DR0-3/6/7   |
/// | 85 /r              | test r/m, r                       | CF = OF = 0, ZF, SF                    |
/// | F2 0F 10 / 11 /r   | movsd xmm, xmm/m64 / m64, xmm     | SSE rows: long mode, CR4.OSFXSR set    |
/// | F2 0F 58 / 59 /r   | addsd / mulsd xmm, xmm/m64        | IEEE double, round to nearest only     |
/// | F2 (REX.W) 0F 2A   | cvtsi2sd xmm, r/m32 (r/m64)       | round to nearest                       |
/// | 66 0F EF /r        | pxor xmm, xmm/m128                |                                        |
/// | 66 REX.W 0F 6E/7E  | movq xmm, r/m64 / movq r/m64, xmm | upper lane zeroed by the load          |
/// | F3 0F 6F / 7F /r   | movdqu xmm, xmm/m128 / m128, xmm  |                                        |
/// | (REX.W) 0F AE /0 /1| fxsave / fxrstor m512             | #GP unless 16-byte aligned; bytes      |
/// |                    |                                   | 0-415 (FXSAVE64: 64-bit FIP/FDP)       |
/// | 0F AE /2 /3        | ldmxcsr / stmxcsr m32             | #GP for reserved MXCSR bits            |
/// | EB cb, E9 cw/cd    | jmp rel8 / rel16 / rel32          |                                        |
/// | 70-7F cb, 0F 80-8F | jcc rel8 / rel32                  | every condition but p/np (no PF)       |
///
/// Memory operands (the effective address is resolved at decode time, from the
/// registers of that moment):
/// - real mode: every 16-bit form of SDM vol. 2 table 2-1: mod=00 [bx+si] [bx+di]
///   [bp+si] [bp+di] [si] [di] disp16 [bx]; mod=01/10 the same bases (rm=110 is
///   [bp]) + disp8 (sign-extended) / disp16; wrapped to 16 bits, DS = SS = base 0;
/// - long mode: SDM vol. 2 tables 2-2/2-3: [base], [base + disp8/disp32],
///   [base + index*scale + disp], [index*scale + disp32] (SIB base 101 with mod 00),
///   and RIP + disp32 (mod 00 rm 101) from the end of the instruction, immediate included.
/// Flags: CF, ZF, SF and OF (add, sub, cmp, and, or, xor, inc/dec keep CF, imul sets CF/OF only,
/// shl ZF only); PF and AF are not modelled, so jp/jnp are unsupported.
enum FakeX86Interpreter {
    enum ALU: Sendable, Hashable { case add, or, sub, and, xor, cmp, test }

    /// The SSE subset (scalar double and 128-bit moves), on `FakeX86FPU`'s XMM registers.
    enum SSE: Sendable, Hashable {
        case movsdLoad, movsdStore, addsd, mulsd, cvtsi2sd, pxor, movqToXMM, movqFromXMM, movdquLoad, movdquStore
        /// Group 15: the x87/SSE state image (512 bytes; the 64 forms with REX.W) and MXCSR.
        case fxsave, fxsave64, fxrstor, fxrstor64, ldmxcsr, stmxcsr

        /// Stores to its memory operand.
        var stores: Bool {
            switch self {
            case .movsdStore, .movqFromXMM, .movdquStore, .fxsave, .fxsave64, .stmxcsr: return true
            default: return false
            }
        }

        /// Group 15's FXSAVE/FXRSTOR rows, which run with CR4.OSFXSR clear too.
        var isStateImage: Bool {
            switch self {
            case .fxsave, .fxsave64, .fxrstor, .fxrstor64: return true
            default: return false
            }
        }
    }

    enum Operand: Sendable, Hashable {
        case register(FakeX86Register)
        case memory(UInt64)
        case immediate(UInt64)
    }

    /// A jcc condition: the low nibble of its opcode (SDM vol. 2 appendix B.1.4.7).
    struct Condition: Sendable, Hashable {
        var code: UInt8

        /// True when the branch is taken with these flags.
        func holds(_ r: FakeX86Registers) -> Bool {
            let cf = r.flag(FakeX86Registers.flagCarry), zf = r.zeroFlag
            let sf = r.flag(FakeX86Registers.flagSign), of = r.flag(FakeX86Registers.flagOverflow)
            let base: Bool
            switch code >> 1 {
            case 0: base = of                // o
            case 1: base = cf                // b
            case 2: base = zf                // e
            case 3: base = cf || zf          // be
            case 4: base = sf                // s
            case 6: base = sf != of          // l
            default: base = zf || sf != of   // le (7); 5 (p) is refused at decode
            }
            return code & 1 == 0 ? base : !base
        }
    }

    enum Operation: Sendable, Hashable {
        case nop
        case hlt
        case int3
        case mov(destination: Operand, source: Operand)
        case alu(ALU, destination: Operand, source: Operand)
        case incDec(Operand, delta: UInt64)
        /// shl by a count already masked to the operand size (0 = no effect, flags kept).
        case shiftLeft(FakeX86Register, count: UInt64)
        case imul(FakeX86Register, source: Operand)
        case jump(target: UInt64)
        case jumpIf(Condition, target: UInt64)
        /// push: the register is stored at `slot` (RSP - 8 at decode time).
        case push(FakeX86Register, slot: UInt64)
        /// pop: loads `slot` (RSP at decode time).
        case pop(FakeX86Register, slot: UInt64)
        case call(target: UInt64, slot: UInt64)
        case ret(slot: UInt64)
        /// leave: RSP = RBP, then pop RBP from `slot` (RBP at decode time).
        case leave(slot: UInt64)
        case loadCR3(FakeX86Register)
        case loadCR4(FakeX86Register)
        /// mov drN, r64 (toDR) or mov r64, drN: the guest's own debug registers (N = 0-3, 6, 7).
        case moveDR(Int, FakeX86Register, toDR: Bool)
        /// An SSE instruction: `xmm` is the ModRM reg field's XMM register; `rm` a memory
        /// operand, or a register (an XMM number, or a general register for movq/cvtsi2sd).
        case sse(SSE, xmm: Int, rm: Operand)
        /// lidt m16&64 (0F 01 /3): the CPU loads IDTR from `address` (linear).
        case loadIDT(address: UInt64)
        /// ud2 (0F 0B): raises #UD, RIP at the ud2.
        case ud2
    }

    /// One decoded instruction.
    struct Instruction: Sendable, Hashable {
        var length: Int
        /// Operand size in bytes (1, 2, 4 or 8).
        var size: Int
        var operation: Operation
        /// Where the instruction ends (RIP after it, wrapped to 16 bits in real mode).
        var next: UInt64

        /// The data access the instruction makes, if any (linear address). A
        /// read-modify-write is one write access: DR7's R/W = 01 and 11 both match it.
        var access: FakeAccess? {
            switch operation {
            case .mov(.memory(let a), _): return FakeAccess(address: a, size: size, isWrite: true)
            case .mov(_, .memory(let a)): return FakeAccess(address: a, size: size, isWrite: false)
            case .alu(let alu, .memory(let a), _): return FakeAccess(address: a, size: size, isWrite: alu != .cmp)
            case .alu(_, _, .memory(let a)): return FakeAccess(address: a, size: size, isWrite: false)
            case .incDec(.memory(let a), _): return FakeAccess(address: a, size: size, isWrite: true)
            case .imul(_, .memory(let a)): return FakeAccess(address: a, size: size, isWrite: false)
            case .push(_, let slot), .call(_, let slot): return FakeAccess(address: slot, size: 8, isWrite: true)
            case .pop(_, let slot), .ret(let slot), .leave(let slot): return FakeAccess(address: slot, size: 8, isWrite: false)
            case .sse(let op, _, .memory(let a)):
                return FakeAccess(address: a, size: size, isWrite: op.stores)
            default: return nil
            }
        }
    }

    /// Decodes the instruction in `bytes` (fetched at `rip`, see `FakeX86Decoder`). Returns nil
    /// when the instruction runs past the fetched bytes (end of RAM: KVM's emulation failure).
    /// Memory operands are resolved with `registers` (the vCPU's, right before execution).
    static func decode(_ bytes: [UInt8], rip: UInt64, pc: UInt64, mode: CPUMode,
                       registers: FakeX86Registers) throws(DebugError) -> Instruction? {
        var decoder = FakeX86Decoder(bytes, rip: rip, mode: mode, registers: registers)
        do throws(FakeX86Decoder.Failure) {
            return try decoder.decode()
        } catch {
            switch error {
            case .truncated: return nil
            case .unsupported: throw .unsupportedInstruction(pc: pc, arch: .x86_64, bytes: Array(bytes.prefix(8)))
            }
        }
    }

    /// The SSE row of `0F second` with its mandatory prefix (SDM vol. 2 opcode map, table A-3).
    static func sse(_ second: UInt8, prefix: UInt8, operandOverride: Bool, rexW: Bool) -> SSE? {
        switch (prefix, operandOverride, second) {
        case (0xF2, false, 0x10): return .movsdLoad
        case (0xF2, false, 0x11): return .movsdStore
        case (0xF2, false, 0x58): return .addsd
        case (0xF2, false, 0x59): return .mulsd
        case (0xF2, false, 0x2A): return .cvtsi2sd
        case (0, true, 0xEF): return .pxor
        case (0, true, 0x6E) where rexW: return .movqToXMM
        case (0, true, 0x7E) where rexW: return .movqFromXMM
        case (0xF3, false, 0x6F): return .movdquLoad
        case (0xF3, false, 0x7F): return .movdquStore
        default: return nil
        }
    }

    /// Executes an SSE instruction on `fpu` (doubles round to nearest: MXCSR.RC is not modelled).
    static func executeSSE(_ op: SSE, xmm: Int, rm: Operand, size: Int, registers r: inout FakeX86Registers,
                           fpu: inout FakeX86FPU, memory: FakeMemory, physical: (UInt64) -> UInt64) {
        func lanes(_ o: Operand) -> (UInt64, UInt64) {
            switch o {
            case .register(let g): return (fpu.lane(g.index, 0), fpu.lane(g.index, 1))
            case .memory(let a):
                return (memory.load(physical(a), size: min(size, 8)) ?? 0, size > 8 ? memory.load(physical(a &+ 8), size: 8) ?? 0 : 0)
            case .immediate(let v): return (v, 0)
            }
        }
        func double(_ bits: UInt64) -> Double { Double(bitPattern: bits) }
        switch op {
        case .movsdLoad:
            let (low, _) = lanes(rm)
            if case .memory = rm { fpu.setLane(xmm, 1, 0) }  // the load form zeroes bits 127:64
            fpu.setLane(xmm, 0, low)
        case .movsdStore:
            switch rm {
            case .memory(let a): memory.store(physical(a), size: 8, fpu.lane(xmm, 0))
            case .register(let g): fpu.setLane(g.index, 0, fpu.lane(xmm, 0))
            case .immediate: break
            }
        case .addsd, .mulsd:
            let a = double(fpu.lane(xmm, 0)), b = double(lanes(rm).0)
            fpu.setLane(xmm, 0, (op == .addsd ? a + b : a * b).bitPattern)
        case .cvtsi2sd:
            let raw: UInt64
            if case .register(let g) = rm { raw = r.gpr[g.index] } else { raw = lanes(rm).0 }
            let v = size == 8 ? Double(Int64(bitPattern: raw)) : Double(Int32(truncatingIfNeeded: raw))
            fpu.setLane(xmm, 0, v.bitPattern)
        case .pxor:
            let (low, high) = lanes(rm)
            fpu.setLane(xmm, 0, fpu.lane(xmm, 0) ^ low)
            fpu.setLane(xmm, 1, fpu.lane(xmm, 1) ^ high)
        case .movqToXMM:
            let v: UInt64
            if case .register(let g) = rm { v = r.gpr[g.index] } else { v = lanes(rm).0 }
            fpu.setLane(xmm, 0, v)
            fpu.setLane(xmm, 1, 0)
        case .movqFromXMM:
            switch rm {
            case .register(let g): r.gpr[g.index] = fpu.lane(xmm, 0)
            case .memory(let a): memory.store(physical(a), size: 8, fpu.lane(xmm, 0))
            case .immediate: break
            }
        case .movdquLoad:
            let (low, high) = lanes(rm)
            fpu.setLane(xmm, 0, low)
            fpu.setLane(xmm, 1, high)
        case .fxsave, .fxsave64, .fxrstor, .fxrstor64, .ldmxcsr, .stmxcsr:
            guard case .memory(let a) = rm else { break }
            executeStateRow(op, at: a, fpu: &fpu, memory: memory, physical: physical)
        case .movdquStore:
            switch rm {
            case .memory(let a):
                memory.store(physical(a), size: 8, fpu.lane(xmm, 0))
                memory.store(physical(a &+ 8), size: 8, fpu.lane(xmm, 1))
            case .register(let g):
                fpu.setLane(g.index, 0, fpu.lane(xmm, 0))
                fpu.setLane(g.index, 1, fpu.lane(xmm, 1))
            case .immediate: break
            }
        }
    }

    /// Group 15 at linear `a`; the CPU checked alignment and MXCSR first (`stateFault`).
    private static func executeStateRow(_ op: SSE, at a: UInt64, fpu: inout FakeX86FPU, memory: FakeMemory,
                                        physical: (UInt64) -> UInt64) {
        switch op {
        case .fxsave, .fxsave64:
            _ = memory.write(physical(a), fpu.fxsave(wide: op == .fxsave64))
        case .fxrstor, .fxrstor64:
            _ = fpu.fxrstor(memory.read(physical(a), 416) ?? [], wide: op == .fxrstor64)
        case .ldmxcsr:
            fpu.mxcsr = UInt32(truncatingIfNeeded: memory.load(physical(a), size: 4) ?? 0)
        default:
            _ = memory.store(physical(a), size: 4, UInt64(fpu.mxcsr))
        }
    }

    /// The fault group 15 at linear `a` raises before it runs (SDM vol. 2 FXSAVE, FXRSTOR,
    /// LDMXCSR): #GP(0) for an image not 16-byte aligned or an MXCSR with a bit outside
    /// MXCSR_MASK; nil when it runs.
    static func stateFault(_ op: SSE, at a: UInt64, memory: FakeMemory, physical: UInt64) -> UInt8? {
        switch op {
        case .fxsave, .fxsave64: return a & 15 == 0 ? nil : 13
        case .fxrstor, .fxrstor64:
            guard a & 15 == 0 else { return 13 }
            let m = memory.load(physical &+ 24, size: 4) ?? 0
            return m & ~UInt64(FakeX86FPU.mxcsrMask) == 0 ? nil : 13
        case .ldmxcsr:
            return (memory.load(physical, size: 4) ?? 0) & ~UInt64(FakeX86FPU.mxcsrMask) == 0 ? nil : 13
        default: return nil
        }
    }

    /// Executes a decoded instruction whose memory operand (if any) is in RAM, at the
    /// physical address `physical` gives for its linear address. int3 and hlt only advance
    /// RIP here; the CPU turns them into exits; `loadCR3` returns the new CR3.
    @discardableResult
    static func execute(_ insn: Instruction, registers r: inout FakeX86Registers, memory: FakeMemory, mode: CPUMode,
                        physical: (UInt64) -> UInt64 = { $0 }) -> UInt64? {
        let size = insn.size
        func value(_ op: Operand) -> UInt64 {
            switch op {
            case .register(let reg): return r.read(reg, size: size)
            case .memory(let a): return memory.load(physical(a), size: size) ?? 0
            case .immediate(let v): return v & FakeX86Registers.mask(size)
            }
        }
        func store(_ op: Operand, _ v: UInt64) {
            switch op {
            case .register(let reg): r.write(reg, size: size, v, mode: mode)
            case .memory(let a): memory.store(physical(a), size: size, v)
            case .immediate: break
            }
        }
        func load64(_ a: UInt64) -> UInt64 { memory.load(physical(a), size: 8) ?? 0 }
        func store64(_ a: UInt64, _ v: UInt64) { memory.store(physical(a), size: 8, v) }
        var next = insn.next
        var cr3: UInt64? = nil
        switch insn.operation {
        case .nop, .hlt, .int3, .loadIDT, .ud2:
            break  // the CPU does these (IDTR, #UD)
        case .mov(let dst, let src):
            store(dst, value(src))
        case .alu(let alu, let dst, let src):
            let a = value(dst), b = value(src)
            let result: UInt64
            switch alu {
            case .add: result = a &+ b
            case .sub, .cmp: result = a &- b
            case .xor: result = a ^ b
            case .and, .test: result = a & b
            case .or: result = a | b
            }
            r.setArithmeticFlags(alu, a, b, result, size: size)
            if alu != .cmp && alu != .test { store(dst, result) }
        case .incDec(let op, let delta):
            let a = value(op)
            let result = a &+ delta
            // inc/dec keep CF (SDM vol. 2 INC/DEC).
            let carry = r.flag(FakeX86Registers.flagCarry)
            r.setArithmeticFlags(delta == 1 ? .add : .sub, a, 1, result, size: size)
            r.setFlag(FakeX86Registers.flagCarry, carry)
            store(op, result)
        case .shiftLeft(let reg, let count):
            guard count != 0 else { break }
            // A count >= a 16-bit operand's width (16...31) shifts everything out.
            let result = r.read(reg, size: size) << count
            r.setZeroFlag(result, size: size)
            r.write(reg, size: size, result, mode: mode)
        case .imul(let dst, let src):
            let bits = UInt64(8 * size)
            func signed(_ v: UInt64) -> Int64 { Int64(bitPattern: v << (64 - bits)) >> Int64(64 - bits) }
            let a = signed(r.read(dst, size: size)), b = signed(value(src))
            let low: UInt64, fits: Bool
            if size == 8 {
                let full = a.multipliedFullWidth(by: b)
                low = UInt64(full.low)
                fits = full.high == (Int64(bitPattern: low) < 0 ? -1 : 0)
            } else {
                let product = a &* b  // 32 x 32 bits fits 64
                low = UInt64(bitPattern: product) & FakeX86Registers.mask(size)
                fits = signed(low) == product
            }
            // CF = OF = the signed product does not fit the destination.
            r.setFlag(FakeX86Registers.flagCarry, !fits)
            r.setFlag(FakeX86Registers.flagOverflow, !fits)
            r.write(dst, size: size, low, mode: mode)
        case .jump(let target):
            next = target
        case .jumpIf(let condition, let target):
            if condition.holds(r) { next = target }
        case .push(let src, let slot):
            store64(slot, r.gpr[src.index])  // push rsp stores the old RSP (read before the update)
            r.gpr[4] = slot
        case .pop(let dst, let slot):
            let v = load64(slot)
            r.gpr[4] = slot &+ 8
            r.gpr[dst.index] = v  // pop rsp: the loaded value wins (SDM vol. 2 POP)
        case .call(let target, let slot):
            store64(slot, insn.next)
            r.gpr[4] = slot
            next = target
        case .ret(let slot):
            next = load64(slot)
            r.gpr[4] = slot &+ 8
        case .leave(let slot):
            r.gpr[5] = load64(slot)
            r.gpr[4] = slot &+ 8
        case .loadCR3(let src):
            cr3 = r.gpr[src.index]
        case .loadCR4, .sse, .moveDR:
            break  // the CPU executes these: they touch state beyond the general registers
        }
        r.rip = next
        return cr3
    }
}
