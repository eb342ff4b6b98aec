import Testing
import KVMDebugCore
@testable import KVMDebugModel

/// The one aligned-block splitter behind both encoders: its outputs over a sweep of
/// addresses and lengths are pinned by a digest taken from the two splitters it replaced
/// (x86 `splitNatural`, arm64 `splitBlocks`), so any change to a single piece shows.
@Suite struct WatchSplitterTests {
    /// FNV-1a over every piece and total of the sweep under `rule`.
    static func sweepDigest(_ rule: WatchSplitter.Rule, limit: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: UInt64) {
            var x = v
            for _ in 0..<8 {
                h = (h ^ (x & 0xFF)) &* 0x100_0000_01b3
                x >>= 8
            }
        }
        var cases: [(UInt64, UInt64)] = []
        for a in UInt64(0)...64 { for len in UInt64(1)...64 { cases.append((a, len)) } }
        // Large ranges: runs of maximal blocks are counted, not listed.
        for (a, len) in [(UInt64(0x1000_0008), UInt64(1) << 33 | 8), (0x8000_0000, 1 << 31), (0, 1 << 40), (0xFFFF_FFFF_FFFF_FFF0, 16)] {
            cases.append((a, len))
        }
        for (a, len) in cases {
            let s = WatchSplitter.split(address: a, length: len, rule: rule, limit: limit)
            mix(a); mix(len); mix(s.total); mix(UInt64(s.pieces.count))
            for p in s.pieces { mix(p.address); mix(p.length) }
        }
        return h
    }

    @Test func x86SweepIsPinned() {
        #expect(Self.sweepDigest(.x86, limit: X86DebugEncoding.slotCount) == 0x1d8e_cf64_c2cd_79ee)
    }

    @Test func arm64SweepIsPinned() {
        #expect(Self.sweepDigest(.arm64, limit: Arm64DebugEncoding.maxSlots) == 0x3773_c78e_a2d3_7772)
    }
}
