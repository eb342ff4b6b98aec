/// Every virtual range an x86_64 guest's 4-level page tables map onto RAM, for a core file's
/// virtual segments (what QEMU's `dump-guest-memory -p` writes): the tables are walked from CR3
/// down (Intel SDM vol. 3 4.5: PML4E, PDPTE with PS = 1 GiB, PDE with PS = 2 MiB, PTE), and
/// runs contiguous in both virtual and physical addresses are merged.
public enum X86PageMappings {
    /// One mapped range: `size` bytes at virtual `virtual` onto guest-physical `physical`.
    public struct Mapping: Sendable, Hashable {
        public var virtual: UInt64
        public var physical: UInt64
        public var size: UInt64
    }

    /// The mappings of 4-level paging (5-level and 32-bit paging are not enumerated: nil), kept
    /// only where the physical range lies inside `ram`; at most `limit` ranges (the rest dropped,
    /// `truncated` says so). `readPage(pa)` loads the 4 KiB table at `pa`.
    public static func enumerate(_ r: X86RegisterFile, ram: [RAMRegion], limit: Int = 4096,
                                 readPage: (UInt64) throws(DebugError) -> [UInt8]) throws(DebugError) -> (mappings: [Mapping], truncated: Bool)? {
        guard r.cr0 & X86PageWalk.cr0PG != 0, r.efer & X86PageWalk.eferLMA != 0, r.cr4 & X86PageWalk.cr4LA57 == 0 else { return nil }
        var out: [Mapping] = []
        var truncated = false
        func inRAM(_ pa: UInt64, _ size: UInt64) -> Bool {
            ram.contains { pa >= $0.base && pa &+ size <= $0.base &+ $0.size }
        }
        func add(_ va: UInt64, _ pa: UInt64, _ size: UInt64) {
            guard inRAM(pa, size) else { return }
            if let last = out.last, last.virtual &+ last.size == va, last.physical &+ last.size == pa {
                out[out.count - 1].size += size
            } else if out.count < limit {
                out.append(Mapping(virtual: va, physical: pa, size: size))
            } else {
                truncated = true
            }
        }
        // A table is read only when it lies in RAM (a stray entry must not fault the dump).
        func table(_ pa: UInt64) throws(DebugError) -> [UInt64]? {
            guard inRAM(pa, 4096) else { return nil }
            let bytes = try readPage(pa)
            guard bytes.count == 4096 else { return nil }
            return (0..<512).map { littleEndianValue(Array(bytes[$0 * 8 ..< $0 * 8 + 8])) }
        }
        let mask = X86PageWalk.addressMask
        guard let pml4 = try table(r.cr3 & mask) else { return ([], false) }
        for (i4, e4) in pml4.enumerated() where e4 & X86PageWalk.present != 0 {
            // Bits 63:48 copy bit 47 (canonical form).
            var base4 = UInt64(i4) << 39
            if base4 & (1 << 47) != 0 { base4 |= 0xFFFF_0000_0000_0000 }
            guard let pdpt = try table(e4 & mask) else { continue }
            for (i3, e3) in pdpt.enumerated() where e3 & X86PageWalk.present != 0 {
                let base3 = base4 | UInt64(i3) << 30
                if e3 & X86PageWalk.pageSizeBit != 0 { add(base3, e3 & mask & ~0x3FFF_FFFF, 1 << 30); continue }
                guard let pd = try table(e3 & mask) else { continue }
                for (i2, e2) in pd.enumerated() where e2 & X86PageWalk.present != 0 {
                    let base2 = base3 | UInt64(i2) << 21
                    if e2 & X86PageWalk.pageSizeBit != 0 { add(base2, e2 & mask & ~0x1F_FFFF, 1 << 21); continue }
                    guard let pt = try table(e2 & mask) else { continue }
                    for (i1, e1) in pt.enumerated() where e1 & X86PageWalk.present != 0 {
                        add(base2 | UInt64(i1) << 12, e1 & mask, 1 << 12)
                    }
                }
            }
        }
        return (out, truncated)
    }
}
