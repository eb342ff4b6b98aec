/// The arm64 EL1&0 stage-1 walk a debugger needs, from SCTLR_EL1, TCR_EL1, TTBR0_EL1 and
/// TTBR1_EL1 (Arm ARM D8 "The AArch64 Virtual Memory System Architecture").
///
/// SCTLR_EL1.M = 0 is the identity. Otherwise VA bit 55 picks TTBR1 (upper range, T1SZ,
/// TG1) or TTBR0 (lower range, T0SZ, TG0); 4, 16 and 64 KiB granules; VAs of up to 48 bits
/// (FEAT_LVA/LPA2's 52-bit forms are refused by name); table, block (level 1/2) and page
/// descriptors. Stage 2 is KVM's business: the result is the guest's intermediate physical
/// address, which is what guest memory is indexed by. Access permissions are reported, not checked.
public enum Arm64PageWalk {
    /// SCTLR_EL1.M (bit 0): stage-1 translation on.
    static let sctlrM: UInt64 = 1

    /// Walks `address` with the vCPU's system registers; `read(pa, size)` loads a
    /// little-endian 8-byte descriptor from guest-physical memory.
    public static func walk(_ address: UInt64, registers r: Arm64RegisterFile,
                            read: (UInt64, Int) throws(DebugError) -> UInt64) throws(DebugError) -> PageWalk {
        if r.sctlrEL1 & sctlrM == 0 { return .identity(address, scheme: "MMU off (SCTLR_EL1.M=0), identity") }
        let tcr = r.tcrEL1
        let upper = (address >> 55) & 1 == 1
        // D8.1.9: TCR_EL1.{T0SZ,T1SZ} size each range; TG0 and TG1 encode granules differently.
        let txsz = upper ? (tcr >> 16) & 0x3F : tcr & 0x3F
        let epd = upper ? (tcr >> 23) & 1 : (tcr >> 7) & 1
        let tbi = upper ? (tcr >> 38) & 1 : (tcr >> 37) & 1
        let granuleBits: UInt64
        if upper {
            switch (tcr >> 30) & 3 {
            case 1: granuleBits = 14
            case 3: granuleBits = 16
            default: granuleBits = 12  // 0b10; 0b00 is reserved and treated as 4 KiB
            }
        } else {
            switch (tcr >> 14) & 3 {
            case 1: granuleBits = 16
            case 2: granuleBits = 14
            default: granuleBits = 12  // 0b00; 0b11 is reserved and treated as 4 KiB
            }
        }
        let ttbr = upper ? r.ttbr1EL1 : r.ttbr0EL1
        let inputSize = 64 - txsz
        let region = upper ? "TTBR1_EL1" : "TTBR0_EL1"
        var walk = PageWalk(virtualAddress: address,
                            scheme: "arm64 stage 1, \(region), \(inputSize)-bit VA, \(sizeName(1 << granuleBits)) granule",
                            root: ttbr)
        // A range no wider than one page (T0SZ = 48 with the 64 KiB granule) has no level to
        // walk: refused like the other sizes outside the model, instead of an empty level range.
        if inputSize > 48 || inputSize < 16 || inputSize <= granuleBits {
            walk.fault = "T\(upper ? 1 : 0)SZ=\(txsz) gives a \(inputSize)-bit range, outside what this walker models (16...48 bits, wider than the \(sizeName(1 << granuleBits)) granule's page)"
            return walk
        }
        // The bits above the range must all equal bit 55 (only up to bit 55 with top-byte-ignore).
        let topBit: UInt64 = tbi == 1 ? 55 : 63
        for b in inputSize...topBit where ((address >> b) & 1 == 1) != upper {
            walk.fault = "address outside the \(region) range (bit \(b) is not \(upper ? 1 : 0); translation fault at level 0)"
            return walk
        }
        if epd == 1 {
            walk.fault = "EPD\(upper ? 1 : 0)=1: walks through \(region) are disabled (translation fault)"
            return walk
        }
        let stride = granuleBits - 3
        let levels = (inputSize - granuleBits + stride - 1) / stride
        let start = 4 - Int(levels)
        // Descriptors' output address: bits 47 down to the granule (D8.3).
        let outputMask: UInt64 = 0x0000_FFFF_FFFF_FFFF & ~((UInt64(1) << granuleBits) - 1)
        var table = ttbr & 0x0000_FFFF_FFFF_FFFE  // BADDR; bit 0 is CnP, 63:48 the ASID
        for level in start...3 {
            let shift = granuleBits + UInt64(3 - level) * stride
            let bits = level == start ? inputSize - shift : stride
            let index = Int((address >> shift) & ((UInt64(1) << bits) - 1))
            let at = table + UInt64(index) * 8
            let d = try read(at, 8)
            let name = "L\(level)"
            let type = d & 3
            if type & 1 == 0 {
                walk.levels.append(PageWalkLevel(name: name, index: index, entryAddress: at, entry: d, note: "invalid"))
                walk.fault = "\(name) descriptor invalid (translation fault at level \(level))"
                return walk
            }
            if level < 3 && type == 3 {
                walk.levels.append(PageWalkLevel(name: name, index: index, entryAddress: at, entry: d, note: "table"))
                table = d & outputMask
                continue
            }
            // A block at level 1/2 (level 1 only with the 4 KiB granule), or a page at level 3.
            let blockOK = level == 3 ? type == 3 : (type == 1 && (level == 2 || (level == 1 && granuleBits == 12)))
            if !blockOK {
                walk.levels.append(PageWalkLevel(name: name, index: index, entryAddress: at, entry: d, note: "reserved"))
                walk.fault = "\(name) descriptor type \(type) is reserved at level \(level) (translation fault)"
                return walk
            }
            let size = UInt64(1) << shift
            // AP[2:1] (bits 7:6): AP[2] makes it read-only, AP[1] grants EL0 access.
            walk.writable = (d >> 7) & 1 == 0
            walk.user = (d >> 6) & 1 == 1
            let note = sizeName(size) + (level == 3 ? " page" : " block")
                + (walk.writable ? "" : ", read-only") + (walk.user ? ", EL0" : ", EL1 only")
            walk.levels.append(PageWalkLevel(name: name, index: index, entryAddress: at, entry: d, note: note))
            walk.physicalAddress = (d & outputMask & ~(size - 1)) | (address & (size - 1))
            walk.pageSize = size
            return walk
        }
        return walk  // not reached: level 3 always ends the walk
    }
}
