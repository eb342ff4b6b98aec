import KVMDebugModel

/// The A64 instruction subset the fake executes at EL1 with the MMU off.
///
/// Anything else is `DebugError.unsupportedInstruction` with the 4 bytes. An FP/SIMD instruction
/// that CPACR_EL1.FPEN traps, or an MRS/MSR of a debug register slot the vCPU lacks (UNDEFINED),
/// is `DebugError.unsupported`: the fake does not model those exceptions.
///
/// | Encoding (mask → value)        | Instruction                                   |
/// |--------------------------------|-----------------------------------------------|
/// | D503201F                       | NOP                                           |
/// | D503207F                       | WFI (the fake's `.halt`)                      |
/// | FFE0001F → D4200000            | BRK #imm16 (handled by the CPU)               |
/// | FFE0001F → D4000002            | HVC #imm16: PSCI SYSTEM_OFF/RESET (the CPU)   |
/// | FFFFFC1F → D65F0000            | RET Xn                                        |
/// | FFFFFFE0 → D53800A0            | MRS Xt, MPIDR_EL1                             |
/// | FFD00000 → D5100000, L = 1     | MRS Xt, ELR/SPSR/ESR/FAR/VBAR_EL1             |
/// | FFD00000 → D5100000, L = 0     | MSR ELR/SPSR/ESR/FAR/VBAR_EL1, Xt             |
/// | FFD00000 → D5100000            | MRS/MSR CPACR_EL1; FPCR, FPSR (FP/SIMD: trap under CPACR_EL1.FPEN) |
/// | FFD00000 → D5100000            | MRS/MSR DBGBVR/DBGBCR/DBGWVR/DBGWCR<n>_EL1, MDSCR_EL1 (the guest's own; no effect on debugging) |
/// | D5033FDF                       | ISB (no effect: the fake has no pipeline)     |
/// | D69F03E0                       | ERET: PC = ELR_EL1, PSTATE = SPSR_EL1 (no SS model) |
/// | 1F800000 → 12800000            | MOVN/MOVZ/MOVK, 32/64-bit, hw shift           |
/// | 1F800000 → 11000000            | ADD/ADDS/SUB/SUBS (imm), LSL #12; CMP/CMN    |
/// | 1FE00000 → 0B000000            | ADD/ADDS/SUB/SUBS (shifted reg), LSL only;    |
/// |                                | CMP/CMN/NEG; reg 31 = XZR; LSR/ASR unsupported |
/// | 7FE0FFE0 → 2A0003E0            | MOV Wd/Xd, Wm/Xm (ORR with XZR, no shift)     |
/// | 7C000000 → 14000000            | B, BL                                         |
/// | FF000010 → 54000000            | B.cond (all 16 conditions)                    |
/// | 7E000000 → 34000000            | CBZ, CBNZ (32/64-bit)                         |
/// | 3F000000 → 39000000, opc 00/01 | STR/LDR (unsigned imm) B, H, W, X; zero-extend |
/// | 3F200000 → 38000000, opc 00/01 | STUR/LDUR, STR/LDR pre/post-index (imm9)     |
/// | 3F000000 → 3D000000            | STR/LDR (unsigned imm) B, H, S, D, Q (SIMD&FP; FPEN) |
/// | 3E400000 → 28000000, opc 00/10 | STP/LDP W, X: post-index, offset, pre-index  |
/// | 9F000000 → 90000000 / 10000000 | ADRP, ADR                                     |
/// | 7FE00000 → 1B000000            | MADD/MSUB (MUL, MNEG), 32/64-bit               |
/// | FFFFF0FF → D503309F / D50330BF | DSB, DMB (no effect: the fake has no caches)  |
/// | FFF8F000 → D5088000            | TLBI (no effect: the fake keeps no TLB)       |
/// | D518A200 | Rt                  | MSR MAIR_EL1, Xt: accepted, dropped (no memory attributes) |
///
/// With SCTLR_EL1.M = 1 the CPU translates fetches and the one data access of an instruction
/// (FakeArm64MMU); `execute` gets that access's physical - virtual offset.
enum FakeArm64Interpreter {
    enum Instruction: Sendable, Hashable {
        case nop
        case wfi
        case brk(imm: UInt16)
        /// HVC: KVM's PSCI (the CPU models SYSTEM_OFF and SYSTEM_RESET).
        case hvc(imm: UInt16)
        case ret(rn: Int)
        case readMPIDR(rt: Int)
        case readSystemRegister(FakeArm64SystemRegister, rt: Int)
        case writeSystemRegister(FakeArm64SystemRegister, rt: Int)
        /// MRS/MSR of FPCR, FPSR, CPACR_EL1 or a debug register of the guest's own.
        case readControl(FakeArm64ControlRegister, rt: Int)
        case writeControl(FakeArm64ControlRegister, rt: Int)
        case isb
        case eret
        /// opc 0 = MOVN, 2 = MOVZ, 3 = MOVK.
        case moveWide(is64: Bool, opc: UInt32, shift: UInt64, imm: UInt64, rd: Int)
        case addSubImmediate(is64: Bool, subtract: Bool, setFlags: Bool, imm: UInt64, rn: Int, rd: Int)
        /// Rd = Rn ± (Rm LSL amount); register 31 is XZR throughout.
        case addSubShiftedRegister(is64: Bool, subtract: Bool, setFlags: Bool, rm: Int, amount: UInt64, rn: Int, rd: Int)
        case moveRegister(is64: Bool, rm: Int, rd: Int)
        case branch(offset: Int64, link: Bool)
        case branchConditional(cond: UInt32, offset: Int64)
        case compareBranch(is64: Bool, nonZero: Bool, rt: Int, offset: Int64)
        case loadStore(size: Int, isLoad: Bool, offset: UInt64, rn: Int, rt: Int)
        /// imm9 forms: the address is Rn + offset (`.offset`, `.pre`) or Rn (`.post`); pre and post write Rn back.
        case loadStoreIndexed(size: Int, isLoad: Bool, offset: Int64, index: IndexMode, rn: Int, rt: Int)
        /// LDR/STR (unsigned offset) of a SIMD&FP register: B, H, S, D or Q (`size` 1...16 bytes).
        case loadStoreVector(size: Int, isLoad: Bool, offset: UInt64, rn: Int, rt: Int)
        /// STP/LDP of two `size`-byte registers at consecutive addresses.
        case loadStorePair(size: Int, isLoad: Bool, offset: Int64, index: IndexMode, rn: Int, rt: Int, rt2: Int)
        /// ADR (PC + imm) or ADRP (PC's 4 KiB page + imm << 12).
        case pcRelative(page: Bool, imm: Int64, rd: Int)
        /// Rd = Ra ± Rn × Rm.
        case multiplyAdd(is64: Bool, subtract: Bool, rm: Int, ra: Int, rn: Int, rd: Int)
        /// DSB, DMB, TLBI, MSR MAIR_EL1: nothing the fake models changes.
        case noEffect
    }

