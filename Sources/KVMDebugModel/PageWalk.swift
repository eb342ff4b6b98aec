/// One guest-virtual address walked through a vCPU's page tables: every level's entry and
/// where the walk ended (a physical address, or why it did not translate).
///
/// What `DebugSession.walk(_:vcpu:)` returns and `monitor translate` prints; built by
/// `X86PageWalk` (Intel SDM vol. 3 ch. 4) and `Arm64PageWalk` (Arm ARM D8).
public struct PageWalk: Sendable, Hashable {
    /// The address asked for.
    public var virtualAddress: UInt64
    /// How the vCPU translates: "paging off (identity)", "x86_64 4-level paging", ...
    public var scheme: String
    /// The table root the walk started from (CR3, TTBR0_EL1 or TTBR1_EL1); nil with paging off.
    public var root: UInt64?
    /// Every entry read, top level first.
    public var levels: [PageWalkLevel]
    /// The guest-physical address, nil when the address does not translate.
    public var physicalAddress: UInt64?
    /// Bytes of the page or block that maps it (the unit reads are split at).
    public var pageSize: UInt64
    /// Why the address does not translate (nil when it does).
    public var fault: String?
    /// Every level allows writes (x86 R/W; what KVM_TRANSLATE's `writeable` reports).
    public var writable = true
    /// Every level allows user access (x86 U/S; KVM_TRANSLATE's `usermode`).
    public var user = true

    public init(virtualAddress: UInt64, scheme: String, root: UInt64? = nil, levels: [PageWalkLevel] = [],
                physicalAddress: UInt64? = nil, pageSize: UInt64 = 0, fault: String? = nil) {
        self.virtualAddress = virtualAddress
        self.scheme = scheme
        self.root = root
        self.levels = levels
        self.physicalAddress = physicalAddress
        self.pageSize = pageSize
        self.fault = fault
    }

    /// The walk of a vCPU with translation off: the address is the physical address.
    public static func identity(_ address: UInt64, scheme: String) -> PageWalk {
        // A whole 4 KiB page so reads still split somewhere sensible; nothing to cross.
        PageWalk(virtualAddress: address, scheme: scheme, physicalAddress: address, pageSize: 1 << 12)
    }

    /// The lines `monitor translate` prints: the scheme, one line per level, the result.
    public var lines: [String] {
        var out = [hex(virtualAddress) + ": " + scheme + (root.map { ", root " + hex($0) } ?? "")]
        for l in levels {
            var s = "  " + l.name + "[" + String(l.index) + "] at " + hex(l.entryAddress) + " = " + hex(l.entry)
            if !l.note.isEmpty { s += " (" + l.note + ")" }
            out.append(s)
        }
        if let p = physicalAddress {
            out.append("  -> physical " + hex(p) + " (" + sizeName(pageSize) + " page)")
        } else {
            out.append("  -> does not translate: " + (fault ?? "unknown"))
        }
        return out
    }
}

/// One page-table entry read during a walk.
public struct PageWalkLevel: Sendable, Hashable {
    /// The architecture's name of the entry: PML4E, PDPTE, PDE, PTE; L0...L3.
    public var name: String
    /// The entry's index in its table (the slice of the address that selects it).
    public var index: Int
    /// The guest-physical address the entry was read from.
    public var entryAddress: UInt64
    /// The entry's raw value.
    public var entry: UInt64
    /// What the entry is ("table", "4 KiB page", "not present", ...).
    public var note: String
}

/// "4 KiB", "2 MiB", "1 GiB", ...
func sizeName(_ bytes: UInt64) -> String {
    if bytes >= 1 << 30 && bytes % (1 << 30) == 0 { return String(bytes >> 30) + " GiB" }
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return String(bytes >> 20) + " MiB" }
    if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return String(bytes >> 10) + " KiB" }
    return String(bytes) + " bytes"
}
