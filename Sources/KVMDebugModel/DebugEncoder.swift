/// Encodes hardware debug points into one architecture's registers.
public enum DebugEncoder {
    /// Encodes `points` (hardware breakpoints and watchpoints; software points are ignored)
    /// for one vCPU, assigning slots in order. Throws naming `vcpu` when they do not fit.
    public static func encode(
        _ points: [DebugPoint], arch: Arch, capacity: SlotCapacity, vcpu: Int
    ) throws(DebugError) -> EncodedDebugRegisters {
        switch arch {
        case .x86_64: return try X86DebugEncoding.encode(points, capacity: capacity, vcpu: vcpu)
        case .arm64: return try Arm64DebugEncoding.encode(points, capacity: capacity, vcpu: vcpu)
        }
    }

    /// Checks one point on its own (address width, alignment, encodable length) before it
    /// is inserted anywhere.
    public static func validate(_ point: DebugPoint, arch: Arch) throws(DebugError) {
        try checkAddressWidth(point, arch: arch)
        switch arch {
        case .x86_64: _ = try X86DebugEncoding.pieces(of: point)
        case .arm64: _ = try Arm64DebugEncoding.pieces(of: point)
        }
    }

    /// Hardware comparators hold virtual addresses of a fixed width; an address beyond it
    /// would be truncated or sign-extended into a different one, so it is refused.
    /// x86_64: canonical for 57-bit linear addresses (bits 63:57 copy bit 56; LA57 is the
    /// widest paging, so 4-level guests are served too; Intel SDM vol. 1 §3.3.7.1).
    /// arm64: DBGBVR/DBGWVR hold VA[52:2] with bits 63:53 copying bit 52 (Arm ARM,
    /// DBGBVR<n>_EL1, FEAT_LVA); software breakpoints are memory writes and checked there.
    static func checkAddressWidth(_ point: DebugPoint, arch: Arch) throws(DebugError) {
        let first: UInt64, last: UInt64
        switch point {
        case .software: return
        case .hardware(let a): (first, last) = (a, a)
        case .watch(let a, let l, _): (first, last) = (a, l == 0 ? a : a &+ (l - 1))
        }
        let top = arch == .x86_64 ? 56 : 52
        func fits(_ a: UInt64) -> Bool {
            let high = a >> UInt64(top)   // bit `top` and everything above it
            return high == 0 || high == (UInt64.max >> UInt64(top))
        }
        for a in [first, last] where !fits(a) {
            throw .addressBeyondWidth(address: a, arch: arch, reason: arch == .x86_64
                ? "a debug register needs a canonical address (bits 63:57 equal to bit 56; for 4-level paging, 63:48 equal to bit 47)"
                : "DBGBVR/DBGWVR hold 53-bit addresses (bits 63:53 equal to bit 52)")
        }
        // A watch range must not cross from the low half into the high half.
        if fits(first) && fits(last) && (first >> UInt64(top)) != (last >> UInt64(top)) {
            throw .addressBeyondWidth(address: first, arch: arch, reason: "the range crosses the non-canonical hole")
        }
    }
}