    /// How an indexed load/store forms its address.
    enum IndexMode: Sendable, Hashable {
        case offset, pre, post
    }

    private static func signExtend(_ v: UInt32, bits: Int) -> Int64 {
        let shift = 64 - bits
        return (Int64(v) << Int64(shift)) >> Int64(shift)
    }

    static func decode(_ w: UInt32, pc: UInt64) throws(DebugError) -> Instruction {
        if let insn = decodeSystem(w) ?? decodeDataProcessing(w) ?? decodeBranch(w) ?? decodeLoadStore(w) { return insn }
        throw .unsupportedInstruction(pc: pc, arch: .arm64, bytes: littleEndianBytes(UInt64(w), count: 4))
    }

    /// Hints, exception generation and return, barriers, MRS/MSR.
    private static func decodeSystem(_ w: UInt32) -> Instruction? {
        let rd = Int(w & 31), rn = Int((w >> 5) & 31)
        if w == 0xD503_201F { return .nop }
        if w == 0xD503_207F { return .wfi }
        if w & 0xFFE0_001F == 0xD420_0000 { return .brk(imm: UInt16((w >> 5) & 0xFFFF)) }
        if w & 0xFFE0_001F == 0xD400_0002 { return .hvc(imm: UInt16((w >> 5) & 0xFFFF)) }
        if w & 0xFFFF_FC1F == 0xD65F_0000 { return .ret(rn: rn) }
        if w & 0xFFFF_FFE0 == 0xD538_00A0 { return .readMPIDR(rt: rd) }
        if w == 0xD503_3FDF { return .isb }
        if w == 0xD69F_03E0 { return .eret }
        if w & 0xFFFF_F0FF == 0xD503_309F || w & 0xFFFF_F0FF == 0xD503_30BF { return .noEffect }
        if w & 0xFFF8_F000 == 0xD508_8000 { return .noEffect }
        if w & 0xFFFF_FFE0 == 0xD518_A200 { return .noEffect }
        // MRS/MSR (register): bit 21 is L, bits 19:5 o0:op1:CRn:CRm:op2 with op0 = 2 + o0.
        guard w & 0xFFD0_0000 == 0xD510_0000 else { return nil }
        let read = (w >> 21) & 1 == 1
        if let r = FakeArm64SystemRegister(encoding: (w >> 5) & 0x7FFF) {
            return read ? .readSystemRegister(r, rt: rd) : .writeSystemRegister(r, rt: rd)
        }
        if let c = FakeArm64ControlRegister(encoding: (w >> 5) & 0x7FFF) {
            return read ? .readControl(c, rt: rd) : .writeControl(c, rt: rd)
        }
        return nil
    }

