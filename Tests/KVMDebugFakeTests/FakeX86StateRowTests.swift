import KVMDebugCore
import KVMTestSupport
import KVMDebugFake
import Testing

/// The fake's group-15 rows (fxsave/fxrstor, ldmxcsr/stmxcsr) and and/or, judged by the SDM:
/// FXSAVE's image layout (vol. 1 table 10-2), #GP(0) for a misaligned image or a reserved MXCSR
/// bit, #UD for ldmxcsr with CR4.OSFXSR clear. With no IDT, a fault ends as a triple fault.
@Suite struct FakeX86StateRowTests {
    /// mov eax, 0x620; mov cr4, rax (OSFXSR | OSXMMEXCPT | PAE).
    let sseOn: [UInt8] = [0xB8, 0x20, 0x06, 0x00, 0x00, 0x0F, 0x22, 0xE0]

    /// An FXRSTOR image: FCW 0x027f, MXCSR `mxcsr`, st0 = 1.0, xmm15 = `xmm15`.
    func image(mxcsr: UInt64 = 0x9F80, xmm15: UInt64 = 0x1122_3344_5566_7788) -> [UInt8] {
        var a = [UInt8](repeating: 0, count: 512)
        a.replaceSubrange(0..<2, with: littleEndianBytes(0x027F, count: 2))
        a.replaceSubrange(24..<28, with: littleEndianBytes(mxcsr, count: 4))
        a.replaceSubrange(32..<42, with: littleEndianBytes(0x8000_0000_0000_0000) + [0xFF, 0x3F])
        a.replaceSubrange(400..<408, with: littleEndianBytes(xmm15))
        return a
    }

    @Test func fxrstorThenFxsaveAndTheMXCSRRows() throws {
        let code = sseOn + [
            0x0F, 0xAE, 0x0C, 0x25, 0x00, 0x30, 0x00, 0x00,  // fxrstor [0x3000]
            0x0F, 0xAE, 0x04, 0x25, 0x00, 0x34, 0x00, 0x00,  // fxsave [0x3400]
            0x0F, 0xAE, 0x1C, 0x25, 0x00, 0x38, 0x00, 0x00,  // stmxcsr [0x3800]
            0x0F, 0xAE, 0x14, 0x25, 0x08, 0x38, 0x00, 0x00,  // ldmxcsr [0x3808]
            0x0F, 0xAE, 0x1C, 0x25, 0x10, 0x38, 0x00, 0x00,  // stmxcsr [0x3810]
            0xF4,
        ]
        let b = try FakeBackend(guest: x86Guest(.long, code, data: [GuestData(address: 0x3000, bytes: image()),
                                                                      GuestData(address: 0x3808, bytes: littleEndianBytes(0x7F80))]))
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1000 + UInt64(code.count)))
        #expect(try b.word(0x3400) & 0xFFFF == 0x027F)
        #expect(try b.word(0x3418) == 0xFFFF_0000_9F80, "MXCSR, then MXCSR_MASK")
        #expect(try b.word(0x3420) == 0x8000_0000_0000_0000 && b.word(0x3428) & 0xFFFF == 0x3FFF, "st0")
        #expect(try b.word(0x3400 + 400) == 0x1122_3344_5566_7788, "xmm15")
        #expect(try b.word(0x3800) == 0x9F80)
        #expect(try b.word(0x3810) == 0x7F80)
        guard case .x86_64(let fp) = try b.floatingPointRegisters(vcpu: 0) else { Issue.record("not x86"); return }
        #expect(fp.mxcsr == 0x7F80 && fp.fcw == 0x027F && fp.xmm[15] == 0x1122_3344_5566_7788)
    }

    @Test func misalignedFxsaveFaultsAndWritesNothing() throws {
        let code = sseOn + [0x0F, 0xAE, 0x04, 0x25, 0x08, 0x34, 0x00, 0x00, 0xF4]  // fxsave [0x3408]
        let b = try FakeBackend(guest: x86Guest(.long, code))
        #expect(try b.run(vcpu: 0) == .shutdown)
        #expect(try b.word(0x3408) == 0)
    }

    @Test func reservedMXCSRBitsFaultAndLoadNothing() throws {
        let fxrstor = sseOn + [0x0F, 0xAE, 0x0C, 0x25, 0x00, 0x30, 0x00, 0x00, 0xF4]
        let b = try FakeBackend(guest: x86Guest(.long, fxrstor, data: [GuestData(address: 0x3000, bytes: image(mxcsr: 0x1_1F80))]))
        #expect(try b.run(vcpu: 0) == .shutdown)
        guard case .x86_64(let fp) = try b.floatingPointRegisters(vcpu: 0) else { Issue.record("not x86"); return }
        #expect(fp.mxcsr == 0x1F80 && fp.fcw == 0x037F && fp.xmm[15] == 0, "nothing loaded")
        let ldmxcsr = sseOn + [0x0F, 0xAE, 0x14, 0x25, 0x00, 0x30, 0x00, 0x00, 0xF4]
        let c = try FakeBackend(guest: x86Guest(.long, ldmxcsr, data: [GuestData(address: 0x3000, bytes: littleEndianBytes(0x1_0000))]))
        #expect(try c.run(vcpu: 0) == .shutdown)
    }

    @Test func ldmxcsrNeedsOSFXSRAndFxsaveDoesNot() throws {
        let ld = try FakeBackend(guest: x86Guest(.long, [0x0F, 0xAE, 0x14, 0x25, 0x00, 0x30, 0x00, 0x00, 0xF4]))
        #expect(try ld.run(vcpu: 0) == .shutdown, "#UD")
        let save = try FakeBackend(guest: x86Guest(.long, [0x0F, 0xAE, 0x04, 0x25, 0x00, 0x34, 0x00, 0x00, 0xF4]))
        #expect(try save.run(vcpu: 0) == .halt(pc: 0x1009))
        #expect(try save.word(0x3400) & 0xFFFF == 0x037F)
    }

    @Test func andOrSetZeroAndClearCarry() throws {
        let code: [UInt8] = [
            0xB8, 0xF0, 0x00, 0x00, 0x00,        // mov eax, 0xf0
            0x48, 0x83, 0xE0, 0x0F,              // and rax, 0x0f   -> 0, ZF
            0x74, 0x01, 0xF4,                    // je +1 (else hlt early)
            0x48, 0x83, 0xC8, 0x05,              // or rax, 5
            0xBB, 0x30, 0x00, 0x00, 0x00,        // mov ebx, 0x30
            0x48, 0x09, 0xD8,                    // or rax, rbx     -> 0x35
            0x48, 0x21, 0xC3,                    // and rbx, rax    -> 0x30
            0x48, 0x0B, 0x1C, 0x25, 0x00, 0x30, 0x00, 0x00,  // or rbx, [0x3000]
            0xF4,
        ]
        let b = try FakeBackend(guest: x86Guest(.long, code, data: [GuestData(address: 0x3000, bytes: littleEndianBytes(0x100))]))
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1000 + UInt64(code.count)))
        #expect(b.register("rax", vcpu: 0) == 0x35)
        #expect(b.register("rbx", vcpu: 0) == 0x130)
    }
}
