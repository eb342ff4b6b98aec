/// DBGBCR/DBGBVR and DBGWCR/DBGWVR judged by the Arm ARM's rules for a
/// Non-secure EL1 access, not by kvmdbg's encoder.
///
/// Breakpoint (DBGBCR): E[0], PMC[2:1], BAS[8:5], HMC[13], SSC[15:14], LBN[19:16], BT[23:20].
/// Watchpoint (DBGWCR): E[0], PAC[2:1], LSC[4:3], BAS[12:5], HMC[13], SSC[15:14],
/// LBN[19:16], WT[20], MASK[28:24]. Only slots below the implemented count are
/// loaded (KVM's hyp code writes indices 0..<BRPs / 0..<WRPs only).
struct FakeArm64DebugUnit: Sendable, Hashable {
    var bcr: [UInt64]
    var bvr: [UInt64]
    var wcr: [UInt64]
    var wvr: [UInt64]
    var breakpoints: Int
    var watchpoints: Int

    /// Nothing armed (the guest's own registers after reset).
    static let reset = FakeArm64DebugUnit(bcr: [], bvr: [], wcr: [], wvr: [], breakpoints: 0, watchpoints: 0)

    /// VA bits [52:2] an address comparator uses: [63:53] are RESS, [1:0] RES0.
    static let breakpointAddressMask: UInt64 = 0x001F_FFFF_FFFF_FFFC
    /// VA bits [52:0] for watchpoint ranges.
    static let addressMask: UInt64 = 0x001F_FFFF_FFFF_FFFF

    private static func field(_ v: UInt64, _ shift: UInt64, _ width: UInt64) -> UInt64 {
        (v >> shift) & ((1 << width) - 1)
    }
    private static func at(_ a: [UInt64], _ i: Int) -> UInt64 { i < a.count ? a[i] : 0 }

    /// True when a comparator with this privilege field and SSC matches Non-secure EL1:
    /// PMC/PAC bit 0 enables EL1 (0b10 = EL0 only never fires for EL1 code, measured);
    /// SSC = 0b10 selects Secure state only.
    private static func matchesNonSecureEL1(_ control: UInt64) -> Bool {
        field(control, 1, 1) == 1 && field(control, 14, 2) != 0b10
    }

    /// The lowest breakpoint slot that fires on the instruction at `pc`, if any.
    ///
    /// Needs E = 1, an EL1-enabling PMC, BT = 0b0000 (unlinked address match) and
    /// BAS = 0b1111 (the only BAS value defined for A64 instructions; others are
    /// treated as not matching).
    func breakpointHit(pc: UInt64) -> Int? {
        for i in 0..<breakpoints {
            let c = Self.at(bcr, i)
            guard c & 1 == 1, Self.matchesNonSecureEL1(c),
                  Self.field(c, 20, 4) == 0, Self.field(c, 5, 4) == 0b1111 else { continue }
            if Self.at(bvr, i) & Self.breakpointAddressMask == pc & Self.breakpointAddressMask { return i }
        }
        return nil
    }

    /// The bytes slot `i` watches as [first, first+length) when it is one run, or
    /// each watched byte when BAS is not contiguous; nil if it watches nothing.
    ///
    /// MASK = 0: bytes WVR&~7 + k for each BAS bit k (with WVR bit 2 set, only
    /// BAS[3:0], from WVR&~3). MASK 3...31: [WVR & ~(2^MASK-1), +2^MASK); MASK 1 or
    /// 2 is reserved and treated as disabled (QEMU's choice too).
    func watchedBytes(_ i: Int) -> [(first: UInt64, length: UInt64)] {
        let c = Self.at(wcr, i)
        let value = Self.at(wvr, i) & Self.addressMask
        let mask = Self.field(c, 24, 5)
        if mask != 0 {
            guard mask >= 3 else { return [] }
            let length: UInt64 = 1 << mask
            return [(value & ~(length - 1), length)]
        }
        var bas = Self.field(c, 5, 8)
        var base = value & ~7
        if value & 4 != 0 {
            bas &= 0xF
            base = value & ~3
        }
        var out: [(first: UInt64, length: UInt64)] = []
        for k in 0..<8 where bas & (1 << UInt64(k)) != 0 { out.append((base + UInt64(k), 1)) }
        return out
    }

    /// The FAR of the watchpoint slot that `access` fires, if any; when several fire,
    /// the highest-numbered one.
    ///
    /// Which of several matching watchpoints the FAR reports is not fixed by the
    /// architecture. Real KVM under QEMU (the arm64 lane, scenario
    /// slots/watch-four-overlap: one 8-byte store over slots 0 and 1 reports FAR = slot
    /// 1's first byte) reports the highest: KVM's hyp code restores DBGWCR/DBGWVR from
    /// the highest index down to 0 (debug-sr.h `restore_debug` falls through from case
    /// 15), each write re-appends that slot to QEMU's watchpoint list, and QEMU reports
    /// the first list entry that matches.
    ///
    /// Needs E = 1, an EL1-enabling PAC, the LSC bit for the access type (bit 0 load,
    /// bit 1 store) and WT = 0 (a linked watchpoint needs a context match the fake does
    /// not model). FAR = max(access address, first watched byte), with the access's own bits
    /// above bit 52 (an upper-range VA stays one): QEMU's model, which
    /// the real-KVM arm64 lane runs on (measured BAS=0xF0 → FAR = base+4).
    func watchpointHit(_ access: FakeAccess) -> UInt64? {
        let address = access.address & Self.addressMask
        let probe = FakeAccess(address: address, size: access.size, isWrite: access.isWrite)
        for i in (0..<watchpoints).reversed() {
            let c = Self.at(wcr, i)
            let lsc = Self.field(c, 3, 2)
            guard c & 1 == 1, Self.matchesNonSecureEL1(c), Self.field(c, 20, 1) == 0,
                  lsc & (access.isWrite ? 0b10 : 0b01) != 0 else { continue }
            let bytes = watchedBytes(i)
            guard let first = bytes.first?.first,
                  bytes.contains(where: { probe.overlaps($0.first, $0.length) }) else { continue }
            // Compared within the 53 bits the comparators hold; FAR is the whole virtual address.
            return max(address, first) | (access.address & ~Self.addressMask)
        }
        return nil
    }
}
