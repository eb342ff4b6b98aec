import KVMDebugModel

/// A few A64 encodings, enough to write the conformance guests as data. Every one
/// is an instruction the fake backend's interpreter models (FakeArm64Interpreter).
enum A64 {
    static let nop: UInt32 = 0xD503_201F
    static let isb: UInt32 = 0xD503_3FDF
    static let eret: UInt32 = 0xD69F_03E0

    /// MOVZ Xd, #imm, LSL #shift.
    static func movz(_ rd: UInt32, _ imm: UInt32, shift: UInt32 = 0) -> UInt32 {
        0xD280_0000 | (shift / 16) << 21 | (imm & 0xFFFF) << 5 | rd
    }
    /// MOVK Xd, #imm, LSL #shift.
    static func movk(_ rd: UInt32, _ imm: UInt32, shift: UInt32) -> UInt32 {
        0xF280_0000 | (shift / 16) << 21 | (imm & 0xFFFF) << 5 | rd
    }
    /// ADD Xd, Xn, #imm.
    static func add(_ rd: UInt32, _ rn: UInt32, _ imm: UInt32) -> UInt32 {
        0x9100_0000 | (imm & 0xFFF) << 10 | rn << 5 | rd
    }
    /// CMP Xn, #imm (SUBS XZR, Xn, #imm).
    static func cmp(_ rn: UInt32, _ imm: UInt32) -> UInt32 {
        0xF100_001F | (imm & 0xFFF) << 10 | rn << 5
    }
    /// Word offset from `from` to `to`.
    static func words(_ from: UInt64, _ to: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: Int64(bitPattern: to &- from) >> 2)
    }
    /// B to `to`, placed at `from`.
    static func b(from: UInt64, to: UInt64) -> UInt32 { 0x1400_0000 | words(from, to) & 0x03FF_FFFF }
    /// B.NE.
    static func bne(from: UInt64, to: UInt64) -> UInt32 { 0x5400_0001 | (words(from, to) & 0x7FFFF) << 5 }
    /// CBZ / CBNZ Xt.
    static func cbz(_ rt: UInt32, from: UInt64, to: UInt64) -> UInt32 { 0xB400_0000 | (words(from, to) & 0x7FFFF) << 5 | rt }
    static func cbnz(_ rt: UInt32, from: UInt64, to: UInt64) -> UInt32 { 0xB500_0000 | (words(from, to) & 0x7FFFF) << 5 | rt }
    /// STR/LDR (unsigned offset) of `size` bytes (1, 2, 4, 8): Wt/Xt, [Xn, #offset].
    static func access(size: Int, load: Bool, rt: UInt32, rn: UInt32, offset: UInt32) -> UInt32 {
        let (base, shift): (UInt32, UInt32)
        switch size {
        case 1: (base, shift) = (0x3900_0000, 0)
        case 2: (base, shift) = (0x7900_0000, 1)
        case 4: (base, shift) = (0xB900_0000, 2)
        default: (base, shift) = (0xF900_0000, 3)
        }
        return base | (load ? 0x40_0000 : 0) | ((offset >> shift) & 0xFFF) << 10 | rn << 5 | rt
    }
    /// STP/LDP Xt1, Xt2, [Xn, #offset] (signed offset, no writeback): a pair access, whose data
    /// abort has no valid syndrome (ESR_EL2.ISV = 0).
    static func pair(load: Bool, rt: UInt32, rt2: UInt32, rn: UInt32, offset: UInt32) -> UInt32 {
        (load ? 0xA940_0000 : 0xA900_0000) | ((offset >> 3) & 0x7F) << 15 | rt2 << 10 | rn << 5 | rt
    }
    /// BRK #imm.
    static func brk(_ imm: UInt32) -> UInt32 { 0xD420_0000 | (imm & 0xFFFF) << 5 }
    /// MSR VBAR_EL1, Xt.
    static func msrVBAR(_ rt: UInt32) -> UInt32 { 0xD518_C000 | rt }
    /// MSR / MRS of the system register `encoding` (o0:op1:CRn:CRm:op2, op0 = 2 + o0: bits 19:5).
    static func msr(_ encoding: UInt32, _ rt: UInt32) -> UInt32 { 0xD510_0000 | encoding << 5 | rt }
    static func mrs(_ rt: UInt32, _ encoding: UInt32) -> UInt32 { 0xD530_0000 | encoding << 5 | rt }
    /// System register encodings for `msr`/`mrs`: CPACR_EL1 (3, 0, 1, 0, 2), FPCR (3, 3, 4, 4, 0),
    /// FPSR (3, 3, 4, 4, 1), MDSCR_EL1 (2, 0, 0, 2, 2), DBGBVR/DBGBCR/DBGWVR/DBGWCR<n>_EL1 (2, 0, 0, n, 4...7).
    static let cpacrEL1: UInt32 = 0x4082, fpcr: UInt32 = 0x5A20, fpsr: UInt32 = 0x5A21, mdscrEL1: UInt32 = 0x0012
    static func dbgbvr(_ n: UInt32) -> UInt32 { n << 3 | 4 }
    static func dbgbcr(_ n: UInt32) -> UInt32 { n << 3 | 5 }
    static func dbgwvr(_ n: UInt32) -> UInt32 { n << 3 | 6 }
    static func dbgwcr(_ n: UInt32) -> UInt32 { n << 3 | 7 }
    /// STR / LDR Qt, [Xn, #offset] (SIMD&FP, unsigned offset, a multiple of 16).
    static func strQ(_ rt: UInt32, _ rn: UInt32, _ offset: UInt32) -> UInt32 { 0x3D80_0000 | (offset / 16 & 0xFFF) << 10 | rn << 5 | rt }
    static func ldrQ(_ rt: UInt32, _ rn: UInt32, _ offset: UInt32) -> UInt32 { 0x3DC0_0000 | (offset / 16 & 0xFFF) << 10 | rn << 5 | rt }
    /// LDR Xt, [Xn], #imm (post-index, imm9).
    static func ldrPost(_ rt: UInt32, _ rn: UInt32, _ imm: Int32) -> UInt32 {
        0xF840_0400 | (UInt32(bitPattern: imm) & 0x1FF) << 12 | rn << 5 | rt
    }
    /// CMP Xn, Xm (SUBS XZR, Xn, Xm).
    static func cmpRegister(_ rn: UInt32, _ rm: UInt32) -> UInt32 { 0xEB00_001F | rm << 16 | rn << 5 }
    /// ADD Xd, Xn, Xm.
    static func addRegister(_ rd: UInt32, _ rn: UInt32, _ rm: UInt32) -> UInt32 { 0x8B00_0000 | rm << 16 | rn << 5 | rd }
    /// SUB Xd, Xn, #imm.
    static func sub(_ rd: UInt32, _ rn: UInt32, _ imm: UInt32) -> UInt32 { 0xD100_0000 | (imm & 0xFFF) << 10 | rn << 5 | rd }
    /// B.cond (0 EQ, 1 NE, ...).
    static func bcond(_ cond: UInt32, from: UInt64, to: UInt64) -> UInt32 { 0x5400_0000 | (words(from, to) & 0x7FFFF) << 5 | cond }
    /// BL to `to`, placed at `from`.
    static func bl(from: UInt64, to: UInt64) -> UInt32 { 0x9400_0000 | words(from, to) & 0x03FF_FFFF }
    /// RET (X30).
    static let ret: UInt32 = 0xD65F_03C0
    /// MRS Xt, ELR_EL1 / MSR ELR_EL1, Xt.
    static func mrsELR(_ rt: UInt32) -> UInt32 { 0xD538_4020 | rt }
    static func msrELR(_ rt: UInt32) -> UInt32 { 0xD518_4020 | rt }
}

