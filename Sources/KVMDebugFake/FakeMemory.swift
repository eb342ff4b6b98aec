import KVMDebugModel
import KVMDebugSession
import Synchronization

/// Guest RAM shared by all vCPUs: `[base, base+size)`, one lock around every access.
///
/// vCPUs may run on separate threads, so every access takes the lock; a guest's
/// own accesses are still single instructions, so no wider atomicity is needed.
final class FakeMemory: Sendable {
    let base: UInt64
    let size: UInt64
    private let bytes: DebugLocked<[UInt8]>
    /// The 4 KiB pages written since the last `restore` (bit p % 64 of word p / 64), so a
    /// reset copies back only those (`FakeBackend.reset`).
    private let written: DebugLocked<[UInt64]>
    /// The subset written by the guest's own stores (`store`; `write` is the host's).
    private let stored: DebugLocked<[UInt64]>
    /// The memory slots' shape, as page protections (`KVM_SET_USER_MEMORY_REGION`: a page in
    /// a read-only slot of its own, or in none); absent pages are ordinary RAM.
    private let protections = DebugLocked<[UInt64: PageProtection]>([:])
    /// Any page protected: the interpreters' fast path skips the lookups while false.
    private let anyProtected = Atomic<Bool>(false)

    init(base: UInt64, size: UInt64) {
        self.base = base
        self.size = size
        bytes = DebugLocked([UInt8](repeating: 0, count: Int(size)))
        let words = Int((size + Self.pageSize * 64 - 1) / (Self.pageSize * 64))
        written = DebugLocked([UInt64](repeating: 0, count: words))
        stored = DebugLocked([UInt64](repeating: 0, count: words))
    }

    static let pageSize: UInt64 = 0x1000

    /// The guest RAM of `guest` with its image and data placed (KVM's user memory region after loading).
    convenience init(guest: Guest) {
        self.init(base: guest.memoryBase, size: guest.memorySize)
        _ = write(guest.loadAddress, guest.image)
        for d in guest.data { _ = write(d.address, d.bytes) }
        // KVM's boot code puts its long-mode page tables and GDT at the top of RAM; the
        // interpreter ignores them, page walks through the session read them.
        for d in X86Boot.longModeTables(for: guest) { _ = write(d.address, d.bytes) }
        // Loaded is the initial state: only later writes count as changes.
        written.withLock { w in for i in w.indices { w[i] = 0 } }
        stored.withLock { w in for i in w.indices { w[i] = 0 } }
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
        markWritten(start, data.count)
        return true
    }

    /// Puts the RAM page at `page` under `protection` (the slot change KVM would make).
    func setProtection(_ protection: PageProtection, page: UInt64) -> Bool {
        guard page & (PageProtection.pageSize - 1) == 0, contains(page, Int(PageProtection.pageSize)) else { return false }
        protections.withLock { p in
            p[page] = protection == .none ? nil : protection
            anyProtected.store(!p.isEmpty, ordering: .relaxed)
        }
        return true
    }

    /// Every page back in its ordinary slot.
    func clearProtections() {
        protections.withLock { p in
            p.removeAll()
            anyProtected.store(false, ordering: .relaxed)
        }
    }

    /// The protection of the page holding `address`.
    func protection(at address: UInt64) -> PageProtection {
        guard anyProtected.load(ordering: .relaxed) else { return .none }
        let page = address & ~(PageProtection.pageSize - 1)
        return protections.withLock { $0[page] ?? .none }
    }

    /// The parts of `[address, address+count)` on protected pages, cut at page edges, in
    /// address order: what KVM's emulator exits to userspace for.
    func protectedFragments(_ address: UInt64, _ count: Int) -> [(address: UInt64, length: Int, protection: PageProtection)] {
        guard anyProtected.load(ordering: .relaxed) else { return [] }
        var out: [(address: UInt64, length: Int, protection: PageProtection)] = []
        var a = address
        var left = count
        while left > 0 {
            let n = min(left, Int(PageProtection.pageSize - (a & (PageProtection.pageSize - 1))))
            let p = protection(at: a)
            if p != .none { out.append((a, n, p)) }
            a &+= UInt64(n)
            left -= n
        }
        return out
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
        markWritten(start, size, byGuest: true)
        return true
    }

    /// Up to `count` bytes from `address`, stopping at the end of RAM (for instruction fetch).
    func fetch(_ address: UInt64, upTo count: Int) -> [UInt8] {
        guard contains(address, 1) else { return [] }
        var available = Int(min(UInt64(count), size - (address - base)))
        // A hole has no slot: the fetch stops there (KVM: an emulation failure).
        if anyProtected.load(ordering: .relaxed) {
            if protection(at: address) == .hole { return [] }
            let next = (address | (PageProtection.pageSize - 1)) &+ 1
            if next < address &+ UInt64(available), protection(at: next) == .hole { available = Int(next - address) }
        }
        return read(address, available) ?? []
    }

    /// Records that `[offset, offset+count)` of RAM changed.
    private func markWritten(_ offset: Int, _ count: Int, byGuest: Bool = false) {
        guard count > 0 else { return }
        let first = offset / Int(Self.pageSize), last = (offset + count - 1) / Int(Self.pageSize)
        written.withLock { w in
            for p in first...last { w[p >> 6] |= 1 << UInt64(p & 63) }
        }
        if byGuest {
            stored.withLock { w in
                for p in first...last { w[p >> 6] |= 1 << UInt64(p & 63) }
            }
        }
    }

    /// Guest-physical addresses of the 4 KiB pages written since the last `restore` (with
    /// `byGuest`, only those the guest's own stores wrote).
    func writtenPages(byGuest: Bool = false) -> [UInt64] {
        (byGuest ? stored : written).withLock { w in
            var out: [UInt64] = []
            for (i, word) in w.enumerated() where word != 0 {
                for b in 0..<64 where word & (1 << UInt64(b)) != 0 { out.append(base + UInt64(i * 64 + b) * Self.pageSize) }
            }
            return out
        }
    }

    /// Makes RAM equal `initial` (a memory of the same size) again, copying only the pages
    /// written since the last restore.
    func restore(from initial: FakeMemory) {
        stored.withLock { w in for i in w.indices { w[i] = 0 } }
        let pages = written.withLock { w -> [Int] in
            var out: [Int] = []
            for (i, word) in w.enumerated() where word != 0 {
                for b in 0..<64 where word & (1 << UInt64(b)) != 0 { out.append(i * 64 + b) }
                w[i] = 0
            }
            return out
        }
        guard !pages.isEmpty else { return }
        let source = initial.bytes.withLock { $0 }
        bytes.withLock { ram in
            for p in pages {
                let start = p * Int(Self.pageSize), end = min(start + Int(Self.pageSize), ram.count)
                ram.replaceSubrange(start..<end, with: source[start..<end])
            }
        }
    }
}
