/// One piece of a debug point: the bytes a single hardware comparator covers.
///
/// On x86 a naturally aligned 1, 2, 4 or 8 bytes (execute breakpoints: 1 byte);
/// on arm64 a run of bytes inside one doubleword (BAS), an aligned power-of-two
/// block of 16 bytes or more (MASK), or 4 bytes for an execute breakpoint.
public struct WatchPiece: Sendable, Hashable {
    public var address: UInt64
    public var length: UInt64
    public init(address: UInt64, length: UInt64) { self.address = address; self.length = length }
}

extension WatchPiece {
    /// Rejects what no register of either architecture can watch: an empty range, or one
    /// that wraps past the top of the address space.
    package static func checkRange(address a: UInt64, length len: UInt64, arch: Arch) throws(DebugError) {
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
