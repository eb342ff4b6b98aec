import KVMDebugModel

/// Guest-physical bytes a protection watch covers for one vCPU, and the guest-virtual
/// address of the first of them (watch addresses are virtual; pages are physical).
struct ProtectedRange: Sendable, Hashable {
    var physical: UInt64
    var length: UInt64
    var virtual: UInt64

    func overlaps(_ a: UInt64, _ n: UInt64) -> Bool { a < physical &+ length && physical < a &+ n }
}

/// One point served by memory protection (a watchpoint, or an execute breakpoint by a code-page
/// hole): its ranges per vCPU it is armed on.
struct ProtectedWatch: Sendable {
    var point: DebugPoint
    /// vCPU index -> the point's range translated through that vCPU's page tables.
    var ranges: [Int: [ProtectedRange]]
}

/// A watch that a trapped access matched, with the guest-virtual address to report.
struct ProtectionHit: Sendable, Hashable {
    var point: DebugPoint
    var address: UInt64
    /// The watched bytes the access touched, guest-physical.
    var physical: UInt64 = 0
    var count: UInt64 = 0
}

/// The watches served by protection and the page protection they need: a page under any
/// read or access watch is a hole (loads must exit), one under write watches only is
/// read-only (loads and fetches stay free). Pure bookkeeping; the `Debugger` applies it.
struct ProtectionTable: Sendable {
    private(set) var watches: [ProtectedWatch] = []
    /// The protection each page has in the backend now (absent: `.none`).
    var applied: [UInt64: PageProtection] = [:]
    /// Pages a vCPU is stepping through with the hole filled in (fetch from a watched page),
    /// with how many vCPUs are doing so.
    var filled: [UInt64: Int] = [:]
    /// Pages given back their ordinary slot while a vCPU steps one access KVM could not
    /// describe (arm64 KVM_EXIT_ARM_NISV), with how many vCPUs are doing so.
    var lifted: [UInt64: Int] = [:]

    var isEmpty: Bool { watches.isEmpty }

    func serves(_ p: DebugPoint) -> Bool { watches.contains { $0.point == p } }

    /// Adds `ranges` for the vCPUs given (a point already served gains those vCPUs).
    mutating func add(_ p: DebugPoint, ranges: [Int: [ProtectedRange]]) {
        if let i = watches.firstIndex(where: { $0.point == p }) {
            for (v, r) in ranges { watches[i].ranges[v] = r }
        } else {
            watches.append(ProtectedWatch(point: p, ranges: ranges))
        }
    }

    /// Drops `p` on `vcpus` (nil: everywhere); the watch goes when no vCPU is left.
    mutating func remove(_ p: DebugPoint, vcpus: [Int]?) {
        guard let i = watches.firstIndex(where: { $0.point == p }) else { return }
        if let vs = vcpus { for v in vs { watches[i].ranges[v] = nil } } else { watches[i].ranges = [:] }
        if watches[i].ranges.isEmpty { watches.remove(at: i) }
    }

    mutating func removeAll() { watches.removeAll() }

    /// The protection every page needs for the watches as they are (pages being stepped
    /// through stay read-only until the step is done).
    func wanted() -> [UInt64: PageProtection] {
        var out: [UInt64: PageProtection] = [:]
        for w in watches {
            // An execute breakpoint needs the fetch to exit: a hole.
            var need = PageProtection.hole
            if case .watch(_, _, .write) = w.point { need = .readOnly }
            var seen = Set<UInt64>()
            for rs in w.ranges.values {
                for r in rs {
                    var page = r.physical & ~(PageProtection.pageSize - 1)
                    let end = r.physical &+ r.length
                    while page < end {
                        if seen.insert(page).inserted, out[page] != .hole { out[page] = need }
                        page &+= PageProtection.pageSize
                    }
                }
            }
        }
        for (page, n) in filled where n > 0 && out[page] == .hole { out[page] = .readOnly }
        for (page, n) in lifted where n > 0 { out[page] = nil }
        return out
    }

    /// The execute breakpoint `vcpu` fetched from guest-physical `address` at its pc `virtual`, if any.
    func breakpoint(vcpu: Int, physical address: UInt64, virtual: UInt64) -> DebugPoint? {
        for w in watches {
            guard case .hardware(let va) = w.point, va == virtual, let rs = w.ranges[vcpu],
                  rs.contains(where: { $0.physical == address }) else { continue }
            return w.point
        }
        return nil
    }

    /// The watches `vcpu`'s access of `length` bytes at guest-physical `address` matches:
    /// byte-exact, by kind (a store matches write and access watches, a load read and access).
    func hits(vcpu: Int, address: UInt64, length: UInt64, isWrite: Bool) -> [ProtectionHit] {
        var out: [ProtectionHit] = []
        for w in watches {
            guard case .watch(let start, _, let kind) = w.point, let rs = w.ranges[vcpu] else { continue }
            if isWrite ? kind == .read : kind == .write { continue }
            for r in rs where r.overlaps(address, length) {
                // The first watched byte the access touched, as a guest-virtual address.
                let first = max(address, r.physical)
                let end = min(address &+ length, r.physical &+ r.length)
                out.append(ProtectionHit(point: w.point, address: max(start, r.virtual &+ (first &- r.physical)),
                                         physical: first, count: end &- first))
                break
            }
        }
        return out
    }
}
