// Golden values for the arm64 debug-register encoder/decoder.
//
// Worked out by hand from:
// - Arm ARM (DDI 0487) DBGBCR<n>_EL1: E[0], PMC[2:1], BAS[8:5] (RES1 for AArch64), HMC[13],
//   SSC[15:14], LBN[19:16], BT[23:20]. Unlinked address match, EL1+EL0: E=1, PMC=0b11,
//   BAS=0b1111 -> 0b1_1110_0111 = 0x1E7.
// - Arm ARM DBGBVR<n>_EL1 / DBGWVR<n>_EL1: [63:53] RESS (copies of the top VA bit), [1:0] RES0.
// - Arm ARM DBGWCR<n>_EL1: E[0], PAC[2:1], LSC[4:3] (0b01 load, 0b10 store, 0b11 both),
//   BAS[12:5], HMC[13], SSC[15:14], LBN[19:16], WT[20], MASK[28:24] (0b00001/0b00010 reserved;
//   3..31 = number of low address bits masked, with BAS = 0xFF).
// - Arm ARM ESR_ELx: EC[31:26], IL[25], ISS[24:0]; watchpoint ISS.WnR = bit 6.
//   EC 0x30 breakpoint (lower EL), 0x32 software step (lower EL), 0x34 watchpoint (lower EL),
//   0x38 BKPT (AArch32), 0x3C BRK (AArch64); 0x31/0x33/0x35 are the current-EL variants.
// - Linux tools/testing/selftests/kvm/arm64/debug-exceptions.c: DBGWCR_RD = 1 << 3,
//   DBGWCR_WR = 2 << 3, DBGWCR_EL1 = 1 << 1, DBGWCR_E = 1, DBGWCR_LEN8 = 0xff << 5.
// - Measured on this project's arm64 lane (shared/arm64-lane/NOTES.md): BCR 0x1e7 and
//   WCR 0x1ff7 (8-byte store) fire; single step hsr = 0xcb000022; brk #0 hsr = 0xf2000000;
//   capacities HW_BPS = 6, HW_WPS = 4.

import Testing
import KVMDebugCore
@testable import KVMDebugModel
import KVMTestSupport

private func armRegisters(_ e: EncodedDebugRegisters) -> Arm64DebugRegisters {
    guard case .arm64(let r) = e.registers else {
        Issue.record("expected arm64 registers")
        return Arm64DebugRegisters()
    }
    return r
}

/// The measured QEMU lane: 6 breakpoints, 4 watchpoints.
private let qemuLane = SlotCapacity(breakpoints: 6, watchpoints: 4)

private func encodeArm(_ points: [DebugPoint], capacity: SlotCapacity = .arm64Max, vcpu: Int = 0) throws(DebugError) -> EncodedDebugRegisters {
    try Arm64DebugEncoding.encode(points, capacity: capacity, vcpu: vcpu)
}

/// DBGWCR fields, extracted independently of the encoder.
private func wcrFields(_ wcr: UInt64) -> (e: UInt64, pac: UInt64, lsc: UInt64, bas: UInt64, hmc: UInt64, ssc: UInt64, lbn: UInt64, wt: UInt64, mask: UInt64) {
    (wcr & 1, (wcr >> 1) & 3, (wcr >> 3) & 3, (wcr >> 5) & 0xFF, (wcr >> 13) & 1, (wcr >> 14) & 3,
     (wcr >> 16) & 0xF, (wcr >> 20) & 1, (wcr >> 24) & 0x1F)
}

/// Fewest pieces one DBGWCR/DBGWVR pair each can express (a contiguous run inside one
/// doubleword, or an aligned power-of-two block of 8 bytes to 2 GiB) tiling [a, a+len), by DP.
private func minimalArmPieces(_ a: UInt64, _ len: UInt64) -> Int {
    let end = a + len
    var best = [Int](repeating: Int.max, count: Int(len) + 1)
    best[0] = 0
    for i in 0..<Int(len) where best[i] != Int.max {
        let p = a + UInt64(i)
        // Runs inside the doubleword of p.
        let dwEnd = (p & ~7) + 8
        var q = p + 1
        while q <= min(dwEnd, end) {
            let j = Int(q - a)
            best[j] = min(best[j], best[i] + 1)
            q += 1
        }
        // Aligned power-of-two blocks starting at p.
        var size: UInt64 = 8
        while size <= (1 << 31) && p % size == 0 && p + size <= end {
            let j = Int(p + size - a)
            best[j] = min(best[j], best[i] + 1)
            size <<= 1
        }
    }
    return best[Int(len)]
}