    /// Move wide, add/subtract (immediate, shifted register), MOV (register), ADR/ADRP, MADD/MSUB.
    private static func decodeDataProcessing(_ w: UInt32) -> Instruction? {
        let rd = Int(w & 31), rn = Int((w >> 5) & 31)
        let is64 = w >> 31 == 1
        if w & 0x1F80_0000 == 0x1280_0000 {
            let opc = (w >> 29) & 3, hw = UInt64((w >> 21) & 3)
            if opc != 1 && (is64 || hw < 2) {
                return .moveWide(is64: is64, opc: opc, shift: hw * 16, imm: UInt64((w >> 5) & 0xFFFF), rd: rd)
            }
        }
        if w & 0x1F80_0000 == 0x1100_0000 {
            let imm = UInt64((w >> 10) & 0xFFF) << ((w >> 22) & 1 == 1 ? 12 : 0)
            return .addSubImmediate(is64: is64, subtract: (w >> 30) & 1 == 1, setFlags: (w >> 29) & 1 == 1,
                                    imm: imm, rn: rn, rd: rd)
        }
        if w & 0x1FE0_0000 == 0x0B00_0000 {
            // shift (bits 23:22) = 00 is LSL; imm6 >= 32 is unallocated for 32-bit.
            let amount = UInt64((w >> 10) & 63)
            if is64 || amount < 32 {
                return .addSubShiftedRegister(is64: is64, subtract: (w >> 30) & 1 == 1, setFlags: (w >> 29) & 1 == 1,
                                              rm: Int((w >> 16) & 31), amount: amount, rn: rn, rd: rd)
            }
        }
        if w & 0x7FE0_FFE0 == 0x2A00_03E0 { return .moveRegister(is64: is64, rm: Int((w >> 16) & 31), rd: rd) }
        if w & 0x1F00_0000 == 0x1000_0000 {
            let imm = signExtend(((w >> 5) & 0x7FFFF) << 2 | (w >> 29) & 3, bits: 21)
            return .pcRelative(page: w >> 31 == 1, imm: imm, rd: rd)
        }
        if w & 0x7FE0_0000 == 0x1B00_0000 {
            return .multiplyAdd(is64: is64, subtract: (w >> 15) & 1 == 1, rm: Int((w >> 16) & 31),
                                ra: Int((w >> 10) & 31), rn: rn, rd: rd)
        }
        return nil
    }

