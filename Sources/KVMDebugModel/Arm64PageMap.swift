/// Every leaf of an arm64 vCPU's EL1&0 stage-1 tables, lowest virtual address first (Arm ARM
/// D8 "The AArch64 Virtual Memory System Architecture"): what `monitor info mem` and
/// `monitor info tlb` print.
///
/// The same translation regimes as `Arm64PageWalk`: TTBR0_EL1 covers the bottom
/// 2^(64-T0SZ) bytes, TTBR1_EL1 the top 2^(64-T1SZ) (skipped while EPDn is set); 4, 16 and
/// 64 KiB granules; blocks at level 1 (4 KiB granule) and 2. Rights are the leaf's AP[2:1]
/// (AP[2] read-only, AP[1] EL0) and PXN, as the walker reports them; hierarchical APTable
/// bits are not applied. A table that is not guest RAM maps nothing.
public enum Arm64PageMap {
    /// Scans both ranges, calling `visit` for each leaf until it returns false.
    /// `readTable(pa, bytes)` reads one whole table from guest-physical memory.
    public static func scan(registers r: Arm64RegisterFile, budget: inout PageTableBudget,
                            readTable: (UInt64, Int) throws(DebugError) -> [UInt8],
                            visit: (PageMapping) -> Bool) -> PageTableScan {
        if r.sctlrEL1 & Arm64PageWalk.sctlrM == 0 { return PageTableScan(scheme: "MMU off (SCTLR_EL1.M=0), identity", paging: false) }
        let tcr = r.tcrEL1
        var stopped = false
        var schemes: [String] = []
        for upper in [false, true] {
            let txsz = upper ? (tcr >> 16) & 0x3F : tcr & 0x3F
            let epd = upper ? (tcr >> 23) & 1 : (tcr >> 7) & 1
            let granuleBits: UInt64
            if upper {
                switch (tcr >> 30) & 3 { case 1: granuleBits = 14; case 3: granuleBits = 16; default: granuleBits = 12 }
            } else {
                switch (tcr >> 14) & 3 { case 1: granuleBits = 16; case 2: granuleBits = 14; default: granuleBits = 12 }
            }
            let inputSize = 64 - txsz
            let region = upper ? "TTBR1_EL1" : "TTBR0_EL1"
            // As in Arm64PageWalk: a range no wider than one page (T0SZ = 48, 64 KiB granule) has
            // no level to scan (it trapped on level 4; found by the fuzzer's walk target).
            if epd == 1 || inputSize > 48 || inputSize < 16 || inputSize <= granuleBits { continue }
            schemes.append("\(region) \(inputSize)-bit VA, \(sizeName(1 << granuleBits)) granule")
            if stopped { continue }
            let stride = granuleBits - 3
            let levels = (inputSize - granuleBits + stride - 1) / stride
            let start = 4 - Int(levels)
            let base: UInt64 = upper ? ~((UInt64(1) << inputSize) - 1) : 0
            let ttbr = (upper ? r.ttbr1EL1 : r.ttbr0EL1) & 0x0000_FFFF_FFFF_FFFE
            stopped = !table(ttbr, level: start, start: start, inputSize: inputSize, granuleBits: granuleBits,
                             base: base, budget: &budget, readTable: readTable, visit: visit)
        }
        return PageTableScan(scheme: "arm64 stage 1, " + (schemes.isEmpty ? "no range enabled" : schemes.joined(separator: "; ")),
                             paging: true, complete: !stopped)
    }

    /// Visits one table's leaves and recurses into its tables; false once the scan must stop.
    private static func table(_ pa: UInt64, level: Int, start: Int, inputSize: UInt64, granuleBits: UInt64,
                              base: UInt64, budget: inout PageTableBudget,
                              readTable: (UInt64, Int) throws(DebugError) -> [UInt8],
                              visit: (PageMapping) -> Bool) -> Bool {
        let stride = granuleBits - 3
        let shift = granuleBits + UInt64(3 - level) * stride
        let bits = level == start ? inputSize - shift : stride
        let count = 1 << Int(bits)
        guard budget.take() else { return false }
        // Not guest RAM: nothing mapped below.
        guard let bytes = try? readTable(pa, count * 8), bytes.count == count * 8 else { return true }
        let outputMask: UInt64 = 0x0000_FFFF_FFFF_FFFF & ~((UInt64(1) << granuleBits) - 1)
        for i in 0..<count {
            var d: UInt64 = 0
            for b in 0..<8 { d |= UInt64(bytes[i * 8 + b]) << (8 * UInt64(b)) }
            let type = d & 3
            if type & 1 == 0 { continue }
            let va = base | (UInt64(i) << shift)
            if level < 3 && type == 3 {
                if !table(d & outputMask, level: level + 1, start: start, inputSize: inputSize, granuleBits: granuleBits,
                          base: va, budget: &budget, readTable: readTable, visit: visit) { return false }
                continue
            }
            let blockOK = level == 3 ? type == 3 : (type == 1 && (level == 2 || (level == 1 && granuleBits == 12)))
            if !blockOK { continue }  // reserved: a translation fault, maps nothing
            let size = UInt64(1) << shift
            let m = PageMapping(virtualAddress: va, size: size, physicalAddress: d & outputMask & ~(size - 1), entry: d,
                                writable: (d >> 7) & 1 == 0, user: (d >> 6) & 1 == 1, executable: (d >> 53) & 1 == 0)
            if !visit(m) { return false }
        }
        return true
    }
}