/// One data access a conformance guest makes in its loop: `size` bytes at `address`.
public struct ConformanceAccess: Sendable, Hashable {
    public var pc: UInt64
    public var address: UInt64
    public var size: UInt64
    public var isWrite: Bool
}

/// The tiny arm64 guests of the conformance lane (EL1, MMU off, RAM 0x10000..0x30000,
/// code at 0x10000), as instruction words.
public enum ConformanceGuests {
    public static let base: UInt64 = 0x10000
    public static let memorySize: UInt64 = 0x20000
    /// The doubleword the `bytes` guest accesses (X1).
    public static let word: UInt64 = 0x11000
    /// Code addresses nothing executes: filler breakpoints (to reach the highest slot).
    public static let unusedCode: UInt64 = 0x1F000
    /// Data addresses nothing accesses: filler watchpoints.
    public static let unusedData: UInt64 = 0x1F800

    static func guest(_ name: String, _ words: [UInt32], extra: [(UInt64, [UInt32])] = [],
                      symbols: [GuestSymbol] = [], summary: String) -> Guest {
        var code: [UInt8] = []
        for w in words { code += littleEndianBytes(UInt64(w), count: 4) }
        var data: [GuestData] = []
        for (address, ws) in extra {
            var bytes: [UInt8] = []
            for w in ws { bytes += littleEndianBytes(UInt64(w), count: 4) }
            data.append(GuestData(address: address, bytes: bytes))
        }
        return Guest(name: name, arch: .arm64, mode: .el1, memoryBase: base, memorySize: memorySize,
                     loadAddress: base, image: code, data: data, entry: base, symbols: symbols, summary: summary)
    }

