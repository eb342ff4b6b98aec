/// One leaf of a vCPU's page tables: a page or block mapping `size` bytes of virtual
/// address space onto guest-physical memory, with the rights every level along the way grants.
///
/// What `X86PageMap` and `Arm64PageMap` enumerate, and what `monitor info mem` (ranges of equal
/// rights) and `monitor info tlb` (one line per leaf) print.
public struct PageMapping: Sendable, Hashable {
    /// The first virtual address, canonical (x86: sign-extended from bit 47 or 56; arm64: the
    /// TTBR1 range is the top of the address space).
    public var virtualAddress: UInt64
    /// Bytes: 4 KiB, 2 MiB, 1 GiB ... (arm64 also 16 KiB, 64 KiB granules and their blocks).
    public var size: UInt64
    /// The guest-physical address it maps to (arm64: the intermediate physical address).
    public var physicalAddress: UInt64
    /// The leaf entry as the guest wrote it (`monitor info tlb` decodes its flag bits).
    public var entry: UInt64
    /// Every level allows writes (x86 R/W; arm64 AP[2] clear).
    public var writable: Bool
    /// Every level allows user access (x86 U/S; arm64 AP[1], EL0).
    public var user: Bool
    /// No level forbids execution (x86 XD; arm64 PXN at EL1).
    public var executable: Bool

    public init(virtualAddress: UInt64, size: UInt64, physicalAddress: UInt64, entry: UInt64,
                writable: Bool, user: Bool, executable: Bool) {
        self.virtualAddress = virtualAddress
        self.size = size
        self.physicalAddress = physicalAddress
        self.entry = entry
        self.writable = writable
        self.user = user
        self.executable = executable
    }
}

/// What a scan of a vCPU's page tables found besides its leaves.
public struct PageTableScan: Sendable, Hashable {
    /// How the vCPU translates, as `PageWalk.scheme` names it.
    public var scheme: String
    /// False with translation off (x86 CR0.PG = 0, arm64 SCTLR_EL1.M = 0) or in physical mode:
    /// virtual addresses are physical ones and no leaf is visited.
    public var paging: Bool
    /// False when the scan stopped early: the visitor said so, or `PageTableBudget` ran out.
    public var complete: Bool

    public init(scheme: String, paging: Bool, complete: Bool = true) {
        self.scheme = scheme
        self.paging = paging
        self.complete = complete
    }
}

/// Bounds a scan: tables whose entries point back at themselves (a recursive mapping) or
/// garbage tables must not make `monitor info mem` run for hours.
public struct PageTableBudget: Sendable {
    /// Tables read so far and the most that may be read (4 KiB each with a 4 KiB granule).
    public var tables = 0
    public var maxTables: Int

    /// 65536 tables: 256 MiB of 4 KiB tables, enough for a guest mapping tens of GiB in 4 KiB pages.
    public init(maxTables: Int = 65536) { self.maxTables = maxTables }

    /// Counts one table read; false when the budget is spent.
    mutating func take() -> Bool {
        if tables >= maxTables { return false }
        tables += 1
        return true
    }
}
