/// Every leaf of an x86 vCPU's page tables, lowest virtual address first (Intel SDM vol. 3
/// ch. 4 "Paging"): what `monitor info mem` and `monitor info tlb` print.
///
/// The same modes as `X86PageWalk` (32-bit with CR4.PSE, PAE, 4- and 5-level), walked top
/// down over whole tables instead of one address. Rights accumulate as the walk's do: a leaf is
/// writable (user) only if every entry on its path has R/W (U/S) set; PAE's PDPTEs have neither
/// bit, so only its PDE and PTE count. A table that is not guest RAM maps nothing.
public enum X86PageMap {
    /// Scans the tables CR3 points at, calling `visit` for each leaf until it returns false.
    /// `readTable(pa, bytes)` reads one whole table from guest-physical memory.
    public static func scan(registers r: X86RegisterFile, budget: inout PageTableBudget,
                            readTable: (UInt64, Int) throws(DebugError) -> [UInt8],
                            visit: (PageMapping) -> Bool) -> PageTableScan {
        if r.cr0 & X86PageWalk.cr0PG == 0 { return PageTableScan(scheme: "paging off (CR0.PG=0), identity", paging: false) }
        // withoutActuallyEscaping: the scanner holds both closures only for this call.
        let (scheme, spent, stopped) = withoutActuallyEscaping(readTable) { readTable in
            withoutActuallyEscaping(visit) { visit in
                // Tables outside guest RAM map nothing (a read failure is not the scan's failure).
                var scanner = Scanner(budget: budget, read: { try? readTable($0, $1) }, visit: visit)
                let scheme: String
                if r.efer & X86PageWalk.eferLMA != 0 {
                    let levels = r.cr4 & X86PageWalk.cr4LA57 != 0 ? 5 : 4
                    scheme = "x86_64 \(levels)-level paging"
                    scanner.long(table: r.cr3 & X86PageWalk.addressMask, level: 0, levels: levels, base: 0,
                                 rights: Rights(write: true, user: true, execute: true))
                } else if r.cr4 & X86PageWalk.cr4PAE != 0 {
                    scheme = "x86 PAE paging (32-bit)"
                    scanner.pae(cr3: r.cr3)
                } else {
                    scheme = "x86 32-bit paging"
                    scanner.legacy(cr3: r.cr3, pse: r.cr4 & X86PageWalk.cr4PSE != 0)
                }
                return (scheme, scanner.budget, scanner.stopped)
            }
        }
        budget = spent
        return PageTableScan(scheme: scheme, paging: true, complete: !stopped)
    }

    struct Rights {
        var write: Bool, user: Bool, execute: Bool

        /// These rights narrowed by one more entry's R/W, U/S and XD bits.
        func and(_ e: UInt64) -> Rights {
            Rights(write: write && e & X86PageWalk.writable != 0, user: user && e & X86PageWalk.user != 0,
                   execute: execute && e & X86PageWalk.executeDisable == 0)
        }
    }

    private struct Scanner {
        var budget: PageTableBudget
        let read: (UInt64, Int) -> [UInt8]?
        let visit: (PageMapping) -> Bool
        var stopped = false

        /// The table's entries (`size`-byte little-endian), or nil when the budget is spent or
        /// the table is not in guest RAM.
        mutating func entries(_ pa: UInt64, count: Int, size: Int) -> [UInt64]? {
            if stopped { return nil }
            guard budget.take() else { stopped = true; return nil }
            guard let bytes = read(pa, count * size), bytes.count == count * size else { return nil }
            var out = [UInt64](repeating: 0, count: count)
            for i in 0..<count {
                var v: UInt64 = 0
                for b in 0..<size { v |= UInt64(bytes[i * size + b]) << (8 * UInt64(b)) }
                out[i] = v
            }
            return out
        }

        mutating func leaf(_ va: UInt64, _ size: UInt64, _ pa: UInt64, _ e: UInt64, _ r: Rights) {
            if stopped { return }
            if !visit(PageMapping(virtualAddress: va, size: size, physicalAddress: pa, entry: e,
                                  writable: r.write, user: r.user, executable: r.execute)) { stopped = true }
        }

