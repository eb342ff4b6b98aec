import KVMDebugModel

/// The built-in tiny guests, one per arch and mode.
///
/// `counter`: a loop that increments a register, stores it to the 8-byte word
/// `counter`, loads the 8-byte word `data`, and jumps back. Every instruction here
/// is one the fake backend's interpreters model.
///
/// `smp-counter`: the same loop for several vCPUs, each storing to its own 8-byte
/// word `counters + 8 * index` (the index is the boot convention's x86 RDI /
/// arm64 X0). `counter` is vCPU 0's word; `loop`, `store`, `load` and `jump` sit
/// at the same addresses as in `counter` except in real mode, where `shl di, 3`
/// moves them.
public enum BuiltinGuests {
    /// Initial value of the `data` word (a recognisable pattern).
    public static let dataPattern: UInt64 = 0x1122_3344_5566_7788

    /// The names of all built-in guests.
    public static let names = ["counter", "smp-counter"]

    /// vCPUs whose words fit in `smp-counter`'s `counters` array (KVM's x86
    /// KVM_MAX_VCPUS default; arm64's is 512).
    public static let smpCounterMaxVCPUs = 1024

    /// Every built-in guest variant (name, arch, mode).
    public static var all: [Guest] {
        [counterX86(.long), counterX86(.real), counterArm64(),
         smpCounterX86(.long), smpCounterX86(.real), smpCounterArm64()]
    }

    /// Built-in guests outside `all`: not the loop guests' shape the per-guest tests assume, and
    /// first written for real KVM only (the fake runs `paged-counter` too since it models paging).
    public static let kvmOnlyNames = ["paged-counter"]

    /// Every built-in guest outside `all` (which every fake-backend test runs).
    public static var kvmOnly: [Guest] { [pagedCounterX86()] }

    /// Built-in guests outside `all` that the fake also runs (arm64 `paged-counter`).
    public static var paged: [Guest] { [pagedCounterArm64()] }

    /// Looks up a built-in guest; `mode` nil picks the arch's default (x86 long, arm64 el1).
    public static func guest(named name: String, arch: Arch, mode: CPUMode? = nil) throws(DebugError) -> Guest {
        if let g = try crashGuest(named: name, arch: arch, mode: mode) { return g }
        if name == "paged-counter" {
            if arch == .arm64, mode == nil || mode == .el1 { return pagedCounterArm64() }
            guard arch == .x86_64, mode == nil || mode == .long else {
                throw .unsupported(reason: "paged-counter is an x86_64 long-mode or arm64 EL1 guest")
            }
            return pagedCounterX86()
        }
        guard name == "counter" || name == "smp-counter" else {
            throw .badImage(reason: "no built-in guest '\(name)'; built-in guests: \((names + kvmOnlyNames + crashNames).joined(separator: ", "))")
        }
        let smp = name == "smp-counter"
        let m = mode ?? arch.defaultMode
        try arch.validate(mode: m)
        switch arch {
        case .x86_64: return smp ? smpCounterX86(m) : counterX86(m)
        case .arm64: return smp ? smpCounterArm64() : counterArm64()
        }
    }

    /// The address of vCPU `vcpu`'s word in a guest's `counters` array; nil when the
    /// guest has no `counters` symbol or the index is outside the array.
    public static func counterAddress(of vcpu: Int, in guest: Guest) -> UInt64? {
        guard vcpu >= 0, let counters = guest.symbol("counters") else { return nil }
        let offset = UInt64(vcpu) &* 8
        guard offset < counters.size else { return nil }
        return counters.address &+ offset
    }

    /// x86 counter at 0x1000, `counter` at 0x2000, `data` at 0x2008.
    public static func counterX86(_ mode: CPUMode) -> Guest {
        let code: [UInt8]
        let offsets: (loop: UInt64, store: UInt64, load: UInt64, jump: UInt64)
        let sizes: (loop: UInt64, store: UInt64, load: UInt64)
        if mode == .real {
            code = [
                0x31, 0xC0,              // 1000 entry: xor ax, ax
                0x40,                    // 1002 loop:  inc ax
                0xA3, 0x00, 0x20,        // 1003 store: mov [0x2000], ax
                0x8B, 0x1E, 0x08, 0x20,  // 1006 load:  mov bx, [0x2008]
                0xEB, 0xF6,              // 100a        jmp loop
            ]
            offsets = (2, 3, 6, 10)
            sizes = (1, 3, 4)
        } else {
            code = [
                0x48, 0x31, 0xC0,                               // 1000 entry: xor rax, rax
                0x48, 0xFF, 0xC0,                               // 1003 loop:  inc rax
                0x48, 0x89, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00, // 1006 store: mov [0x2000], rax
                0x48, 0x8B, 0x1C, 0x25, 0x08, 0x20, 0x00, 0x00, // 100e load:  mov rbx, [0x2008]
                0xEB, 0xEB,                                     // 1016        jmp loop
            ]
            offsets = (3, 6, 14, 22)
            sizes = (3, 8, 8)
        }
        return loopGuest(
            name: "counter", arch: .x86_64, mode: mode, memoryBase: 0, memorySize: 0x20_0000,
            code: code, base: 0x1000, offsets: offsets, sizes: sizes, jumpSize: 2,
            counters: 0x2000, countersSize: nil, data: 0x2008,
            summary: "loop: increment, store to counter, load data, jump back (\(mode == .real ? "16-bit real mode" : "64-bit long mode"))")
    }