    /// B, BL, B.cond, CBZ, CBNZ (RET and ERET are decoded with the system instructions).
    private static func decodeBranch(_ w: UInt32) -> Instruction? {
        if w & 0x7C00_0000 == 0x1400_0000 {
            return .branch(offset: signExtend(w & 0x03FF_FFFF, bits: 26) * 4, link: w >> 31 == 1)
        }
        if w & 0xFF00_0010 == 0x5400_0000 {
            return .branchConditional(cond: w & 0xF, offset: signExtend((w >> 5) & 0x7FFFF, bits: 19) * 4)
        }
        if w & 0x7E00_0000 == 0x3400_0000 {
            return .compareBranch(is64: w >> 31 == 1, nonZero: (w >> 24) & 1 == 1, rt: Int(w & 31),
                                  offset: signExtend((w >> 5) & 0x7FFFF, bits: 19) * 4)
        }
        return nil
    }

    /// LDR/STR of general registers (unsigned offset, imm9 forms), LDP/STP, LDR/STR of SIMD&FP
    /// registers (unsigned offset).
    private static func decodeLoadStore(_ w: UInt32) -> Instruction? {
        let rt = Int(w & 31), rn = Int((w >> 5) & 31)
        if w & 0x3F00_0000 == 0x3900_0000 {
            let opc = (w >> 22) & 3, size = Int(w >> 30)
            if opc <= 1 {
                return .loadStore(size: 1 << size, isLoad: opc == 1, offset: UInt64((w >> 10) & 0xFFF) << UInt64(size),
                                  rn: rn, rt: rt)
            }
        }
        if w & 0x3F00_0000 == 0x3D00_0000 {
            // V = 1 (bit 26): size 00..11 with opc<1> = 0 is B, H, S, D; size 00 with opc<1> = 1
            // is Q (other sizes with opc<1> = 1 are unallocated); opc<0> is L. The offset is
            // imm12 scaled by the access size.
            let size = w >> 30, opc = (w >> 22) & 3
            if opc >> 1 == 0 || size == 0 {
                let scale = opc >> 1 == 1 ? 4 : size
                return .loadStoreVector(size: 1 << Int(scale), isLoad: opc & 1 == 1,
                                        offset: UInt64((w >> 10) & 0xFFF) << UInt64(scale), rn: rn, rt: rt)
            }
        }
        if w & 0x3F20_0000 == 0x3800_0000 && (w >> 10) & 3 != 2 {
            let opc = (w >> 22) & 3, size = Int(w >> 30)
            if opc <= 1 {
                let mode: IndexMode = [.offset, .post, .offset, .pre][Int((w >> 10) & 3)]
                return .loadStoreIndexed(size: 1 << size, isLoad: opc == 1, offset: signExtend((w >> 12) & 0x1FF, bits: 9),
                                         index: mode, rn: rn, rt: rt)
            }
        }
        if w & 0x3C00_0000 == 0x2800_0000 {
            // opc (31:30) 00 = W, 10 = X; bits 25:23 001 post-index, 010 offset, 011 pre-index.
            let opc = w >> 30, mode = (w >> 23) & 7
            if (opc == 0 || opc == 2) && (1...3).contains(mode) {
                let size = opc == 2 ? 8 : 4
                return .loadStorePair(size: size, isLoad: (w >> 22) & 1 == 1,
                                      offset: signExtend((w >> 15) & 0x7F, bits: 7) * Int64(size),
                                      index: mode == 1 ? .post : mode == 2 ? .offset : .pre,
                                      rn: rn, rt: rt, rt2: Int((w >> 10) & 31))
            }
        }
        return nil
    }

    /// The data access of a load/store, or nil.
    static func access(_ insn: Instruction, registers r: FakeArm64Registers) -> FakeAccess? {
        switch insn {
        case .loadStore(let size, let isLoad, let offset, let rn, _):
            return FakeAccess(address: r.readSP(rn) &+ offset, size: size, isWrite: !isLoad)
        case .loadStoreIndexed(let size, let isLoad, let offset, let index, let rn, _):
            return FakeAccess(address: address(r.readSP(rn), offset, index), size: size, isWrite: !isLoad)
        case .loadStorePair(let size, let isLoad, let offset, let index, let rn, _, _):
            return FakeAccess(address: address(r.readSP(rn), offset, index), size: 2 * size, isWrite: !isLoad)
        case .loadStoreVector(let size, let isLoad, let offset, let rn, _):
            return FakeAccess(address: r.readSP(rn) &+ offset, size: size, isWrite: !isLoad)
        default:
            return nil
        }
    }

