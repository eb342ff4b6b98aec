/// x86 vCPU start-up: 16-bit real mode, or 64-bit long mode with a GDT and an
/// identity map of the first GiB in 2 MiB pages built at the top of guest RAM. The layout
/// is here, shared by the fake backend and the image loader; the KVM backend's register
/// set-up is `X86Boot.setUp` (KVMDebugKVM).
public enum X86Boot {
    /// Bytes reserved at the top of RAM for long-mode tables (PML4, PDPT, PD, GDT).
    public static let reservedTop: UInt64 = 0x4000

    /// Where the long-mode tables live for a guest (images must end below this).
    public static func tablesBase(for guest: Guest) -> UInt64 {
        guest.memoryBase &+ guest.memorySize &- reservedTop
    }

    /// RSP at the entry: just below the long-mode tables, or 0x7000 in real mode.
    public static func initialStackPointer(for guest: Guest) -> UInt64 {
        guest.mode == .long ? tablesBase(for: guest) : 0x7000
    }

    /// The GDT: null, 64-bit code (selector 8), flat data (selector 16).
    package static let gdt: [UInt64] = [0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF]

    /// What long-mode boot writes at the top of RAM: PML4 -> PDPT -> PD identity-mapping
    /// the first GiB in 2 MiB pages (P|RW|PS), then the GDT. The fake backend places the
    /// same bytes, so page walks see what they would on KVM. Empty for other modes.
    public static func longModeTables(for guest: Guest) -> [GuestData] {
        guard guest.arch == .x86_64, guest.mode == .long else { return [] }
        let base = tablesBase(for: guest)
        let pml4 = base, pdpt = base + 0x1000, pd = base + 0x2000, gdtBase = base + 0x3000
        var entries: [UInt8] = []
        for i in 0..<UInt64(512) { entries += littleEndianBytes((i << 21) | 0x83) }  // P|RW|PS
        var g: [UInt8] = []
        for d in gdt { g += littleEndianBytes(d) }
        return [GuestData(address: pml4, bytes: littleEndianBytes(pdpt | 0x3)),
                GuestData(address: pdpt, bytes: littleEndianBytes(pd | 0x3)),
                GuestData(address: pd, bytes: entries),
                GuestData(address: gdtBase, bytes: g)]
    }
}
