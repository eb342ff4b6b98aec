import KVMDebugModel

/// The arm64 state-survival guest (EL1, MMU off, code at 0x10000, data page 0x12000): it fills
/// V0-V31, sets FPCR and FPSR and programs its own debug registers, spins in `survive_loop` while
/// the host debugs it, and when the host sets `check` it reads everything back itself and
/// stores in `result` one bit per register that changed (`SurviveArm64.bit(of:)`).
public enum SurviveArm64 {
    /// V0-V31's values (16 bytes each, `pattern(n)`): 0x12000.
    public static let patterns: UInt64 = 0x12000
    /// Where the check stores V0-V31 before comparing them: 0x12200.
    public static let readback: UInt64 = 0x12200
    /// The loop's counter (one store per iteration), `check` (the host sets it to 1 to start
    /// the check) and `result`.
    public static let rounds: UInt64 = 0x12400, check: UInt64 = 0x12408, result: UInt64 = 0x12410
    /// `result` until the check has run: no register yields this mask.
    public static let notChecked: UInt64 = ~0
    /// The control values, in `controlRegisters` order, 8 bytes each: 0x12440.
    public static let control: UInt64 = 0x12440

    /// A register the guest sets with MSR and checks with MRS, and the value it writes.
    public struct ControlRegister: Sendable, Hashable {
        public var name: String
        /// o0:op1:CRn:CRm:op2 (MSR/MRS bits 19:5).
        public var encoding: UInt32
        public var value: UInt64
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
    public static let controlRegisters: [ControlRegister] = [
        ControlRegister(name: "fpcr", encoding: A64.fpcr, value: 0x0780_0000),
        ControlRegister(name: "fpsr", encoding: A64.fpsr, value: 0x0800_0015),
        ControlRegister(name: "dbgbvr0", encoding: A64.dbgbvr(0), value: 0x1234_5678_9ABC),
        ControlRegister(name: "dbgbcr0", encoding: A64.dbgbcr(0), value: 0xF << 5 | 0b01 << 1 | 1),
        ControlRegister(name: "dbgbvr1", encoding: A64.dbgbvr(1), value: 0xBAD_C0DE_0004),
        ControlRegister(name: "dbgbcr1", encoding: A64.dbgbcr(1), value: 0xF << 5 | 0b11 << 1),
        ControlRegister(name: "dbgwvr0", encoding: A64.dbgwvr(0), value: 0xABC_DEF0_1238),
        ControlRegister(name: "dbgwcr0", encoding: A64.dbgwcr(0), value: 0xFF << 5 | 0b11 << 3 | 0b01 << 1 | 1),
        ControlRegister(name: "dbgwvr1", encoding: A64.dbgwvr(1), value: 0xDEAD_BEE0),
        ControlRegister(name: "dbgwcr1", encoding: A64.dbgwcr(1), value: 0x0F << 5 | 0b10 << 3 | 0b11 << 1),
        ControlRegister(name: "mdscr_el1", encoding: A64.mdscrEL1, value: 0x3000),
    ]

    /// What the guest loads into Vn: byte i is (16n + i) mod 256, XORed with 0xa5 for n >= 16.
    public static func pattern(_ n: Int) -> [UInt8] {
        (0..<16).map { i in UInt8(truncatingIfNeeded: 16 * n + i) ^ (n >= 16 ? 0xA5 : 0) }
    }

    /// The bit of `result` that says which register changed: Vn is bit n, `controlRegisters[k]`
    /// bit 32 + k.
    public static func bit(vector n: Int) -> UInt64 { 1 << UInt64(n) }
    public static func bit(of name: String) -> UInt64? {
        controlRegisters.firstIndex { $0.name == name }.map { 1 << UInt64(32 + $0) }
    }

    /// The names of the registers `mask` reports changed (`v5`, `mdscr_el1`).
    public static func changed(_ mask: UInt64) -> [String] {
        (0..<32).filter { mask & bit(vector: $0) != 0 }.map { "v\($0)" }
            + controlRegisters.indices.filter { mask & 1 << UInt64(32 + $0) != 0 }.map { controlRegisters[$0].name }
    }

