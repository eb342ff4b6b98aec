import Testing
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// The fake's FP/SIMD loads and stores, MSR/MRS of FPCR, FPSR, CPACR_EL1 and the guest's own
/// debug registers, judged by the Arm ARM: the encodings are written out by hand (as an
/// assembler emits them), the results read back through the backend's ONE_REG-shaped calls.
@Suite struct FakeArm64FPDebugTests {
    /// movz x1, #0x30, lsl #16; msr cpacr_el1, x1; isb: CPACR_EL1.FPEN = 0b11.
    static let enableFP: [UInt32] = [0xD2A0_0601, 0xD518_1041, 0xD503_3FDF]
    /// movz x2, #0x1000; movk x2, #1, lsl #16: x2 = 0x11000.
    static let x2Data: [UInt32] = [0xD282_0002, 0xF2A0_0022]
    static let data: [GuestData] = [GuestData(address: 0x11000, bytes: (0..<16).map { UInt8(0xF0 | $0) })]

    static func run(_ words: [UInt32], data: [GuestData] = data, sveVQ: Int? = nil) throws(DebugError) -> FakeBackend {
        let b = try FakeBackend(guest: arm64Guest(words, data: data), arm64SVEQuadwords: sveVQ)
        b.maxInstructionsPerRun = words.count
        _ = try b.run(vcpu: 0)
        return b
    }

    static func v(_ b: FakeBackend, _ n: Int) throws(DebugError) -> UInt128 {
        guard case .arm64(let f) = try b.floatingPointRegisters(vcpu: 0) else { return 0 }
        return f.v[n]
    }

    static func unsupportedReason(_ body: () throws(DebugError) -> Void) -> String? {
        do throws(DebugError) { try body(); return nil } catch {
            if case .unsupported(let reason) = error { return reason }
            return "\(error)"
        }
    }

    @Test func fpSIMDTrapsUntilTheGuestSetsCPACRFPEN() {
        // KVM resets CPACR_EL1 to 0: ldr q0, [x2] traps to EL1, which the fake refuses to model.
        let reason = Self.unsupportedReason { () throws(DebugError) in _ = try Self.run(Self.x2Data + [0x3DC0_0040]) }
        #expect(reason?.contains("CPACR_EL1.FPEN = 0") == true, "\(reason ?? "no error")")
        // FPEN = 0b01 traps EL0 only: mrs x5, fpcr runs at EL1.
        let words: [UInt32] = [0xD2A0_0201, 0xD518_1041, 0xD503_3FDF, 0xD53B_4405]
        #expect(Self.unsupportedReason { () throws(DebugError) in _ = try Self.run(words) } == nil)
    }

    @Test func loadsAndStoresOfEverySIMDAndFPSize() throws {
        let b = try Self.run(Self.enableFP + Self.x2Data + [
            0x3DC0_0040,  // ldr q0, [x2]
            0x3D80_0440,  // str q0, [x2, #16]
            0xFD40_0041,  // ldr d1, [x2]
            0x3D40_0042,  // ldr b2, [x2]
            0xBD40_0443,  // ldr s3, [x2, #4]
            0x7D40_0444,  // ldr h4, [x2, #2]
            0xFD00_1041,  // str d1, [x2, #32]
        ])
        let q: UInt128 = (0..<16).reduce(0) { $0 | UInt128(0xF0 | $1) << UInt128(8 * $1) }
        #expect(try Self.v(b, 0) == q)
        #expect(try b.readMemory(0x11010, count: 16) == (0..<16).map { UInt8(0xF0 | $0) })
        // The narrower loads zero the rest of the 128-bit register.
        #expect(try Self.v(b, 1) == q & 0xFFFF_FFFF_FFFF_FFFF)
        #expect(try Self.v(b, 2) == 0xF0)
        #expect(try Self.v(b, 3) == 0xF7F6_F5F4)
        #expect(try Self.v(b, 4) == 0xF3F2)
        #expect(try b.readMemory(0x11020, count: 8) == (0..<8).map { UInt8(0xF0 | $0) })
    }

