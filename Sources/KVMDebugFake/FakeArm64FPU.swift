import KVMDebugModel

/// The FP/SIMD state of a fake arm64 vCPU (V0-V31, FPSR, FPCR) behind KVM's ONE_REG ABI:
/// ids are decoded here from api.rst's rules (KVM_REG_ARM64 | size | KVM_REG_ARM_CORE |
/// offset / 4 into `struct kvm_regs`, whose `fp_regs` starts at byte 336), not taken from
/// kvmdbg's `Arm64FPRegister`, so the two check each other.
///
/// A vCPU "created with SVE" (`sveVQ`) behaves as KVM's does after KVM_ARM_VCPU_FINALIZE
/// (api.rst, arm64 SVE registers): the V ids are refused (EINVAL), Z0-31, P0-15 and FFR are
/// served through coprocessor 0x15 ids, slice 0 only (256 bytes for Z, 32 for P/FFR, zeros past
/// the vector length), and the VLS pseudo-register lists vector lengths 1...sveVQ.
struct FakeArm64FPU: Sendable, Hashable {
    /// V0-31, 16 bytes each, little-endian (no SVE).
    var v: [[UInt8]] = [[UInt8]](repeating: [UInt8](repeating: 0, count: 16), count: 32)
    var fpsr: UInt32 = 0
    var fpcr: UInt32 = 0
    /// SVE: vector length in quadwords; nil without SVE.
    let sveVQ: Int?
    /// Z0-31 (16·vq bytes), P0-15 and FFR (2·vq bytes) when `sveVQ` is set.
    var z: [[UInt8]]
    var p: [[UInt8]]
    var ffr: [UInt8]

    init(sveVQ: Int? = nil) {
        self.sveVQ = sveVQ
        let vq = sveVQ ?? 0
        z = [[UInt8]](repeating: [UInt8](repeating: 0, count: 16 * vq), count: vq > 0 ? 32 : 0)
        p = [[UInt8]](repeating: [UInt8](repeating: 0, count: 2 * vq), count: vq > 0 ? 16 : 0)
        ffr = [UInt8](repeating: 0, count: 2 * vq)
    }

    /// Which SVE register `id` names: kind 0 Z, 1 P, 2 FFR, 3 VLS, with its number; nil when the
    /// id is not in coprocessor 0x15. A slice past slice 0 (vq <= 16) or a vCPU without SVE is
    /// ENOENT, a wrong size field EINVAL.
    private func decodeSVE(_ id: UInt64, _ call: String) throws(DebugError) -> (kind: Int, n: Int)? {
        guard id >> 56 == 0x60, (id >> 16) & 0xFFFF == 0x0015 else { return nil }
        guard sveVQ != nil else { throw kvmError(call, FakeErrno.enoent) }
        let low = Int(id & 0xFFFF), size = 1 << Int((id >> 52) & 0xF)
        let (kind, n, slice, want): (Int, Int, Int, Int)
        switch low {
        case 0xFFFF: (kind, n, slice, want) = (3, 0, 0, 64)
        case 0..<0x400: (kind, n, slice, want) = (0, (low >> 5) & 31, low & 31, 256)
        case 0x400..<0x600: (kind, n, slice, want) = (1, (low >> 5) & 15, low & 31, 32)
        case 0x600..<0x620: (kind, n, slice, want) = (2, 0, low & 31, 32)
        default: throw kvmError(call, FakeErrno.enoent)
        }
        guard slice == 0 else { throw kvmError(call, FakeErrno.enoent) }
        guard size == want else { throw kvmError(call, FakeErrno.einval) }
        return (kind, n)
    }

    private static func padded(_ b: [UInt8], _ n: Int) -> [UInt8] { b + [UInt8](repeating: 0, count: n - b.count) }

    /// Vn as the A64 FP/SIMD instructions see it (16 bytes): Zn's low 128 bits on an SVE vCPU.
    func vector(_ n: Int) -> [UInt8] { sveVQ == nil ? v[n] : Array(z[n].prefix(16)) }