@Suite("arm64 debug-register encoding")
struct Arm64EncodingTests {
    // MARK: Register helpers

    @Test func breakpointControlIs0x1E7() {
        let bcr = Arm64DebugEncoding.breakpointControl()
        #expect(bcr == 0x1E7) // measured on the QEMU lane; also QEMU's insert_hw_breakpoint
        #expect(bcr & 1 == 1)              // E
        #expect((bcr >> 1) & 3 == 0b11)    // PMC: EL1 and EL0
        #expect((bcr >> 5) & 0xF == 0xF)   // BAS: RES1 for AArch64
        #expect((bcr >> 13) & 1 == 0)      // HMC
        #expect((bcr >> 14) & 3 == 0)      // SSC
        #expect((bcr >> 16) & 0xF == 0)    // LBN
        #expect((bcr >> 20) & 0xF == 0)    // BT: unlinked address match
        // The selftest's EL1-only BCR (PMC = 0b01) written with its LEN8 = 0xff << 5 is 0x1fe3;
        // its architecturally meaningful bits (E, PMC, BAS[8:5]) differ from ours only in PMC bit 2.
        let selftest: UInt64 = (0xff << 5) | (0x1 << 1) | 0x1
        #expect(selftest & 0x1FF | 0b100 == bcr)
    }

    @Test func watchpointControlFields() {
        // 8-byte store at an aligned address: measured 0x1ff7.
        #expect(Arm64DebugEncoding.watchpointControl(kind: .write, bas: 0xFF, mask: 0) == 0x1FF7)
        #expect(Arm64DebugEncoding.watchpointControl(kind: .read, bas: 0xFF, mask: 0) == 0x1FEF)
        #expect(Arm64DebugEncoding.watchpointControl(kind: .access, bas: 0xFF, mask: 0) == 0x1FFF)
        // The selftest's install_wp(): LEN8 | RD | WR | EL1 | E = 0x1ffb; ours is the same with PAC 0b11.
        let selftest: UInt64 = (0xff << 5) | (0x1 << 3) | (0x2 << 3) | (0x1 << 1) | 0x1
        #expect(selftest == 0x1FFB)
        #expect(selftest | 0b100 == Arm64DebugEncoding.watchpointControl(kind: .access, bas: 0xFF, mask: 0))
        // LSC per kind.
        #expect(Arm64DebugEncoding.loadStoreControl(.read) == 0b01)
        #expect(Arm64DebugEncoding.loadStoreControl(.write) == 0b10)
        #expect(Arm64DebugEncoding.loadStoreControl(.access) == 0b11)
        // BAS 0x01 store = 0x37; BAS 0xF0 store = 0x1e17; MASK 12 store = 0x0c001ff7.
        #expect(Arm64DebugEncoding.watchpointControl(kind: .write, bas: 0x01, mask: 0) == 0x37)
        #expect(Arm64DebugEncoding.watchpointControl(kind: .write, bas: 0xF0, mask: 0) == 0x1E17)
        #expect(Arm64DebugEncoding.watchpointControl(kind: .write, bas: 0xFF, mask: 12) == 0x0C00_1FF7)
        let f = wcrFields(Arm64DebugEncoding.watchpointControl(kind: .access, bas: 0x3C, mask: 31))
        #expect(f.e == 1 && f.pac == 0b11 && f.lsc == 0b11 && f.bas == 0x3C && f.mask == 31)
        #expect(f.hmc == 0 && f.ssc == 0 && f.lbn == 0 && f.wt == 0)
    }

    @Test func valueRegisterSignExtendsFromBit52() {
        // Canonical kernel and user addresses are unchanged.
        #expect(Arm64DebugEncoding.valueRegister(0xffff_8000_1000_0000) == 0xffff_8000_1000_0000)
        #expect(Arm64DebugEncoding.valueRegister(0x10000) == 0x10000)
        #expect(Arm64DebugEncoding.valueRegister(0x000f_ffff_ffff_fffc) == 0x000f_ffff_ffff_fffc)
        // Bit 52 set: bits 63:53 become ones (QEMU: sextract64(addr, 0, 53)).
        #expect(Arm64DebugEncoding.valueRegister(0x0010_0000_0000_0000) == 0xfff0_0000_0000_0000)
        // Bit 52 clear with junk above it: bits 63:53 become zeros.
        #expect(Arm64DebugEncoding.valueRegister(0x8000_0000_0000_1000) == 0x1000)
        #expect(Arm64DebugEncoding.valueRegister(0xffe0_0000_0000_1000) == 0x1000)
    }

