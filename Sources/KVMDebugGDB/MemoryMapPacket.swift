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
        if offset == 0 || memoryMap == nil { memoryMap = memoryMapXML() }
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
