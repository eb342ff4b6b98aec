import KVMDebugModel

/// The FP/SIMD state of a fake arm64 vCPU (V0-V31, FPSR, FPCR) behind KVM's ONE_REG ABI:
/// ids are decoded here from api.rst's rules (KVM_REG_ARM64 | size | KVM_REG_ARM_CORE |
/// offset / 4 into `struct kvm_regs`, whose `fp_regs` starts at byte 336), not taken from
/// kvmdbg's `Arm64FPRegister`, so the two check each other.
struct FakeArm64FPU: Sendable, Hashable {
    /// V0-31, 16 bytes each, little-endian.
    var v: [[UInt8]] = [[UInt8]](repeating: [UInt8](repeating: 0, count: 16), count: 32)
    var fpsr: UInt32 = 0
    var fpcr: UInt32 = 0

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
        guard let (vector, isFPCR) = try Self.decode(id) else { return nil }
        if let n = vector { return v[n] }
        let x = isFPCR ? fpcr : fpsr
        return (0..<4).map { UInt8(truncatingIfNeeded: x >> UInt32(8 * $0)) }
    }

    /// KVM_SET_ONE_REG of an fp_regs id; false for ids that are not fp_regs.
    mutating func set(_ id: UInt64, _ bytes: [UInt8]) throws(DebugError) -> Bool {
        guard let (vector, isFPCR) = try Self.decode(id) else { return false }
        if let n = vector {
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
