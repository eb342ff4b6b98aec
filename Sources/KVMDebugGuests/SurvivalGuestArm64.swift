import KVMDebugModel

/// A register the arm64 survival guest sets with MSR and checks with MRS, and the value it writes.
public struct SurvivalControlRegister: Sendable, Hashable {
    public var name: String
    /// o0:op1:CRn:CRm:op2 (MSR/MRS bits 19:5).
    public var encoding: UInt32
    public var value: UInt64
}

/// The arm64 survival guest (`survive` on arm64; the contract is SurvivalGuest's): EL1, MMU off,
/// code at 0x10000, data page 0x12000. It fills V0-V31, sets FPCR and FPSR and programs its own
/// debug registers, loops in `work` storing `tick` until the host sets `release`, stores
/// v`arm64HostRegister` at `probe`, reads everything back and stores in `result` one bit per
/// register that differs (`arm64Bits` names them: bit n is vN, bit 32 + k the k-th control register).
extension SurvivalGuest {
    /// Where the arm64 guest's pieces live.
    public enum Arm64Layout {
        /// V0-V31's values (16 bytes each, `arm64Pattern(n)`); `expect` is v`arm64HostRegister`'s.
        public static let patterns: UInt64 = 0x12000
        /// Where the check stores V0-V31 before comparing them.
        public static let readBack: UInt64 = 0x12200
        public static let tick: UInt64 = 0x12400, release: UInt64 = 0x12408, result: UInt64 = 0x12410
        public static let probe: UInt64 = 0x12420
        /// The control values, in `arm64ControlRegisters` order, 8 bytes each.
        public static let control: UInt64 = 0x12440
    }

    /// The FP register the host writes in the arm64 scenario: v31.
    public static let arm64HostRegister = 31

    /// How many instructions the arm64 guest runs before `work` (its setup).
    public static var arm64SetupInstructions: Int {
        let g = arm64()
        return Int(((g.symbol("work")?.address ?? g.entry) - g.entry) / 4)
    }

    /// FPCR, FPSR and the guest's own debug registers, with values that are distinctive yet never
    /// make the guest trap itself, and that every implementation keeps as written (only fields the
    /// Arm ARM defines; RES0 bits, RAZ/WI trap enables and RES1/RESS bits left alone):
    /// - FPCR 0x07800000: AHP, DN, FZ, RMode 0b10 (round towards minus infinity). No trap-enable
    ///   bit (IOE..IDE are RAZ/WI where trapping is not implemented: QEMU's model).
    /// - FPSR 0x08000015: QC, IXC, OFC, IOC (cumulative flags; nothing the guest runs sets others).
    /// - DBGBVR0/DBGBCR0: address 0x123456789abc, enabled (E, PMC 0b01 = EL1, BAS 0b1111); never
    ///   executed (outside RAM). DBGBVR1/DBGBCR1: 0xbadc0de0004, disabled (PMC 0b11, BAS 0b1111).
    /// - DBGWVR0/DBGWCR0: 0xabcdef01238, 8 bytes (BAS 0xff), loads and stores, EL1, enabled; never
    ///   accessed. DBGWVR1/DBGWCR1: 0xdeadbee0, 4 bytes, stores, EL0+EL1, disabled.
    /// - MDSCR_EL1 0x3000: KDE and TDCC, MDE clear: the guest's breakpoints and watchpoints stay
    ///   disabled (MDE gates them), and with PSTATE.D masked from reset nothing targets EL1 anyway;
    ///   KDE makes KVM treat the guest's debug state as in use (KDE or MDE set: load it on entry,
    ///   arch/arm64/kvm/debug.c), which is the lazy switch this guest checks.
    /// Slots 0 and 1 only: the architecture guarantees at least two of each (ID_AA64DFR0_EL1).
    public static let arm64ControlRegisters: [SurvivalControlRegister] = [
        SurvivalControlRegister(name: "fpcr", encoding: A64.fpcr, value: 0x0780_0000),
        SurvivalControlRegister(name: "fpsr", encoding: A64.fpsr, value: 0x0800_0015),
        SurvivalControlRegister(name: "dbgbvr0", encoding: A64.dbgbvr(0), value: 0x1234_5678_9ABC),
        SurvivalControlRegister(name: "dbgbcr0", encoding: A64.dbgbcr(0), value: 0xF << 5 | 0b01 << 1 | 1),
        SurvivalControlRegister(name: "dbgbvr1", encoding: A64.dbgbvr(1), value: 0xBAD_C0DE_0004),
        SurvivalControlRegister(name: "dbgbcr1", encoding: A64.dbgbcr(1), value: 0xF << 5 | 0b11 << 1),
        SurvivalControlRegister(name: "dbgwvr0", encoding: A64.dbgwvr(0), value: 0xABC_DEF0_1238),
        SurvivalControlRegister(name: "dbgwcr0", encoding: A64.dbgwcr(0), value: 0xFF << 5 | 0b11 << 3 | 0b01 << 1 | 1),
        SurvivalControlRegister(name: "dbgwvr1", encoding: A64.dbgwvr(1), value: 0xDEAD_BEE0),
        SurvivalControlRegister(name: "dbgwcr1", encoding: A64.dbgwcr(1), value: 0x0F << 5 | 0b10 << 3 | 0b11 << 1),
        SurvivalControlRegister(name: "mdscr_el1", encoding: A64.mdscrEL1, value: 0x3000),
    ]

