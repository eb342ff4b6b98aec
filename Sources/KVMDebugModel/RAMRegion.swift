/// One range of guest-physical RAM: what `qXfer:memory-map:read` lists as `ram`, what
/// `monitor info mem` shows as the identity map while paging is off, and what a core file holds.
///
/// A KVM backend's are its memslots (`KVM_SET_USER_MEMORY_REGION`); the fake's is its RAM.
public struct RAMRegion: Sendable, Hashable {
    /// The first guest-physical address.
    public var base: UInt64
    /// Bytes.
    public var size: UInt64

    public init(base: UInt64, size: UInt64) {
        self.base = base
        self.size = size
    }
}

extension DebugBackend {
    /// Unknown unless the backend says: an adapter that does not know its guest's RAM reports nil,
    /// and then nothing claims a memory map it cannot vouch for (a core file carries registers only).
    public var ramRegions: [RAMRegion]? { nil }
}
