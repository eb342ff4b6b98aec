import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMTestSupport

/// `paged-counter` on this host's KVM: it switches to its own page tables and runs linked
/// at 0xffffffff80000000; kvmdbg's walker (`X86PageWalk`) is checked against the kernel's
/// (`KVM_TRANSLATE`) over many addresses, and memory and breakpoints work by virtual address.
@Suite(.serialized) struct PagedGuestKVMTests {
    static let hi = BuiltinGuests.pagedBase

    /// A session stopped at `inner` (after the guest loaded its CR3), by a hardware breakpoint.
    static func stoppedAtInner() throws -> DebugSession<KVMBackend> {
        try stoppedAtInner(KVMBackend(guest: BuiltinGuests.pagedCounterX86()))
    }

    /// The same on any backend running `pagedCounterX86` (InsertAllTests uses the fake).
    static func stoppedAtInner<B: DebugBackend>(_ backend: B) throws -> DebugSession<B> {
        let s = DebugSession(backend: backend)
        let inner = try #require(BuiltinGuests.pagedCounterX86().symbol("inner")).address
        try s.insert(.hardware(address: inner))
        let round = try s.resume([.continue], deadline: monotonicNanoseconds() + 10_000_000_000)
        #expect(round.stops.first?.pc == inner, "\(round.events)")
        return s
    }

    /// Nil when KVM_TRANSLATE answers here, else why not (the ioctl and its errno).
    static let translateUnavailable: String? = {
        guard KVMHost.usable else { return KVMHost.skipReason }
        do throws(DebugError) {
            let b = try KVMBackend(guest: BuiltinGuests.pagedCounterX86())
            _ = try b.kernelTranslate(0x1000, vcpu: 0)
            return nil
        } catch {
            return "KVM_TRANSLATE is not usable on this host's KVM: \(error.message)"
        }
    }()

    /// Addresses in and around every mapping of the guest, and some that map nothing.
    static var probes: [UInt64] {
        var a: [UInt64] = []
        for page in 0..<UInt64(6) { for off: UInt64 in [0, 0x8, 0x7FF, 0xFF8, 0xFFF] { a.append(hi + page * 0x1000 + off) } }
        for k in 0..<UInt64(64) { a.append(0xFFFF_FFFF_C000_0000 + k * 0x8_003) }       // the 2 MiB page
        for k in 0..<UInt64(64) { a.append(k * 0x7_FF9) }                               // the low identity page
        for k in 1..<UInt64(9) { a.append(0xFFFF_FFFF_C000_0000 + k * 0x20_0000 + 0x10) } // past it, unmapped
        a += [0x20_0000, 0x4000_0000, 0xFFFF_FFFF_8020_0000, 0xFFFF_FFFF_FFFF_F000,
              0x0000_8000_0000_0000, 0xFFFF_7FFF_FFFF_FFFF, 0x7FFF_FFFF_F000]
        return a
    }

    @Test(.enabled(if: translateUnavailable == nil, Comment(rawValue: translateUnavailable ?? "")))
    func theWalkerAgreesWithKVMTranslate() throws {
        let s = try Self.stoppedAtInner()
        var compared = 0, mapped = 0
        for va in Self.probes {
            let walk = try s.walk(va, vcpu: 0)
            let kernel = try s.backend.kernelTranslate(va, vcpu: 0)
            #expect(kernel.valid == (walk.physicalAddress != nil), "\(hex(va)): kernel \(kernel), walker \(walk.lines)")
            if kernel.valid, let pa = walk.physicalAddress {
                #expect(pa == kernel.physicalAddress, "\(hex(va)): walker \(hex(pa)), KVM_TRANSLATE \(hex(kernel.physicalAddress))")
                // KVM_TRANSLATE's writeable/usermode are constants on x86 (x86.c sets 1 and 0):
                // the rights are checked against the guest's own tables below instead.
                mapped += 1
            }
            compared += 1
        }
        #expect(compared == Self.probes.count && mapped > 100, "\(mapped) mapped of \(compared)")
        let code = try s.walk(Self.hi, vcpu: 0), data = try s.walk(Self.hi + 0x1000, vcpu: 0)
        let stack = try s.walk(Self.hi + 0x2000, vcpu: 0)
        #expect(!code.writable && !code.user && data.writable && !data.user && stack.writable && stack.user)
    }

    @Test(KVMHost.required)
    func memoryAndSoftwareBreakpointsByVirtualAddress() throws {
        let s = try Self.stoppedAtInner()
        #expect(littleEndianValue(try s.readMemory(Self.hi + 0x1008, count: 8, vcpu: 0)) == BuiltinGuests.dataPattern)
        #expect(try s.translate(Self.hi + 0x1008, vcpu: 0) == 0x3008)
        let thrown1 = thrownError { () throws(DebugError) in try s.readMemory(Self.hi + 0x3000, count: 1, vcpu: 0) }
        #expect(thrown1
                == .unmapped(address: Self.hi + 0x3000, reason: "PTE not present"))
        // The stack page ends where the unmapped one starts: a read across stops there.
        let thrown2 = thrownError { () throws(DebugError) in try s.readMemory(Self.hi + 0x2FFC, count: 8, vcpu: 0) }
        #expect(thrown2 != nil)
        let load = Self.hi + 0x54
        try s.insert(.software(address: load))
        #expect(try s.backend.readMemory(0x1054, count: 1) == [0xCC], "patched at the physical address")
        #expect(try s.readMemory(load, count: 1, vcpu: 0) == [0x48])
        try s.remove(.software(address: load))
        #expect(try s.backend.readMemory(0x1054, count: 1) == [0x48])
        let w = try s.walk(Self.hi + 0x2FF0, vcpu: 0)
        #expect(w.levels.map(\.name) == ["PML4E", "PDPTE", "PDE", "PTE"] && w.physicalAddress == 0x5FF0 && w.user)
    }
}
