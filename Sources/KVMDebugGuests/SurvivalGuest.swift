import KVMDebugModel

/// The guests of the state-survival scenarios (`DebugScenario.Kind.survive`): each programs
/// its own debug registers and fills its FP/SIMD registers with distinct patterns, runs a
/// work loop while the host debugs it, then checks every register against what it wrote.
///
/// The contract a survival guest provides (symbols, every one 8-byte aligned):
/// - `work`: an instruction of the work loop (the host's execute breakpoint);
/// - `tick`: the 8-byte word the loop stores to every iteration (the host's write watch);
/// - `release`: an 8-byte word, 0 at load; the loop ends once the host makes it non-zero;
/// - `done`: where the guest is once its check is written (the host's last breakpoint);
/// - `result`: the 8-byte verdict, `resultUnchecked` at load: 0 when every register read back
///   as written, else one bit per register that differs (the guest's `bits` list names them);
/// - `probe`: 16 bytes where the guest stores `hostRegister` after the loop;
/// - `expect`: the 16 bytes the guest compares `hostRegister` with. The host writes a value
///   into that register (through the session, as gdb's `P` does) and the same value here, so
///   the check passes only when the write reached the guest and survived.
public enum SurvivalGuest {
    /// `result` before the guest's check wrote it.
    public static let resultUnchecked: UInt64 = ~0

    // MARK: x86_64

    /// Where the x86 guest's pieces live (identity-mapped long mode, RAM 0..0x200000).
    enum X86Layout {
        static let code: UInt64 = 0x1000
        static let tick: UInt64 = 0x2000, release: UInt64 = 0x2008, result: UInt64 = 0x2010, probe: UInt64 = 0x2020
        /// The FXRSTOR image (512 bytes, 16-byte aligned), then the DR values the guest loads.
        static let image: UInt64 = 0x3000
        /// Where FXSAVE and the DR read-back go (same offsets as `image`).
        static let readBack: UInt64 = 0x4000
        /// DR0-3 and DR7 at this offset of `image` and `readBack`.
        static let debugRegisters: UInt64 = 512
        /// The compare table: (offset, mask, bit) per entry, 24 bytes each.
        static let table: UInt64 = 0x5000
        /// The guest's own debug points: addresses nothing accesses or executes.
        static let ownPoints: [UInt64] = [0x6100, 0x6008, 0x6010, 0x6018]
    }

    /// The x86 guest's DR7: L0-L3; DR0 execute, DR1 write 8 bytes, DR2 read/write 4 bytes,
    /// DR3 write 1 byte (SDM vol. 3 §18.2.4: R/W and LEN per slot at bits 16 + 4n), plus the
    /// always-one bit 10 as KVM keeps it (DR7_FIXED_1).
    public static let x86DR7: UInt64 = 0x55 | 0x400 | (0b10_01 << 20) | (0b11_11 << 24) | (0b00_01 << 28)

    /// The FP register the host writes in the x86 scenario: xmm15.
    public static let x86HostRegister = 15

    /// What each bit of the x86 guest's `result` stands for.
    public static let x86Bits: [String] = ["fcw-fsw-ftw", "mxcsr"] + (0..<8).map { "st\($0)" }
        + (0..<16).map { "xmm\($0)" } + ["dr0", "dr1", "dr2", "dr3", "dr7"]

    /// What each bit of `arch`'s guest's `result` stands for.
    public static func bits(_ arch: Arch) -> [String] {
        switch arch {
        case .x86_64: return x86Bits
        case .arm64: return arm64Bits
        }
    }

    /// The names of the bits set in `result` (`unchecked` for the load-time value; `bitN` for a
    /// bit the guest does not name).
    public static func mismatches(_ result: UInt64, arch: Arch) -> [String] {
        if result == resultUnchecked { return ["unchecked"] }
        let names = bits(arch)
        return (0..<64).filter { result >> UInt64($0) & 1 != 0 }.map { $0 < names.count ? names[$0] : "bit\($0)" }
    }

    /// The x86 guest's x87/SSE patterns as an FXRSTOR image (SDM vol. 1 table 10-2): FCW 0x027f,
    /// FSW 0x4700 (C0-C3, TOP 0), all eight tags valid, MXCSR 0xbf80 (FTZ, round down, all
    /// masked), st0-7 normal extended values, xmm0-15 distinct 16-byte patterns.
    static func x86Image() -> [UInt8] {
        var a = [UInt8](repeating: 0, count: 512)
        func put(_ at: Int, _ v: UInt64, _ n: Int) { for i in 0..<n { a[at + i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) } }
        put(0, 0x027F, 2)
        put(2, 0x4700, 2)
        a[4] = 0xFF
        put(24, 0xBF80, 4)
        for i in 0..<8 {
            let n = UInt64(i + 1)
            put(32 + 16 * i, 0x8000_0000_0000_0000 | 0x0123_4567_89AB_CDEF &* n & 0x7FFF_FFFF_FFFF_FFFF, 8)
            put(40 + 16 * i, 0x3FFF + n, 2)
        }
        for i in 0..<16 {
            let low = 0x5A00_0000_0000_0000 | UInt64(i) << 48 | 0x1111_1111 &* UInt64(i + 1)
            put(160 + 16 * i, low, 8)
            put(168 + 16 * i, low ^ 0xFFFF_0000_FFFF_0000, 8)
        }
        return a
    }