    @Test func esrHelpers() {
        #expect(Arm64DebugEncoding.ecBreakpointLowerEL == 0x30)
        #expect(Arm64DebugEncoding.ecSoftwareStepLowerEL == 0x32)
        #expect(Arm64DebugEncoding.ecWatchpointLowerEL == 0x34)
        #expect(Arm64DebugEncoding.ecBKPT32 == 0x38)
        #expect(Arm64DebugEncoding.ecBRK64 == 0x3C)
        #expect(Arm64DebugEncoding.esrWnR == 0x40)
        #expect(Arm64DebugEncoding.esrClass(0xcb00_0022) == 0x32) // measured single step
        #expect(Arm64DebugEncoding.esrClass(0xf200_0000) == 0x3C) // measured brk #0
        #expect(Arm64DebugEncoding.esrISS(0xf200_0000) == 0)
        #expect(Arm64DebugEncoding.esrISS(0xf200_0800) == 0x800)  // brk #0x800
        #expect(Arm64DebugEncoding.esrISS(0xcb00_0022) == 0x100_0022) // ISV (bit 24) | IFSC 0x22 (debug)
        // hsr_high (ESR[63:32]) does not disturb EC.
        #expect(Arm64DebugEncoding.esrClass(0x0000_0001_cb00_0022) == 0x32)
    }

    // MARK: Pieces