    /// The alignment a Device-memory access needs (MMU off): each element's own size (a Q
    /// register's 16 bytes are one element).
    static func elementSize(_ insn: Instruction) -> Int {
        switch insn {
        case .loadStore(let size, _, _, _, _), .loadStoreIndexed(let size, _, _, _, _, _),
             .loadStorePair(let size, _, _, _, _, _, _), .loadStoreVector(let size, _, _, _, _):
            return size
        default:
            return 1
        }
    }

    private static func address(_ base: UInt64, _ offset: Int64, _ index: IndexMode) -> UInt64 {
        index == .post ? base : base &+ UInt64(bitPattern: offset)
    }

    /// AddWithCarry() of the Arm ARM: the result and NZCV.
    private static func addWithCarry(_ x: UInt64, _ y: UInt64, carry: Bool, is64: Bool)
        -> (result: UInt64, n: Bool, z: Bool, c: Bool, v: Bool) {
        let cin: UInt64 = carry ? 1 : 0
        if is64 {
            let (s1, o1) = x.addingReportingOverflow(y)
            let (s2, o2) = s1.addingReportingOverflow(cin)
            let v = ((x ^ s2) & (y ^ s2)) >> 63 == 1
            return (s2, s2 >> 63 == 1, s2 == 0, o1 || o2, v)
        }
        let a = x & 0xFFFF_FFFF, b = y & 0xFFFF_FFFF
        let sum = a + b + cin
        let r = sum & 0xFFFF_FFFF
        let v = ((a ^ r) & (b ^ r)) >> 31 & 1 == 1
        return (r, r >> 31 == 1, r == 0, sum >> 32 != 0, v)
    }

    /// Executes a non-BRK instruction whose access (if any) is in RAM; sets PC.
    /// `vcpu` is the KVM vCPU id, for MPIDR_EL1.
    /// `dataOffset` is added to the access's address to reach memory (the translation's; 0 with the MMU off).
    /// `checkModelled` has accepted it.
    static func execute(_ insn: Instruction, registers r: inout FakeArm64Registers, memory: FakeMemory, vcpu: Int,
                        dataOffset: UInt64 = 0) {
        let next: UInt64?
        switch insn {
        case .loadStore, .loadStoreIndexed, .loadStorePair, .loadStoreVector:
            executeLoadStore(insn, registers: &r, memory: memory, dataOffset: dataOffset)
            next = nil
        case .branch, .branchConditional, .compareBranch, .ret, .eret:
            next = executeBranch(insn, registers: &r)
        case .moveWide, .addSubImmediate, .addSubShiftedRegister, .moveRegister, .pcRelative, .multiplyAdd:
            executeDataProcessing(insn, registers: &r)
            next = nil
        case .nop, .wfi, .brk, .hvc, .isb, .noEffect, .readMPIDR, .readSystemRegister, .writeSystemRegister,
             .readControl, .writeControl:
            executeSystem(insn, registers: &r, vcpu: vcpu)
            next = nil
        }
        r.pc = next ?? r.pc &+ 4
    }

    /// Hints, barriers, MRS/MSR.
    private static func executeSystem(_ insn: Instruction, registers r: inout FakeArm64Registers, vcpu: Int) {
        switch insn {
        case .readSystemRegister(let sr, let rt):
            r.write(rt, r.read(sr))
        case .writeSystemRegister(let sr, let rt):
            r.write(sr, r.read(rt))
        case .readControl(let c, let rt):
            r.write(rt, r.read(c) ?? 0)
        case .writeControl(let c, let rt):
            _ = r.write(c, r.read(rt))
        case .readMPIDR(let rt):
            // KVM's reset_mpidr: Aff0 = id[3:0], Aff1 = id[11:4], Aff2 = id[19:12]; bit 31 RES1.
            let id = UInt64(vcpu)
            r.write(rt, (1 << 31) | (id & 0xF) | ((id >> 4) & 0xFF) << 8 | ((id >> 12) & 0xFF) << 16)
        default:
            break
        }
    }