    /// arm64 counter at 0x10000 (EL1, MMU off), `counter` at 0x11000, `data` at 0x11008.
    public static func counterArm64() -> Guest {
        let words: [UInt32] = [
            0xD280_0000, // 10000 entry: movz x0, #0
            0xD282_0001, // 10004        movz x1, #0x1000
            0xF2A0_0021, // 10008        movk x1, #0x1, lsl #16
            0x9100_0400, // 1000c loop:  add x0, x0, #1
            0xF900_0020, // 10010 store: str x0, [x1]
            0xF940_0422, // 10014 load:  ldr x2, [x1, #8]
            0x17FF_FFFD, // 10018        b loop
        ]
        return loopGuest(
            name: "counter", arch: .arm64, mode: .el1, memoryBase: 0x10000, memorySize: 0x20000,
            code: a64(words), base: 0x10000, offsets: (0xC, 0x10, 0x14, 0x18), sizes: (4, 4, 4), jumpSize: 4,
            counters: 0x11000, countersSize: nil, data: 0x11008,
            summary: "loop: increment, store to counter, load data, branch back (EL1, MMU off)")
    }

    /// x86 smp-counter at 0x1000; vCPU i's word at 0x3000 + 8 * i (`counters`,
    /// 8 KiB, below the long-mode tables at the top of RAM), `data` at 0x2008.
    public static func smpCounterX86(_ mode: CPUMode) -> Guest {
        let code: [UInt8]
        let offsets: (loop: UInt64, store: UInt64, load: UInt64, jump: UInt64)
        let sizes: (loop: UInt64, store: UInt64, load: UInt64)
        if mode == .real {
            code = [
                0x31, 0xC0,              // 1000 entry: xor ax, ax
                0xC1, 0xE7, 0x03,        // 1002        shl di, 3
                0x40,                    // 1005 loop:  inc ax
                0x89, 0x85, 0x00, 0x30,  // 1006 store: mov [di+0x3000], ax
                0x8B, 0x1E, 0x08, 0x20,  // 100a load:  mov bx, [0x2008]
                0xEB, 0xF5,              // 100e        jmp loop
            ]
            offsets = (5, 6, 10, 14)
            sizes = (1, 4, 4)
        } else {
            code = [
                0x48, 0x31, 0xC0,                               // 1000 entry: xor rax, rax
                0x48, 0xFF, 0xC0,                               // 1003 loop:  inc rax
                0x48, 0x89, 0x04, 0xFD, 0x00, 0x30, 0x00, 0x00, // 1006 store: mov [rdi*8+0x3000], rax
                0x48, 0x8B, 0x1C, 0x25, 0x08, 0x20, 0x00, 0x00, // 100e load:  mov rbx, [0x2008]
                0xEB, 0xEB,                                     // 1016        jmp loop
            ]
            offsets = (3, 6, 14, 22)
            sizes = (3, 8, 8)
        }
        return loopGuest(
            name: "smp-counter", arch: .x86_64, mode: mode, memoryBase: 0, memorySize: 0x20_0000,
            code: code, base: 0x1000, offsets: offsets, sizes: sizes, jumpSize: 2,
            counters: 0x3000, countersSize: UInt64(smpCounterMaxVCPUs) * 8, data: 0x2008,
            summary: "per-vCPU loop: increment, store to counters[vCPU index], load data, jump back (\(mode == .real ? "16-bit real mode" : "64-bit long mode"))")
    }

