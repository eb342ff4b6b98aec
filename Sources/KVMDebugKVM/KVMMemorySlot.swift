import KVMDebugModel

/// One KVM memory slot: `struct kvm_userspace_memory_region` as kvmdbg keeps it.
public struct KVMMemorySlot: Sendable, Hashable {
    /// The slot id (bits 0-15; bits 16-31 the address space, 0 here).
    public var id: UInt32
    public var guestAddress: UInt64
    /// Bytes; 0 deletes the slot.
    public var size: UInt64
    /// The host virtual address backing `guestAddress` (`userspace_addr`).
    public var hostAddress: UInt64
    /// KVM_MEM_LOG_DIRTY_PAGES (bit 0), KVM_MEM_READONLY (bit 1).
    public var flags: UInt32

    /// KVM_MEM_READONLY (include/uapi/linux/kvm.h).
    public static let readOnly: UInt32 = 1 << 1

    public init(id: UInt32, guestAddress: UInt64, size: UInt64, hostAddress: UInt64, flags: UInt32 = 0) {
        self.id = id
        self.guestAddress = guestAddress
        self.size = size
        self.hostAddress = hostAddress
        self.flags = flags
    }

    func contains(_ a: UInt64) -> Bool { a >= guestAddress && a - guestAddress < size }

    /// The part `[from, to)` of this slot (same backing, same flags), under another id.
    func piece(_ from: UInt64, _ to: UInt64, id: UInt32, flags: UInt32? = nil) -> KVMMemorySlot {
        KVMMemorySlot(id: id, guestAddress: from, size: to - from,
                      hostAddress: hostAddress + (from - guestAddress), flags: flags ?? self.flags)
    }
}

/// A change kvmdbg asks a host VMM's consent for: the VMM's `slot` (as it made it), the
/// guest-physical page kvmdbg wants to split off, and the protection it wants for it
/// (`.none` gives a page back). The VMM answers false to refuse (say, while it is migrating).
public struct KVMSlotChange: Sendable, Hashable {
    public var slot: KVMMemorySlot
    public var page: UInt64
    public var protection: PageProtection
}

/// The closure a host VMM gives with its slot table: called before each change, on the thread
/// that arms or removes the watchpoint, while no vCPU of that VM runs in kvmdbg's hands.
public typealias KVMSlotConsent = @Sendable (KVMSlotChange) -> Bool

/// A VM's memory slots while pages are protected: each protected page split off into a
/// slot of its own (read-only) or left out (a hole), the rest of its slot around it.
///
/// Pages stay split after their protection is lifted (toggling a 4 KiB slot costs two
/// ioctls; splitting a big one again costs its size, measured up to ~0.4 ms for 1 GiB);
/// `restore()` merges everything back into the slots there were at the start.
final class KVMMemorySlots {
    private let vm: KVMVM
    /// The slots before the first protection, restored exactly by `restore()`.
    let original: [KVMMemorySlot]
    /// The slots now.
    private(set) var slots: [KVMMemorySlot]
    /// Asked before any change to one of the original slots (a host VMM's: see
    /// `KVMBackend.init(adopting:...)`); nil: kvmdbg made the VM and owns its slots.
    private let consent: KVMSlotConsent?

    init(vm: KVMVM, slots: [KVMMemorySlot], consent: KVMSlotConsent? = nil) {
        self.vm = vm
        original = slots
        self.slots = slots
        self.consent = consent
    }

    private func freeID() -> UInt32 {
        var id: UInt32 = 0
        // Never an id of the original table, even one split away for now.
        while slots.contains(where: { $0.id == id }) || original.contains(where: { $0.id == id }) {
            id += 1
        }
        return id
    }

    private func add(_ s: KVMMemorySlot) throws(DebugError) {
        try vm.setUserMemoryRegion(s)
        slots.append(s)
    }

    private func delete(_ s: KVMMemorySlot) throws(DebugError) {
        var gone = s
        gone.size = 0
        gone.flags = 0
        try vm.setUserMemoryRegion(gone)
        slots.removeAll { $0.id == s.id }
    }

    /// Pages under protection now.
    private var protected: Set<UInt64> = []

    /// Puts the 4 KiB page at guest-physical `page` under `protection`. A host VMM's slots
    /// are put back exactly as given as soon as no page is protected any more.
    func set(_ protection: PageProtection, page: UInt64) throws(DebugError) {
        try change(protection, page: page)
        if protection == .none { protected.remove(page) } else { protected.insert(page) }
        if consent != nil && protected.isEmpty { try restore() }
    }

    private func change(_ protection: PageProtection, page: UInt64) throws(DebugError) {
        let size = PageProtection.pageSize
        guard page & (size - 1) == 0, let home = original.first(where: { $0.contains(page) }) else {
            throw .badGuestAddress(address: page, length: size)
        }
        if let ask = consent, !ask(KVMSlotChange(slot: home, page: page, protection: protection)) {
            throw .unsupported(reason: "the host VMM refused to let kvmdbg change its memory slot \(home.id) (guest-physical \(hex(home.guestAddress))-\(hex(home.guestAddress + home.size - 1))) to hold page \(hex(page)) \(protection.name)")
        }
        let flags: UInt32 = protection == .readOnly ? home.flags | KVMMemorySlot.readOnly : home.flags & ~KVMMemorySlot.readOnly
        if let i = slots.firstIndex(where: { $0.contains(page) }) {
            let s = slots[i]
            if s.guestAddress == page && s.size == size {
                // Already its own slot: delete, and re-add unless it becomes a hole.
                if protection != .hole && s.flags == flags { return }
                try delete(s)
                if protection != .hole { try add(s.piece(page, page + size, id: s.id, flags: flags)) }
                return
            }
            // Split: the slot goes, its parts around the page come back, the page on its own.
            try delete(s)
            var added: [KVMMemorySlot] = []
            do throws(DebugError) {
                if page > s.guestAddress {
                    let p = s.piece(s.guestAddress, page, id: s.id)
                    try add(p); added.append(p)
                }
                let end = s.guestAddress + s.size
                if page + size < end {
                    let p = s.piece(page + size, end, id: freeID())
                    try add(p); added.append(p)
                }
                if protection != .hole {
                    let p = s.piece(page, page + size, id: freeID(), flags: flags)
                    try add(p); added.append(p)
                }
            } catch {
                // Nothing half-applied: the slot as it was.
                for p in added { try? delete(p) }
                try? add(s)
                throw error
            }
        } else if protection != .hole {
            // A hole gets its slot back.
            try add(home.piece(page, page + size, id: freeID(), flags: flags))
        }
    }

    /// Deletes every slot kvmdbg made and re-adds the original ones, exactly as they were (a
    /// restore is never refused: the slots go back to what the VMM made).
    func restore() throws(DebugError) {
        protected.removeAll()
        var first: DebugError? = nil
        for s in slots where !original.contains(s) {
            do throws(DebugError) { try delete(s) } catch { if first == nil { first = error } }
        }
        for s in original where !slots.contains(s) {
            do throws(DebugError) { try add(s) } catch { if first == nil { first = error } }
        }
        if let first { throw first }
    }
}