    /// Writes Vn (16 bytes) as an FP/SIMD instruction does: on an SVE vCPU the bits of Zn above
    /// 127 become zero (Arm ARM: a write to a SIMD&FP register zeroes the rest of the Z register).
    mutating func setVector(_ n: Int, _ bytes: [UInt8]) {
        if let vq = sveVQ { z[n] = Self.padded(bytes, 16 * vq) } else { v[n] = bytes }
    }

    static let fpRegsOffset = 336

    /// Which register `id` names: (vector index or nil for fpsr/fpcr, is-fpcr); nil when the id
    /// is not an fp_regs core register of the size its slot needs (KVM: ENOENT or EINVAL).
    private static func decode(_ id: UInt64) throws(DebugError) -> (vector: Int?, fpcr: Bool)? {
        guard id >> 56 == 0x60, (id >> 16) & 0xFFFF == 0x0010 else { return nil }
        let size = 1 << Int((id >> 52) & 0xF)
        let offset = Int(id & 0xFFFF) * 4 - fpRegsOffset
        if (0..<512).contains(offset) {
            guard offset % 16 == 0, size == 16 else { throw kvmError("KVM_GET_ONE_REG", FakeErrno.einval) }
            return (offset / 16, false)
        }
        if offset == 512 || offset == 516 {
            guard size == 4 else { throw kvmError("KVM_GET_ONE_REG", FakeErrno.einval) }
            return (nil, offset == 516)
        }
        return nil
    }

    /// KVM_GET_ONE_REG of an fp_regs id: its bytes; nil for ids that are not fp_regs.
    func get(_ id: UInt64) throws(DebugError) -> [UInt8]? {
        if let (kind, n) = try decodeSVE(id, "KVM_GET_ONE_REG") {
            switch kind {
            case 0: return Self.padded(z[n], 256)
            case 1: return Self.padded(p[n], 32)
            case 2: return Self.padded(ffr, 32)
            default:
                var vls = [UInt8](repeating: 0, count: 64)
                for vq in 1...(sveVQ ?? 0) { vls[(vq - 1) / 8] |= 1 << UInt8((vq - 1) % 8) }
                return vls
            }
        }
        guard let (vector, isFPCR) = try Self.decode(id) else { return nil }
        if let n = vector {
            guard sveVQ == nil else { throw kvmError("KVM_GET_ONE_REG", FakeErrno.einval) }
            return v[n]
        }
        let x = isFPCR ? fpcr : fpsr
        return (0..<4).map { UInt8(truncatingIfNeeded: x >> UInt32(8 * $0)) }
    }

    /// KVM_SET_ONE_REG of an fp_regs id; false for ids that are not fp_regs.
    mutating func set(_ id: UInt64, _ bytes: [UInt8]) throws(DebugError) -> Bool {
        if let (kind, n) = try decodeSVE(id, "KVM_SET_ONE_REG") {
            let vq = sveVQ ?? 0
            guard bytes.count == (kind == 0 ? 256 : kind == 3 ? 64 : 32) else { throw kvmError("KVM_SET_ONE_REG", FakeErrno.einval) }
            switch kind {
            case 0: z[n] = Array(bytes.prefix(16 * vq))
            case 1: p[n] = Array(bytes.prefix(2 * vq))
            case 2: ffr = Array(bytes.prefix(2 * vq))
            // After KVM_ARM_VCPU_FINALIZE the vector lengths are fixed.
            default: throw kvmError("KVM_SET_ONE_REG", FakeErrno.eperm)
            }
            return true
        }
        guard let (vector, isFPCR) = try Self.decode(id) else { return false }
        if let n = vector {
            guard sveVQ == nil else { throw kvmError("KVM_SET_ONE_REG", FakeErrno.einval) }
            guard bytes.count == 16 else { throw kvmError("KVM_SET_ONE_REG", FakeErrno.einval) }
            v[n] = bytes
            return true
        }
        guard bytes.count == 4 else { throw kvmError("KVM_SET_ONE_REG", FakeErrno.einval) }
        let x = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[$1]) << UInt32(8 * $1) }
        if isFPCR { fpcr = x } else { fpsr = x }
        return true
    }
}
