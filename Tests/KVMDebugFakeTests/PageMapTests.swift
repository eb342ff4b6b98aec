import Testing
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// Whole-table scans (`X86PageMap`, `Arm64PageMap`) over the tables `PageWalkTests` builds, each
/// leaf checked against the one-address walker it must agree with (`X86PageWalk`, `Arm64PageWalk`).
@Suite struct PageMapTests {
    let fixtures = PageWalkTests()

    /// Every leaf of `s`'s tables, and the scan's summary.
    func leaves(_ s: DebugSession<FakeBackend>, budget: PageTableBudget = PageTableBudget()) throws -> ([PageMapping], PageTableScan) {
        var out: [PageMapping] = []
        let scan = try s.scanPageTables(vcpu: 0, budget: budget) { out.append($0); return true }
        return (out, scan)
    }

    /// The walker translates both ends of every leaf to the leaf's physical range, with the same rights.
    func expectWalkerAgrees(_ s: DebugSession<FakeBackend>, _ ms: [PageMapping]) throws {
        for m in ms {
            let first = try s.walk(m.virtualAddress, vcpu: 0)
            let last = try s.walk(m.virtualAddress &+ m.size &- 1, vcpu: 0)
            #expect(first.physicalAddress == m.physicalAddress, "\(hex(m.virtualAddress))")
            #expect(last.physicalAddress == m.physicalAddress &+ m.size &- 1, "\(hex(m.virtualAddress)) end")
            #expect(first.pageSize == m.size && first.writable == m.writable && first.user == m.user, "\(hex(m.virtualAddress)) rights")
        }
        // Ascending and disjoint.
        for (a, b) in zip(ms, ms.dropFirst()) { #expect(a.virtualAddress &+ a.size <= b.virtualAddress) }
    }

    @Test func fourLevelLeavesAreEveryPageAndBlockInAddressOrder() throws {
        let s = try fixtures.fourLevel()
        let (ms, scan) = try leaves(s)
        #expect(scan.scheme == "x86_64 4-level paging" && scan.paging && scan.complete)
        #expect(ms.map(\.virtualAddress) == [0x40_0000_0000, 0xFFFF_FFFF_8000_0000, 0xFFFF_FFFF_8000_1000, 0xFFFF_FFFF_8020_0000])
        #expect(ms.map(\.size) == [1 << 30, 1 << 12, 1 << 12, 1 << 21])
        #expect(ms.map(\.physicalAddress) == [0, 0x5000, 0x9000, 0])
        #expect(ms.map(\.user) == [true, false, false, false] && ms.map(\.writable) == [true, true, false, true])
        try expectWalkerAgrees(s, ms)
    }

    @Test func fiveLevelPAEAndThirtyTwoBitScansAgreeWithTheWalker() throws {
        let five = try fixtures.x86(cr3: 0x110000, cr4: 0x20 | (1 << 12))
        try fixtures.put(five.backend, 0x110000 + 240 * 8, 0x111000 | 3)
        try fixtures.put(five.backend, 0x111000, 0x112000 | 3)
        try fixtures.put(five.backend, 0x112000, 0x113000 | 3)
        try fixtures.put(five.backend, 0x113000, 0x114000 | 3)
        try fixtures.put(five.backend, 0x114000 + 8, 0x7000 | 3)
        try fixtures.put(five.backend, 0x110000 + 511 * 8, 0x115000 | 3)   // the top: sign-extended from bit 56
        try fixtures.put(five.backend, 0x115000 + 511 * 8, 0x116000 | 3)
        try fixtures.put(five.backend, 0x116000 + 511 * 8, 0x0 | 0x83)     // 1 GiB page
        let (m5, s5) = try leaves(five)
        #expect(s5.scheme == "x86_64 5-level paging")
        #expect(m5.map(\.virtualAddress) == [0x00F0_0000_0000_1000, 0xFFFF_FFFF_C000_0000])
        try expectWalkerAgrees(five, m5)

        let pae = try fixtures.x86(cr3: 0x120000, cr0: 0x8000_0011, cr4: 0x20, efer: 0)
        try fixtures.put(pae.backend, 0x120000 + 3 * 8, 0x121000 | 1)
        try fixtures.put(pae.backend, 0x121000, 0x122000 | 3)
        try fixtures.put(pae.backend, 0x122000 + 5 * 8, 0x7000 | 3)
        try fixtures.put(pae.backend, 0x121000 + 8, 0x0 | 0x81)            // 2 MiB, read-only
        let (mp, sp) = try leaves(pae)
        #expect(sp.scheme == "x86 PAE paging (32-bit)")
        #expect(mp.map(\.virtualAddress) == [0xC000_5000, 0xC020_0000] && mp.map(\.writable) == [true, false])
        try expectWalkerAgrees(pae, mp)

        let flat = try fixtures.x86(cr3: 0x130000, cr0: 0x8000_0011, cr4: 0x10, efer: 0)
        try fixtures.put(flat.backend, 0x130000 + 768 * 4, 0x131000 | 7, size: 4)
        try fixtures.put(flat.backend, 0x131000 + 2 * 4, 0x8000 | 3, size: 4)
        try fixtures.put(flat.backend, 0x130000 + 769 * 4, 0x0040_0083, size: 4)
        let (mf, sf) = try leaves(flat)
        #expect(sf.scheme == "x86 32-bit paging")
        #expect(mf.map(\.virtualAddress) == [0xC000_2000, 0xC040_0000] && mf.map(\.size) == [1 << 12, 1 << 22])
        #expect(mf.map(\.user) == [false, false])  // the PTE has U/S but the PDE does not
        try expectWalkerAgrees(flat, mf)
    }

    @Test func arm64BothRangesAndEveryGranuleAgreeWithTheWalker() throws {
        let s = try fixtures.arm64(tcr: PageWalkTests.tcr48and39)
        let af: UInt64 = 1 << 10
        try fixtures.put(s.backend, 0x20000 + 0 * 8, 0x21000 | 3)
        try fixtures.put(s.backend, 0x21000 + 1 * 8, 0x22000 | 3)
        try fixtures.put(s.backend, 0x22000 + 3 * 8, 0x18000 | af | 3)
        try fixtures.put(s.backend, 0x21000 + 2 * 8, 0x0 | af | (1 << 7) | 1)
        try fixtures.put(s.backend, 0x20000 + 1 * 8, 0x0 | af | (1 << 6) | 1)
        try fixtures.put(s.backend, 0x23000 + 0 * 8, 0x24000 | 3)          // TTBR0 (48-bit, level 0)
        try fixtures.put(s.backend, 0x24000 + 0 * 8, 0x0 | af | 1)          // L1[0]: 1 GiB at 0
        let (ms, scan) = try leaves(s)
        #expect(scan.scheme == "arm64 stage 1, TTBR0_EL1 48-bit VA, 4 KiB granule; TTBR1_EL1 39-bit VA, 4 KiB granule")
        #expect(ms.map(\.virtualAddress) == [0, 0xFFFF_FF80_0020_3000, 0xFFFF_FF80_0040_0000, 0xFFFF_FF80_4000_0000])
        try expectWalkerAgrees(s, ms)

        let s64 = try fixtures.arm64(tcr: 22 | (1 << 14) | (1 << 23), ttbr0: 0x20000)  // EPD1: TTBR1 off
        try fixtures.put(s64.backend, 0x20000 + 1 * 8, 0x20000 | 3)
        try fixtures.put(s64.backend, 0x20000 + 0 * 8, 0x10000 | af | 3)
        let (m64, _) = try leaves(s64)
        // L2[1] points back at the L2 table, read as an L3 table: its [0] is a 64 KiB page onto 0x10000.
        #expect(m64.contains { $0.virtualAddress == 0x2000_0000 && $0.size == 1 << 16 && $0.physicalAddress == 0x10000 })
        try expectWalkerAgrees(s64, m64)
    }

    @Test func pagingOffVisitsNothingAndABudgetStopsARunawayScan() throws {
        let off = try fixtures.x86(cr3: 0x100000, cr0: 0x11)
        let (none, scan) = try leaves(off)
        #expect(none.isEmpty && !scan.paging && scan.scheme.hasPrefix("paging off"))
        // Every PML4 entry points back at the PML4: 512^3 tables if nothing bounded the scan.
        let loop = try fixtures.x86(cr3: 0x100000)
        for i in 0..<512 { try fixtures.put(loop.backend, 0x100000 + UInt64(i) * 8, 0x100000 | 3) }
        let (ms, cut) = try leaves(loop, budget: PageTableBudget(maxTables: 100))
        #expect(!cut.complete && ms.count <= 100 * 512)
        // A visitor that says stop stops it.
        var seen = 0
        let early = try loop.scanPageTables(vcpu: 0) { _ in seen += 1; return seen < 3 }
        #expect(seen == 3 && !early.complete)
    }
}
