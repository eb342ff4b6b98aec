/// The x86 linear-to-physical walk a debugger needs, from CR0, CR3, CR4 and EFER
/// (Intel SDM vol. 3 ch. 4 "Paging").
///
/// Modes: paging off (CR0.PG = 0: identity), 32-bit paging (4 KiB pages, 4 MiB with CR4.PSE),
/// PAE (CR4.PAE: PDPTEs, 2 MiB / 4 KiB pages), 4-level (EFER.LMA) and 5-level (CR4.LA57)
/// with 1 GiB / 2 MiB / 4 KiB pages. Segmentation is not applied: 64-bit and flat segments
/// make the linear address the virtual one. Access rights are not checked: a debugger reads
/// supervisor and read-only pages alike; the walk only reports them.
public enum X86PageWalk {
    /// CR0.PG (bit 31): paging on.
    static let cr0PG: UInt64 = 1 << 31
    /// CR4.PSE (bit 4): 4 MiB pages in 32-bit paging.
    static let cr4PSE: UInt64 = 1 << 4
    /// CR4.PAE (bit 5).
    static let cr4PAE: UInt64 = 1 << 5
    /// CR4.LA57 (bit 12): 5-level paging in IA-32e mode.
    package static let cr4LA57: UInt64 = 1 << 12
    /// EFER.LMA (bit 10): IA-32e mode active.
    static let eferLMA: UInt64 = 1 << 10
    /// Entry bits: P (0), R/W (1), U/S (2), PS (7), XD (63).
    static let present: UInt64 = 1 << 0, writable: UInt64 = 1 << 1, user: UInt64 = 1 << 2
    static let pageSizeBit: UInt64 = 1 << 7, executeDisable: UInt64 = 1 << 63
    /// Physical-address bits 51:12 of a 64-bit entry (MAXPHYADDR taken as 52: the guest's
    /// CPUID is not consulted, so reserved-bit faults are not modelled).
    static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

    /// Walks `address` with the vCPU's control registers; `read(pa, size)` loads a
    /// little-endian entry of 4 or 8 bytes from guest-physical memory.
    public static func walk(_ address: UInt64, registers r: X86RegisterFile,
                            read: (UInt64, Int) throws(DebugError) -> UInt64) throws(DebugError) -> PageWalk {
        if r.cr0 & cr0PG == 0 { return .identity(address, scheme: "paging off (CR0.PG=0), identity") }
        if r.efer & eferLMA != 0 {
            let five = r.cr4 & cr4LA57 != 0
            return try walkLong(address, cr3: r.cr3, levels: five ? 5 : 4, read: read)
        }
        let linear = address & 0xFFFF_FFFF
        if r.cr4 & cr4PAE != 0 { return try walkPAE(linear, cr3: r.cr3, read: read) }
        return try walk32(linear, cr3: r.cr3, pse: r.cr4 & cr4PSE != 0, read: read)
    }

    /// 4- and 5-level paging (SDM 4.5): 9 address bits per level from bit 39 (or 48) down to
    /// bit 12; PS in a PDPTE maps 1 GiB, in a PDE 2 MiB.
    static func walkLong(_ address: UInt64, cr3: UInt64, levels: Int,
                         read: (UInt64, Int) throws(DebugError) -> UInt64) throws(DebugError) -> PageWalk {
        let names = ["PML5E", "PML4E", "PDPTE", "PDE", "PTE"]
        var walk = PageWalk(virtualAddress: address, scheme: "x86_64 \(levels)-level paging", root: cr3)
        // Canonical: bits 63 down to the top translated bit (47, or 56) are all equal.
        let top = UInt64(12 + 9 * levels - 1)
        let upper = address >> top
        if upper != 0 && upper != (UInt64.max >> top) {
            walk.fault = "non-canonical address (bits 63:\(top) differ)"
            return walk
        }
        var table = cr3 & addressMask
        var rights = (write: true, user: true, execute: true)
        for level in 0..<levels {
            let shift = UInt64(12 + 9 * (levels - 1 - level))
            let index = Int((address >> shift) & 0x1FF)
            let at = table + UInt64(index) * 8
            let e = try read(at, 8)
            let name = names[5 - levels + level]
            if e & present == 0 {
                walk.levels.append(PageWalkLevel(name: name, index: index, entryAddress: at, entry: e, note: "not present"))
                walk.fault = "\(name) not present"
                return walk
            }
            rights.write = rights.write && e & writable != 0
            rights.user = rights.user && e & user != 0
            rights.execute = rights.execute && e & executeDisable == 0
            // PS ends the walk at a PDPTE (1 GiB) or PDE (2 MiB); the PTE level always does.
            let remaining = levels - 1 - level
            let leaf = remaining == 0 || ((remaining == 1 || remaining == 2) && e & pageSizeBit != 0)
            if leaf {
                let size = UInt64(1) << shift
                let base = e & addressMask & ~(size - 1)
                walk.levels.append(PageWalkLevel(name: name, index: index, entryAddress: at, entry: e,
                                                 note: sizeName(size) + " page" + rightsNote(rights)))
                walk.physicalAddress = base | (address & (size - 1))
                walk.pageSize = size
                walk.writable = rights.write
                walk.user = rights.user
                return walk
            }
            walk.levels.append(PageWalkLevel(name: name, index: index, entryAddress: at, entry: e, note: "table"))
            table = e & addressMask
        }
        return walk  // not reached: the last level is always a leaf
    }