    /// The guest (`survive`):
    /// ```
    /// entry:        msr cpacr_el1 (FPEN = 0b11: KVM resets CPACR_EL1 to 0, which traps FP/SIMD);
    ///               x9 = 0x12000; ldr q0..q31 from `patterns`;
    ///               for each control register: ldr x1, [x10], #8; msr REG, x1; isb
    /// survive_loop: x0 += 1; str x0, rounds; ldr x5, check; cbz x5, survive_loop
    /// verify:       str q0..q31 to `readback`; x20 = 0 (mask), x21 = 1 (bit);
    ///               for each V: both doublewords equal `patterns`, else x20 += x21; x21 += x21
    ///               for each control register: mrs x3, REG; bl tally
    ///               str x20, result
    /// survive_done: x0 += 1; b survive_done
    /// tally:        ldr x4, [x10], #8; cmp x3, x4; b.eq 1f; x20 += x21; 1: x21 += x21; ret
    /// ```
    public static func guest() -> Guest {
        var w: [UInt32] = []
        func here() -> UInt64 { ConformanceGuests.base + UInt64(w.count) * 4 }
        w += [A64.movz(1, 0x30, shift: 16), A64.msr(A64.cpacrEL1, 1), A64.isb,
              A64.movz(9, 0x2000), A64.movk(9, 0x1, shift: 16)]
        for n in UInt32(0)..<32 { w.append(A64.ldrQ(n, 9, 16 * n)) }
        w.append(A64.add(10, 9, UInt32(control - patterns)))
        for c in controlRegisters { w += [A64.ldrPost(1, 10, 8), A64.msr(c.encoding, 1)] }
        w += [A64.isb, A64.movz(0, 0)]
        let loop = here()
        w += [A64.add(0, 0, 1), A64.access(size: 8, load: false, rt: 0, rn: 9, offset: UInt32(rounds - patterns)),
              A64.access(size: 8, load: true, rt: 5, rn: 9, offset: UInt32(check - patterns))]
        w.append(A64.cbz(5, from: here(), to: loop))
        let verify = here()
        for n in UInt32(0)..<32 { w.append(A64.strQ(n, 9, UInt32(readback - patterns) + 16 * n)) }
        w += [A64.movz(20, 0), A64.movz(21, 1), A64.add(10, 9, 0), A64.add(11, 9, UInt32(readback - patterns)), A64.movz(12, 32)]
        let vloop = here()
        w += [A64.ldrPost(3, 11, 8), A64.ldrPost(4, 10, 8), A64.ldrPost(5, 11, 8), A64.ldrPost(6, 10, 8), A64.cmpRegister(3, 4)]
        w.append(A64.bcond(1, from: here(), to: here() + 12))   // b.ne: the low halves differ
        w.append(A64.cmpRegister(5, 6))
        w.append(A64.bcond(0, from: here(), to: here() + 8))    // b.eq: both halves equal
        w += [A64.addRegister(20, 20, 21), A64.addRegister(21, 21, 21), A64.sub(12, 12, 1)]
        w.append(A64.cbnz(12, from: here(), to: vloop))
        w.append(A64.add(10, 9, UInt32(control - patterns)))
        var calls: [Int] = []
        for c in controlRegisters {
            w.append(A64.mrs(3, c.encoding))
            calls.append(w.count)
            w.append(0)   // bl tally, placed below
        }
        w.append(A64.access(size: 8, load: false, rt: 20, rn: 9, offset: UInt32(result - patterns)))
        let done = here()
        w += [A64.add(0, 0, 1), A64.b(from: done + 4, to: done)]
        let tally = here()
        for i in calls { w[i] = A64.bl(from: ConformanceGuests.base + UInt64(i) * 4, to: tally) }
        w += [A64.ldrPost(4, 10, 8), A64.cmpRegister(3, 4)]
        w.append(A64.bcond(0, from: here(), to: here() + 8))
        w += [A64.addRegister(20, 20, 21), A64.addRegister(21, 21, 21), A64.ret]

        var code: [UInt8] = []
        for x in w { code += littleEndianBytes(UInt64(x), count: 4) }
        var controlBytes: [UInt8] = []
        for c in controlRegisters { controlBytes += littleEndianBytes(c.value) }
        let data = [GuestData(address: patterns, bytes: (0..<32).flatMap(pattern)),
                    GuestData(address: result, bytes: littleEndianBytes(notChecked)),
                    GuestData(address: control, bytes: controlBytes)]
        let symbols = [
            GuestSymbol(name: "entry", address: ConformanceGuests.base, size: loop - ConformanceGuests.base),
            GuestSymbol(name: "survive_loop", address: loop, size: verify - loop),
            GuestSymbol(name: "verify", address: verify, size: done - verify),
            GuestSymbol(name: "survive_done", address: done, size: 8),
            GuestSymbol(name: "tally", address: tally, size: 24),
            GuestSymbol(name: "patterns", address: patterns, size: 512),
            GuestSymbol(name: "readback", address: readback, size: 512),
            GuestSymbol(name: "rounds", address: rounds, size: 8),
            GuestSymbol(name: "check", address: check, size: 8),
            GuestSymbol(name: "result", address: result, size: 8),
            GuestSymbol(name: "control", address: control, size: UInt64(8 * controlRegisters.count)),
        ]
        return Guest(name: "survive", arch: .arm64, mode: .el1, memoryBase: ConformanceGuests.base,
                     memorySize: ConformanceGuests.memorySize, loadAddress: ConformanceGuests.base, image: code,
                     data: data, entry: ConformanceGuests.base, symbols: symbols,
                     summary: "fills v0-v31, sets fpcr/fpsr and its own debug registers, spins; on `check` reads them back into `result` (one bit per changed register)")
    }
}