    // MARK: bytes

    /// Offsets and sizes of the `bytes` guest's accesses to `word`, in program order:
    /// STRB at 0...7, STRH at 0, 2, 4, 6, STR W at 0, 4, STR X at 0, then the same as loads.
    static let byteAccessShapes: [(offset: UInt64, size: UInt64)] = {
        var out: [(offset: UInt64, size: UInt64)] = []
        for size: UInt64 in [1, 2, 4, 8] {
            var o: UInt64 = 0
            while o < 8 {
                out.append((o, size))
                o += size
            }
        }
        return out
    }()

    /// The `bytes` guest's loop: 15 naturally aligned stores of every size and offset
    /// into `word`, then the same 15 as loads.
    public static var byteAccesses: [ConformanceAccess] {
        var out: [ConformanceAccess] = []
        var pc = base + 0x10
        for isWrite in [true, false] {
            for s in byteAccessShapes {
                out.append(ConformanceAccess(pc: pc, address: word + s.offset, size: s.size, isWrite: isWrite))
                pc += 4
            }
        }
        return out
    }

    /// `bytes`: x1 = 0x11000; loop: x0 += 1; every `byteAccesses` access; b loop.
    public static func bytes() -> Guest {
        var w: [UInt32] = [A64.movz(1, 0x1000), A64.movk(1, 0x1, shift: 16), A64.movz(0, 0), A64.add(0, 0, 1)]
        for a in byteAccesses {
            w.append(A64.access(size: Int(a.size), load: !a.isWrite, rt: a.isWrite ? 0 : 2, rn: 1,
                                offset: UInt32(a.address - word)))
        }
        let loop = base + 0xC
        w.append(A64.b(from: base + UInt64(w.count) * 4, to: loop))
        return guest("bytes", w, symbols: [GuestSymbol(name: "loop", address: loop, size: 4),
                                          GuestSymbol(name: "word", address: word, size: 8)],
                     summary: "byte, halfword, word, doubleword stores then loads at every aligned offset of one doubleword")
    }

    // MARK: stride

    /// The `stride` guest's accesses: 8-byte stores spread over 0x11000..0x12010, then two loads.
    public static let strideAccesses: [ConformanceAccess] = {
        let stores: [UInt64] = [0x11000, 0x11008, 0x11010, 0x11800, 0x11FF8, 0x12000, 0x12008]
        var out: [ConformanceAccess] = []
        var pc = base + 0x18
        for a in stores {
            out.append(ConformanceAccess(pc: pc, address: a, size: 8, isWrite: true))
            pc += 4
        }
        for a: UInt64 in [0x11800, 0x12008] {
            out.append(ConformanceAccess(pc: pc, address: a, size: 8, isWrite: false))
            pc += 4
        }
        return out
    }()

    /// `stride`: x1 = 0x11000 (`page0`), x3 = 0x12000 (`page1`); loop: x0 += 1; `strideAccesses`; b loop.
    public static func stride() -> Guest {
        var w: [UInt32] = [A64.movz(1, 0x1000), A64.movk(1, 0x1, shift: 16),
                           A64.movz(3, 0x2000), A64.movk(3, 0x1, shift: 16),
                           A64.movz(0, 0), A64.add(0, 0, 1)]
        for a in strideAccesses {
            let rn: UInt32 = a.address >= 0x12000 ? 3 : 1
            let off = UInt32(a.address - (rn == 3 ? 0x12000 : 0x11000))
            w.append(A64.access(size: 8, load: !a.isWrite, rt: a.isWrite ? 0 : 2, rn: rn, offset: off))
        }
        let loop = base + 0x14
        w.append(A64.b(from: base + UInt64(w.count) * 4, to: loop))
        return guest("stride", w, symbols: [GuestSymbol(name: "loop", address: loop, size: 4),
                                           GuestSymbol(name: "page0", address: 0x11000, size: 0x1000),
                                           GuestSymbol(name: "page1", address: 0x12000, size: 0x10)],
                     summary: "8-byte stores to 0x11000, 0x11008, 0x11010, 0x11800, 0x11ff8, 0x12000, 0x12008; loads of 0x11800, 0x12008")
    }

    // MARK: pair

