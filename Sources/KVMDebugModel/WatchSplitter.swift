/// Splits a watch range into the pieces one comparator each can watch, for both encoders.
///
/// Greedy: at each position take the largest power-of-two block that is aligned there
/// and fits in what is left, up to `2^maxBlockLog` bytes; runs of maximal blocks are
/// counted at once, so `total` is exact even for huge ranges while `pieces` stops after
/// `limit + 1` entries. This gives the fewest aligned blocks that cover the range exactly.
enum WatchSplitter {
    /// The rule of one architecture's watch comparators.
    struct Rule {
        /// log2 of the largest block one comparator covers: x86 3 (8 bytes, LEN),
        /// arm64 31 (2 GiB, MASK).
        var maxBlockLog: Int
        /// arm64's BAS rule: a position that is not doubleword aligned, or fewer than 8
        /// bytes left, takes the bytes up to the next doubleword boundary as one piece
        /// (one byte-address-select pattern inside that doubleword).
        var doublewordSelect: Bool

        /// x86 DR0-DR3: naturally aligned 1, 2, 4 or 8 bytes.
        static let x86 = Rule(maxBlockLog: 3, doublewordSelect: false)
        /// arm64 DBGWCR/DBGWVR: BAS inside a doubleword, or an aligned MASK block.
        static let arm64 = Rule(maxBlockLog: Int(Arm64DebugEncoding.maxMask), doublewordSelect: true)
    }

    /// The pieces of `[address, address + length)` under `rule`, and how many there are in all.
    static func split(address: UInt64, length: UInt64, rule: Rule, limit: Int) -> (pieces: [WatchPiece], total: UInt64) {
        var pieces: [WatchPiece] = []
        var total: UInt64 = 0
        var a = address
        var r = length
        while r > 0 {
            if rule.doublewordSelect && (a & 7 != 0 || r < 8) {
                let n = min(8 - (a & 7), r)
                if pieces.count <= limit { pieces.append(WatchPiece(address: a, length: n)) }
                total += 1
                a = a &+ n
                r -= n
                continue
            }
            let alignLog = min(a.trailingZeroBitCount, rule.maxBlockLog)
            let fitLog = 63 - r.leadingZeroBitCount
            let log = min(alignLog, fitLog)
            let size = UInt64(1) << UInt64(log)
            let count = log == rule.maxBlockLog ? r >> UInt64(log) : 1
            var i: UInt64 = 0
            while i < count && pieces.count <= limit {
                pieces.append(WatchPiece(address: a &+ i &* size, length: size))
                i += 1
            }
            total += count
            a = a &+ count &* size
            r -= count &* size
        }
        return (pieces, total)
    }
}
