/// Where an arm64 image's guest RAM goes: one rule for kvmdbg's image loader and the Embedded
/// arm64 GDB lane (which loads raw images itself), so both build the same guest from the same bytes.
public enum Arm64GuestRAM {
    /// 64 KiB: the base alignment and the spare above the image (room for .bss and a stack).
    public static let granule: UInt64 = 0x1_0000

    /// RAM from min(0x10000, `lowest` rounded down to 64 KiB) covering up to `highestEnd`
    /// rounded up to 64 KiB, plus 64 KiB spare.
    public static func layout(lowest: UInt64, highestEnd: UInt64) -> (base: UInt64, size: UInt64) {
        let base = min(granule, lowest & ~(granule - 1))
        let span = highestEnd - base
        // Saturates rather than trapping for an end near 2^64 (a fuzzed --load-addr): the
        // loader refuses any span over 1 GiB after asking for the layout.
        let (rounded, overflow) = span.addingReportingOverflow(2 * granule - 1)
        return (base, overflow ? UInt64.max : rounded / granule * granule)
    }
}
