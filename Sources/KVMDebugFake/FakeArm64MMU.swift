import KVMDebugModel

/// The fake's own EL1&0 stage-1 translation (Arm ARM D8), written apart from the core's
/// `Arm64PageWalk` so the two check each other: SCTLR_EL1.M = 0 is the identity; otherwise
/// VA bit 55 picks TTBR1 (T1SZ, TG1) or TTBR0 (T0SZ, TG0). Only the 4 KiB granule; table,
/// block (levels 1-2) and page descriptors; a clear AF faults. Permissions, attributes and
/// TBI are not modelled (guests the fake runs map what they use read-write at EL1).
enum FakeArm64MMU {
    /// The physical address of `va`, or nil for a translation or access-flag fault.
    static func translate(_ va: UInt64, registers r: FakeArm64Registers, memory: FakeMemory) throws(DebugError) -> UInt64? {
        guard r.read(.sctlrEL1) & 1 == 1 else { return va }
        let tcr = r.read(.tcrEL1)
        let upper = (va >> 55) & 1 == 1
        let size = upper ? (tcr >> 16) & 0x3F : tcr & 0x3F
        let granule4K = upper ? (tcr >> 30) & 3 == 0b10 : (tcr >> 14) & 3 == 0b00
        guard granule4K else {
            throw .unsupported(reason: "TCR_EL1 \(hex(tcr)) selects a 16 or 64 KiB granule for \(hex(va)): the fake walks 4 KiB tables only")
        }
        guard (16...39).contains(size) else {
            throw .unsupported(reason: "TCR_EL1 T\(upper ? 1 : 0)SZ = \(size): the fake walks 25- to 48-bit VA ranges only")
        }
        let bits = 64 - size
        // Every bit above the range is a copy of bit 55's choice; anything else faults.
        let top = va >> bits
        guard top == (upper ? (UInt64.max >> bits) : 0) else { return nil }
        var table = (upper ? r.read(.ttbr1EL1) : r.read(.ttbr0EL1)) & 0x0000_FFFF_FFFF_F000
        // Levels resolve 9 bits each above the 12-bit page offset.
        var level = 4 - Int((bits - 12 + 8) / 9)
        while level <= 3 {
            let shift = UInt64(12 + 9 * (3 - level))
            let index = (va >> shift) & 0x1FF
            guard let d = memory.load(table + index * 8, size: 8), d & 1 == 1 else { return nil }
            let isTable = d & 2 == 2
            if level < 3 && isTable {
                table = d & 0x0000_FFFF_FFFF_F000
                level += 1
                continue
            }
            // A level-3 descriptor must be a page (0b11); level 0 has no blocks at 4 KiB.
            guard (level == 3) == isTable, level > 0, d & (1 << 10) != 0 else { return nil }
            let span: UInt64 = 1 << shift
            return (d & 0x0000_FFFF_FFFF_F000 & ~(span - 1)) | (va & (span - 1))
        }
        return nil
    }
}