    /// `pair`: the accesses KVM cannot describe to a protected page (no valid syndrome:
    /// KVM_EXIT_ARM_NISV) beside one it can:
    /// ```
    /// 10000        movz x1, #0x1000
    /// 10004        movk x1, #0x1, lsl #16     x1 = 0x11000 (`pair`)
    /// 10008        movz x0, #0
    /// 1000c loop:  add x0, x0, #1
    /// 10010        stp x0, x0, [x1]           16 bytes at 0x11000
    /// 10014        ldp x2, x3, [x1]
    /// 10018        str x0, [x1, #0x10]        8 bytes at 0x11010
    /// 1001c        b loop
    /// ```
    public static func pair() -> Guest {
        let b = base
        let w: [UInt32] = [
            A64.movz(1, 0x1000), A64.movk(1, 0x1, shift: 16), A64.movz(0, 0),
            A64.add(0, 0, 1),
            A64.pair(load: false, rt: 0, rt2: 0, rn: 1, offset: 0),
            A64.pair(load: true, rt: 2, rt2: 3, rn: 1, offset: 0),
            A64.access(size: 8, load: false, rt: 0, rn: 1, offset: 0x10),
            A64.b(from: b + 0x1C, to: b + 0xC),
        ]
        return guest("pair", w, symbols: [GuestSymbol(name: "loop", address: b + 0xC, size: 4),
                                         GuestSymbol(name: "pair", address: 0x11000, size: 0x18)],
                     summary: "stp and ldp of 16 bytes at 0x11000, str of 8 bytes at 0x11010")
    }

    // MARK: branch

    /// `branch`:
    /// ```
    /// 10000        movz x0, #0
    /// 10004 loop:  add x0, x0, #1
    /// 10008        cmp x0, #2
    /// 1000c        b.ne 10014      taken except when x0 == 2
    /// 10010        add x4, x4, #1
    /// 10014        cbz x0, loop    never taken
    /// 10018        cbnz x0, 10020  always taken
    /// 1001c        add x5, x5, #1  never runs
    /// 10020        b loop
    /// ```
    public static func branch() -> Guest {
        let b = base
        let w: [UInt32] = [
            A64.movz(0, 0),
            A64.add(0, 0, 1),
            A64.cmp(0, 2),
            A64.bne(from: b + 0xC, to: b + 0x14),
            A64.add(4, 4, 1),
            A64.cbz(0, from: b + 0x14, to: b + 0x4),
            A64.cbnz(0, from: b + 0x18, to: b + 0x20),
            A64.add(5, 5, 1),
            A64.b(from: b + 0x20, to: b + 0x4),
        ]
        return guest("branch", w, symbols: [GuestSymbol(name: "bne", address: b + 0xC, size: 4)],
                     summary: "b.ne taken and not taken, cbz not taken, cbnz taken")
    }

    // MARK: own-brk

    /// VBAR_EL1 of the `own-brk` guest (2 KiB aligned).
    public static let ownBRKVectors: UInt64 = 0x10800
    /// Its synchronous current-EL-with-SP_ELx handler: VBAR_EL1 + 0x200.
    public static let ownBRKHandler: UInt64 = 0x10A00
    /// Its BRK #0x42.
    public static let ownBRK: UInt64 = 0x10018

    /// `own-brk`: a guest that uses BRK itself, with its own EL1 vector table
    /// (symbols `brk`, `handler`, and `unused`: code nothing executes).
    /// ```
    /// 10000        movz x1, #0x0800
    /// 10004        movk x1, #1, lsl #16
    /// 10008        msr vbar_el1, x1       VBAR_EL1 = 0x10800
    /// 1000c        isb
    /// 10010        movz x0, #0
    /// 10014 loop:  add x0, x0, #1
    /// 10018        brk #0x42              the guest's own
    /// 1001c        add x5, x5, #1         after the handler returns
    /// 10020        b loop
    /// 10a00 sync:  add x6, x6, #1         handlers run
    /// 10a04        mrs x7, elr_el1
    /// 10a08        add x7, x7, #4         skip the BRK
    /// 10a0c        msr elr_el1, x7
    /// 10a10        eret
    /// ```
    public static func ownBRKGuest() -> Guest {
        let b = base
        let w: [UInt32] = [
            A64.movz(1, 0x0800), A64.movk(1, 0x1, shift: 16), A64.msrVBAR(1), A64.isb,
            A64.movz(0, 0), A64.add(0, 0, 1), A64.brk(0x42), A64.add(5, 5, 1),
            A64.b(from: b + 0x20, to: b + 0x14),
        ]
        let handler: [UInt32] = [A64.add(6, 6, 1), A64.mrsELR(7), A64.add(7, 7, 4), A64.msrELR(7), A64.eret]
        return guest("own-brk", w, extra: [(ownBRKHandler, handler)],
                     symbols: [GuestSymbol(name: "brk", address: ownBRK, size: 4),
                               GuestSymbol(name: "handler", address: ownBRKHandler, size: 4),
                               GuestSymbol(name: "unused", address: unusedCode, size: 4)],
                     summary: "the guest's own brk #0x42, handled by its EL1 vector at VBAR_EL1 + 0x200")
    }
}
