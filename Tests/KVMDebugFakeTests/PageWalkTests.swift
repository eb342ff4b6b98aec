import Testing
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// Page walks through a session on the fake backend, over tables each test writes into
/// guest memory: x86 4-level (4 KiB / 2 MiB / 1 GiB), 5-level, PAE and 32-bit paging
/// (Intel SDM vol. 3 ch. 4); arm64 stage 1 through TTBR0/TTBR1, 39- and 48-bit VAs,
/// 4/16/64 KiB granules, level 1/2 blocks (Arm ARM D8).
@Suite struct PageWalkTests {
    // MARK: x86

    /// The long-mode counter on the fake with CR3 pointed at `cr3` (and CR4 given).
    func x86(cr3: UInt64, cr0: UInt64 = 0x8005_0033, cr4: UInt64 = 0x20, efer: UInt64 = 0x500) throws -> DebugSession<FakeBackend> {
        let s = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.counterX86(.long)))
        guard case .x86_64(var r) = try s.registers(vcpu: 0) else { throw DebugError.unsupported(reason: "x86") }
        r.cr0 = cr0; r.cr3 = cr3; r.cr4 = cr4; r.efer = efer
        try s.setRegisters(.x86_64(r), vcpu: 0)
        return s
    }

    func put<B: DebugBackend>(_ b: B, _ pa: UInt64, _ v: UInt64, size: Int = 8) throws {
        try b.writeMemory(pa, littleEndianBytes(v, count: size))
    }

    /// PML4 0x100000 -> PDPT 0x101000 -> PD 0x102000 -> PT 0x103000 for the top 2 GiB;
    /// PDPT[256] of the low half is a 1 GiB page onto 0.
    func fourLevel() throws -> DebugSession<FakeBackend> {
        let s = try x86(cr3: 0x100000)
        let b = s.backend
        try put(b, 0x100000 + 511 * 8, 0x101000 | 3)
        try put(b, 0x101000 + 510 * 8, 0x102000 | 3)
        try put(b, 0x102000 + 0 * 8, 0x103000 | 3)
        try put(b, 0x102000 + 1 * 8, 0x0000 | 0x83)     // 0xffffffff80200000: 2 MiB page onto 0
        try put(b, 0x103000 + 0 * 8, 0x5000 | 3)        // 0xffffffff80000000 -> 0x5000
        try put(b, 0x103000 + 1 * 8, 0x9000 | 1)        // 0xffffffff80001000 -> 0x9000, read-only
        try put(b, 0x100000 + 0 * 8, 0x104000 | 7)
        try put(b, 0x104000 + 256 * 8, 0x0000 | 0x87)   // 0x4000000000: 1 GiB page onto 0, user
        return s
    }

    @Test func fourLevelMapsFourKiBTwoMiBAndOneGiBPagesAndNamesEveryLevel() throws {
        let s = try fourLevel()
        let w = try s.walk(0xFFFF_FFFF_8000_0123, vcpu: 0)
        #expect(w.levels.map(\.name) == ["PML4E", "PDPTE", "PDE", "PTE"])
        #expect(w.levels.map(\.index) == [511, 510, 0, 0])
        #expect(w.levels.map(\.entryAddress) == [0x100FF8, 0x101FF0, 0x102000, 0x103000])
        #expect(w.physicalAddress == 0x5123 && w.pageSize == 0x1000)
        let ro = try s.walk(0xFFFF_FFFF_8000_1008, vcpu: 0)
        #expect(ro.physicalAddress == 0x9008 && !ro.writable && !ro.user)
        let big = try s.walk(0xFFFF_FFFF_8021_0008, vcpu: 0)
        #expect(big.levels.map(\.name) == ["PML4E", "PDPTE", "PDE"] && big.pageSize == 1 << 21)
        #expect(big.physicalAddress == 0x10008)
        let giant = try s.walk(0x40_0000_2008, vcpu: 0)
        #expect(giant.levels.count == 2 && giant.pageSize == 1 << 30 && giant.physicalAddress == 0x2008 && giant.user)
        // 0x2008 is the counter guest's data word, read through the 1 GiB page.
        #expect(littleEndianValue(try s.readMemory(0x40_0000_2008, count: 8, vcpu: 0)) == BuiltinGuests.dataPattern)
        #expect(w.lines.last == "  -> physical 0x5123 (4 KiB page)")
    }

    @Test func aReadOrWriteAcrossAPageBoundaryTranslatesEachPage() throws {
        let s = try fourLevel()
        try s.backend.writeMemory(0x5FFC, [1, 2, 3, 4])
        try s.backend.writeMemory(0x9000, [5, 6, 7, 8])
        #expect(try s.readMemory(0xFFFF_FFFF_8000_0FFC, count: 8, vcpu: 0) == [1, 2, 3, 4, 5, 6, 7, 8])
        try s.writeMemory(0xFFFF_FFFF_8000_0FFE, [0xA, 0xB, 0xC, 0xD], vcpu: 0)
        #expect(try s.backend.readMemory(0x5FFE, count: 2) == [0xA, 0xB])
        #expect(try s.backend.readMemory(0x9000, count: 2) == [0xC, 0xD])
    }

    @Test func anUnmappedPageIsAnErrorAndAWriteIntoItChangesNothing() throws {
        let s = try fourLevel()
        let e = thrownError { () throws(DebugError) in try s.readMemory(0xFFFF_FFFF_8000_2000, count: 4, vcpu: 0) }
        #expect(e == .unmapped(address: 0xFFFF_FFFF_8000_2000, reason: "PTE not present"))
        // The second page is unmapped: the first must not be written either.
        try s.backend.writeMemory(0x9FFE, [0, 0])
        try put(s.backend, 0x103000 + 8, 0)
        let w = thrownError { () throws(DebugError) in try s.writeMemory(0xFFFF_FFFF_8000_0FFE, [1, 2, 3, 4], vcpu: 0) }
        #expect(w == .unmapped(address: 0xFFFF_FFFF_8000_1000, reason: "PTE not present"))
        #expect(try s.backend.readMemory(0x5FFE, count: 2) == [0, 0])
        let nc = try s.walk(0x0000_8000_0000_0000, vcpu: 0)
        #expect(nc.physicalAddress == nil && nc.fault?.hasPrefix("non-canonical") == true && nc.levels.isEmpty)
    }

    @Test func fiveLevelPagingWalksFromPML5WhenCR4LA57IsSet() throws {
        let va: UInt64 = 0x00F0_0000_0000_1234
        let four = try x86(cr3: 0x100000)
        #expect(try four.walk(va, vcpu: 0).fault?.hasPrefix("non-canonical") == true)
        let s = try x86(cr3: 0x110000, cr4: 0x20 | (1 << 12))
        let b = s.backend
        try put(b, 0x110000 + 240 * 8, 0x111000 | 3)
        try put(b, 0x111000, 0x112000 | 3)
        try put(b, 0x112000, 0x113000 | 3)
        try put(b, 0x113000, 0x114000 | 3)
        try put(b, 0x114000 + 8, 0x7000 | 3)
        let w = try s.walk(va, vcpu: 0)
        #expect(w.scheme == "x86_64 5-level paging")
        #expect(w.levels.map(\.name) == ["PML5E", "PML4E", "PDPTE", "PDE", "PTE"])
        #expect(w.levels.first?.index == 240 && w.physicalAddress == 0x7234)
    }

    @Test func paeAndThirtyTwoBitPagingInProtectedMode() throws {
        let pae = try x86(cr3: 0x120000, cr0: 0x8000_0011, cr4: 0x20, efer: 0)
        try put(pae.backend, 0x120000 + 3 * 8, 0x121000 | 1)
        try put(pae.backend, 0x121000, 0x122000 | 3)
        try put(pae.backend, 0x122000 + 5 * 8, 0x7000 | 3)
        try put(pae.backend, 0x121000 + 8, 0x0 | 0x83)
        let w = try pae.walk(0xC000_5123, vcpu: 0)
        #expect(w.levels.map(\.name) == ["PDPTE", "PDE", "PTE"] && w.physicalAddress == 0x7123)
        #expect(try pae.walk(0xC020_0010, vcpu: 0).physicalAddress == 0x10)

        let flat = try x86(cr3: 0x130000, cr0: 0x8000_0011, cr4: 0x10, efer: 0)
        try put(flat.backend, 0x130000 + 768 * 4, 0x131000 | 3, size: 4)
        try put(flat.backend, 0x131000 + 2 * 4, 0x8000 | 3, size: 4)
        try put(flat.backend, 0x130000 + 769 * 4, 0x0040_0083, size: 4)
        let f = try flat.walk(0xC000_2ABC, vcpu: 0)
        #expect(f.levels.map(\.name) == ["PDE", "PTE"] && f.physicalAddress == 0x8ABC)
        let four = try flat.walk(0xC040_0010, vcpu: 0)
        #expect(four.pageSize == 1 << 22 && four.physicalAddress == 0x40_0010)
    }

    @Test func pagingOffAndPhysicalModeAreTheIdentity() throws {
        let off = try x86(cr3: 0x100000, cr0: 0x11)
        let w = try off.walk(0x2008, vcpu: 0)
        #expect(w.levels.isEmpty && w.physicalAddress == 0x2008)
        let s = try fourLevel()
        #expect(try s.translate(0xFFFF_FFFF_8000_0000, vcpu: 0) == 0x5000)
        s.physicalMode = true
        #expect(try s.translate(0x5000, vcpu: 0) == 0x5000)
        #expect(littleEndianValue(try s.readMemory(0x2008, count: 8, vcpu: 0)) == BuiltinGuests.dataPattern)
    }

    @Test func theBootIdentityMapIsWhatTheFakeWalksToo() throws {
        let s = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.counterX86(.long)))
        let w = try s.walk(0x2008, vcpu: 0)
        #expect(w.levels.map(\.name) == ["PML4E", "PDPTE", "PDE"] && w.physicalAddress == 0x2008 && w.pageSize == 1 << 21)
    }

    @Test func aSoftwareBreakpointAtAVirtualAddressIsPatchedAtItsPhysicalAddress() throws {
        let s = try fourLevel()
        try s.backend.writeMemory(0x5010, [0x90])
        try s.insert(.software(address: 0xFFFF_FFFF_8000_0010))
        #expect(try s.backend.readMemory(0x5010, count: 1) == [0xCC])
        #expect(try s.readMemory(0xFFFF_FFFF_8000_0010, count: 1, vcpu: 0) == [0x90], "hidden from reads")
        try s.remove(.software(address: 0xFFFF_FFFF_8000_0010))
        #expect(try s.backend.readMemory(0x5010, count: 1) == [0x90])
        let thrown1 = thrownError { () throws(DebugError) in try s.insert(.software(address: 0xFFFF_FFFF_8000_2000)) }
        #expect(thrown1
                == .unmapped(address: 0xFFFF_FFFF_8000_2000, reason: "PTE not present"))
        #expect(s.tables.global.isEmpty, "nothing half-applied")
    }

    @Test func twoVCPUsMappingOneVirtualAddressToOnePagePatchItOnce() throws {
        let s = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.counterX86(.long), vcpus: 2))
        try s.insert(.software(address: 0x100E))
        #expect(try s.backend.readMemory(0x100E, count: 1) == [0xCC])
        #expect(try s.readMemory(0x100E, count: 1, vcpu: 1) == [0x48])
        try s.remove(.software(address: 0x100E))
        #expect(try s.backend.readMemory(0x100E, count: 1) == [0x48])
    }

    // MARK: arm64

    /// The arm64 counter on the fake (RAM 0x10000...0x30000) with the MMU on:
    /// T0SZ/T1SZ and granules as given, TTBR0 0x23000, TTBR1 0x20000.
    func arm64(tcr: UInt64, ttbr0: UInt64 = 0x23000, ttbr1: UInt64 = 0x20000) throws -> DebugSession<FakeBackend> {
        let s = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.counterArm64()))
        var r = try s.backend.arm64Registers(vcpu: 0)
        r.sctlrEL1 |= 1
        r.tcrEL1 = tcr
        r.ttbr0EL1 = ttbr0 | (0x42 << 48)  // an ASID, which the walk must ignore
        r.ttbr1EL1 = ttbr1
        try s.setRegisters(.arm64(r), vcpu: 0)
        return s
    }

    /// T0SZ=16 (48-bit, 4 KiB), T1SZ=25 (39-bit, TG1=0b10 4 KiB).
    static let tcr48and39: UInt64 = 16 | (25 << 16) | (2 << 30)

    @Test func ttbr1ThirtyNineBitWalkStartsAtLevelOneWithPagesAndBlocks() throws {
        let s = try arm64(tcr: Self.tcr48and39)
        let b = s.backend
        let af: UInt64 = 1 << 10
        try put(b, 0x20000 + 0 * 8, 0x21000 | 3)                // L1[0] -> L2
        try put(b, 0x21000 + 1 * 8, 0x22000 | 3)                // L2[1] -> L3
        try put(b, 0x22000 + 3 * 8, 0x18000 | af | 3)           // L3[3]: page -> 0x18000
        try put(b, 0x21000 + 2 * 8, 0x0 | af | (1 << 7) | 1)    // L2[2]: 2 MiB block onto 0, read-only
        try put(b, 0x20000 + 1 * 8, 0x0 | af | (1 << 6) | 1)    // L1[1]: 1 GiB block onto 0, EL0
        let w = try s.walk(0xFFFF_FF80_0020_3456, vcpu: 0)
        #expect(w.scheme == "arm64 stage 1, TTBR1_EL1, 39-bit VA, 4 KiB granule")
        #expect(w.levels.map(\.name) == ["L1", "L2", "L3"] && w.levels.map(\.index) == [0, 1, 3])
        #expect(w.physicalAddress == 0x18456 && w.pageSize == 0x1000)
        let block = try s.walk(0xFFFF_FF80_0041_0123, vcpu: 0)
        #expect(block.levels.count == 2 && block.pageSize == 1 << 21 && block.physicalAddress == 0x10123 && !block.writable)
        let giant = try s.walk(0xFFFF_FF80_4001_1008, vcpu: 0)
        #expect(giant.levels.count == 1 && giant.pageSize == 1 << 30 && giant.user)
        #expect(littleEndianValue(try s.readMemory(0xFFFF_FF80_4001_1008, count: 8, vcpu: 0)) == BuiltinGuests.dataPattern)
        let outside = try s.walk(0xFFFF_FF00_0000_0000, vcpu: 0)
        #expect(outside.physicalAddress == nil && outside.fault?.contains("outside the TTBR1_EL1 range") == true)
        let thrown2 = thrownError { () throws(DebugError) in try s.readMemory(0xFFFF_FF80_0020_4000, count: 4, vcpu: 0) }
        #expect(thrown2
                == .unmapped(address: 0xFFFF_FF80_0020_4000, reason: "L3 descriptor invalid (translation fault at level 3)"))
    }

    @Test func ttbr0FortyEightBitWalkStartsAtLevelZero() throws {
        let s = try arm64(tcr: Self.tcr48and39)
        let b = s.backend
        let va: UInt64 = 0x0000_1234_5678_9ABC
        let i0 = (va >> 39) & 0x1FF, i1 = (va >> 30) & 0x1FF, i2 = (va >> 21) & 0x1FF, i3 = (va >> 12) & 0x1FF
        try put(b, 0x23000 + i0 * 8, 0x24000 | 3)
        try put(b, 0x24000 + i1 * 8, 0x25000 | 3)
        try put(b, 0x25000 + i2 * 8, 0x26000 | 3)
        try put(b, 0x26000 + i3 * 8, 0x19000 | (1 << 10) | 3)
        let w = try s.walk(va, vcpu: 0)
        #expect(w.levels.map(\.name) == ["L0", "L1", "L2", "L3"] && w.physicalAddress == 0x19ABC)
        #expect(try s.walk(0x0001_0000_0000_0000, vcpu: 0).fault?.contains("outside the TTBR0_EL1 range") == true)
        // A 39-bit TTBR0 range starts at level 1.
        let s39 = try arm64(tcr: 25 | (25 << 16) | (2 << 30), ttbr0: 0x24000)
        try put(s39.backend, 0x24000 + 1 * 8, 0x0 | (1 << 10) | 1)
        let w39 = try s39.walk(0x4001_2345, vcpu: 0)
        #expect(w39.levels.map(\.name) == ["L1"] && w39.physicalAddress == 0x12345)
    }

    @Test func sixtyFourAndSixteenKiBGranules() throws {
        // TG0=0b01 (64 KiB), T0SZ=22 (42-bit): two levels, L2 then L3.
        let s64 = try arm64(tcr: 22 | (1 << 14), ttbr0: 0x20000)
        try put(s64.backend, 0x20000 + 1 * 8, 0x20000 | 3)                    // L2[1] -> the same table as L3
        try put(s64.backend, 0x20000 + 0 * 8, 0x10000 | (1 << 10) | 3)        // L3[0]: 64 KiB page -> 0x10000
        let w = try s64.walk(0x2000_5123, vcpu: 0)
        #expect(w.scheme.hasSuffix("64 KiB granule") && w.levels.map(\.name) == ["L2", "L3"])
        #expect(w.physicalAddress == 0x15123 && w.pageSize == 1 << 16)
        // TG0=0b10 (16 KiB), T0SZ=28 (36-bit): L2 (bits 35:25) then L3 (bits 24:14).
        let s16 = try arm64(tcr: 28 | (2 << 14), ttbr0: 0x24000)
        try put(s16.backend, 0x24000 + 1 * 8, 0x28000 | 3)
        try put(s16.backend, 0x28000 + 2 * 8, 0x1C000 | (1 << 10) | 3)
        let w16 = try s16.walk(0x0200_8000 + 0x123, vcpu: 0)
        #expect(w16.levels.map(\.index) == [1, 2] && w16.physicalAddress == 0x1C123 && w16.pageSize == 1 << 14)
    }

    @Test func mmuOffIsTheIdentity() throws {
        let s = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.counterArm64()))
        let w = try s.walk(0x11008, vcpu: 0)
        #expect(w.levels.isEmpty && w.physicalAddress == 0x11008 && w.scheme.hasPrefix("MMU off"))
    }
}
