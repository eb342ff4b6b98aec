/// The SVE registers of an arm64 vCPU created with `KVM_ARM_VCPU_SVE` (and finalized with
/// `KVM_ARM_VCPU_FINALIZE`): Z0-Z31 of 16·vq bytes, P0-P15 and FFR of 2·vq bytes, all
/// little-endian as KVM transfers them. On such a vCPU KVM rejects the `fp_regs` V ids, and
/// Vn is bits 127:0 of Zn (api.rst, arm64 core registers, note [1]).
public struct Arm64SVERegisters: Sendable, Hashable {
    /// The vector length in 128-bit quadwords (the highest set in `KVM_REG_ARM64_SVE_VLS`).
    public let vq: Int
    public var z: [[UInt8]]
    public var p: [[UInt8]]
    public var ffr: [UInt8]

    /// Zeroed registers of vector length `vq` (1...16).
    public init(vq: Int) {
        self.vq = vq
        z = [[UInt8]](repeating: [UInt8](repeating: 0, count: 16 * vq), count: 32)
        p = [[UInt8]](repeating: [UInt8](repeating: 0, count: 2 * vq), count: 16)
        ffr = [UInt8](repeating: 0, count: 2 * vq)
    }

    /// VG, gdb's name for the vector length in 64-bit granules.
    public var vg: UInt64 { UInt64(2 * vq) }

    /// Bits 127:0 of Zn (Vn).
    public func low128(_ n: Int) -> UInt128 {
        (0..<16).reduce(UInt128(0)) { $0 | UInt128(z[n][$1]) << UInt128(8 * $1) }
    }

    /// Sets bits 127:0 of Zn, keeping the rest.
    public mutating func setLow128(_ n: Int, _ value: UInt128) {
        for i in 0..<16 { z[n][i] = UInt8(truncatingIfNeeded: value >> UInt128(8 * i)) }
    }

    /// The largest vector length `KVM_REG_ARM64_SVE_VLS` (u64 words, little-endian bytes) allows:
    /// bit (vq - 1) of the bitmap set means vq is supported. Nil when none is, or when it needs
    /// more than one register slice (vq > 16: `Arm64SVERegister` reads slice 0 only; KVM caps
    /// the vector length at 2048 bits, arch/arm64/kvm/reset.c).
    public static func maxVQ(vls bytes: [UInt8]) -> Int? {
        var best: Int? = nil
        for (i, b) in bytes.enumerated() where b != 0 {
            for bit in 0..<8 where b & (1 << UInt8(bit)) != 0 { best = i * 8 + bit + 1 }
        }
        guard let vq = best, vq <= Arm64SVERegister.maxVQ else { return nil }
        return vq
    }
}

/// One SVE register named by its `KVM_{GET,SET}_ONE_REG` id, slice 0 only
/// (arch/arm64/include/uapi/asm/kvm.h, api.rst "arm64 SVE registers"): KVM_REG_ARM64 |
/// KVM_REG_ARM64_SVE (coproc 0x15) | size | base | n << 5 | slice. Zn: size U2048, base 0;
/// Pn: U256, base 0x400; FFR: U256, base 0x600; the VLS pseudo-register 0x6060_0000_0015_FFFF
/// (U512: `__u64[8]`). A slice carries 256 bytes (Z) or 32 (P, FFR); KVM fills the bytes past
/// the vector length with zeros.
public enum Arm64SVERegister: Sendable, Hashable {
    case z(Int)
    case p(Int)
    case ffr
    case vls

    /// Quadwords one slice holds (2048 bits).
    public static let maxVQ = 16

    /// Bytes the id's size field names.
    public var bytes: Int {
        switch self {
        case .z: return 256
        case .p, .ffr: return 32
        case .vls: return 64
        }
    }

    /// The KVM_{GET,SET}_ONE_REG id.
    public var kvmID: UInt64 {
        switch self {
        case .z(let n): return 0x6080_0000_0015_0000 | UInt64(n & 31) << 5
        case .p(let n): return 0x6050_0000_0015_0400 | UInt64(n & 15) << 5
        case .ffr: return 0x6050_0000_0015_0600
        case .vls: return 0x6060_0000_0015_FFFF
        }
    }

    /// Every architectural register of the file (not VLS), in a fixed order.
    public static let all: [Arm64SVERegister] = (0..<32).map { .z($0) } + (0..<16).map { .p($0) } + [.ffr]

    /// The register's value in `file`, vector-length bytes.
    public func value(in file: Arm64SVERegisters) -> [UInt8] {
        switch self {
        case .z(let n): return file.z[n]
        case .p(let n): return file.p[n]
        case .ffr: return file.ffr
        case .vls: return []
        }
    }

    /// Stores `bytes` (a slice, or vector-length bytes) into `file`, cut to the vector length.
    public func store(_ bytes: [UInt8], into file: inout Arm64SVERegisters) {
        switch self {
        case .z(let n): file.z[n] = Self.fit(bytes, 16 * file.vq)
        case .p(let n): file.p[n] = Self.fit(bytes, 2 * file.vq)
        case .ffr: file.ffr = Self.fit(bytes, 2 * file.vq)
        case .vls: break
        }
    }

    /// `bytes` as one whole slice: zero-padded to `bytes` of the id.
    public func slice(_ bytes: [UInt8]) -> [UInt8] { Self.fit(bytes, self.bytes) }

    private static func fit(_ b: [UInt8], _ n: Int) -> [UInt8] {
        b.count >= n ? Array(b.prefix(n)) : b + [UInt8](repeating: 0, count: n - b.count)
    }
}
