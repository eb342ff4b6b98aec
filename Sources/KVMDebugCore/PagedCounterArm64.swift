extension BuiltinGuests {
    /// Where arm64 `paged-counter`'s TTBR1 maps `counter`'s page: the top GiB of a 39-bit
    /// upper range (T1SZ = 25), like a kernel's linear map.
    public static let pagedArm64Alias: UInt64 = 0xFFFF_FFFF_C000_0000

    /// arm64 guest that turns its own MMU on (4 KiB granule, 39-bit VAs) and then runs the counter loop.
    ///
    /// At `entry` (0x10000, MMU off) it writes MAIR_EL1 (attr 0 = Normal write-back), TCR_EL1
    /// (T0SZ = T1SZ = 25, TG0 = 4 KiB, TG1 = 0b10 = 4 KiB, inner-shareable write-back walks),
    /// TTBR0_EL1 = 0x20000 and TTBR1_EL1 = 0x22000, invalidates the TLB, then sets
    /// SCTLR_EL1 = 0x30D00801 (M plus the RES1 bits Linux writes) at `enable`. TTBR0 maps the
    /// first 2 MiB identity (one level-2 block), so code and data keep their addresses; TTBR1
    /// maps the 4 KiB page `pagedArm64Alias` onto `counter`'s page 0x11000 (levels 1-3), which
    /// only a debugger's virtual read uses (Arm ARM D8: descriptors AF | SH = inner | AttrIndx 0).
    /// Then `loop`/`store`/`load`/`jump` are counter's loop at 0x10050. The fake backend runs it
    /// too: it executes with the MMU on as if identity-mapped, which is what this guest maps.
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
            0xD280_0000, // 10044         movz x0, #0
            0xD282_0001, // 10048         movz x1, #0x1000
            0xF2A0_0021, // 1004c         movk x1, #0x1, lsl #16      (x1 = 0x11000)
            0x9100_0400, // 10050 loop:   add x0, x0, #1
            0xF900_0020, // 10054 store:  str x0, [x1]
            0xF940_0422, // 10058 load:   ldr x2, [x1, #8]
            0x17FF_FFFD, // 1005c jump:   b loop
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
            descriptor(0x24000, 0, 0x11000 | attributes | page),   // L3[0]: pagedArm64Alias -> 0x11000
            GuestData(address: 0x11000, bytes: littleEndianBytes(0)),
            GuestData(address: 0x11008, bytes: littleEndianBytes(dataPattern)),
        ]
        let symbols = [
            GuestSymbol(name: "entry", address: 0x10000, size: 0x50),
            GuestSymbol(name: "enable", address: 0x1003C, size: 4),
            GuestSymbol(name: "loop", address: 0x10050, size: 4),
            GuestSymbol(name: "store", address: 0x10054, size: 4),
            GuestSymbol(name: "load", address: 0x10058, size: 4),
            GuestSymbol(name: "jump", address: 0x1005C, size: 4),
            GuestSymbol(name: "counter", address: 0x11000, size: 8),
            GuestSymbol(name: "data", address: 0x11008, size: 8),
            GuestSymbol(name: "alias", address: pagedArm64Alias, size: 8),
        ]
        return Guest(name: "paged-counter", arch: .arm64, mode: .el1, memoryBase: 0x10000, memorySize: 0x20000,
                     loadAddress: 0x10000, image: code, data: data, entry: 0x10000, symbols: symbols,
                     summary: "turns its MMU on (identity TTBR0, counter's page also at 0xffffffffc0000000 through TTBR1), then the counter loop (EL1)")
    }
}
