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
        let range = VARange(address, registers: r)
        var walk = PageWalk(virtualAddress: address,
                            scheme: "arm64 stage 1, \(range.region), \(range.inputSize)-bit VA, \(sizeName(1 << range.granuleBits)) granule",
                            root: range.ttbr)
        if let fault = range.fault(for: address) {
            walk.fault = fault
            return walk
        }
        try descend(address, range, &walk, read: read)
        return walk
    }

    /// The VA range `address` falls in (bit 55: TTBR1 or TTBR0) and how TCR_EL1 sets it up.
    struct VARange {
        var upper: Bool
        /// T0SZ or T1SZ.
        var txsz: UInt64
        /// EPD0/EPD1: walks disabled.
        var epd: UInt64
        /// TBI0/TBI1: top byte ignored.
        var tbi: UInt64
        /// log2 of the granule (TG0/TG1).
        var granuleBits: UInt64
        var ttbr: UInt64
        var inputSize: UInt64
        var region: String

        init(_ address: UInt64, registers r: Arm64RegisterFile) {
            let tcr = r.tcrEL1
            upper = (address >> 55) & 1 == 1
            // D8.1.9: TCR_EL1.{T0SZ,T1SZ} size each range; TG0 and TG1 encode granules differently.
            txsz = upper ? (tcr >> 16) & 0x3F : tcr & 0x3F
            epd = upper ? (tcr >> 23) & 1 : (tcr >> 7) & 1
            tbi = upper ? (tcr >> 38) & 1 : (tcr >> 37) & 1
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
            ttbr = upper ? r.ttbr1EL1 : r.ttbr0EL1
            inputSize = 64 - txsz
            region = upper ? "TTBR1_EL1" : "TTBR0_EL1"
        }

        /// Why `address` cannot be walked in this range (before any descriptor is read), or nil.
        func fault(for address: UInt64) -> String? {
            // A range no wider than one page (T0SZ = 48 with the 64 KiB granule) has no level to
            // walk: refused like the other sizes outside the model, instead of an empty level range.
            if inputSize > 48 || inputSize < 16 || inputSize <= granuleBits {
                return "T\(upper ? 1 : 0)SZ=\(txsz) gives a \(inputSize)-bit range, outside what this walker models (16...48 bits, wider than the \(sizeName(1 << granuleBits)) granule's page)"
            }
            // The bits above the range must all equal bit 55 (only up to bit 55 with top-byte-ignore).
            let topBit: UInt64 = tbi == 1 ? 55 : 63
            for b in inputSize...topBit where ((address >> b) & 1 == 1) != upper {
                return "address outside the \(region) range (bit \(b) is not \(upper ? 1 : 0); translation fault at level 0)"
            }
            if epd == 1 { return "EPD\(upper ? 1 : 0)=1: walks through \(region) are disabled (translation fault)" }
            return nil
        }
    }

    /// Reads the descriptors from the range's start level down to the leaf (or the fault),
    /// recording each level in `walk`.
    private static func descend(_ address: UInt64, _ range: VARange, _ walk: inout PageWalk,
                                read: (UInt64, Int) throws(DebugError) -> UInt64) throws(DebugError) {
        let granuleBits = range.granuleBits
        let stride = granuleBits - 3
        let levels = (range.inputSize - granuleBits + stride - 1) / stride
        let start = 4 - Int(levels)
        // Descriptors' output address: bits 47 down to the granule (D8.3).
        let outputMask: UInt64 = 0x0000_FFFF_FFFF_FFFF & ~((UInt64(1) << granuleBits) - 1)
        var table = range.ttbr & 0x0000_FFFF_FFFF_FFFE  // BADDR; bit 0 is CnP, 63:48 the ASID
        for level in start...3 {
            let shift = granuleBits + UInt64(3 - level) * stride
            let bits = level == start ? range.inputSize - shift : stride
            let index = Int((address >> shift) & ((UInt64(1) << bits) - 1))
            let at = table + UInt64(index) * 8
            let d = try read(at, 8)
            let name = "L\(level)"
            let type = d & 3
            if type & 1 == 0 {
                walk.levels.append(PageWalkLevel(name: name, index: index, entryAddress: at, entry: d, note: "invalid"))
                walk.fault = "\(name) descriptor invalid (translation fault at level \(level))"
                return
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
                return
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
            return
        }
        // Not reached: level 3 always ends the walk.
    }
}
