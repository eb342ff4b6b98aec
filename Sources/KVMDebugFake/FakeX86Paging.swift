/// The fake x86 vCPU's address translation in long mode: CR3's 4-level tables, walked by
/// the fake itself (not by kvmdbg's `X86PageWalk`, which it judges).
///
/// Intel SDM vol. 3 §4.5: PML4E bits 47:39, PDPTE 38:30 (PS = 1 GiB page), PDE 29:21
/// (PS = 2 MiB page), PTE 20:12; P (bit 0) must be set at every level; the frame is bits
/// 51:12. Only presence is checked (no RW/US/NX: the guests run at CPL 0 and gdb's
/// writes go through the session's own walker). A non-canonical or unmapped address is a
/// page fault, which the fake's guests (no IDT) cannot take: the CPU reports a shutdown,
/// as KVM does for the triple fault. Translations are cached per 4 KiB page until CR3 is
/// written, like a TLB without global pages.
struct FakeX86Paging: Sendable {
    private(set) var cr3: UInt64
    private var tlb: [UInt64: UInt64] = [:]

    init(cr3: UInt64) { self.cr3 = cr3 }

    /// mov cr3 / KVM_SET_SREGS: new tables, every cached translation dropped.
    mutating func load(cr3 value: UInt64) {
        cr3 = value
        tlb.removeAll(keepingCapacity: true)
    }

    /// The physical address of `linear`, or nil when it does not translate.
    mutating func physical(_ linear: UInt64, memory: FakeMemory) -> UInt64? {
        let page = linear >> 12
        if let frame = tlb[page] { return frame | (linear & 0xFFF) }
        guard let p = Self.walk(linear, cr3: cr3, memory: memory) else { return nil }
        if tlb.count >= 256 { tlb.removeAll(keepingCapacity: true) }
        tlb[page] = p & ~0xFFF
        return p
    }

    static func walk(_ linear: UInt64, cr3: UInt64, memory: FakeMemory) -> UInt64? {
        // Canonical: bits 63:47 all equal.
        let top = linear >> 47
        guard top == 0 || top == 0x1_FFFF else { return nil }
        let frameMask: UInt64 = 0x000F_FFFF_FFFF_F000
        var table = cr3 & frameMask
        for level in stride(from: 3, through: 0, by: -1) {
            let shift = UInt64(12 + 9 * level)
            let index = (linear >> shift) & 0x1FF
            guard let entry = memory.load(table &+ index * 8, size: 8), entry & 1 != 0 else { return nil }
            if (level == 1 || level == 2) && entry & 0x80 != 0 {
                let offset: UInt64 = (1 << shift) - 1
                return (entry & frameMask & ~offset) | (linear & offset)
            }
            table = entry & frameMask
        }
        return table | (linear & 0xFFF)
    }
}
