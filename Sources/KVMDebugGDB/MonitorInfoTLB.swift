/// `monitor info tlb`: every mapped page of the vCPU, in QEMU's format.
import KVMDebugCore

extension GDBEngine {
    /// The most pages `info tlb` lists: a guest mapping GiBs in 4 KiB pages would otherwise
    /// send millions of lines.
    static var tlbLineLimit: Int { 100_000 }

    /// One line per leaf of the vCPU's page tables: `VIRTUAL: PHYSICAL FLAGS`, both 16 hex digits.
    /// x86 FLAGS are QEMU's (target/i386/monitor.c, `print_pte`), from the leaf entry: X (XD),
    /// G, P (PS: a 2 MiB / 1 GiB / 4 MiB page), D, A, C (PCD), T (PWT), U, W, or `-`.
    /// QEMU has no arm64 `info tlb`; kvmdbg's arm64 FLAGS are X (UXN), P (PXN), G (nG clear),
    /// A (AF), U (AP[1], EL0), W (AP[2] clear). With paging off: `PG disabled`, as QEMU says.
    /// The packet is `qRcmd`.
    func monitorInfoTLB(_ lines: inout [String]) -> MonitorResult {
        let x86 = target.arch == .x86_64
        var count = 0
        let scan: PageTableScan
        do throws(DebugError) {
            scan = try target.scanPageTables(vcpu: generalThread, budget: PageTableBudget(maxTables: options.maxPageTables)) { m in
                if count == Self.tlbLineLimit { return false }
                count += 1
                lines.append(paddedHex(m.virtualAddress) + ": " + paddedHex(m.physicalAddress) + " "
                             + (x86 ? Self.x86Flags(m) : Self.arm64Flags(m.entry)))
                return true
            }
        } catch {
            return .error(error.message)
        }
        if !scan.paging { lines.append("PG disabled"); return .ok }
        if !scan.complete { lines.append("(stopped after \(count) pages)") }
        return .ok
    }

    /// `XGPDACTUW` of an x86 leaf; P only for a large page (bit 7 of a 4 KiB PTE is PAT).
    static func x86Flags(_ m: PageMapping) -> String {
        let e = m.entry
        func bit(_ n: UInt64, _ c: String) -> String { e & (1 << n) != 0 ? c : "-" }
        return bit(63, "X") + bit(8, "G") + (m.size > 1 << 12 ? bit(7, "P") : "-") + bit(6, "D") + bit(5, "A")
            + bit(4, "C") + bit(3, "T") + bit(2, "U") + bit(1, "W")
    }

    /// `XPGAUW` of an arm64 descriptor.
    static func arm64Flags(_ d: UInt64) -> String {
        func on(_ n: UInt64) -> Bool { d & (1 << n) != 0 }
        return (on(54) ? "X" : "-") + (on(53) ? "P" : "-") + (on(11) ? "-" : "G") + (on(10) ? "A" : "-")
            + (on(6) ? "U" : "-") + (on(7) ? "-" : "W")
    }
}
