/// `monitor info mem`: the vCPU's mapped virtual ranges in QEMU's format.
import KVMDebugCore

extension GDBEngine {
    /// One line per contiguous virtual range whose pages all have the same rights, as QEMU's
    /// `info mem` prints it (target/i386/monitor.c, `mem_print`): `START-END SIZE PERMS`, each
    /// number 16 hex digits, PERMS `u` or `-` (user), `r`, `w` or `-`. GEF's and pwndbg's
    /// `vmmap` parse exactly this. From kvmdbg's own scan of the stopped vCPU's tables; with
    /// paging off (or `monitor phys on`) every virtual address is physical, so the lines are
    /// the guest's RAM, `urw` (QEMU would say `PG disabled`, which leaves those plugins
    /// without a map). The packet is `qRcmd`.
    func monitorInfoMem(_ lines: inout [String]) -> MonitorResult {
        let v = generalThread
        var run: (start: UInt64, end: UInt64, user: Bool, write: Bool)? = nil
        func line(_ r: (start: UInt64, end: UInt64, user: Bool, write: Bool)) -> String {
            paddedHex(r.start) + "-" + paddedHex(r.end) + " " + paddedHex(r.end &- r.start) + " "
                + (r.user ? "u" : "-") + "r" + (r.write ? "w" : "-")
        }
        let scan: PageTableScan
        do throws(DebugError) {
            scan = try target.scanPageTables(vcpu: v, budget: PageTableBudget(maxTables: options.maxPageTables)) { m in
                if let r = run, r.end == m.virtualAddress, r.user == m.user, r.write == m.writable {
                    run!.end = m.virtualAddress &+ m.size
                } else {
                    if let r = run { lines.append(line(r)) }
                    run = (m.virtualAddress, m.virtualAddress &+ m.size, m.user, m.writable)
                }
                return true
            }
        } catch {
            return .error(error.message)
        }
        if let r = run { lines.append(line(r)) }
        if !scan.complete {
            // Shown, but not passed off as the whole map: a plugin's gdb.execute fails instead.
            return .error("the page-table scan stopped after \(options.maxPageTables) tables (tables that loop, or that many): the ranges above are incomplete")
        }
        if !scan.paging {
            guard let ram = target.ramRegions else { lines.append("PG disabled"); return .ok }
            lines += ram.map { line(($0.base, $0.base &+ $0.size, true, true)) }
        }
        return .ok
    }
}