    /// Throws for an instruction that traps or is UNDEFINED in the guest in a way the fake does not
    /// model (an FP/SIMD instruction CPACR_EL1.FPEN traps, a debug register slot the vCPU lacks);
    /// the CPU calls it right after decoding (after breakpoints, before watchpoints): such an
    /// exception is taken before the instruction's memory access.
    static func checkModelled(_ insn: Instruction, registers r: FakeArm64Registers) throws(DebugError) {
        switch insn {
        case .loadStoreVector: try checkFloatingPoint(registers: r)
        case .readControl(let c, _), .writeControl(let c, _): try checkControlAccess(c, registers: r)
        default: break
        }
    }

    /// Refuses an MRS/MSR of `c` that would trap (FPCR/FPSR under CPACR_EL1.FPEN) or be
    /// UNDEFINED (a debug register slot past the vCPU's count) in the guest.
    private static func checkControlAccess(_ c: FakeArm64ControlRegister, registers r: FakeArm64Registers) throws(DebugError) {
        if c.isFloatingPoint { try checkFloatingPoint(registers: r) }
        guard r.read(c) != nil else {
            throw .unsupported(reason: "MRS/MSR of \(c.name) at \(hex(r.pc)): this vCPU has \(r.debug.bvr.count) breakpoint and \(r.debug.wvr.count) watchpoint slots, so the access is UNDEFINED, and the fake does not model the exception")
        }
    }

    /// Refuses an FP/SIMD instruction that CPACR_EL1.FPEN traps at the current EL.
    private static func checkFloatingPoint(registers r: FakeArm64Registers) throws(DebugError) {
        guard r.floatingPointTraps else { return }
        throw .unsupported(reason: "the FP/SIMD instruction at \(hex(r.pc)) traps to EL1 (CPACR_EL1.FPEN = \((r.cpacr >> 20) & 3), KVM's reset value is 0): the fake does not model that exception; the guest sets FPEN to 0b11 first")
    }

    /// Move wide, add/subtract, MOV, ADR/ADRP, MADD/MSUB.
    private static func executeDataProcessing(_ insn: Instruction, registers r: inout FakeArm64Registers) {
        switch insn {
        case .moveWide(let is64, let opc, let shift, let imm, let rd):
            let value: UInt64
            switch opc {
            case 0: value = ~(imm << shift)
            case 2: value = imm << shift
            default: value = (r.read(rd) & ~(0xFFFF << shift)) | (imm << shift)
            }
            r.write(rd, value, is64: is64)
        case .addSubImmediate(let is64, let subtract, let setFlags, let imm, let rn, let rd):
            let sum = addWithCarry(r.readSP(rn), subtract ? ~imm : imm, carry: subtract, is64: is64)
            if setFlags {
                r.setFlags(n: sum.n, z: sum.z, c: sum.c, v: sum.v)
                r.write(rd, sum.result, is64: is64)
            } else {
                r.writeSP(rd, sum.result, is64: is64)
            }
        case .addSubShiftedRegister(let is64, let subtract, let setFlags, let rm, let amount, let rn, let rd):
            let operand = r.read(rm) << amount
            let sum = addWithCarry(r.read(rn), subtract ? ~operand : operand, carry: subtract, is64: is64)
            if setFlags { r.setFlags(n: sum.n, z: sum.z, c: sum.c, v: sum.v) }
            r.write(rd, sum.result, is64: is64)
        case .moveRegister(let is64, let rm, let rd):
            r.write(rd, r.read(rm), is64: is64)
        case .pcRelative(let page, let imm, let rd):
            r.write(rd, page ? (r.pc & ~0xFFF) &+ UInt64(bitPattern: imm << 12) : r.pc &+ UInt64(bitPattern: imm))
        case .multiplyAdd(let is64, let subtract, let rm, let ra, let rn, let rd):
            let product = r.read(rn) &* r.read(rm)
            r.write(rd, subtract ? r.read(ra) &- product : r.read(ra) &+ product, is64: is64)
        default:
            break
        }
    }