    /// The x86 compare table: (offset into image/read-back, mask, result bit) per entry; the
    /// x87/MXCSR rows only with `x87`. FIP/FDP/FOP are left out (AMD's FXSAVE stores them only
    /// with an x87 exception pending), as are the reserved bytes 10-15 of each ST field.
    static func x86Table(x87: Bool) -> [(offset: UInt64, mask: UInt64, bit: Int)] {
        var t: [(offset: UInt64, mask: UInt64, bit: Int)] = []
        if x87 {
            t += [(0, 0xFF_FFFF, 0), (24, 0xFFFF_FFFF, 1)]
            for i in 0..<8 {
                t.append((32 + 16 * UInt64(i), ~0, 2 + i))
                t.append((40 + 16 * UInt64(i), 0xFFFF, 2 + i))
            }
        }
        for i in 0..<16 {
            t.append((160 + 16 * UInt64(i), ~0, 10 + i))
            t.append((168 + 16 * UInt64(i), ~0, 10 + i))
        }
        for i in 0..<5 { t.append((X86Layout.debugRegisters + 8 * UInt64(i), ~0, 26 + i)) }
        return t
    }

    /// movdqu xmm`n`, [address] (load) or movdqu [address], xmm`n` (F3 (REX.R) 0F 6F/7F, SIB disp32).
    static func movdqu(_ n: Int, _ address: UInt64, load: Bool) -> [UInt8] {
        [0xF3] + (n >= 8 ? [0x44] : []) + [0x0F, load ? 0x6F : 0x7F, 0x04 | UInt8(n & 7) << 3, 0x25]
            + littleEndianBytes(address, count: 4)
    }

