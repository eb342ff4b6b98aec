// Golden values for the x86 debug-register encoder/decoder.
//
// Worked out by hand from:
// - Intel SDM vol. 3, §18.2 "Debug Registers" (Figure 18-1): DR7 L<i> = bit 2i, G<i> = bit 2i+1,
//   bit 10 reads as 1, R/W<i> at bits 16+4i (00 execute, 01 write, 10 I/O, 11 read/write),
//   LEN<i> at bits 18+4i (00 = 1, 01 = 2, 10 = 8, 11 = 4 bytes); §18.2.5: addresses must be
//   aligned to the length and execute breakpoints use LEN 00. DR6: B0-B3 = bits 0-3,
//   BD = bit 13, BS = bit 14; B<i> may be set for breakpoints that are not enabled.
// - Linux tools/testing/selftests/kvm/x86/debug_regs.c: execute breakpoint
//   debugreg[7] = 0x400 | 1 << (2i+1); 4-byte write watch 0x400 | 1 << (2i+1) | 0xd0000 << 4i;
//   expected dr6 = 0xffff0ff0 | 1 << i (breakpoints), 0xffff4ff0 (single step),
//   0xffff0ff0 | 1 << 13 (DR7.GD). The selftest uses G enables; kvmdbg uses L enables,
//   so its values differ from the selftest's exactly by moving each enable bit down one.

import Testing
import KVMDebugCore
@testable import KVMDebugModel
import KVMTestSupport

private func x86Registers(_ e: EncodedDebugRegisters) -> X86DebugRegisters {
    guard case .x86(let r) = e.registers else {
        Issue.record("expected x86 registers")
        return X86DebugRegisters()
    }
    return r
}

private func encodeX86(_ points: [DebugPoint], capacity: SlotCapacity = .x86, vcpu: Int = 0) throws(DebugError) -> EncodedDebugRegisters {
    try X86DebugEncoding.encode(points, capacity: capacity, vcpu: vcpu)
}

/// The selftest writes G<i>; this maps kvmdbg's L<i> form to that form.
private func localToGlobal(_ dr7: UInt64) -> UInt64 {
    (dr7 & ~0xFF) | ((dr7 & 0x55) << 1)
}

/// Fewest naturally aligned 1/2/4/8-byte blocks covering exactly [a, a+len), by dynamic programming.
private func minimalNaturalPieces(_ a: UInt64, _ len: UInt64) -> Int {
    let end = a + len
    var best = [Int](repeating: Int.max, count: Int(len) + 1)
    best[0] = 0
    for i in 0..<Int(len) where best[i] != Int.max {
        let p = a + UInt64(i)
        for size: UInt64 in [1, 2, 4, 8] where p % size == 0 && p + size <= end {
            let j = i + Int(size)
            best[j] = min(best[j], best[i] + 1)
        }
    }
    return best[Int(len)]
}

@Suite("x86 debug-register encoding")
struct X86EncodingTests {
    // MARK: Constants and field helpers

    @Test func constantsMatchTheSDMAndKVM() {
        #expect(X86DebugEncoding.dr7Fixed == 0x400)             // DR7_FIXED_1
        #expect(X86DebugEncoding.dr6B0 == 0x1)
        #expect(X86DebugEncoding.dr6B1 == 0x2)
        #expect(X86DebugEncoding.dr6B2 == 0x4)
        #expect(X86DebugEncoding.dr6B3 == 0x8)
        #expect(X86DebugEncoding.dr6BreakpointMask == 0xF)
        #expect(X86DebugEncoding.dr6BD == 0x2000)               // DR6_BD, selftest (1 << 13)
        #expect(X86DebugEncoding.dr6BS == 0x4000)               // DR6_BS
        #expect(X86DebugEncoding.dr7GeneralDetect == 0x2000)    // DR7_GD, selftest (1 << 13)
        #expect(X86DebugEncoding.debugException == 1)           // DB_VECTOR
        #expect(X86DebugEncoding.breakpointException == 3)      // BP_VECTOR
        #expect(X86DebugEncoding.slotCount == 4)
        for i in 0..<4 {
            #expect(X86DebugEncoding.dr6Breakpoint(i) == UInt64(1) << UInt64(i))
            #expect(X86DebugEncoding.localEnable(slot: i) == UInt64(1) << UInt64(2 * i))
            #expect(X86DebugEncoding.globalEnable(slot: i) == UInt64(1) << UInt64(2 * i + 1))
            #expect(X86DebugEncoding.conditionShift(slot: i) == UInt64(16 + 4 * i))
        }
    }