        /// 4- and 5-level paging (SDM 4.5): PS in a PDPTE maps 1 GiB, in a PDE 2 MiB.
        mutating func long(table: UInt64, level: Int, levels: Int, base: UInt64, rights: Rights){
            guard let es = entries(table, count: 512, size: 8) else { return }
            let shift = UInt64(12 + 9 * (levels - 1 - level))
            let remaining = levels - 1 - level
            for (i, e) in es.enumerated() where e & X86PageWalk.present != 0 {
                if stopped { return }
                var va = base | (UInt64(i) << shift)
                if level == 0 {
                    // Canonical: the top translated bit (47 or 56) copied upward.
                    let top = UInt64(12 + 9 * levels - 1)
                    if (va >> top) & 1 == 1 { va |= ~((UInt64(1) << top) - 1) }
                }
                let r = rights.and(e)
                if remaining == 0 || ((remaining == 1 || remaining == 2) && e & X86PageWalk.pageSizeBit != 0) {
                    let size = UInt64(1) << shift
                    leaf(va, size, e & X86PageWalk.addressMask & ~(size - 1), e, r)
                } else {
                    long(table: e & X86PageWalk.addressMask, level: level + 1, levels: levels, base: va, rights: r)
                }
            }
        }

        /// PAE (SDM 4.4): four PDPTEs at CR3[31:5], then PDEs (PS: 2 MiB) and PTEs.
        mutating func pae(cr3: UInt64) {
            guard let pdptes = entries(cr3 & 0xFFFF_FFE0, count: 4, size: 8) else { return }
            let all = Rights(write: true, user: true, execute: true)
            for (i, pdpte) in pdptes.enumerated() where pdpte & X86PageWalk.present != 0 {
                guard let pdes = entries(pdpte & X86PageWalk.addressMask, count: 512, size: 8) else { continue }
                for (j, pde) in pdes.enumerated() where pde & X86PageWalk.present != 0 {
                    let va = UInt64(i) << 30 | UInt64(j) << 21
                    let r = all.and(pde)
                    if pde & X86PageWalk.pageSizeBit != 0 {
                        leaf(va, 1 << 21, pde & X86PageWalk.addressMask & ~UInt64(0x1F_FFFF), pde, r)
                        continue
                    }
                    guard let ptes = entries(pde & X86PageWalk.addressMask, count: 512, size: 8) else { continue }
                    for (k, pte) in ptes.enumerated() where pte & X86PageWalk.present != 0 {
                        leaf(va | UInt64(k) << 12, 1 << 12, pte & X86PageWalk.addressMask, pte, r.and(pte))
                    }
                }
            }
        }

        /// 32-bit paging (SDM 4.3): 4-byte entries; a PDE with PS (and CR4.PSE) maps 4 MiB,
        /// PDE bits 20:13 giving physical bits 39:32. No XD bit.
        mutating func legacy(cr3: UInt64, pse: Bool) {
            guard let pdes = entries(cr3 & 0xFFFF_F000, count: 1024, size: 4) else { return }
            let all = Rights(write: true, user: true, execute: true)
            for (i, pde) in pdes.enumerated() where pde & X86PageWalk.present != 0 {
                let va = UInt64(i) << 22
                let r = all.and(pde)
                if pse && pde & X86PageWalk.pageSizeBit != 0 {
                    leaf(va, 1 << 22, (pde & 0xFFC0_0000) | (((pde >> 13) & 0xFF) << 32), pde, r)
                    continue
                }
                guard let ptes = entries(pde & 0xFFFF_F000, count: 1024, size: 4) else { continue }
                for (k, pte) in ptes.enumerated() where pte & X86PageWalk.present != 0 {
                    leaf(va | UInt64(k) << 12, 1 << 12, pte & 0xFFFF_F000, pte, r.and(pte))
                }
            }
        }
    }
}
