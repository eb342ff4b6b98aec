import CKVM

/// x86 vCPU start-up: 16-bit real mode, or 64-bit long mode with a GDT and an
/// identity map of the first GiB in 2 MiB pages built at the top of guest RAM.
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
    static let gdt: [UInt64] = [0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF]

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

    #if arch(x86_64)
    static func setUp(_ v: KVMVCPU, index: Int, guest: Guest, memory: GuestMemory) throws(DebugError) {
        var s = try v.specialRegisters()
        switch guest.mode {
        case .real:
            for seg in [\kvm_sregs.cs, \kvm_sregs.ds, \kvm_sregs.es, \kvm_sregs.fs, \kvm_sregs.gs, \kvm_sregs.ss] {
                s[keyPath: seg].base = 0
                s[keyPath: seg].selector = 0
            }
        case .long:
            let base = tablesBase(for: guest)
            if guest.loadAddress &+ UInt64(guest.image.count) > base {
                throw .badImage(reason: "a long-mode image must end below \(hex(base)) (page tables and GDT live at the top of RAM)")
            }
            if index == 0 {
                for d in longModeTables(for: guest) { try memory.write(d.address, d.bytes) }
            }
            s.gdt.base = base + 0x3000
            s.gdt.limit = UInt16(gdt.count * 8 - 1)
            s.cr3 = base
            s.cr4 = 0x20                 // PAE
            s.cr0 = 0x8005_0033          // PG|WP|NE|ET|MP|PE
            s.efer = 0x500               // LME|LMA
            var code = kvm_segment()
            code.base = 0
            code.limit = 0xFFFF_FFFF
            code.selector = 8
            code.type = 11
            code.present = 1
            code.s = 1
            code.l = 1
            code.g = 1
            s.cs = code
            var data = code
            data.selector = 16
            data.type = 3
            data.l = 0
            data.db = 1
            s.ds = data
            s.es = data
            s.fs = data
            s.gs = data
            s.ss = data
        case .el1:
            throw .unsupported(reason: "mode el1 is arm64 only")
        }
        try v.setSpecialRegisters(s)
        var r = kvm_regs()
        r.rip = guest.entry
        r.rflags = 0x2
        r.rdi = UInt64(index)  // boot convention: RDI = vCPU index
        r.rsp = initialStackPointer(for: guest)
        try v.setRegisters(r)
    }
    #endif
}