    /// What the guest loads into Vn: byte i is (16n + i) mod 256, XORed with 0xa5 for n >= 16.
    public static func arm64Pattern(_ n: Int) -> [UInt8] {
        (0..<16).map { i in UInt8(truncatingIfNeeded: 16 * n + i) ^ (n >= 16 ? 0xA5 : 0) }
    }

    /// What each bit of the arm64 guest's `result` stands for: v0-v31, then the control registers.
    public static var arm64Bits: [String] { (0..<32).map { "v\($0)" } + arm64ControlRegisters.map { $0.name } }

    /// The arm64 guest (`survive`):
    /// ```
    /// entry:  movz x1, #0x30, lsl #16; msr cpacr_el1, x1; isb   FPEN = 0b11 (KVM resets CPACR_EL1
    ///                                                          to 0, which traps FP/SIMD at EL1)
    ///         x9 = 0x12000; ldr qN, [x9, #16N] for N = 0...31
    ///         x10 = control; per control register: ldr x1, [x10], #8; msr REG, x1
    ///         isb; x0 = 0
    /// work:   add x0, x0, #1; str x0, tick; ldr x5, release; cbz x5, work
    ///         str q31, probe; str qN, [readBack + 16N] for N = 0...31
    ///         x20 = 0 (result), x21 = 1 (this register's bit); x10 = patterns, x11 = readBack
    /// vloop:  both doublewords of readBack equal patterns, else x20 += x21; x21 += x21;
    ///         32 times
    ///         x10 = control; per control register: mrs x3, REG; bl tally
    ///         str x20, result
    /// done:   add x0, x0, #1; b done
    /// tally:  ldr x4, [x10], #8; cmp x3, x4; b.eq 1f; add x20, x20, x21; 1: add x21, x21, x21; ret
    /// ```
    public static func arm64() -> Guest {
        typealias L = Arm64Layout
        let base = ConformanceGuests.base
        var w: [UInt32] = []
        func here() -> UInt64 { base + UInt64(w.count) * 4 }
        func offset(_ a: UInt64) -> UInt32 { UInt32(a - L.patterns) }
        w += [A64.movz(1, 0x30, shift: 16), A64.msr(A64.cpacrEL1, 1), A64.isb,
              A64.movz(9, UInt32(L.patterns & 0xFFFF)), A64.movk(9, UInt32(L.patterns >> 16), shift: 16)]
        for n in UInt32(0)..<32 { w.append(A64.ldrQ(n, 9, 16 * n)) }
        w.append(A64.add(10, 9, offset(L.control)))
        for c in arm64ControlRegisters { w += [A64.ldrPost(1, 10, 8), A64.msr(c.encoding, 1)] }
        w += [A64.isb, A64.movz(0, 0)]
        let work = here()
        w += [A64.add(0, 0, 1), A64.access(size: 8, load: false, rt: 0, rn: 9, offset: offset(L.tick)),
              A64.access(size: 8, load: true, rt: 5, rn: 9, offset: offset(L.release))]
        w.append(A64.cbz(5, from: here(), to: work))
        w.append(A64.strQ(UInt32(arm64HostRegister), 9, offset(L.probe)))
        for n in UInt32(0)..<32 { w.append(A64.strQ(n, 9, offset(L.readBack) + 16 * n)) }
        w += [A64.movz(20, 0), A64.movz(21, 1), A64.add(10, 9, 0), A64.add(11, 9, offset(L.readBack)), A64.movz(12, 32)]
        let vloop = here()
        w += [A64.ldrPost(3, 11, 8), A64.ldrPost(4, 10, 8), A64.ldrPost(5, 11, 8), A64.ldrPost(6, 10, 8), A64.cmpRegister(3, 4)]
        w.append(A64.bcond(1, from: here(), to: here() + 12))   // b.ne: the low halves differ
        w.append(A64.cmpRegister(5, 6))
        w.append(A64.bcond(0, from: here(), to: here() + 8))    // b.eq: both halves equal
        w += [A64.addRegister(20, 20, 21), A64.addRegister(21, 21, 21), A64.sub(12, 12, 1)]
        w.append(A64.cbnz(12, from: here(), to: vloop))
        w.append(A64.add(10, 9, offset(L.control)))
        var calls: [Int] = []
        for c in arm64ControlRegisters {
            w.append(A64.mrs(3, c.encoding))
            calls.append(w.count)
            w.append(0)   // bl tally, placed below
        }
        w.append(A64.access(size: 8, load: false, rt: 20, rn: 9, offset: offset(L.result)))
        let done = here()
        w += [A64.add(0, 0, 1), A64.b(from: done + 4, to: done)]
        let tally = here()
        for i in calls { w[i] = A64.bl(from: base + UInt64(i) * 4, to: tally) }
        w += [A64.ldrPost(4, 10, 8), A64.cmpRegister(3, 4)]
        w.append(A64.bcond(0, from: here(), to: here() + 8))
        w += [A64.addRegister(20, 20, 21), A64.addRegister(21, 21, 21), A64.ret]

        var code: [UInt8] = []
        for x in w { code += littleEndianBytes(UInt64(x), count: 4) }
        var controlBytes: [UInt8] = []
        for c in arm64ControlRegisters { controlBytes += littleEndianBytes(c.value) }
        var patternBytes: [UInt8] = []
        for n in 0..<32 { patternBytes += arm64Pattern(n) }
        let data = [GuestData(address: L.patterns, bytes: patternBytes),
                    GuestData(address: L.tick, bytes: littleEndianBytes(0) + littleEndianBytes(0) + littleEndianBytes(resultUnchecked)),
                    GuestData(address: L.control, bytes: controlBytes)]
        let symbols = [
            GuestSymbol(name: "entry", address: base, size: work - base),
            GuestSymbol(name: "work", address: work, size: 16),
            GuestSymbol(name: "done", address: done, size: 8),
            GuestSymbol(name: "tally", address: tally, size: 24),
            GuestSymbol(name: "tick", address: L.tick, size: 8),
            GuestSymbol(name: "release", address: L.release, size: 8),
            GuestSymbol(name: "result", address: L.result, size: 8),
            GuestSymbol(name: "probe", address: L.probe, size: 16),
            GuestSymbol(name: "expect", address: L.patterns + 16 * UInt64(arm64HostRegister), size: 16),
            GuestSymbol(name: "patterns", address: L.patterns, size: 512),
            GuestSymbol(name: "read-back", address: L.readBack, size: 512),
            GuestSymbol(name: "control", address: L.control, size: UInt64(8 * arm64ControlRegisters.count)),
        ]
        return Guest(name: "survive", arch: .arm64, mode: .el1, memoryBase: base, memorySize: ConformanceGuests.memorySize,
                     loadAddress: base, image: code, data: data, entry: base, symbols: symbols,
                     summary: "fills v0-v31, sets fpcr/fpsr and its own DBGB*/DBGW*/MDSCR_EL1, loops until `release`, then checks every register (str q, mrs) into `result` (EL1)")
    }
}