    /// `survive` (`x87` false) and `survive-x87` for x86_64 long mode (identity-mapped by
    /// kvmdbg's boot). `survive` loads and stores xmm0-15 with movdqu, the only SSE moves KVM's
    /// x86 emulator has, so it runs where CPL0 code is emulated (PVM). `survive-x87` uses
    /// fxrstor/fxsave instead and so also covers FCW/FSW/FTW, MXCSR and st0-7; the emulator
    /// refuses those in 64-bit mode (emulate.c check_fxsr), so it needs native CPL0.
    /// ```
    /// 1000 entry:  mov eax, 0x620 ; mov cr4, rax       PAE | OSFXSR | OSXMMEXCPT
    ///              fxrstor [0x3000]                    (survive: movdqu xmmN, [0x30a0 + 16N])
    ///              mov rax, [0x3200 + 8n] ; mov drN, rax   DR0-3, then DR7
    ///              xor r13, r13
    ///       work:  inc r13
    ///              mov [tick], r13
    ///              cmp qword [release], 0
    ///              je work
    ///              movdqu [probe], xmm15
    ///              fxsave [0x4000]                     (survive: movdqu [0x40a0 + 16N], xmmN)
    ///              mov rax, drN ; mov [0x4200 + 8n], rax
    ///              mov esi, table ; mov ecx, entries ; xor r12, r12
    ///       next:  mov rbx, [rsi] ; mov rax, [rbx + 0x4000] ; xor rax, [rbx + 0x3000]
    ///              and rax, [rsi + 8] ; jz same ; or r12, [rsi + 16]
    ///       same:  add rsi, 24 ; dec rcx ; jnz next
    ///              mov [result], r12
    ///       done:  hlt ; jmp done
    /// ```
    /// Every instruction is one the fake's interpreter models; in `survive`, also one KVM's
    /// x86 emulator handles.
    public static func x86(x87: Bool = false) -> Guest {
        typealias L = X86Layout
        func d32(_ v: UInt64) -> [UInt8] { littleEndianBytes(v, count: 4) }
        let drs = L.image + L.debugRegisters, backDRs = L.readBack + L.debugRegisters
        var c: [UInt8] = [0xB8] + d32(0x620) + [0x0F, 0x22, 0xE0]   // mov eax, 0x620; mov cr4, rax
        if x87 {
            c += [0x0F, 0xAE, 0x0C, 0x25] + d32(L.image)             // fxrstor [image]
        } else {
            for n in 0..<16 { c += movdqu(n, L.image + 160 + 16 * UInt64(n), load: true) }
        }
        for (slot, n) in [(0, 0), (1, 1), (2, 2), (3, 3), (4, 7)] {
            c += [0x48, 0x8B, 0x04, 0x25] + d32(drs + 8 * UInt64(slot))   // mov rax, [drs + 8 slot]
            c += [0x0F, 0x23, 0xC0 | UInt8(n) << 3]                       // mov drN, rax
        }
        c += [0x4D, 0x31, 0xED]                                      // xor r13, r13
        let work = L.code + UInt64(c.count)
        c += [0x49, 0xFF, 0xC5]                                      // work: inc r13
        c += [0x4C, 0x89, 0x2C, 0x25] + d32(L.tick)                  // mov [tick], r13
        c += [0x48, 0x83, 0x3C, 0x25] + d32(L.release) + [0x00]      // cmp qword [release], 0
        c += [0x74, UInt8(truncatingIfNeeded: Int(work) - Int(L.code) - c.count - 2)]  // je work
        c += [0xF3, 0x44, 0x0F, 0x7F, 0x3C, 0x25] + d32(L.probe)     // movdqu [probe], xmm15
        if x87 {
            c += [0x0F, 0xAE, 0x04, 0x25] + d32(L.readBack)          // fxsave [readBack]
        } else {
            for n in 0..<16 { c += movdqu(n, L.readBack + 160 + 16 * UInt64(n), load: false) }
        }
        for (slot, n) in [(0, 0), (1, 1), (2, 2), (3, 3), (4, 7)] {
            c += [0x0F, 0x21, 0xC0 | UInt8(n) << 3]                       // mov rax, drN
            c += [0x48, 0x89, 0x04, 0x25] + d32(backDRs + 8 * UInt64(slot))  // mov [backDRs + 8 slot], rax
        }
        let table = x86Table(x87: x87)
        c += [0xBE] + d32(L.table) + [0xB9] + d32(UInt64(table.count)) + [0x4D, 0x31, 0xE4]  // esi, ecx, xor r12, r12
        let next = c.count
        c += [0x48, 0x8B, 0x1E]                                      // next: mov rbx, [rsi]
        c += [0x48, 0x8B, 0x83] + d32(L.readBack)                    // mov rax, [rbx + readBack]
        c += [0x48, 0x33, 0x83] + d32(L.image)                       // xor rax, [rbx + image]
        c += [0x48, 0x23, 0x46, 0x08]                                // and rax, [rsi + 8]
        c += [0x74, 0x04]                                            // jz same
        c += [0x4C, 0x0B, 0x66, 0x10]                                // or r12, [rsi + 16]
        c += [0x48, 0x83, 0xC6, 0x18]                                // same: add rsi, 24
        c += [0x48, 0xFF, 0xC9]                                      // dec rcx
        c += [0x75, UInt8(truncatingIfNeeded: next - c.count - 2)]   // jnz next
        c += [0x4C, 0x89, 0x24, 0x25] + d32(L.result)                // mov [result], r12
        let done = L.code + UInt64(c.count)
        c += [0xF4, 0xEB, 0xFD]                                      // done: hlt; jmp done

        var tableBytes: [UInt8] = []
        for e in table { tableBytes += littleEndianBytes(e.offset) + littleEndianBytes(e.mask) + littleEndianBytes(1 << UInt64(e.bit)) }
        var ownDRs: [UInt8] = []
        for a in L.ownPoints { ownDRs += littleEndianBytes(a) }
        ownDRs += littleEndianBytes(x86DR7)
        let data = [
            GuestData(address: L.tick, bytes: littleEndianBytes(0) + littleEndianBytes(0) + littleEndianBytes(resultUnchecked)),
            GuestData(address: L.image, bytes: x86Image() + ownDRs),
            GuestData(address: L.table, bytes: tableBytes),
        ]
        let expect = L.image + 160 + 16 * UInt64(x86HostRegister)
        let symbols = [
            GuestSymbol(name: "entry", address: L.code, size: work - L.code),
            GuestSymbol(name: "work", address: work, size: 3),
            GuestSymbol(name: "done", address: done, size: 1),
            GuestSymbol(name: "tick", address: L.tick, size: 8),
            GuestSymbol(name: "release", address: L.release, size: 8),
            GuestSymbol(name: "result", address: L.result, size: 8),
            GuestSymbol(name: "probe", address: L.probe, size: 16),
            GuestSymbol(name: "expect", address: expect, size: 16),
            GuestSymbol(name: "image", address: L.image, size: 512 + 40),
            GuestSymbol(name: "read-back", address: L.readBack, size: 512 + 40),
        ]
        return Guest(name: x87 ? "survive-x87" : "survive", arch: .x86_64, mode: .long, memoryBase: 0, memorySize: 0x20_0000,
                     loadAddress: L.code, image: c, data: data, entry: L.code, symbols: symbols,
                     summary: "programs DR0-3/DR7, loads \(x87 ? "x87/SSE patterns (fxrstor)" : "xmm0-15 patterns (movdqu)"), loops until `release`, then checks every register (\(x87 ? "fxsave" : "movdqu"), mov from DRn) into `result` (64-bit long mode)")
    }
}
