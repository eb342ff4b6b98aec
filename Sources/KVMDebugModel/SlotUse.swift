/// One hardware comparator in use: which slot serves which debug point.
///
/// A watch range that one register cannot express is split over several slots;
/// each piece is one `SlotUse` with the same `point`.
public struct SlotUse: Sendable, Hashable {
    /// The comparator kind (x86 DRn, arm64 breakpoint or watchpoint pair).
    public var kind: SlotKind
    /// The comparator index: DR<slot>, DBGBCR<slot> or DBGWCR<slot>.
    public var slot: Int
    /// The debug point this slot serves.
    public var point: DebugPoint
    /// First byte this slot covers (x86 DRn value; arm64 the byte range selected by BAS/MASK).
    public var address: UInt64
    /// Bytes this slot covers (1 for an execute breakpoint on x86, 4 on arm64).
    public var length: UInt64

    public init(kind: SlotKind, slot: Int, point: DebugPoint, address: UInt64, length: UInt64) {
        self.kind = kind
        self.slot = slot
        self.point = point
        self.address = address
        self.length = length
    }

    /// True when `[addr, addr+len)` overlaps what this slot covers.
    public func overlaps(_ addr: UInt64, _ len: UInt64) -> Bool {
        addr < address &+ length && address < addr &+ len
    }
}
