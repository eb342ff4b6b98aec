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

extension WatchPiece {
    /// Rejects what no register of either architecture can watch: an empty range, or one
    /// that wraps past the top of the address space.
    static func checkRange(address a: UInt64, length len: UInt64, arch: Arch) throws(DebugError) {
        if len == 0 {
            throw .unencodableWatch(address: a, length: len, arch: arch,
                                    reason: "a watchpoint needs a length of at least 1 byte")
        }
        if len - 1 > UInt64.max - a {
            throw .unencodableWatch(address: a, length: len, arch: arch,
                                    reason: "the range wraps past the top of the address space; it must end at or below 0xffffffffffffffff")
        }
    }
}

/// The result of encoding one vCPU's hardware points: the registers plus which slot serves what.
///
/// The layout is kept with the state that was installed, so a stop is decoded
/// against the slots that were really armed when the vCPU ran.
public struct EncodedDebugRegisters: Sendable, Hashable {
    public var registers: ArchDebugRegisters
    public var slots: [SlotUse]

    public init(registers: ArchDebugRegisters, slots: [SlotUse]) {
        self.registers = registers
        self.slots = slots
    }

    /// The slot uses of one comparator kind, for decoding.
    public func slots(of kind: SlotKind) -> [SlotUse] { slots.filter { $0.kind == kind } }
}

/// Encodes hardware debug points into one architecture's registers.
public enum DebugEncoder {
    /// Encodes `points` (hardware breakpoints and watchpoints; software points are ignored)
    /// for one vCPU, assigning slots in order. Throws naming `vcpu` when they do not fit.
    public static func encode(
        _ points: [DebugPoint], arch: Arch, capacity: SlotCapacity, vcpu: Int
    ) throws(DebugError) -> EncodedDebugRegisters {
        switch arch {
        case .x86_64: return try X86DebugEncoding.encode(points, capacity: capacity, vcpu: vcpu)
        case .arm64: return try Arm64DebugEncoding.encode(points, capacity: capacity, vcpu: vcpu)
        }
    }

    /// Checks one point on its own (alignment, encodable length) before it is inserted anywhere.
    public static func validate(_ point: DebugPoint, arch: Arch) throws(DebugError) {
        switch arch {
        case .x86_64: _ = try X86DebugEncoding.pieces(of: point)
        case .arm64: _ = try Arm64DebugEncoding.pieces(of: point)
        }
    }
}