    @Test func breakpointPiecesNeedFourByteAlignment() throws {
        #expect(try Arm64DebugEncoding.pieces(of: .hardware(address: 0x10004)) == [WatchPiece(address: 0x10004, length: 4)])
        #expect(try Arm64DebugEncoding.pieces(of: .software(address: 0x10004)) == [])
        // A BRK is patched over a whole word: off a word boundary it would overlap its neighbours.
        #expect(thrownError { () throws(DebugError) in try Arm64DebugEncoding.pieces(of: .software(address: 0x10002)) }
                == .misaligned(address: 0x10002, alignment: 4, what: "arm64 software breakpoint"))
        for a: UInt64 in [0x10001, 0x10002, 0x10003] {
            #expect(thrownError { () throws(DebugError) in try Arm64DebugEncoding.pieces(of: .hardware(address: a)) }
                    == .misaligned(address: a, alignment: 4, what: "arm64 breakpoint"))
        }
        // encode() reports the same error.
        #expect(thrownError { () throws(DebugError) in try encodeArm([.hardware(address: 0x10002)]) }
                == .misaligned(address: 0x10002, alignment: 4, what: "arm64 breakpoint"))
    }

    @Test func watchesInsideOneDoublewordUseBAS() throws {
        // Every length 1...8 at every offset that fits in the doubleword: one piece,
        // WVR = the doubleword, BAS = one bit per watched byte, MASK = 0.
        let base: UInt64 = 0x11000
        for len: UInt64 in 1...8 {
            for off: UInt64 in 0...(8 - len) {
                let point = DebugPoint.watch(address: base + off, length: len, kind: .write)
                #expect(try Arm64DebugEncoding.pieces(of: point) == [WatchPiece(address: base + off, length: len)])
                let e = try encodeArm([point])
                let r = armRegisters(e)
                let f = wcrFields(r.wcr[0])
                #expect(f.bas == ((UInt64(1) << len) - 1) << off, "len \(len) off \(off)")
                #expect(f.mask == 0 && f.e == 1 && f.pac == 0b11 && f.lsc == 0b10)
                #expect(r.wvr[0] == base)
                #expect(e.slots == [SlotUse(kind: .watchpoint, slot: 0, point: point, address: base + off, length: len)])
            }
        }
        // Named golden values for the usual sizes.
        func bas(_ a: UInt64, _ l: UInt64) throws -> UInt64 {
            (armRegisters(try encodeArm([.watch(address: a, length: l, kind: .write)])).wcr[0] >> 5) & 0xFF
        }
        #expect(try bas(0x11000, 1) == 0x01)
        #expect(try bas(0x11007, 1) == 0x80)
        #expect(try bas(0x11002, 2) == 0x0C)
        #expect(try bas(0x11006, 2) == 0xC0)
        #expect(try bas(0x11000, 4) == 0x0F)
        #expect(try bas(0x11004, 4) == 0xF0)
        #expect(try bas(0x11003, 4) == 0x78) // unaligned but inside the doubleword
        #expect(try bas(0x11000, 8) == 0xFF)
        #expect(armRegisters(try encodeArm([.watch(address: 0x11000, length: 8, kind: .write)])).wcr[0] == 0x1FF7)
    }

    @Test(arguments: [(UInt64(16), UInt64(4)), (32, 5), (4096, 12), (0x8000_0000, 31)])
    func alignedPowerOfTwoBlocksUseMASK(size: UInt64, mask: UInt64) throws {
        let a: UInt64 = 0x4000_0000_0000 // aligned for every size here
        let point = DebugPoint.watch(address: a, length: size, kind: .write)
        #expect(try Arm64DebugEncoding.pieces(of: point) == [WatchPiece(address: a, length: size)])
        let e = try encodeArm([point])
        let r = armRegisters(e)
        #expect(r.wcr[0] == 0x1FF7 | mask << 24) // BAS 0xFF, MASK = log2(size)
        #expect(r.wvr[0] == a)
        #expect(e.slots == [SlotUse(kind: .watchpoint, slot: 0, point: point, address: a, length: size)])
    }

    @Test func maskGoldenValues() throws {
        #expect(armRegisters(try encodeArm([.watch(address: 0x11000, length: 16, kind: .write)])).wcr[0] == 0x0400_1FF7)
        #expect(armRegisters(try encodeArm([.watch(address: 0x11000, length: 32, kind: .write)])).wcr[0] == 0x0500_1FF7)
        #expect(armRegisters(try encodeArm([.watch(address: 0x11000, length: 4096, kind: .write)])).wcr[0] == 0x0C00_1FF7)
        // Never the reserved MASK values 1 and 2, never MASK 3 (8 bytes use BAS 0xFF, MASK 0).
        for len: UInt64 in 1...64 {
            for off: UInt64 in 0..<16 {
                let r = armRegisters(try encodeArm([.watch(address: 0x11000 + off, length: len, kind: .access)]))
                for wcr in r.wcr where wcr != 0 {
                    let m = wcrFields(wcr).mask
                    #expect(m == 0 || m >= 4)
                    if m != 0 { #expect(wcrFields(wcr).bas == 0xFF) }
                }
            }
        }
    }

    @Test func twentyFourBytesSplitByAlignment() throws {
        // 16-aligned start: 16 + 8.
        #expect(try Arm64DebugEncoding.pieces(of: .watch(address: 0x11000, length: 24, kind: .write))
                == [WatchPiece(address: 0x11000, length: 16), WatchPiece(address: 0x11010, length: 8)])
        // 8-aligned but not 16-aligned: 8 + 16.
        let p = DebugPoint.watch(address: 0x11008, length: 24, kind: .write)
        #expect(try Arm64DebugEncoding.pieces(of: p)
                == [WatchPiece(address: 0x11008, length: 8), WatchPiece(address: 0x11010, length: 16)])
        let r = armRegisters(try encodeArm([p]))
        #expect(r.wcr[0] == 0x1FF7 && r.wvr[0] == 0x11008)
        #expect(r.wcr[1] == 0x0400_1FF7 && r.wvr[1] == 0x11010)
        // Unaligned start: rest of the doubleword, then blocks.
        #expect(try Arm64DebugEncoding.pieces(of: .watch(address: 0x11004, length: 20, kind: .write))
                == [WatchPiece(address: 0x11004, length: 4), WatchPiece(address: 0x11008, length: 8),
                    WatchPiece(address: 0x11010, length: 8)])
        // 4 GiB aligned: two 2 GiB blocks (MASK 31 is the largest).
        #expect(try Arm64DebugEncoding.pieces(of: .watch(address: 0x1_0000_0000, length: 0x1_0000_0000, kind: .write))
                == [WatchPiece(address: 0x1_0000_0000, length: 0x8000_0000), WatchPiece(address: 0x1_8000_0000, length: 0x8000_0000)])
    }

    @Test func piecesAreMinimalExactAndExpressible() throws {
        for a: UInt64 in 0x11000..<0x11040 {
            for len: UInt64 in 1...96 {
                let p = try Arm64DebugEncoding.pieces(of: .watch(address: a, length: len, kind: .access))
                #expect(p.count == minimalArmPieces(a, len), "a=\(a) len=\(len)")
                var next = a
                for piece in p {
                    #expect(piece.address == next)
                    // One register pair expresses it, and watches exactly these bytes.
                    guard let pair = Arm64DebugEncoding.watchpointRegisters(for: piece, kind: .access) else {
                        Issue.record("piece \(piece) not expressible")
                        continue
                    }
                    #expect(Arm64DebugEncoding.watchedRange(control: pair.control, value: pair.value) == piece)
                    next += piece.length
                }
                #expect(next == a + len)
            }
        }
    }

    @Test func unencodableWatches() {
        let zero = thrownError { () throws(DebugError) in try Arm64DebugEncoding.pieces(of: .watch(address: 0x11000, length: 0, kind: .write)) }
        guard case .unencodableWatch(0x11000, 0, .arm64, _)? = zero else {
            Issue.record("length 0: \(String(describing: zero))")
            return
        }
        let wrap = thrownError { () throws(DebugError) in try Arm64DebugEncoding.pieces(of: .watch(address: 0xffff_ffff_ffff_fff0, length: 0x20, kind: .write)) }
        guard case .unencodableWatch(_, 0x20, .arm64, _)? = wrap else {
            Issue.record("wrap: \(String(describing: wrap))")
            return
        }
        // Ending exactly at the top is fine.
        #expect(thrownError { () throws(DebugError) in try Arm64DebugEncoding.pieces(of: .watch(address: 0xffff_ffff_ffff_fff0, length: 0x10, kind: .write)) } == nil)
        // [1, 2^20): 7 bytes + blocks of 2^3 ... 2^19 = 18 pieces, more than 16.
        let many = thrownError { () throws(DebugError) in try Arm64DebugEncoding.pieces(of: .watch(address: 1, length: (1 << 20) - 1, kind: .write)) }
        guard case .unencodableWatch(1, _, .arm64, let reason)? = many else {
            Issue.record("18 pieces: \(String(describing: many))")
            return
        }
        #expect(reason.contains("aligned power-of-two blocks"))
        #expect(reason.contains("needs 18 slots, more than 16"))
        // Exactly 16 pieces is accepted: [1, 2^17) = 7 bytes + 2^3 ... 2^16 = 15 blocks.
        #expect((try? Arm64DebugEncoding.pieces(of: .watch(address: 1, length: (1 << 17) - 1, kind: .write)))?.count == 15)
        #expect((try? Arm64DebugEncoding.pieces(of: .watch(address: 1, length: (1 << 18) - 1, kind: .write)))?.count == 16)
        // A huge range is counted exactly and quickly: 2^62 / 2^31 = 2^31 blocks.
        let huge = thrownError { () throws(DebugError) in try Arm64DebugEncoding.pieces(of: .watch(address: 0, length: 1 << 62, kind: .write)) }
        guard case .unencodableWatch(_, _, _, let hugeReason)? = huge else {
            Issue.record("huge: \(String(describing: huge))")
            return
        }
        #expect(hugeReason.contains("needs 2147483648 slots"))
    }

    // MARK: Encode

    @Test func breakpointRegisters() throws {
        let kernel: UInt64 = 0xffff_8000_1000_0000
        let e = try encodeArm([.hardware(address: 0x10000), .hardware(address: kernel), .hardware(address: 0x0010_0000_0000_0000)])
        let r = armRegisters(e)
        #expect(Array(r.bcr.prefix(3)) == [0x1E7, 0x1E7, 0x1E7])
        #expect(Array(r.bvr.prefix(3)) == [0x10000, kernel, 0xfff0_0000_0000_0000])
        #expect(r.wcr.allSatisfy { $0 == 0 } && r.wvr.allSatisfy { $0 == 0 })
        #expect(e.slots == [
            SlotUse(kind: .breakpoint, slot: 0, point: .hardware(address: 0x10000), address: 0x10000, length: 4),
            SlotUse(kind: .breakpoint, slot: 1, point: .hardware(address: kernel), address: kernel, length: 4),
            SlotUse(kind: .breakpoint, slot: 2, point: .hardware(address: 0x0010_0000_0000_0000), address: 0x0010_0000_0000_0000, length: 4),
        ])
    }

    @Test func watchKindsSetLSC() throws {
        let r = armRegisters(try encodeArm([
            .watch(address: 0x11000, length: 8, kind: .read),
            .watch(address: 0x11008, length: 8, kind: .write),
            .watch(address: 0x11010, length: 8, kind: .access),
        ]))
        #expect(Array(r.wcr.prefix(3)) == [0x1FEF, 0x1FF7, 0x1FFF]) // LSC 01, 10, 11
        #expect(Array(r.wvr.prefix(3)) == [0x11000, 0x11008, 0x11010])
        // A kernel-address watch keeps its canonical WVR.
        let k = armRegisters(try encodeArm([.watch(address: 0xffff_8000_1000_0004, length: 4, kind: .write)]))
        #expect(k.wvr[0] == 0xffff_8000_1000_0000 && k.wcr[0] == 0x1E17)
    }

    @Test func separatePoolsAndCapacityOfTheQemuLane() throws {
        // 6 breakpoints and 4 watchpoint pieces fit side by side.
        var points: [DebugPoint] = (0..<6).map { .hardware(address: 0x10000 + 4 * UInt64($0)) }
        points += (0..<4).map { .watch(address: 0x11000 + 8 * UInt64($0), length: 8, kind: .write) }
        let e = try encodeArm(points, capacity: qemuLane, vcpu: 2)
        let r = armRegisters(e)
        #expect(r.bcr == [UInt64](repeating: 0x1E7, count: 6) + [UInt64](repeating: 0, count: 10))
        #expect(r.wcr == [UInt64](repeating: 0x1FF7, count: 4) + [UInt64](repeating: 0, count: 12))
        #expect(e.slots(of: .breakpoint).map(\.slot) == [0, 1, 2, 3, 4, 5])
        #expect(e.slots(of: .watchpoint).map(\.slot) == [0, 1, 2, 3])
        // A 7th breakpoint: no free breakpoint slot, even though 16 exist in the UAPI.
        #expect(thrownError { () throws(DebugError) in
            try encodeArm(points + [.hardware(address: 0x10100)], capacity: qemuLane, vcpu: 2)
        } == .noFreeSlot(vcpu: 2, kind: .breakpoint, capacity: 6, needed: 7))
        // A 5th watch piece: no free watchpoint slot.
        #expect(thrownError { () throws(DebugError) in
            try encodeArm(points + [.watch(address: 0x12000, length: 1, kind: .read)], capacity: qemuLane, vcpu: 2)
        } == .noFreeSlot(vcpu: 2, kind: .watchpoint, capacity: 4, needed: 5))
        // Split watches count every piece: 24 bytes at 0x11008 (2) + 3 one-piece watches = 5.
        let split: [DebugPoint] = [.watch(address: 0x11008, length: 24, kind: .write),
                                   .watch(address: 0x12000, length: 1, kind: .write),
                                   .watch(address: 0x12008, length: 1, kind: .write),
                                   .watch(address: 0x12010, length: 1, kind: .write)]
        #expect(thrownError { () throws(DebugError) in try encodeArm(split, capacity: qemuLane, vcpu: 5) }
                == .noFreeSlot(vcpu: 5, kind: .watchpoint, capacity: 4, needed: 5))
        // Breakpoints never use watchpoint slots: 6 breakpoints with 0 watch capacity are fine.
        #expect(thrownError { () throws(DebugError) in
            try encodeArm(Array(points.prefix(6)), capacity: SlotCapacity(breakpoints: 6, watchpoints: 0))
        } == nil)
        // The message names the vCPU.
        let err = thrownError { () throws(DebugError) in
            try encodeArm(points + [.hardware(address: 0x10100)], capacity: qemuLane, vcpu: 2)
        }
        #expect(err?.message.contains("vCPU 2") == true)
        #expect(err?.message.contains("hardware breakpoint") == true)
    }

    @Test func sixteenOfEachFitTheUAPI() throws {
        let bps: [DebugPoint] = (0..<16).map { .hardware(address: 0x20000 + 4 * UInt64($0)) }
        let wps: [DebugPoint] = (0..<16).map { .watch(address: 0x30000 + 8 * UInt64($0), length: 4, kind: .access) }
        let r = armRegisters(try encodeArm(bps + wps))
        #expect(r.bcr.allSatisfy { $0 == 0x1E7 })
        #expect(r.wcr.allSatisfy { $0 == 0x1FF }) // E 0x1 | PAC 11 0x6 | LSC 11 0x18 | BAS 0x0F << 5 = 0x1E0
        #expect(thrownError { () throws(DebugError) in try encodeArm(bps + [.hardware(address: 0x10)]) }
                == .noFreeSlot(vcpu: 0, kind: .breakpoint, capacity: 16, needed: 17))
    }

    @Test func slotUsesCoverExactlyTheWatchedBytes() throws {
        let points: [DebugPoint] = [
            .watch(address: 0x11003, length: 30, kind: .write),
            .hardware(address: 0x10010),
            .watch(address: 0x12000, length: 4096, kind: .read),
            .software(address: 0x10014),
        ]
        let e = try encodeArm(points)
        let r = armRegisters(e)
        var covered: [DebugPoint: UInt64] = [:]
        for use in e.slots(of: .watchpoint) {
            // Decode the programmed registers independently and compare with the SlotUse.
            #expect(Arm64DebugEncoding.watchedRange(control: r.wcr[use.slot], value: r.wvr[use.slot])
                    == WatchPiece(address: use.address, length: use.length))
            covered[use.point, default: 0] += use.length
        }
        #expect(covered[points[0]] == 30)
        #expect(covered[points[2]] == 4096)
        #expect(e.slots(of: .breakpoint) == [SlotUse(kind: .breakpoint, slot: 0, point: points[1], address: 0x10010, length: 4)])
        // Software points take nothing.
        #expect(!e.slots.contains { $0.point == points[3] })
    }

    @Test func encodeIsDeterministicAndTotalState() throws {
        let points: [DebugPoint] = [.hardware(address: 0x10000), .watch(address: 0x11004, length: 12, kind: .access)]
        let a = try encodeArm(points, capacity: qemuLane)
        let b = try encodeArm(points, capacity: qemuLane)
        #expect(a == b)
        let r = armRegisters(a)
        #expect(r.bcr.count == 16 && r.bvr.count == 16 && r.wcr.count == 16 && r.wvr.count == 16)
        #expect(r.bcr[1...].allSatisfy { $0 == 0 } && r.bvr[1...].allSatisfy { $0 == 0 })
        #expect(r.wcr[2...].allSatisfy { $0 == 0 } && r.wvr[2...].allSatisfy { $0 == 0 })
        // Re-encoding fewer points is a fresh state.
        let fewer = armRegisters(try encodeArm([.hardware(address: 0x10000)], capacity: qemuLane))
        var expected = Arm64DebugRegisters()
        expected.bcr[0] = 0x1E7
        expected.bvr[0] = 0x10000
        #expect(fewer == expected)
        #expect(armRegisters(try encodeArm([])) == Arm64DebugRegisters())
        // Through the arch-dispatching entry point.
        #expect(try DebugEncoder.encode(points, arch: .arm64, capacity: qemuLane, vcpu: 0) == a)
        #expect(thrownError { () throws(DebugError) in try DebugEncoder.validate(.hardware(address: 0x10002), arch: .arm64) }
                == .misaligned(address: 0x10002, alignment: 4, what: "arm64 breakpoint"))
    }

    // MARK: Decode

    @Test func measuredSingleStepAndBrk() {
        #expect(Arm64DebugEncoding.decode(esr: 0xcb00_0022, far: 0xdead, pc: 0x10004, slots: [])
                == [StopHit(reason: .singleStep)])
        #expect(Arm64DebugEncoding.decode(esr: 0xf200_0000, far: 0xdead, pc: 0x10010, slots: [])
                == [StopHit(reason: .softwareBreakpoint, point: .software(address: 0x10010))])
        // BKPT from AArch32: EC 0x38.
        #expect(Arm64DebugEncoding.decode(esr: 0xe200_0000, far: 0, pc: 0x8000, slots: [])
                == [StopHit(reason: .softwareBreakpoint, point: .software(address: 0x8000))])
    }

    @Test func hardwareBreakpointMatchesThePC() throws {
        let points: [DebugPoint] = [.hardware(address: 0x10000), .hardware(address: 0xffff_8000_1000_0000)]
        let slots = try encodeArm(points).slots
        let esr: UInt64 = 0x30 << 26 | 1 << 25 // 0xc2000000
        #expect(esr == 0xC200_0000)
        #expect(Arm64DebugEncoding.decode(esr: esr, far: 0, pc: 0x10000, slots: slots)
                == [StopHit(reason: .hardwareBreakpoint, point: points[0], slot: 0)])
        #expect(Arm64DebugEncoding.decode(esr: esr, far: 0, pc: 0xffff_8000_1000_0000, slots: slots)
                == [StopHit(reason: .hardwareBreakpoint, point: points[1], slot: 1)])
        // No breakpoint slot at the pc (e.g. the guest's own breakpoint): no point.
        #expect(Arm64DebugEncoding.decode(esr: esr, far: 0, pc: 0x10008, slots: slots)
                == [StopHit(reason: .hardwareBreakpoint)])
        // Watch slots are never taken for breakpoints.
        let w = try encodeArm([.watch(address: 0x10008, length: 8, kind: .access)]).slots
        #expect(Arm64DebugEncoding.decode(esr: esr, far: 0, pc: 0x10008, slots: w) == [StopHit(reason: .hardwareBreakpoint)])
    }

    @Test func watchpointWnR() throws {
        let point = DebugPoint.watch(address: 0x11000, length: 8, kind: .access)
        let slots = try encodeArm([point]).slots
        let write: UInt64 = 0x34 << 26 | 1 << 25 | 1 << 6 // 0xd2000040
        let read: UInt64 = 0x34 << 26 | 1 << 25           // 0xd2000000
        #expect(write == 0xD200_0040 && read == 0xD200_0000)
        #expect(Arm64DebugEncoding.decode(esr: write, far: 0x11000, pc: 0x10010, slots: slots)
                == [StopHit(reason: .watchpoint, point: point, slot: 0, address: 0x11000, accessWasWrite: true)])
        #expect(Arm64DebugEncoding.decode(esr: read, far: 0x11004, pc: 0x10014, slots: slots)
                == [StopHit(reason: .watchpoint, point: point, slot: 0, address: 0x11004, accessWasWrite: false)])
        // No watch slots at all: still a watchpoint, with FAR, no point.
        #expect(Arm64DebugEncoding.decode(esr: write, far: 0x11000, pc: 0x10010, slots: [])
                == [StopHit(reason: .watchpoint, address: 0x11000, accessWasWrite: true)])
    }

    @Test func farInsideASplitRangeMapsToItsPoint() throws {
        let a = DebugPoint.watch(address: 0x11008, length: 24, kind: .write) // (0x11008,8) + (0x11010,16)
        let b = DebugPoint.watch(address: 0x12000, length: 4, kind: .write)
        let c = DebugPoint.watch(address: 0x13007, length: 1, kind: .write)  // BAS 0x80
        let slots = try encodeArm([a, b, c]).slots
        #expect(slots.map(\.slot) == [0, 1, 2, 3])
        let esr: UInt64 = 0xD200_0040
        func hit(_ far: UInt64) -> StopHit? { Arm64DebugEncoding.decode(esr: esr, far: far, pc: 0x10010, slots: slots).first }
        // Inside the pieces.
        #expect(hit(0x11008)?.point == a && hit(0x11008)?.slot == 0)
        #expect(hit(0x1100f)?.point == a && hit(0x1100f)?.slot == 0)
        #expect(hit(0x11010)?.point == a && hit(0x11010)?.slot == 1)
        #expect(hit(0x1101f)?.point == a && hit(0x1101f)?.slot == 1)
        #expect(hit(0x12003)?.point == b && hit(0x12003)?.slot == 2)
        #expect(hit(0x13007)?.point == c && hit(0x13007)?.slot == 3)
        // FAR = start of a wider store inside the watched doubleword (an 8-byte store at
        // 0x13000 touches the BAS 0x80 byte): the slot whose doubleword contains it.
        #expect(hit(0x13000)?.point == c && hit(0x13000)?.slot == 3)
        // FAR outside every block (an 8-byte store at 0x11ffc reaching 0x12000..0x12003):
        // the nearest slot.
        #expect(hit(0x11ffc)?.point == b)
        #expect(hit(0x11ffc)?.address == 0x11ffc)
    }

    @Test func farInASharedDoublewordPicksTheNearestPiece() throws {
        let first = DebugPoint.watch(address: 0x14000, length: 1, kind: .write) // BAS 0x01
        let last = DebugPoint.watch(address: 0x14007, length: 1, kind: .write)  // BAS 0x80
        let slots = try encodeArm([first, last]).slots
        func point(_ far: UInt64) -> DebugPoint? {
            Arm64DebugEncoding.decode(esr: 0xD200_0040, far: far, pc: 0, slots: slots).first?.point
        }
        #expect(point(0x14006) == last)
        #expect(point(0x14001) == first)
        // A block hit beats a nearer slot outside the block.
        let near = DebugPoint.watch(address: 0x14008, length: 1, kind: .write)
        let far = DebugPoint.watch(address: 0x14000, length: 1, kind: .write)
        let s2 = try encodeArm([near, far]).slots
        #expect(Arm64DebugEncoding.decode(esr: 0xD200_0040, far: 0x14007, pc: 0, slots: s2).first?.point == far)
    }

    @Test func otherClassesAreUnknown() throws {
        let slots = try encodeArm([.hardware(address: 0x10000), .watch(address: 0x11000, length: 8, kind: .write)]).slots
        // Current-EL variants (the guest's own handlers), SVC64 (0x15), data abort (0x24), 0.
        for ec: UInt64 in [0x31, 0x33, 0x35, 0x15, 0x24, 0x00, 0x3D] {
            #expect(Arm64DebugEncoding.decode(esr: ec << 26 | 1 << 25, far: 0x11000, pc: 0x10000, slots: slots)
                    == [StopHit(reason: .unknown)], "EC \(ec)")
        }
        // hsr_high bits above 32 do not change the class.
        #expect(Arm64DebugEncoding.decode(esr: 0x0000_0003_cb00_0022, far: 0, pc: 0, slots: slots) == [StopHit(reason: .singleStep)])
    }
}