    @Test func aQStoreIsOneSixteenByteAccessToTheWatchpoints() throws {
        let words = Self.enableFP + Self.x2Data + [0x3DC0_0040, 0x3D80_0440]  // ldr q0, [x2]; str q0, [x2, #16]
        let b = try FakeBackend(guest: arm64Guest(words, data: Self.data))
        // Watch the last byte of the store (0x1101f, BAS bit 7 of the doubleword at 0x11018), stores, EL1.
        try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: 0x80 << 5 | 0b10 << 3 | 0b01 << 1 | 1], wvr: [0: 0x11018]), vcpu: 0)
        let stop = try #require(arm64Debug(try b.run(vcpu: 0)))
        #expect(stop.pc == 0x10018 && stop.esr >> 26 == 0x34 && stop.esr & 1 << 6 != 0)
        #expect(try b.readMemory(0x11010, count: 16) == [UInt8](repeating: 0, count: 16))
    }

    @Test func anSVEVCPUsQLoadZeroesTheRestOfZ() throws {
        let b = try Self.run(Self.enableFP + Self.x2Data + [0x3DC0_0040], sveVQ: 2)
        guard case .arm64(let f) = try b.floatingPointRegisters(vcpu: 0), let sve = f.sve else {
            Issue.record("no SVE registers"); return
        }
        #expect(sve.z[0] == (0..<16).map { UInt8(0xF0 | $0) } + [UInt8](repeating: 0, count: 16))
    }

    @Test func fpcrAndFPSRRoundTrip() throws {
        let b = try Self.run(Self.enableFP + [
            0xD2A0_F001,  // movz x1, #0x780, lsl #16
            0xD51B_4401,  // msr fpcr, x1
            0xD53B_4405,  // mrs x5, fpcr
            0xD280_02A1,  // movz x1, #0x15
            0xF2A1_0001,  // movk x1, #0x800, lsl #16
            0xD51B_4421,  // msr fpsr, x1
            0xD53B_4426,  // mrs x6, fpsr
        ])
        #expect(b.register("x5", vcpu: 0) == 0x0780_0000)
        #expect(b.register("x6", vcpu: 0) == 0x0800_0015)
        guard case .arm64(let f) = try b.floatingPointRegisters(vcpu: 0) else { Issue.record("not arm64"); return }
        #expect(f.fpcr == 0x0780_0000 && f.fpsr == 0x0800_0015)
    }

    @Test func theGuestsOwnDebugRegistersAreWhatItsMSRsWrote() throws {
        let b = try Self.run([
            0xD282_4681,  // movz x1, #0x1234
            0xD510_0081,  // msr dbgbvr0_el1, x1
            0xD510_01A1,  // msr dbgbcr1_el1, x1
            0xD510_00E1,  // msr dbgwcr0_el1, x1
            0xD510_01C1,  // msr dbgwvr1_el1, x1
            0xD280_0601,  // movz x1, #0x30
            0xD510_0241,  // msr mdscr_el1, x1
            0xD530_0087,  // mrs x7, dbgbvr0_el1
            0xD530_0248,  // mrs x8, mdscr_el1
        ])
        #expect(b.register("x7", vcpu: 0) == 0x1234 && b.register("x8", vcpu: 0) == 0x30)
        guard case .arm64(let g) = try b.guestDebugRegisters(vcpu: 0) else { Issue.record("not arm64"); return }
        #expect(g.bvr[0] == 0x1234 && g.bcr[1] == 0x1234 && g.wcr[0] == 0x1234 && g.wvr[1] == 0x1234 && g.mdscr == 0x30)
        #expect(g.bcr[0] == 0 && g.bvr[1] == 0 && g.wvr[0] == 0 && g.wcr[1] == 0)
    }

    @Test func aDebugRegisterSlotTheVCPULacksIsRefused() {
        // The fake's vCPU has 6 breakpoints: DBGBVR6_EL1 is UNDEFINED.
        let reason = Self.unsupportedReason { () throws(DebugError) in _ = try Self.run([0xD510_0681]) }
        #expect(reason?.contains("DBGBVR6_EL1") == true, "\(reason ?? "no error")")
    }
}