    @Test func lengthAndConditionCodes() {
        // SDM §18.2.4: LEN 00 = 1, 01 = 2, 11 = 4, 10 = 8 bytes.
        #expect(X86DebugEncoding.lengthCode(forBytes: 1) == 0b00)
        #expect(X86DebugEncoding.lengthCode(forBytes: 2) == 0b01)
        #expect(X86DebugEncoding.lengthCode(forBytes: 4) == 0b11)
        #expect(X86DebugEncoding.lengthCode(forBytes: 8) == 0b10)
        #expect(X86DebugEncoding.lengthCode(forBytes: 3) == nil)
        #expect(X86DebugEncoding.lengthCode(forBytes: 16) == nil)
        for bytes: UInt64 in [1, 2, 4, 8] {
            #expect(X86DebugEncoding.lengthBytes(forCode: X86DebugEncoding.lengthCode(forBytes: bytes)!) == bytes)
        }
        // R/W: 00 execute, 01 write, 11 read/write; read watches become 11 (no read-only condition).
        #expect(X86DebugEncoding.condition(for: .hardware(address: 0x1000)) == 0b00)
        #expect(X86DebugEncoding.condition(for: .watch(address: 0x2000, length: 4, kind: .write)) == 0b01)
        #expect(X86DebugEncoding.condition(for: .watch(address: 0x2000, length: 4, kind: .access)) == 0b11)
        #expect(X86DebugEncoding.condition(for: .watch(address: 0x2000, length: 4, kind: .read)) == 0b11)
        #expect(X86DebugEncoding.condition(for: .software(address: 0x1000)) == nil)
    }

    @Test func dr7SlotDecodesTheSelftestValues() {
        // debug_regs.c data test: 0x400 | G<i> | 0xd0000 << 4i -> R/W 01 (write), LEN 11 (4 bytes).
        for i in 0..<4 {
            let dr7: UInt64 = 0x400 | (UInt64(1) << UInt64(2 * i + 1)) | (0xd0000 << UInt64(4 * i))
            let s = X86DebugEncoding.dr7Slot(dr7, slot: i)
            #expect(s.globalEnable && !s.localEnable && s.isEnabled)
            #expect(s.condition == 0b01)
            #expect(s.lengthCode == 0b11)
            #expect(s.length == 4)
            for other in 0..<4 where other != i {
                #expect(!X86DebugEncoding.dr7Slot(dr7, slot: other).isEnabled)
            }
        }
    }

    // MARK: Pieces

    @Test func softwareAndExecutePieces() throws {
        #expect(try X86DebugEncoding.pieces(of: .software(address: 0x1000)) == [])
        // Execute breakpoints need no alignment: one byte at the instruction.
        #expect(try X86DebugEncoding.pieces(of: .hardware(address: 0x1003)) == [WatchPiece(address: 0x1003, length: 1)])
        #expect(try X86DebugEncoding.pieces(of: .hardware(address: 0xffff_ffff_ffff_ffff)) == [WatchPiece(address: 0xffff_ffff_ffff_ffff, length: 1)])
    }

    @Test(arguments: [UInt64(1), 2, 4, 8])
    func alignedWatchIsOnePiece(size: UInt64) throws {
        for kind in [WatchKind.read, .write, .access] {
            let p = try X86DebugEncoding.pieces(of: .watch(address: 0x2000, length: size, kind: kind))
            #expect(p == [WatchPiece(address: 0x2000, length: size)])
        }
    }

