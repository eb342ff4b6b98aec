// The SVE ONE_REG ids and the VLS bitmap, worked out by hand from
// arch/arm64/include/uapi/asm/kvm.h (KVM_REG_ARM64 0x6000000000000000, KVM_REG_ARM64_SVE
// 0x15 << 16, KVM_REG_SIZE_U2048 0x0080000000000000, U256 0x0050..., U512 0x0060...;
// KVM_REG_ARM64_SVE_ZREG(n, i) = ... | n << 5 | i, PREG base 0x400, FFR base 0x600, VLS 0xffff)
// and api.rst's patterns: `0x6080 0000 0015 00 <n:5> <slice:5>`, `0x6050 0000 0015 04 <n:4>
// <slice:5>`, `0x6050 0000 0015 060 <slice:5>`, `0x6060 0000 0015 ffff`.

import Testing
import KVMDebugCore

@Suite struct Arm64SVERegisterTests {
    @Test func idsMatchTheUAPIHeader() {
        #expect(Arm64SVERegister.z(0).kvmID == 0x6080_0000_0015_0000)
        #expect(Arm64SVERegister.z(31).kvmID == 0x6080_0000_0015_03E0)
        #expect(Arm64SVERegister.p(0).kvmID == 0x6050_0000_0015_0400)
        #expect(Arm64SVERegister.p(15).kvmID == 0x6050_0000_0015_05E0)
        #expect(Arm64SVERegister.ffr.kvmID == 0x6050_0000_0015_0600)
        #expect(Arm64SVERegister.vls.kvmID == 0x6060_0000_0015_FFFF)
        // The id's size field names the bytes one transfer carries: 2048, 256 and 512 bits.
        for r in [Arm64SVERegister.z(3), .p(2), .ffr, .vls] {
            #expect(1 << Int((r.kvmID >> 52) & 0xF) == r.bytes, "\(r)")
        }
        #expect(Arm64SVERegister.all.count == 32 + 16 + 1)
    }

    /// Bit (vq - 1) of the `__u64[8]` bitmap: the largest set bit is the vector length.
    @Test func vectorLengthFromTheVLSBitmap() {
        var vls = [UInt8](repeating: 0, count: 64)
        #expect(Arm64SVERegisters.maxVQ(vls: vls) == nil, "no length at all")
        vls[0] = 0b1011  // 128, 256 and 512 bits
        #expect(Arm64SVERegisters.maxVQ(vls: vls) == 4)
        vls[1] = 0x80    // vq 16: 2048 bits, one slice
        #expect(Arm64SVERegisters.maxVQ(vls: vls) == 16)
        vls[2] = 0x01    // vq 17: past one slice, not served
        #expect(Arm64SVERegisters.maxVQ(vls: vls) == nil)
    }

    /// V is Zn's low half: a file read from Z shows it, and a changed V goes back into Z's low
    /// 128 bits only (the rest of the vector kept).
    @Test func vIsTheLowHalfOfZ() {
        var sve = Arm64SVERegisters(vq: 2)
        sve.z[5] = (0..<32).map { UInt8($0 + 1) }
        var f = Arm64FPRegisterFile(sve: sve, fpsr: 0x10, fpcr: 0x40_0000)
        let low: UInt128 = 0x100F_0E0D_0C0B_0A09_0807_0605_0403_0201
        #expect(f.v[5] == low)
        #expect(f.sveToWrite == sve, "unchanged V writes back the same Z")
        f.v[5] = 0xAB
        let back = f.sveToWrite!
        #expect(back.z[5] == [0xAB] + [UInt8](repeating: 0, count: 15) + (16..<32).map { UInt8($0 + 1) })
        #expect(back.z[4] == sve.z[4])
        #expect(back.vg == 4)
    }
}
