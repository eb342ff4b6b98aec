import KVMDebugModel

extension BuiltinGuests {
    /// Where arm64 `paged-counter`'s TTBR1 maps its data page (`counter`, `data`): the top GiB
    /// of a 39-bit upper range (T1SZ = 25), like a kernel's linear map.
    public static let pagedArm64Alias: UInt64 = 0xFFFF_FFFF_C000_0000

    /// arm64 guest that turns its own MMU on (4 KiB granule, 39-bit VAs) and keeps its data
    /// in the upper (TTBR1) range, like a kernel: the arm64 twin of `pagedCounterX86`.
    ///
    /// At `entry` (0x10000, MMU off) it writes MAIR_EL1 (attr 0 = Normal write-back), TCR_EL1
    /// (T0SZ = T1SZ = 25, TG0 = 4 KiB, TG1 = 0b10 = 4 KiB, inner-shareable write-back walks),
    /// TTBR0_EL1 = 0x20000 and TTBR1_EL1 = 0x22000, invalidates the TLB, then sets
    /// SCTLR_EL1 = 0x30D00801 (M plus the RES1 bits Linux writes) at `enable`. TTBR0 maps the
    /// first 2 MiB identity (one level-2 block: code, stack, tables); TTBR1 maps the 4 KiB page
    /// `pagedArm64Alias` onto 0x11000 (levels 1-3), where `counter` and `data` live; the next page
    /// is unmapped. Descriptors: AF | SH = inner | AttrIndx 0, EL1 read-write (Arm ARM D8).
    /// SP = 0x20000 (growing down into free RAM below the tables; gdb's unwinder reads above it);
    /// X4 = `counter`. `main` calls `outer` (a frame record), which
    /// calls `inner` (a leaf), which increments `counter` and loads `data` through TTBR1.
    public static func pagedCounterArm64() -> Guest {
        let words: [UInt32] = [
            0xD280_1FE0, // 10000 entry:  movz x0, #0xff
            0xD518_A200, // 10004         msr mair_el1, x0
            0xD286_A320, // 10008         movz x0, #0x3519
            0xF2B6_A320, // 1000c         movk x0, #0xb519, lsl #16   (TCR_EL1 0xb5193519)
            0xD518_2040, // 10010         msr tcr_el1, x0
            0xD2A0_0040, // 10014         movz x0, #0x2, lsl #16
            0xD518_2000, // 10018         msr ttbr0_el1, x0           (0x20000)
            0xD284_0000, // 1001c         movz x0, #0x2000
            0xF2A0_0040, // 10020         movk x0, #0x2, lsl #16
            0xD518_2020, // 10024         msr ttbr1_el1, x0           (0x22000)
            0xD508_871F, // 10028         tlbi vmalle1
            0xD503_3F9F, // 1002c         dsb sy
            0xD503_3FDF, // 10030         isb
            0xD281_0020, // 10034         movz x0, #0x801
            0xF2A6_1A00, // 10038         movk x0, #0x30d0, lsl #16
            0xD518_1000, // 1003c enable: msr sctlr_el1, x0           (MMU on)
            0xD503_3FDF, // 10040         isb
            0xD2A0_0040, // 10044         movz x0, #0x2, lsl #16
            0x9100_001F, // 10048         mov sp, x0                  (0x20000)
            0xD2B8_0004, // 1004c         movz x4, #0xc000, lsl #16
            0xF2DF_FFE4, // 10050         movk x4, #0xffff, lsl #32
            0xF2FF_FFE4, // 10054         movk x4, #0xffff, lsl #48   (x4 = counter)
            0x9400_0002, // 10058 main:   bl outer
            0x17FF_FFFF, // 1005c         b main
            0xA9BF_7BFD, // 10060 outer:  stp x29, x30, [sp, #-16]!
            0x9100_03FD, // 10064         mov x29, sp
            0x9400_0003, // 10068         bl inner
            0xA8C1_7BFD, // 1006c         ldp x29, x30, [sp], #16
            0xD65F_03C0, // 10070         ret
            0xF940_0083, // 10074 inner:  ldr x3, [x4]
            0x9100_0463, // 10078         add x3, x3, #1
            0xF900_0083, // 1007c         str x3, [x4]                (counter)
            0xF940_0482, // 10080 load:   ldr x2, [x4, #8]            (data)
            0xD65F_03C0, // 10084         ret
        ]
        var code: [UInt8] = []
        for w in words { code += littleEndianBytes(UInt64(w), count: 4) }
        func descriptor(_ table: UInt64, _ index: UInt64, _ value: UInt64) -> GuestData {
            GuestData(address: table + index * 8, bytes: littleEndianBytes(value))
        }
        let table: UInt64 = 0b11, block: UInt64 = 0b01, page: UInt64 = 0b11
        let attributes: UInt64 = 1 << 10 | 0b11 << 8  // AF, SH = inner shareable, AttrIndx 0, AP = EL1 RW
        let data: [GuestData] = [
            descriptor(0x20000, 0, 0x21000 | table),               // TTBR0 L1[0] -> L2
            descriptor(0x21000, 0, 0x0 | attributes | block),      // L2[0]: 2 MiB identity
            descriptor(0x22000, 511, 0x23000 | table),             // TTBR1 L1[511] -> L2
            descriptor(0x23000, 0, 0x24000 | table),               // L2[0] -> L3
            descriptor(0x24000, 0, 0x11000 | attributes | page),   // L3[0]: counter's page -> 0x11000
            GuestData(address: 0x11000, bytes: littleEndianBytes(0)),
            GuestData(address: 0x11008, bytes: littleEndianBytes(dataPattern)),
        ]
        let hi = pagedArm64Alias
        let symbols = [
            GuestSymbol(name: "entry", address: 0x10000, size: 0x58),
            GuestSymbol(name: "enable", address: 0x1003C, size: 4),
            GuestSymbol(name: "main", address: 0x10058, size: 8),
            GuestSymbol(name: "outer", address: 0x10060, size: 0x14),
            GuestSymbol(name: "inner", address: 0x10074, size: 0x14),
            GuestSymbol(name: "load", address: 0x10080, size: 4),
            GuestSymbol(name: "counter", address: hi, size: 8),
            GuestSymbol(name: "data", address: hi + 8, size: 8),
        ]
        return Guest(name: "paged-counter", arch: .arm64, mode: .el1, memoryBase: 0x10000, memorySize: 0x20000,
                     loadAddress: 0x10000, image: code, data: data, entry: 0x10000, symbols: symbols,
                     summary: "turns its MMU on; counter and data at 0xffffffffc0000000 through TTBR1; main -> outer -> inner increments counter (EL1)")
    }
}
