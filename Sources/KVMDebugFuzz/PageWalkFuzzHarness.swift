import KVMDebugCore

/// The page walkers (`X86PageWalk`, `Arm64PageWalk`) over arbitrary guest page tables.
///
/// Input: byte 0 picks the architecture (bit 0) and, for x86, the paging mode (bits 1-2:
/// 32-bit, 32-bit with PSE, PAE, 4/5-level by bit 3); then 8 bytes of address, 8 of the
/// table root (CR3, or TTBR0/TTBR1 with TCR_EL1 in the next 8), and the rest is guest RAM
/// at physical 0 (at most 64 KiB). Properties: the walk ends after at most one read per
/// level; every read is a 4- or 8-byte load the walker asked of RAM through `read`, and one
/// outside RAM fails the walk with the read's error rather than being skipped; a result is
/// either a fault (no address) or an address inside a page of the size it names that keeps
/// the virtual address's page offset, with one level per read. Then the whole-table scan of
/// the same tables (`scanViolation`).
public enum PageWalkFuzzHarness {
    public static func run(_ input: [UInt8]) -> String? {
        guard input.count >= 25 else { return nil }
        let mode = input[0]
        func u64(_ at: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<8 where at + i < input.count { v |= UInt64(input[at + i]) << UInt64(8 * i) }
            return v
        }
        let address = u64(1), root = u64(9)
        let arm = mode & 1 == 1
        let ramStart = arm ? 33 : 17
        let ram = input.count > ramStart ? Array(input[ramStart..<min(input.count, ramStart + 0x1_0000)]) : []
        var reads = 0
        var refused = false
        let read = { (pa: UInt64, size: Int) throws(DebugError) -> UInt64 in
            reads += 1
            guard size == 4 || size == 8 else { throw .unsupported(reason: "walker asked for a \(size)-byte entry") }
            guard pa < UInt64(ram.count), UInt64(ram.count) - pa >= UInt64(size) else {
                refused = true
                throw .badGuestAddress(address: pa, length: UInt64(size))
            }
            var v: UInt64 = 0
            for i in 0..<size { v |= UInt64(ram[Int(pa) + i]) << UInt64(8 * i) }
            return v
        }
        var armRegisters = Arm64RegisterFile()
        armRegisters.sctlrEL1 = 1
        armRegisters.tcrEL1 = u64(17)
        armRegisters.ttbr0EL1 = root
        armRegisters.ttbr1EL1 = u64(25)
        var x86Registers = X86RegisterFile()
        x86Registers.cr0 = 1 << 31 | 1
        x86Registers.cr3 = root
        switch (mode >> 1) & 3 {
        case 0: x86Registers.cr4 = 0
        case 1: x86Registers.cr4 = 1 << 4                 // PSE
        case 2: x86Registers.cr4 = 1 << 5                 // PAE
        default: x86Registers.cr4 = 1 << 5; x86Registers.efer = 1 << 10 | 1 << 8  // LMA|LME: 4-level
        }
        if mode & 8 != 0 && x86Registers.efer != 0 { x86Registers.cr4 |= 1 << 12 }  // LA57: 5-level
        let walk: PageWalk
        let maxLevels = arm ? 4 : 5
        do throws(DebugError) {
            walk = arm ? try Arm64PageWalk.walk(address, registers: armRegisters, read: read)
                       : try X86PageWalk.walk(address, registers: x86Registers, read: read)
        } catch {
            if !refused && reads <= 5 { return "the walk threw \(error.message) without a refused read" }
            return nil
        }
        if refused { return "a read outside RAM was refused, yet the walk returned \(walk.lines.joined(separator: " / "))" }
        if reads > maxLevels { return "the walk read \(reads) entries (at most \(maxLevels) levels)" }
        if walk.levels.count != reads { return "the walk read \(reads) entries but lists \(walk.levels.count) levels" }
        if let pa = walk.physicalAddress {
            if walk.fault != nil { return "the walk has both an address and a fault" }
            let size = walk.pageSize
            if size < 0x1000 || size & (size - 1) != 0 { return "page size \(size) is not a power of two of at least 4 KiB" }
            if pa & (size - 1) != address & (size - 1) { return "physical \(hex(pa)) does not keep the offset of \(hex(address)) in its \(size)-byte page" }
        } else if walk.fault == nil {
            return "the walk has neither an address nor a fault"
        }
        return scanViolation(arm: arm, armRegisters, x86Registers, ram: ram)
    }

    /// The whole-table scan (`X86PageMap`, `Arm64PageMap`: `monitor info mem`) over the same
    /// tables: it stays within its table budget, and every leaf it reports (the first 64) is
    /// a page of a power-of-two size at aligned addresses that the walker translates the same.
    static func scanViolation(arm: Bool, _ armRegisters: Arm64RegisterFile, _ x86Registers: X86RegisterFile, ram: [UInt8]) -> String? {
        let readTable = { (pa: UInt64, n: Int) throws(DebugError) -> [UInt8] in
            guard pa < UInt64(ram.count), UInt64(ram.count) - pa >= UInt64(n) else { throw .badGuestAddress(address: pa, length: UInt64(n)) }
            return Array(ram[Int(pa)..<Int(pa) + n])
        }
        let read = { (pa: UInt64, size: Int) throws(DebugError) -> UInt64 in
            littleEndianValue(try readTable(pa, size))
        }
        var budget = PageTableBudget(maxTables: 32)
        var leaves: [PageMapping] = []
        let visit = { (m: PageMapping) -> Bool in
            leaves.append(m)
            return leaves.count < 64
        }
        _ = arm ? Arm64PageMap.scan(registers: armRegisters, budget: &budget, readTable: readTable, visit: visit)
                : X86PageMap.scan(registers: x86Registers, budget: &budget, readTable: readTable, visit: visit)
        if budget.tables > budget.maxTables { return "the scan read \(budget.tables) tables, over its budget of \(budget.maxTables)" }
        for m in leaves {
            let size = m.size
            if size < 0x1000 || size & (size - 1) != 0 { return "the scan reports a \(size)-byte page at \(hex(m.virtualAddress))" }
            if m.virtualAddress & (size - 1) != 0 || m.physicalAddress & (size - 1) != 0 {
                return "the scan reports a \(size)-byte page at \(hex(m.virtualAddress)) -> \(hex(m.physicalAddress)), not aligned to its size"
            }
            let w: PageWalk
            do throws(DebugError) {
                w = arm ? try Arm64PageWalk.walk(m.virtualAddress, registers: armRegisters, read: read)
                        : try X86PageWalk.walk(m.virtualAddress, registers: x86Registers, read: read)
            } catch {
                return "the scan reports \(hex(m.virtualAddress)) -> \(hex(m.physicalAddress)), but walking it fails: \(error.message)"
            }
            if w.physicalAddress != m.physicalAddress || w.pageSize != size {
                return "the scan reports \(hex(m.virtualAddress)) -> \(hex(m.physicalAddress)) (\(size) bytes), the walk \(w.physicalAddress.map(hex) ?? "no address") (\(w.pageSize) bytes; \(w.fault ?? "no fault"))"
            }
        }
        return nil
    }
}