    @Test func splitsIntoNaturallyAlignedPieces() throws {
        func pieces(_ a: UInt64, _ l: UInt64) throws -> [WatchPiece] {
            try X86DebugEncoding.pieces(of: .watch(address: a, length: l, kind: .write))
        }
        // 16 aligned bytes: two 8-byte pieces.
        #expect(try pieces(0x2000, 16) == [WatchPiece(address: 0x2000, length: 8), WatchPiece(address: 0x2008, length: 8)])
        // 4 bytes at offset 2: (2, 2) + (4, 2), exactly the range.
        #expect(try pieces(0x2002, 4) == [WatchPiece(address: 0x2002, length: 2), WatchPiece(address: 0x2004, length: 2)])
        // 3 bytes at offset 1: 1 + 2.
        #expect(try pieces(0x2001, 3) == [WatchPiece(address: 0x2001, length: 1), WatchPiece(address: 0x2002, length: 2)])
        // 8 bytes at offset 4: 4 + 4 (not 8: LEN 10 needs an 8-aligned DR).
        #expect(try pieces(0x2004, 8) == [WatchPiece(address: 0x2004, length: 4), WatchPiece(address: 0x2008, length: 4)])
        // 15 bytes at offset 1: 1 + 2 + 4 + 8 = the 4-register maximum.
        #expect(try pieces(0x2001, 15) == [
            WatchPiece(address: 0x2001, length: 1), WatchPiece(address: 0x2002, length: 2),
            WatchPiece(address: 0x2004, length: 4), WatchPiece(address: 0x2008, length: 8),
        ])
        // 32 aligned bytes: four 8-byte pieces.
        #expect(try pieces(0x2000, 32).count == 4)
        // A range that ends exactly at the top of the address space does not wrap.
        #expect(try pieces(0xffff_ffff_ffff_fff8, 8) == [WatchPiece(address: 0xffff_ffff_ffff_fff8, length: 8)])
    }

    @Test func piecesAreMinimalExactAndAligned() throws {
        // Every start offset in two cache lines and every length up to 40: the pieces must
        // tile the range exactly, be naturally aligned 1/2/4/8 bytes, and be as few as a
        // brute-force search finds; more than 4 must throw.
        for a: UInt64 in 0x3000..<0x3040 {
            for len: UInt64 in 1...40 {
                let minimal = minimalNaturalPieces(a, len)
                let point = DebugPoint.watch(address: a, length: len, kind: .access)
                if minimal > 4 {
                    #expect(thrownError { () throws(DebugError) in try X86DebugEncoding.pieces(of: point) } != nil)
                    continue
                }
                let p = try X86DebugEncoding.pieces(of: point)
                #expect(p.count == minimal, "a=\(a) len=\(len)")
                var next = a
                for piece in p {
                    #expect(piece.address == next)
                    #expect([1, 2, 4, 8].contains(piece.length))
                    #expect(piece.address % piece.length == 0)
                    next += piece.length
                }
                #expect(next == a + len)
            }
        }
    }

    @Test func unencodableWatches() {
        // Length 0.
        let zero = thrownError { () throws(DebugError) in try X86DebugEncoding.pieces(of: .watch(address: 0x2000, length: 0, kind: .write)) }
        guard case .unencodableWatch(0x2000, 0, .x86_64, _)? = zero else {
            Issue.record("length 0: \(String(describing: zero))")
            return
        }
        // Wraps past the top of the address space.
        let wrap = thrownError { () throws(DebugError) in try X86DebugEncoding.pieces(of: .watch(address: 0xffff_ffff_ffff_fffc, length: 8, kind: .write)) }
        guard case .unencodableWatch(0xffff_ffff_ffff_fffc, 8, .x86_64, _)? = wrap else {
            Issue.record("wrap: \(String(describing: wrap))")
            return
        }
        // 16 bytes at offset 1 need 1 + 2 + 4 + 8 + 1 = 5 registers.
        let five = thrownError { () throws(DebugError) in try X86DebugEncoding.pieces(of: .watch(address: 0x2001, length: 16, kind: .write)) }
        guard case .unencodableWatch(0x2001, 16, .x86_64, let reason)? = five else {
            Issue.record("5 pieces: \(String(describing: five))")
            return
        }
        #expect(reason.contains("needs 5"))
        #expect(reason.contains("DR0-DR3"))
        // 33 aligned bytes need 5.
        #expect(thrownError { () throws(DebugError) in try X86DebugEncoding.pieces(of: .watch(address: 0x2000, length: 33, kind: .write)) } != nil)
        // A huge range is rejected quickly, with an exact count (2^40 / 8 = 2^37 registers).
        let huge = thrownError { () throws(DebugError) in try X86DebugEncoding.pieces(of: .watch(address: 0, length: 1 << 40, kind: .write)) }
        guard case .unencodableWatch(_, _, _, let hugeReason)? = huge else {
            Issue.record("huge: \(String(describing: huge))")
            return
        }
        #expect(hugeReason.contains("needs 137438953472"))
    }

    // MARK: Encode

    @Test func executeBreakpointInSlot0IsL0() throws {
        let e = try encodeX86([.hardware(address: 0x40_1000)])
        let r = x86Registers(e)
        #expect(r.address == [0x40_1000, 0, 0, 0])
        #expect(r.dr7 == 0x401) // bit 10 | L0; R/W0 = 00, LEN0 = 00
        #expect(localToGlobal(r.dr7) == 0x400 | 1 << 1) // the selftest's DR0 value
        #expect(e.slots == [SlotUse(kind: .debugRegister, slot: 0, point: .hardware(address: 0x40_1000), address: 0x40_1000, length: 1)])
    }

    @Test func executeBreakpointsInEverySlot() throws {
        let points: [DebugPoint] = [.hardware(address: 0x1000), .hardware(address: 0x1001),
                                    .hardware(address: 0x1002), .hardware(address: 0x1003)]
        let e = try encodeX86(points)
        let r = x86Registers(e)
        #expect(r.address == [0x1000, 0x1001, 0x1002, 0x1003])
        #expect(r.dr7 == 0x455) // bit 10 | L0 | L1 | L2 | L3, all R/W and LEN 00
        for i in 0..<4 {
            let s = X86DebugEncoding.dr7Slot(r.dr7, slot: i)
            #expect(s.localEnable && !s.globalEnable && s.condition == 0 && s.lengthCode == 0)
            #expect(e.slots[i] == SlotUse(kind: .debugRegister, slot: i, point: points[i], address: points[i].address, length: 1))
        }
        // The first i+1 breakpoints: DR7 = bit 10 | L0..L<i> (0x401, 0x405, 0x415, 0x455).
        let expected: [UInt64] = [0x401, 0x405, 0x415, 0x455]
        for i in 0..<4 {
            let dr7 = x86Registers(try encodeX86(Array(points.prefix(i + 1)))).dr7
            #expect(dr7 == expected[i])
            // Slot i's own bits, moved from L to G, are the selftest's 0x400 | 1 << (2i+1).
            let slotBits = dr7 & (UInt64(0x3) << UInt64(2 * i) | 0xF << X86DebugEncoding.conditionShift(slot: i))
            #expect(localToGlobal(0x400 | slotBits) == 0x400 | UInt64(1) << UInt64(2 * i + 1))
        }
    }

    /// Full DR7 for a write watch of `size` bytes in slot `slot`, slots before it holding
    /// execute breakpoints (L bits only). From SDM §18.2.4: nibble = 01 | LEN << 2 at 16+4i.
    static let writeWatchDR7: [[UInt64]] = [
        //  1 byte       2 bytes      4 bytes      8 bytes
        [0x0001_0401, 0x0005_0401, 0x000D_0401, 0x0009_0401], // DR0
        [0x0010_0405, 0x0050_0405, 0x00D0_0405, 0x0090_0405], // DR1
        [0x0100_0415, 0x0500_0415, 0x0D00_0415, 0x0900_0415], // DR2
        [0x1000_0455, 0x5000_0455, 0xD000_0455, 0x9000_0455], // DR3
    ]

    @Test func writeWatchInEverySlotAndSize() throws {
        let sizes: [UInt64] = [1, 2, 4, 8]
        for slot in 0..<4 {
            for (n, size) in sizes.enumerated() {
                var points: [DebugPoint] = []
                for j in 0..<slot { points.append(.hardware(address: 0x1000 + UInt64(j))) }
                let watch = DebugPoint.watch(address: 0x2000, length: size, kind: .write)
                points.append(watch)
                let e = try encodeX86(points)
                let r = x86Registers(e)
                #expect(r.dr7 == Self.writeWatchDR7[slot][n], "slot \(slot) size \(size)")
                #expect(r.dr7 >> 32 == 0)
                #expect(r.address[slot] == 0x2000)
                #expect(e.slots.last == SlotUse(kind: .debugRegister, slot: slot, point: watch, address: 0x2000, length: size))
            }
        }
        // The selftest's 4-byte write watch per DR<i> (G form): 0x400 | 1 << (2i+1) | 0xd0000 << 4i.
        for i in 0..<4 {
            let fillers = (UInt64(1) << UInt64(2 * i)) - 1 // L bits of the execute fillers (0, 0x1, 0x5, 0x15)
            let ours = Self.writeWatchDR7[i][2] & ~(fillers & 0x55)
            #expect(localToGlobal(ours) == 0x400 | UInt64(1) << UInt64(2 * i + 1) | 0xd0000 << UInt64(4 * i))
        }
    }

    @Test func accessAndReadWatchesUseReadWrite() throws {
        // R/W 11, LEN 10 (8 bytes) -> nibble 0xB at bits 19:16.
        let access = x86Registers(try encodeX86([.watch(address: 0x2000, length: 8, kind: .access)]))
        #expect(access.dr7 == 0xB_0401)
        let read = x86Registers(try encodeX86([.watch(address: 0x2000, length: 8, kind: .read)]))
        #expect(read.dr7 == 0xB_0401)
        // 1/2/4-byte access: nibbles 0x3, 0x7, 0xF.
        #expect(x86Registers(try encodeX86([.watch(address: 0x2000, length: 1, kind: .access)])).dr7 == 0x3_0401)
        #expect(x86Registers(try encodeX86([.watch(address: 0x2000, length: 2, kind: .access)])).dr7 == 0x7_0401)
        #expect(x86Registers(try encodeX86([.watch(address: 0x2000, length: 4, kind: .access)])).dr7 == 0xF_0401)
        // Four 8-byte access watches: the highest DR7 value kvmdbg writes still fits in 32 bits.
        let four = x86Registers(try encodeX86([.watch(address: 0x2000, length: 32, kind: .access)]))
        #expect(four.dr7 == 0xBBBB_0455)
        #expect(four.address == [0x2000, 0x2008, 0x2010, 0x2018])
    }

    @Test func splitWatchTakesConsecutiveSlots() throws {
        let watch = DebugPoint.watch(address: 0x2002, length: 4, kind: .write)
        let e = try encodeX86([.hardware(address: 0x1000), watch])
        let r = x86Registers(e)
        #expect(r.address == [0x1000, 0x2002, 0x2004, 0])
        // L0 exec; DR1, DR2: write, 2 bytes (nibble 0101 = 5).
        #expect(r.dr7 == 0x0550_0415)
        #expect(e.slots == [
            SlotUse(kind: .debugRegister, slot: 0, point: .hardware(address: 0x1000), address: 0x1000, length: 1),
            SlotUse(kind: .debugRegister, slot: 1, point: watch, address: 0x2002, length: 2),
            SlotUse(kind: .debugRegister, slot: 2, point: watch, address: 0x2004, length: 2),
        ])
    }

    @Test func softwarePointsTakeNoSlot() throws {
        let e = try encodeX86([.software(address: 0x1000), .hardware(address: 0x1005), .software(address: 0x1010)])
        #expect(x86Registers(e).dr7 == 0x401)
        #expect(x86Registers(e).address == [0x1005, 0, 0, 0])
        #expect(e.slots.count == 1)
        let none = try encodeX86([.software(address: 0x1000)])
        #expect(x86Registers(none) == X86DebugRegisters(address: [0, 0, 0, 0], dr7: 0x400))
        #expect(none.slots.isEmpty)
        let empty = try encodeX86([])
        #expect(x86Registers(empty).dr7 == 0x400)
    }

    @Test func fifthPieceHasNoFreeSlot() {
        // Four execute breakpoints + one watch = 5 pieces on 4 registers.
        let points: [DebugPoint] = [.hardware(address: 0x1000), .hardware(address: 0x1001), .hardware(address: 0x1002),
                                    .hardware(address: 0x1003), .watch(address: 0x2000, length: 4, kind: .write)]
        let err = thrownError { () throws(DebugError) in try encodeX86(points, vcpu: 3) }
        #expect(err == .noFreeSlot(vcpu: 3, kind: .debugRegister, capacity: 4, needed: 5))
        #expect(err?.message.contains("vCPU 3") == true)
        // A split watch counts every piece: 16 bytes (2) + 3 breakpoints = 5.
        let split: [DebugPoint] = [.watch(address: 0x2000, length: 16, kind: .access), .hardware(address: 0x1000),
                                   .hardware(address: 0x1001), .hardware(address: 0x1002)]
        #expect(thrownError { () throws(DebugError) in try encodeX86(split, vcpu: 1) }
                == .noFreeSlot(vcpu: 1, kind: .debugRegister, capacity: 4, needed: 5))
        // Software points do not count.
        #expect(thrownError { () throws(DebugError) in
            try encodeX86([.software(address: 1), .software(address: 2)] + Array(points.prefix(4)))
        } == nil)
    }

    @Test func smallerCapacityIsEnforced() {
        let cap = SlotCapacity(breakpoints: 2, watchpoints: 2)
        #expect(thrownError { () throws(DebugError) in
            try encodeX86([.hardware(address: 0x1000), .hardware(address: 0x1001)], capacity: cap)
        } == nil)
        #expect(thrownError { () throws(DebugError) in
            try encodeX86([.hardware(address: 0x1000), .watch(address: 0x2002, length: 4, kind: .write)], capacity: cap, vcpu: 7)
        } == .noFreeSlot(vcpu: 7, kind: .debugRegister, capacity: 2, needed: 3))
        let zero = SlotCapacity(breakpoints: 0, watchpoints: 0)
        #expect(thrownError { () throws(DebugError) in try encodeX86([.hardware(address: 0x1000)], capacity: zero) }
                == .noFreeSlot(vcpu: 0, kind: .debugRegister, capacity: 0, needed: 1))
    }

    @Test func unencodablePointFailsEncodeBeforeCapacity() {
        let err = thrownError { () throws(DebugError) in
            try encodeX86([.watch(address: 0x2000, length: 0, kind: .write)], capacity: SlotCapacity(breakpoints: 0, watchpoints: 0))
        }
        guard case .unencodableWatch? = err else {
            Issue.record("expected unencodableWatch, got \(String(describing: err))")
            return
        }
    }

    @Test func encodeIsDeterministicAndTotalState() throws {
        let points: [DebugPoint] = [.watch(address: 0x2001, length: 3, kind: .access), .hardware(address: 0x1000)]
        let a = try encodeX86(points)
        let b = try encodeX86(points)
        #expect(a == b)
        let r = x86Registers(a)
        #expect(r.address == [0x2001, 0x2002, 0x1000, 0]) // DR3 unused -> 0
        // Nothing of DR3 in DR7 (no L3/G3, R/W3 = LEN3 = 0), no GD, no LE/GE, high half zero.
        #expect(r.dr7 & 0xF000_00C0 == 0)
        #expect(r.dr7 & (X86DebugEncoding.dr7GeneralDetect | 0x300) == 0)
        #expect(r.dr7 >> 32 == 0)
        #expect(r.dr7 & X86DebugEncoding.dr7Fixed != 0)
        // Re-encoding fewer points gives a fresh state, not a patch of the old one.
        let fewer = x86Registers(try encodeX86([.hardware(address: 0x1000)]))
        #expect(fewer == X86DebugRegisters(address: [0x1000, 0, 0, 0], dr7: 0x401))
        // Through the arch-dispatching entry point.
        #expect(try DebugEncoder.encode(points, arch: .x86_64, capacity: .x86, vcpu: 0) == a)
    }

    // MARK: Decode

    @Test func int3IgnoresGarbageDR6() {
        let slots = try! encodeX86([.hardware(address: 0x1000)]).slots
        for dr6: UInt64 in [0, 0xffff_0ff1, 0xffff_4fff, .max] {
            let hits = X86DebugEncoding.decode(exception: 3, pc: 0x1234, dr6: dr6, slots: slots)
            #expect(hits == [StopHit(reason: .softwareBreakpoint, point: .software(address: 0x1234))])
        }
    }

    @Test func executeBreakpointInEachSlot() throws {
        let points: [DebugPoint] = [.hardware(address: 0x1000), .hardware(address: 0x1100),
                                    .hardware(address: 0x1200), .hardware(address: 0x1300)]
        let slots = try encodeX86(points).slots
        for i in 0..<4 {
            // The selftest's expected DR6 for DR<i>.
            let dr6: UInt64 = 0xffff_0ff0 | UInt64(1) << UInt64(i)
            let hits = X86DebugEncoding.decode(exception: 1, pc: points[i].address, dr6: dr6, slots: slots)
            #expect(hits == [StopHit(reason: .hardwareBreakpoint, point: points[i], slot: i)])
        }
    }

    @Test func twoBreakpointBitsGiveTwoHits() throws {
        let slots = try encodeX86([.hardware(address: 0x1000), .hardware(address: 0x1100)]).slots
        let hits = X86DebugEncoding.decode(exception: 1, pc: 0x1000, dr6: 0xffff_0ff0 | 0b11, slots: slots)
        #expect(hits == [
            StopHit(reason: .hardwareBreakpoint, point: .hardware(address: 0x1000), slot: 0),
            StopHit(reason: .hardwareBreakpoint, point: .hardware(address: 0x1100), slot: 1),
        ])
    }

    /// QEMU folds an execute breakpoint on the next instruction into a data trap's exit
    /// (B0|B2, measured in the x86 lane). That breakpoint has not fired yet: it faults
    /// again on re-entry, so the trap's stop reports only the watchpoint.
    @Test func executeBitInADataTrapIsLeftForItsOwnExit() throws {
        let watch = DebugPoint.watch(address: 0x2000, length: 8, kind: .write)
        let slots = try encodeX86([.hardware(address: 0x100e), .hardware(address: 0x1100), watch]).slots
        let hits = X86DebugEncoding.decode(exception: 1, pc: 0x100e, dr6: 0xffff_0ff0 | 0b101, slots: slots)
        #expect(hits == [StopHit(reason: .watchpoint, point: watch, slot: 2, address: 0x2000)])
        // Likewise in a single-step trap (BS|B0): only the step is reported.
        let step = X86DebugEncoding.decode(exception: 1, pc: 0x100e, dr6: 0xffff_4ff0 | 0b1, slots: slots)
        #expect(step == [StopHit(reason: .singleStep)])
    }

    @Test func singleStepPlusWatch() throws {
        let watch = DebugPoint.watch(address: 0x2008, length: 4, kind: .access)
        let slots = try encodeX86([.hardware(address: 0x1000), watch]).slots
        // BS | B1 with the VMX active-low bits.
        let hits = X86DebugEncoding.decode(exception: 1, pc: 0x100e, dr6: 0xffff_4ff2, slots: slots)
        #expect(hits == [
            StopHit(reason: .watchpoint, point: watch, slot: 1, address: 0x2008),
            StopHit(reason: .singleStep),
        ])
        // A Stop reports the watch first.
        let stop = Stop(vcpu: 0, pc: 0x100e, hits: hits.reversed(), exit: .x86(exception: 1, pc: 0x100e, dr6: 0xffff_4ff2, dr7: 0))
        #expect(stop.reason == .watchpoint)
    }

    @Test func singleStepAndGeneralDetect() {
        // kvm_vcpu_do_singlestep: DR6_BS | DR6_ACTIVE_LOW.
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1001, dr6: 0xffff_4ff0, slots: [])
                == [StopHit(reason: .singleStep)])
        // AMD/raw form without the active-low ones.
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1001, dr6: 0x4000, slots: [])
                == [StopHit(reason: .singleStep)])
        // DR7.GD exit: DR6_BD | DR6_ACTIVE_LOW; kvmdbg never sets GD, so it is unknown.
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1001, dr6: 0xffff_2ff0, slots: [])
                == [StopHit(reason: .unknown)])
    }

    @Test func bitsOfUnarmedSlotsAreIgnored() throws {
        let slots = try encodeX86([.hardware(address: 0x1000)]).slots
        // B3 only: DR3 is not armed (the CPU may set B bits of disabled comparators).
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1000, dr6: 0xffff_0ff8, slots: slots)
                == [StopHit(reason: .unknown)])
        // B0 | B3: only B0 counts.
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1000, dr6: 0xffff_0ff9, slots: slots)
                == [StopHit(reason: .hardwareBreakpoint, point: .hardware(address: 0x1000), slot: 0)])
        // Nothing at all.
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1000, dr6: 0xffff_0ff0, slots: slots)
                == [StopHit(reason: .unknown)])
    }

    @Test func onlyB0ToB3BDAndBSAreRead() throws {
        let slots = try encodeX86([.hardware(address: 0x1000)]).slots
        // Reserved / vendor bits (BT 15, RTM 16, BLD 11, bits 4-10, 12, high half) mean nothing here.
        let noise: UInt64 = ~(X86DebugEncoding.dr6BreakpointMask | X86DebugEncoding.dr6BD | X86DebugEncoding.dr6BS)
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1000, dr6: noise | 1, slots: slots)
                == [StopHit(reason: .hardwareBreakpoint, point: .hardware(address: 0x1000), slot: 0)])
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1000, dr6: 1, slots: slots)
                == [StopHit(reason: .hardwareBreakpoint, point: .hardware(address: 0x1000), slot: 0)])
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1000, dr6: noise, slots: slots)
                == [StopHit(reason: .unknown)])
    }

    @Test func splitWatchFiringTwoPiecesIsOneHit() throws {
        let watch = DebugPoint.watch(address: 0x2004, length: 8, kind: .write) // (0x2004,4) + (0x2008,4)
        let slots = try encodeX86([watch]).slots
        #expect(slots.count == 2)
        let hits = X86DebugEncoding.decode(exception: 1, pc: 0x1010, dr6: 0xffff_0ff3, slots: slots)
        #expect(hits == [StopHit(reason: .watchpoint, point: watch, slot: 0, address: 0x2004)])
        // Only the second piece: reported with that piece's slot and start.
        #expect(X86DebugEncoding.decode(exception: 1, pc: 0x1010, dr6: 0xffff_0ff2, slots: slots)
                == [StopHit(reason: .watchpoint, point: watch, slot: 1, address: 0x2008)])
    }

    @Test func otherExceptionsAreUnknown() {
        #expect(X86DebugEncoding.decode(exception: 6, pc: 0x1000, dr6: 0x4000, slots: []) == [StopHit(reason: .unknown)])
        #expect(X86DebugEncoding.decode(exception: 0, pc: 0x1000, dr6: 0, slots: []) == [StopHit(reason: .unknown)])
    }
}
