/// One data access an instruction makes, as the debug comparators see it.
///
/// Instruction fetches are not data accesses: only watchpoints look at these.
struct FakeAccess: Sendable, Hashable {
    var address: UInt64
    /// Bytes accessed: 1, 2, 4, 8, 16 (SSE) or 512 (fxsave/fxrstor).
    var size: Int
    var isWrite: Bool

    /// True when `[address, address+size)` overlaps `[start, start+length)`.
    func overlaps(_ start: UInt64, _ length: UInt64) -> Bool {
        address < start &+ length && start < address &+ UInt64(size)
    }
}
