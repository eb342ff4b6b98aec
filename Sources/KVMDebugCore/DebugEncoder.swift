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

    /// Checks one point on its own (alignment, encodable length) before it is inserted anywhere.
    public static func validate(_ point: DebugPoint, arch: Arch) throws(DebugError) {
        switch arch {
        case .x86_64: _ = try X86DebugEncoding.pieces(of: point)
        case .arm64: _ = try Arm64DebugEncoding.pieces(of: point)
        }
    }
}