    /// arm64 smp-counter at 0x10000 (EL1, MMU off); vCPU i's word at 0x12000 + 8 * i
    /// (`counters`, 8 KiB), `data` at 0x11008. X0 = vCPU index at entry; X5 counts
    /// (zero from KVM_ARM_VCPU_INIT's reset), so the loop keeps `counter`'s addresses.
    public static func smpCounterArm64() -> Guest {
        let words: [UInt32] = [
            0xD282_0001, // 10000 entry: movz x1, #0x1000
            0xF2A0_0021, // 10004        movk x1, #0x1, lsl #16    (x1 = 0x11000)
            0x8B00_0C24, // 10008        add x4, x1, x0, lsl #3    (x4 = 0x11000 + 8 * index)
            0x9100_04A5, // 1000c loop:  add x5, x5, #1
            0xF908_0085, // 10010 store: str x5, [x4, #0x1000]     (0x12000 + 8 * index)
            0xF940_0422, // 10014 load:  ldr x2, [x1, #8]
            0x17FF_FFFD, // 10018        b loop
        ]
        return loopGuest(
            name: "smp-counter", arch: .arm64, mode: .el1, memoryBase: 0x10000, memorySize: 0x20000,
            code: a64(words), base: 0x10000, offsets: (0xC, 0x10, 0x14, 0x18), sizes: (4, 4, 4), jumpSize: 4,
            counters: 0x12000, countersSize: UInt64(smpCounterMaxVCPUs) * 8, data: 0x11008,
            summary: "per-vCPU loop: increment, store to counters[vCPU index], load data, branch back (EL1, MMU off)")
    }

    /// Where `paged-counter` links its code and data: the top 2 GiB, like a Linux kernel.
    public static let pagedBase: UInt64 = 0xFFFF_FFFF_8000_0000

    /// Guest-physical address of `paged-counter`'s own PML4 (loaded into CR3 by its first instructions).
    public static let pagedPML4: UInt64 = 0x10000

    /// x86_64 long-mode guest that turns on its own page tables and runs linked high.
    ///
    /// At `entry` (0x1000, under kvmdbg's identity map) it loads CR3 with its own PML4
    /// (`pagedPML4`), sets RSP and jumps to `main` at `pagedBase + 0x40`. Its tables map
    /// (Intel SDM vol. 3 ch. 4.5, 4 KiB pages) `pagedBase` -> 0x1000 (code, read-only),
    /// `+0x1000` -> 0x3000 (`counter`, `data`), `+0x2000` -> 0x5000 (stack, user);
    /// `+0x3000` is unmapped; 0xffffffffc0000000 is a 2 MiB page onto 0; the first 2 MiB stay
    /// identity-mapped (a 2 MiB page). `main` calls `outer`, which calls `inner`, which
    /// increments `counter` and loads `data`: frameless functions, so GDB unwinds from the
    /// return addresses on the stack without symbols. The fake backend runs it too (its
    /// interpreter models `mov cr3` and 4-level paging), which the x86 GDB lane compares with.
    public static func pagedCounterX86() -> Guest {
        let hi = pagedBase
        var code: [UInt8] = [0xB8, 0x00, 0x00, 0x01, 0x00,  // 1000 entry: mov eax, 0x10000
                             0x0F, 0x22, 0xD8,              // 1005        mov cr3, rax
                             0x48, 0xBC]                    // 1008        movabs rsp, hi+0x2fe0
        code += littleEndianBytes(hi + 0x2FE0)
        code += [0x48, 0xB8]                                // 1012        movabs rax, main
        code += littleEndianBytes(hi + 0x40)
        code += [0xFF, 0xE0]                                // 101c        jmp rax
        code += [UInt8](repeating: 0x90, count: 0x40 - code.count)
        code += [0xE8, 0x02, 0x00, 0x00, 0x00,              // hi+40 main:  call outer
                 0xEB, 0xF9,                                // hi+45        jmp main
                 0xE8, 0x01, 0x00, 0x00, 0x00,              // hi+47 outer: call inner
                 0xC3,                                      // hi+4c        ret
                 0x48, 0xFF, 0x05, 0xAC, 0x0F, 0x00, 0x00,  // hi+4d inner: inc qword [rip+0xfac] (counter)
                 0x48, 0x8B, 0x1D, 0xAD, 0x0F, 0x00, 0x00,  // hi+54 load:  mov rbx, [rip+0xfad] (data)
                 0xC3]                                      // hi+5b        ret
        let pml4: UInt64 = pagedPML4, pdptLow: UInt64 = 0x11000, pdLow: UInt64 = 0x12000
        let pdptHigh: UInt64 = 0x13000, pdHigh: UInt64 = 0x14000, pt: UInt64 = 0x15000, pd2: UInt64 = 0x16000
        func entry(_ table: UInt64, _ index: UInt64, _ value: UInt64) -> GuestData {
            GuestData(address: table + index * 8, bytes: littleEndianBytes(value))
        }
        let data: [GuestData] = [
            entry(pml4, 0, pdptLow | 0x3),        // P|RW
            entry(pdptLow, 0, pdLow | 0x3),
            entry(pdLow, 0, 0x0 | 0x83),          // 2 MiB identity page (PS)
            entry(pml4, 511, pdptHigh | 0x7),     // P|RW|U
            entry(pdptHigh, 510, pdHigh | 0x7),
            entry(pdptHigh, 511, pd2 | 0x3),
            entry(pd2, 0, 0x0 | 0x83),            // 0xffffffffc0000000 -> 0, 2 MiB
            entry(pdHigh, 0, pt | 0x7),
            entry(pt, 0, 0x1000 | 0x1),           // code: present, read-only, supervisor
            entry(pt, 1, 0x3000 | 0x3),           // data
            entry(pt, 2, 0x5000 | 0x7),           // stack: user-accessible
            GuestData(address: 0x3000, bytes: littleEndianBytes(0)),
            GuestData(address: 0x3008, bytes: littleEndianBytes(dataPattern)),
        ]
        let symbols = [
            GuestSymbol(name: "entry", address: 0x1000, size: 0x1E),
            GuestSymbol(name: "main", address: hi + 0x40, size: 7),
            GuestSymbol(name: "outer", address: hi + 0x47, size: 6),
            GuestSymbol(name: "inner", address: hi + 0x4D, size: 15),
            GuestSymbol(name: "load", address: hi + 0x54, size: 7),
            GuestSymbol(name: "counter", address: hi + 0x1000, size: 8),
            GuestSymbol(name: "data", address: hi + 0x1008, size: 8),
        ]
        return Guest(name: "paged-counter", arch: .x86_64, mode: .long, memoryBase: 0, memorySize: 0x20_0000,
                     loadAddress: 0x1000, image: code, data: data, entry: 0x1000, symbols: symbols,
                     summary: "own page tables, code and data linked at 0xffffffff80000000; main -> outer -> inner increments counter (64-bit long mode)")
    }

