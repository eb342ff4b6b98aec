/// `qXfer:memory-map:read::OFFSET,LENGTH`: gdb's memory map, RAM versus nothing.
import KVMDebugCore

extension GDBEngine {
    /// The memory map XML (gdb's `memory-map` DTD) of what the memory packets reach now: with
    /// paging off or `monitor phys on`, the guest's RAM regions; with paging on, the general
    /// thread's mapped virtual ranges (`monitor info mem`'s ranges, rights merged). Each is a
    /// `ram` region; gdb then refuses other addresses without asking (`inaccessible-by-default`).
    /// gdb reads the map once per connection. Nil when the backend does not know its RAM.
    func memoryMapXML() -> [UInt8]? {
        var ranges: [(UInt64, UInt64)] = []
        let scan: PageTableScan
        do throws(DebugError) {
            scan = try target.scanPageTables(vcpu: generalThread, budget: PageTableBudget(maxTables: options.maxPageTables)) { m in
                if let last = ranges.last, last.0 &+ last.1 == m.virtualAddress { ranges[ranges.count - 1].1 += m.size }
                else { ranges.append((m.virtualAddress, m.size)) }
                return true
            }
        } catch {
            return nil
        }
        if !scan.paging {
            guard let ram = target.ramRegions else { return nil }
            ranges = ram.map { ($0.base, $0.size) }
        }
        // A scan cut short would claim the rest is nothing: no map rather than a wrong one.
        if !scan.complete { return nil }
        var xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE memory-map PUBLIC \"+//IDN gnu.org//DTD GDB Memory Map V1.0//EN\" "
            + "\"http://sourceware.org/gdb/gdb-memory-map.dtd\">\n<memory-map>\n"
        for (start, length) in ranges {
            xml += "  <memory type=\"ram\" start=\"0x\(String(start, radix: 16))\" length=\"0x\(String(length, radix: 16))\"/>\n"
        }
        xml += "</memory-map>\n"
        return Array(xml.utf8)
    }

    /// `OFFSET,LENGTH` of the map -> `m` + part (more follows) or `l` + last part; `E01` when
    /// there is no map to give. Built at offset 0, kept for the later parts of the same read.
    /// The packet is `qXfer:memory-map:read`.
    func readMemoryMap(_ range: ArraySlice<UInt8>) {
        guard let (o, l) = splitOnce(range, UInt8(ascii: ",")),
              let offset = GDBHex.number(o), let length = GDBHex.number(l) else { sendErrno(0); return }
        if offset == 0 || memoryMap == nil {
            memoryMap = memoryMapXML()
            memoryMapBasis = memoryMap == nil ? nil : memoryMapBasis(vcpu: generalThread)
        }
        guard let xml = memoryMap else {
            sendError("no memory map: the backend does not know the guest's RAM, or its page tables are too large to list")
            return
        }
        let start = Int(min(offset, UInt64(xml.count)))
        // Escapes can double a byte: keep the part well inside the packet size.
        let count = Int(min(length, UInt64(GDBEngine.packetSize / 2 - 8)))
        let end = min(xml.count, start + count)
        sendPacket([end == xml.count ? UInt8(ascii: "l") : UInt8(ascii: "m")] + Array(xml[start..<end]))
    }
}

/// What a memory map was built from: the vCPU's translation regime and its root table's bytes.
struct MemoryMapBasis: Equatable {
    var vcpu: Int
    /// Physical mode; paging on; the control registers that pick the tables and their format.
    var regime: [UInt64]
    /// The top-level table(s) as the guest wrote them (empty with paging off).
    var roots: [[UInt8]]
}

extension GDBEngine {
    /// The basis of a map built now for `vcpu`; nil when its registers cannot be read.
    func memoryMapBasis(vcpu: Int) -> MemoryMapBasis? {
        guard let file = try? target.registers(vcpu: vcpu) else { return nil }
        let physical = target.physicalMode
        var regime: [UInt64] = [physical ? 1 : 0]
        var roots: [UInt64] = []
        if !physical {
            switch file {
            case .x86_64(let r):
                let paging = r.cr0 & (1 << 31) != 0
                regime += paging ? [1, r.cr3, r.cr4 & (1 << 5 | 1 << 12 | 1 << 4), r.efer & (1 << 10)] : [0]
                if paging { roots = [r.cr3 & 0x000F_FFFF_FFFF_F000] }
            case .arm64(let r):
                let mmu = r.sctlrEL1 & 1 != 0
                regime += mmu ? [1, r.ttbr0EL1, r.ttbr1EL1, r.tcrEL1] : [0]
                if mmu { roots = [r.ttbr0EL1 & 0x0000_FFFF_FFFF_F000, r.ttbr1EL1 & 0x0000_FFFF_FFFF_F000] }
            }
        }
        // The root tables are read physically, whatever mode the memory packets are in.
        target.physicalMode = true
        defer { target.physicalMode = physical }
        let bytes = roots.map { (try? target.readMemory($0, count: 4096, vcpu: vcpu)) ?? [] }
        return MemoryMapBasis(vcpu: vcpu, regime: regime, roots: bytes)
    }

    /// Before a stop reply: if the map gdb read (`--memory-map`) no longer describes the vCPU it
    /// was built for (paging turned on or off, another root, a changed top-level table, `monitor
    /// phys`), says so once as console output. gdb never reads a map twice per connection and
    /// refuses addresses outside it; deeper table changes are not seen here.
    func warnIfMemoryMapIsStale() {
        guard let basis = memoryMapBasis, let now = memoryMapBasis(vcpu: basis.vcpu), now != basis else { return }
        memoryMapBasis = now
        sendConsole("kvmdbg: vCPU \(basis.vcpu)'s address space changed since gdb read the memory map (--memory-map); "
                    + "gdb keeps the old map and refuses addresses outside it: reconnect, or 'set mem inaccessible-by-default off'")
    }
}
