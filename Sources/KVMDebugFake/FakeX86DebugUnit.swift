/// DR0-DR3 and DR7 judged by the processor's rules, not by kvmdbg's encoder.
///
/// Intel SDM vol. 3 §18.2-18.3: slot i is enabled by L<i> (bit 2i) or G<i> (bit 2i+1);
/// R/W<i> (bits 16+4i) is 00 execute, 01 write, 10 I/O, 11 read/write; LEN<i>
/// (bits 18+4i) is 00/01/11/10 = 1/2/4/8 bytes, and the comparator ignores the low
/// address bits of a data breakpoint (it watches DR<i> rounded down to LEN).
struct FakeX86DebugUnit: Sendable, Hashable {
    /// DR0-DR3.
    var address: [UInt64]
    /// DR7 as loaded (bits 63:32 make VM entry fail; see `FakeX86CPU.run`).
    var dr7: UInt64

    /// The guest's own debug registers after reset: nothing armed.
    static let reset = FakeX86DebugUnit(address: [0, 0, 0, 0], dr7: 0x400)

    /// DR7 as the CPU reports it in an exit: bit 10 reads as 1.
    var reportedDR7: UInt64 { dr7 | 0x400 }

    func isEnabled(_ slot: Int) -> Bool { (dr7 >> UInt64(2 * slot)) & 3 != 0 }
    func condition(_ slot: Int) -> UInt64 { (dr7 >> UInt64(16 + 4 * slot)) & 3 }
    func lengthCode(_ slot: Int) -> UInt64 { (dr7 >> UInt64(18 + 4 * slot)) & 3 }
    func dr(_ slot: Int) -> UInt64 { slot < address.count ? address[slot] : 0 }

    /// Bytes a LEN code covers: 00 = 1, 01 = 2, 10 = 8, 11 = 4.
    static func lengthBytes(_ code: UInt64) -> UInt64 {
        switch code {
        case 0: return 1
        case 1: return 2
        case 2: return 8
        default: return 4
        }
    }

    /// B<i> bits of the enabled execute breakpoints (R/W = 00, LEN = 00) at `linear`.
    ///
    /// LEN must be 00 for an execute breakpoint (SDM §18.2.5); other lengths are
    /// undefined, and the fake treats them as never firing.
    func executeHits(at linear: UInt64) -> UInt64 {
        var bits: UInt64 = 0
        for i in 0..<4 where isEnabled(i) && condition(i) == 0 && lengthCode(i) == 0 && dr(i) == linear {
            bits |= 1 << UInt64(i)
        }
        return bits
    }

    /// B<i> bits of the enabled data breakpoints that `access` overlaps.
    ///
    /// R/W = 01 matches writes, 11 reads and writes; 10 is I/O (CR4.DE) and never
    /// matches a memory access.
    func dataHits(_ access: FakeAccess) -> UInt64 {
        var bits: UInt64 = 0
        for i in 0..<4 where isEnabled(i) {
            let rw = condition(i)
            guard rw == 3 || (rw == 1 && access.isWrite) else { continue }
            let length = Self.lengthBytes(lengthCode(i))
            if access.overlaps(dr(i) & ~(length - 1), length) { bits |= 1 << UInt64(i) }
        }
        return bits
    }
}
