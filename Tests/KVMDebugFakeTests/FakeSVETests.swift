import Testing
import KVMDebugCore
@testable import KVMDebugFake

/// The fake's SVE vCPU behind KVM's ONE_REG ABI, with ids written out by hand from api.rst
/// ("arm64 SVE registers": `0x6080 0000 0015 00 <n:5> <slice:5>` Zn, `0x6050 0000 0015 04
/// <n:4> <slice:5>` Pn, `0x6050 0000 0015 060 <slice:5>` FFR, `0x6060 0000 0015 ffff` VLS; the
/// fp_regs V ids "are not accepted for SVE-enabled vcpus"), not from kvmdbg's own table.
@Suite struct FakeSVETests {
    static func errno(_ body: () throws(DebugError) -> Void) -> Int32? {
        do throws(DebugError) { try body(); return nil } catch {
            if case .system(_, let e) = error { return e }
            return -1
        }
    }

    @Test func anSVEVCPUServesZPFFRAndVLSAndRefusesTheVIDs() throws {
        var fpu = FakeArm64FPU(sveVQ: 2)
        let z7: UInt64 = 0x6080_0000_0015_00E0, p3: UInt64 = 0x6050_0000_0015_0460, ffr: UInt64 = 0x6050_0000_0015_0600
        let vls: UInt64 = 0x6060_0000_0015_FFFF, v0: UInt64 = 0x6040_0000_0010_0054, fpsr: UInt64 = 0x6020_0000_0010_00D4
        // Zn: a 256-byte slice, the 32 bytes of a 256-bit vector and zeros after them.
        let bytes = (0..<256).map { UInt8(truncatingIfNeeded: $0 + 1) }
        #expect(try fpu.set(z7, bytes))
        #expect(try fpu.get(z7) == Array(bytes.prefix(32)) + [UInt8](repeating: 0, count: 224))
        #expect(try fpu.set(p3, [UInt8](repeating: 0xA5, count: 32)))
        #expect(try fpu.get(p3) == [0xA5, 0xA5, 0xA5, 0xA5] + [UInt8](repeating: 0, count: 28))
        #expect(try fpu.get(ffr)?.count == 32)
        // VLS: vector lengths 1 and 2 quadwords; fixed after finalize (EPERM).
        #expect(try fpu.get(vls) == [0x03] + [UInt8](repeating: 0, count: 63))
        #expect(Self.errno { () throws(DebugError) in _ = try fpu.set(vls, [0x01] + [UInt8](repeating: 0, count: 63)) } == 1)
        // The V ids are refused, FPSR still served by its core id.
        #expect(Self.errno { () throws(DebugError) in _ = try fpu.get(v0) } == 22)
        #expect(Self.errno { () throws(DebugError) in _ = try fpu.set(v0, [UInt8](repeating: 0, count: 16)) } == 22)
        #expect(try fpu.get(fpsr)?.count == 4)
        // Slice 1 of a 256-bit vector does not exist (ENOENT); a wrong size field is EINVAL.
        #expect(Self.errno { () throws(DebugError) in _ = try fpu.get(z7 | 1) } == 2)
        #expect(Self.errno { () throws(DebugError) in _ = try fpu.get(0x6050_0000_0015_00E0) } == 22)
    }

    @Test func aVCPUWithoutSVEHasNoSVEIDs() throws {
        let fpu = FakeArm64FPU()
        #expect(Self.errno { () throws(DebugError) in _ = try fpu.get(0x6060_0000_0015_FFFF) } == 2)
        #expect(Self.errno { () throws(DebugError) in _ = try fpu.get(0x6080_0000_0015_0000) } == 2)
        #expect(try fpu.get(0x6040_0000_0010_0054)?.count == 16)
    }

    @Test func theBackendRefusesAnSVELengthOutsideOneSlice() {
        #expect(Self.errno { () throws(DebugError) in _ = try FakeBackend(guest: BuiltinGuests.counterArm64(), arm64SVEQuadwords: 17) } == -1)
        #expect(Self.errno { () throws(DebugError) in _ = try FakeBackend(guest: BuiltinGuests.counterX86(.long), arm64SVEQuadwords: 1) } == -1)
    }
}