    /// PAE paging (SDM 4.4): CR3[31:5] points at four PDPTEs (bits 31:30), then a PDE
    /// (bits 29:21; PS maps 2 MiB) and a PTE (bits 20:12).
    static func walkPAE(_ address: UInt64, cr3: UInt64,
                        read: (UInt64, Int) throws(DebugError) -> UInt64) throws(DebugError) -> PageWalk {
        var walk = PageWalk(virtualAddress: address, scheme: "x86 PAE paging (32-bit)", root: cr3)
        guard let pdpte = try load("PDPTE", Int((address >> 30) & 3), in: cr3 & 0xFFFF_FFE0, size: 8, &walk, read),
              let pde = try load("PDE", Int((address >> 21) & 0x1FF), in: pdpte & addressMask, size: 8, &walk, read)
        else { return walk }
        // PAE's PDPTEs have no R/W or U/S bit: the rights are the PDE's and the PTE's.
        if pde & pageSizeBit != 0 { return mapped(&walk, base: pde & addressMask, size: 1 << 21, rights: [pde]) }
        guard let pte = try load("PTE", Int((address >> 12) & 0x1FF), in: pde & addressMask, size: 8, &walk, read)
        else { return walk }
        return mapped(&walk, base: pte & addressMask, size: 1 << 12, rights: [pde, pte])
    }

    /// 32-bit paging (SDM 4.3): 4-byte entries; CR3[31:12] -> PDE (bits 31:22; PS with
    /// CR4.PSE maps 4 MiB, PDE bits 20:13 giving physical bits 39:32) -> PTE (bits 21:12).
    static func walk32(_ address: UInt64, cr3: UInt64, pse: Bool,
                       read: (UInt64, Int) throws(DebugError) -> UInt64) throws(DebugError) -> PageWalk {
        var walk = PageWalk(virtualAddress: address, scheme: "x86 32-bit paging", root: cr3)
        guard let pde = try load("PDE", Int((address >> 22) & 0x3FF), in: cr3 & 0xFFFF_F000, size: 4, &walk, read)
        else { return walk }
        if pse && pde & pageSizeBit != 0 {
            return mapped(&walk, base: (pde & 0xFFC0_0000) | (((pde >> 13) & 0xFF) << 32), size: 1 << 22, rights: [pde])
        }
        guard let pte = try load("PTE", Int((address >> 12) & 0x3FF), in: pde & 0xFFFF_F000, size: 4, &walk, read)
        else { return walk }
        return mapped(&walk, base: pte & 0xFFFF_F000, size: 1 << 12, rights: [pde, pte])
    }

    /// Reads entry `index` of the table at `table` and records it as a table; nil (the
    /// walk's fault set) when its P bit is clear.
    private static func load(_ name: String, _ index: Int, in table: UInt64, size: Int, _ walk: inout PageWalk,
                             _ read: (UInt64, Int) throws(DebugError) -> UInt64) throws(DebugError) -> UInt64? {
        let at = table + UInt64(index * size)
        let e = try read(at, size)
        let ok = e & present != 0
        walk.levels.append(PageWalkLevel(name: name, index: index, entryAddress: at, entry: e, note: ok ? "table" : "not present"))
        if !ok { walk.fault = "\(name) not present" }
        return ok ? e : nil
    }

    /// Ends the walk at the last entry read: a page of `size` bytes at `base`, writable (user)
    /// when every entry in `rights` has R/W (U/S) set.
    private static func mapped(_ walk: inout PageWalk, base: UInt64, size: UInt64, rights: [UInt64]) -> PageWalk {
        walk.levels[walk.levels.count - 1].note = sizeName(size) + " page"
        walk.writable = rights.allSatisfy { $0 & writable != 0 }
        walk.user = rights.allSatisfy { $0 & user != 0 }
        walk.physicalAddress = (base & ~(size - 1)) | (walk.virtualAddress & (size - 1))
        walk.pageSize = size
        return walk
    }

    /// ", read-only", ", user" ...: the rights the walk accumulated, as KVM_TRANSLATE reports them.
    static func rightsNote(_ r: (write: Bool, user: Bool, execute: Bool)) -> String {
        (r.write ? "" : ", read-only") + (r.user ? ", user" : ", supervisor") + (r.execute ? "" : ", no-execute")
    }
}