    /// A64 instruction words as little-endian bytes.
    static func a64(_ words: [UInt32]) -> [UInt8] {
        var code: [UInt8] = []
        for w in words { code += littleEndianBytes(UInt64(w), count: 4) }
        return code
    }

    /// The shape every built-in loop guest shares: code at `base` (= entry) with
    /// `loop`/`store`/`load`/`jump` at `offsets`, the 8-byte `data` word holding
    /// `dataPattern`, and `counter` (plus, for SMP guests, the per-vCPU `counters` array
    /// it starts; left zero, as guest RAM starts zeroed).
    private static func loopGuest(
        name: String, arch: Arch, mode: CPUMode, memoryBase: UInt64, memorySize: UInt64,
        code: [UInt8], base: UInt64, offsets: (loop: UInt64, store: UInt64, load: UInt64, jump: UInt64),
        sizes: (loop: UInt64, store: UInt64, load: UInt64), jumpSize: UInt64,
        counters: UInt64, countersSize: UInt64?, data: UInt64, summary: String
    ) -> Guest {
        var initial: [GuestData] = []
        if countersSize == nil { initial.append(GuestData(address: counters, bytes: littleEndianBytes(0))) }
        initial.append(GuestData(address: data, bytes: littleEndianBytes(dataPattern)))
        var symbols = [
            GuestSymbol(name: "entry", address: base, size: offsets.loop),
            GuestSymbol(name: "loop", address: base + offsets.loop, size: sizes.loop),
            GuestSymbol(name: "store", address: base + offsets.store, size: sizes.store),
            GuestSymbol(name: "load", address: base + offsets.load, size: sizes.load),
            GuestSymbol(name: "jump", address: base + offsets.jump, size: jumpSize),
            GuestSymbol(name: "counter", address: counters, size: 8),
        ]
        if let countersSize { symbols.append(GuestSymbol(name: "counters", address: counters, size: countersSize)) }
        symbols.append(GuestSymbol(name: "data", address: data, size: 8))
        return Guest(name: name, arch: arch, mode: mode, memoryBase: memoryBase, memorySize: memorySize,
                     loadAddress: base, image: code, data: initial, entry: base, symbols: symbols, summary: summary)
    }
}
