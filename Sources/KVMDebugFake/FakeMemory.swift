import KVMDebugCore

/// Guest RAM shared by all vCPUs: `[base, base+size)`, one lock around every access.
///
/// vCPUs may run on separate threads, so every access takes the lock; a guest's
/// own accesses are still single instructions, so no wider atomicity is needed.
final class FakeMemory: Sendable {
    let base: UInt64
    let size: UInt64
    private let bytes: DebugLocked<[UInt8]>

    init(base: UInt64, size: UInt64) {
        self.base = base
        self.size = size
        bytes = DebugLocked([UInt8](repeating: 0, count: Int(size)))
    }

    /// The guest RAM of `guest` with its image and data placed (KVM's user memory region after loading).
    convenience init(guest: Guest) {
        self.init(base: guest.memoryBase, size: guest.memorySize)
        _ = write(guest.loadAddress, guest.image)
        for d in guest.data { _ = write(d.address, d.bytes) }
        // KVM's boot code puts its long-mode page tables and GDT at the top of RAM; the
        // interpreter ignores them, page walks through the session read them.
        for d in X86Boot.longModeTables(for: guest) { _ = write(d.address, d.bytes) }
    }

    /// True when `[address, address+count)` is backed RAM (anything else is MMIO to KVM).
    func contains(_ address: UInt64, _ count: Int) -> Bool {
        guard address >= base else { return false }
        let offset = address - base
        return offset <= size && UInt64(count) <= size - offset
    }

    /// Copies bytes out, or nil if any of them is outside RAM.
    func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
        guard count >= 0, contains(address, count) else { return nil }
        let start = Int(address - base)
        return bytes.withLock { Array($0[start..<start + count]) }
    }

    /// Copies bytes in; false (and nothing written) if any of them is outside RAM.
    @discardableResult
    func write(_ address: UInt64, _ data: [UInt8]) -> Bool {
        guard contains(address, data.count) else { return false }
        let start = Int(address - base)
        bytes.withLock { ram in
            for (i, b) in data.enumerated() { ram[start + i] = b }
        }
        return true
    }

    /// A little-endian load of 1...8 bytes, or nil outside RAM.
    func load(_ address: UInt64, size: Int) -> UInt64? {
        guard contains(address, size) else { return nil }
        let start = Int(address - base)
        return bytes.withLock { ram in
            var v: UInt64 = 0
            for i in 0..<size { v |= UInt64(ram[start + i]) << UInt64(8 * i) }
            return v
        }
    }

    /// A little-endian store of the low `size` bytes; false outside RAM.
    @discardableResult
    func store(_ address: UInt64, size: Int, _ value: UInt64) -> Bool {
        guard contains(address, size) else { return false }
        let start = Int(address - base)
        bytes.withLock { ram in
            for i in 0..<size { ram[start + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
        }
        return true
    }

    /// Up to `count` bytes from `address`, stopping at the end of RAM (for instruction fetch).
    func fetch(_ address: UInt64, upTo count: Int) -> [UInt8] {
        guard contains(address, 1) else { return [] }
        let available = Int(min(UInt64(count), size - (address - base)))
        return read(address, available) ?? []
    }
}
