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
/// the virtual address's page offset, with one level per read.
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
        let walk: PageWalk
        let maxLevels: Int
        do throws(DebugError) {
            if arm {
                var r = Arm64RegisterFile()
                r.sctlrEL1 = 1
                r.tcrEL1 = u64(17)
                r.ttbr0EL1 = root
                r.ttbr1EL1 = u64(25)
                maxLevels = 4
                walk = try Arm64PageWalk.walk(address, registers: r, read: read)
            } else {
                var r = X86RegisterFile()
                r.cr0 = 1 << 31 | 1
                r.cr3 = root
                switch (mode >> 1) & 3 {
                case 0: r.cr4 = 0
                case 1: r.cr4 = 1 << 4                 // PSE
                case 2: r.cr4 = 1 << 5                 // PAE
                default: r.cr4 = 1 << 5; r.efer = 1 << 10 | 1 << 8  // LMA|LME: 4-level
                }
                if mode & 8 != 0 && r.efer != 0 { r.cr4 |= 1 << 12 }  // LA57: 5-level
                maxLevels = 5
                walk = try X86PageWalk.walk(address, registers: r, read: read)
            }
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
        return nil
    }
}