    /// Branches and ERET: the next PC when it is not PC + 4.
    private static func executeBranch(_ insn: Instruction, registers r: inout FakeArm64Registers) -> UInt64? {
        let pc = r.pc
        switch insn {
        case .eret:
            let target = r.read(.elrEL1)
            r.pstate = r.read(.spsrEL1)
            return target
        case .ret(let rn):
            return r.read(rn)
        case .branch(let offset, let link):
            if link { r.write(30, pc &+ 4) }
            return pc &+ UInt64(bitPattern: offset)
        case .branchConditional(let cond, let offset):
            return r.conditionHolds(cond) ? pc &+ UInt64(bitPattern: offset) : nil
        case .compareBranch(let is64, let nonZero, let rt, let offset):
            let v = is64 ? r.read(rt) : r.read(rt) & 0xFFFF_FFFF
            return (v != 0) == nonZero ? pc &+ UInt64(bitPattern: offset) : nil
        default:
            return nil
        }
    }

    /// Loads and stores of general and SIMD&FP registers.
    private static func executeLoadStore(_ insn: Instruction, registers r: inout FakeArm64Registers, memory: FakeMemory,
                                         dataOffset: UInt64) {
        switch insn {
        case .loadStore(let size, let isLoad, let offset, let rn, let rt):
            let address = r.readSP(rn) &+ offset &+ dataOffset
            if isLoad {
                r.write(rt, memory.load(address, size: size) ?? 0)
            } else {
                memory.store(address, size: size, r.read(rt))
            }
        case .loadStoreIndexed(let size, let isLoad, let offset, let index, let rn, let rt):
            let base = r.readSP(rn)
            let address = address(base, offset, index) &+ dataOffset
            if isLoad {
                let v = memory.load(address, size: size) ?? 0
                if index != .offset { r.writeSP(rn, base &+ UInt64(bitPattern: offset)) }
                r.write(rt, v)
            } else {
                memory.store(address, size: size, r.read(rt))
                if index != .offset { r.writeSP(rn, base &+ UInt64(bitPattern: offset)) }
            }
        case .loadStorePair(let size, let isLoad, let offset, let index, let rn, let rt, let rt2):
            let base = r.readSP(rn)
            let address = address(base, offset, index) &+ dataOffset
            if isLoad {
                let a = memory.load(address, size: size) ?? 0, b = memory.load(address &+ UInt64(size), size: size) ?? 0
                if index != .offset { r.writeSP(rn, base &+ UInt64(bitPattern: offset)) }
                r.write(rt, a)
                r.write(rt2, b)
            } else {
                memory.store(address, size: size, r.read(rt))
                memory.store(address &+ UInt64(size), size: size, r.read(rt2))
                if index != .offset { r.writeSP(rn, base &+ UInt64(bitPattern: offset)) }
            }
        case .loadStoreVector(let size, let isLoad, let offset, let rn, let rt):
            let address = r.readSP(rn) &+ offset &+ dataOffset
            if isLoad {
                // B, H, S, D loads zero the rest of the register; 16 bytes go as two doublewords.
                var bytes = [UInt8](repeating: 0, count: 16)
                for half in stride(from: 0, to: size, by: 8) {
                    let v = memory.load(address &+ UInt64(half), size: min(size, 8)) ?? 0
                    for i in 0..<min(size, 8) { bytes[half + i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) }
                }
                r.fp.setVector(rt, bytes)
            } else {
                let bytes = r.fp.vector(rt)
                for half in stride(from: 0, to: size, by: 8) {
                    var v: UInt64 = 0
                    for i in 0..<min(size, 8) { v |= UInt64(bytes[half + i]) << UInt64(8 * i) }
                    memory.store(address &+ UInt64(half), size: min(size, 8), v)
                }
            }
        default:
            break
        }
    }
}
