import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

/// Every register of the target description is read from the vCPU: a distinct value written
/// through `P` (and `G`) reads back through `p`/`g` and through the backend itself, bypassing
/// the session's per-stop cache. On the fake (both architectures) and on this host's KVM (x86).
@Suite struct RegisterRoundTripTests {
    /// The engine over a session on any backend, driven synchronously (no resumes needed here).
    final class Engine<B: DebugBackend> {
        let backend: B
        let session: DebugSession<B>
        let engine: GDBEngine<DebugSession<B>>

        init(_ backend: B) {
            self.backend = backend
            session = DebugSession(backend: backend)
            engine = GDBEngine(target: session, options: GDBEngineOptions())
        }

        deinit { session.close() }

        func reply(_ payload: String) -> String {
            var bytes: [UInt8] = []
            for case .send(let b) in engine.receive(wire(payload)) { bytes += b }
            let packets = Sent(bytes).packets
            return packets.count == 1 ? packets[0] : "<\(packets.count) replies>"
        }

        /// The backend's own registers (no session cache), as the layout sees them.
        func fromBackend() throws -> RegisterValues {
            RegisterValues(general: try backend.registers(vcpu: 0), fp: try? backend.floatingPointRegisters(vcpu: 0),
                           guestDebug: try? backend.guestDebugRegisters(vcpu: 0))
        }
    }

    /// A value for register `n` that differs from its reset value and that the kernel accepts
    /// (nil: the register is written with its current value, and why).
    static func testValue(_ r: GDBRegister, _ n: Int, arch: Arch) -> UInt128? {
        let k = UInt128(n + 1)
        switch r.field {
        case .x86GPR, .arm64X, .arm64SP, .x86FSBase, .x86GSBase:
            return 0x1111_0000_0000 | k << 4
        case .x87ST:  // a normal number (integer bit set): its full tag is "valid"
            return UInt128(0x3FFF + n) << 64 | UInt128(0x8000_0000_0000_0000) | k
        case .x87(let f):
            switch f {
            case .fctrl: return 0x027F        // round to nearest, 53-bit precision
            case .fstat: return 0x3800 | k   // TOP = 7
            case .ftag: return 0              // every register in use: st0-7 are valid numbers
            case .fop: return 0x100 | k
            default: return 0x4000_0000 | k
            }
        case .xmm, .arm64V, .ymmHigh:
            return UInt128(0xA5A5_0000_0000_0000 | UInt64(n)) << 64 | UInt128(0x5A5A_0000 + n)
        case .mxcsr: return 0x7F80          // RC = toward zero, every exception masked
        case .arm64FPSR: return 0x0800_0010 // QC, IXC (cumulative flags)
        case .arm64FPCR: return 0x0040_0000 // RMode = toward plus infinity
        case .x86GuestDR(let i):
            switch i {
            case 6: return 0xFFFF_0FF1      // B0 set; DR6 is 32 bits
            case 7: return 0x0000_0401      // L0 (a local breakpoint), bit 10 fixed
            default: return 0x0040_1000 | k << 4
            }
        case .arm64GuestDebug(let g):
            switch g {
            case .bvr, .wvr: return 0x0040_0000 | k << 3
            case .bcr: return 0x1E7           // enabled, EL1+EL0, BAS 0xF
            case .wcr: return 0x1FF           // enabled, EL1+EL0, load and store, BAS 0xF
            case .mdscr: return 0x8000        // MDE
            }
        // Validated by the kernel (segment selectors, control registers, flags, pc): written with
        // their current value, which must still read back.
        default: return nil
        }
    }

    func roundTrip<B: DebugBackend>(_ e: Engine<B>, arch: Arch) throws {
        let table = RegisterLayout.table(for: e.session)
        let start = try e.fromBackend()
        var expected = start
        for (n, r) in table.enumerated() {
            let current = try #require(RegisterLayout.value(r, in: start), "\(r.name) is unavailable on this backend")
            let v = Self.testValue(r, n, arch: arch) ?? current
            let hex = String(decoding: GDBHex.encode((0..<r.bytes).map { UInt8(truncatingIfNeeded: v >> UInt128(8 * $0)) }), as: UTF8.self)
            #expect(e.reply("P\(String(n, radix: 16))=\(hex)") == "OK", "P \(r.name)")
            #expect(e.reply("p\(String(n, radix: 16))") == hex, "p \(r.name) after P")
            _ = RegisterLayout.set(r, v, in: &expected)
        }
        // Through the backend, without the session's cache: every register holds what was written.
        let after = try e.fromBackend()
        for r in table {
            #expect(RegisterLayout.value(r, in: after) == RegisterLayout.value(r, in: expected), "\(r.name) via the backend")
        }
        // And through g: the same hex as the p replies, no x digits.
        let g = e.reply("g")
        #expect(g.count == 2 * RegisterLayout.size(of: table))
        #expect(!g.contains("x"))
        #expect(Array(g.utf8) == RegisterLayout.hexAll(expected, table: table))
    }

    @Test func everyX86RegisterRoundTripsOnTheFake() throws {
        try roundTrip(Engine(try FakeBackend(guest: BuiltinGuests.counterX86(.long))), arch: .x86_64)
    }

    /// A vCPU with AVX: ymm0h-ymm15h are described (org.gnu.gdb.i386.avx, after every other
    /// register) and round-trip through the XSAVE area's YMM_Hi128 component.
    @Test func everyX86RegisterRoundTripsOnTheFakeWithAVX() throws {
        let e = Engine(try FakeBackend(guest: BuiltinGuests.counterX86(.long), x86AVX: true))
        try roundTrip(e, arch: .x86_64)
        let xml = TargetDescription.xml(for: .x86_64, avx: true)
        #expect(xml.contains("<feature name=\"org.gnu.gdb.i386.avx\">\n<reg name=\"ymm0h\" bitsize=\"128\" type=\"uint128\" regnum=\"\(RegisterLayout.x86.count)\""))
        #expect(!TargetDescription.xml(for: .x86_64).contains("ymm"))
        #expect(e.reply("qRegisterInfo\(String(RegisterLayout.x86.count + 15, radix: 16))").hasPrefix("name:ymm15h;bitsize:128;"))
    }

    @Test func everyArm64RegisterRoundTripsOnTheFake() throws {
        // 16 slots each, so every dbgb*/dbgw* register of the description exists on this vCPU.
        try roundTrip(Engine(try FakeBackend(guest: BuiltinGuests.counterArm64(), hardwareBreakpoints: 16, hardwareWatchpoints: 16)), arch: .arm64)
    }

    /// An arm64 vCPU with SVE (vector length 512 bits, vq 4): `org.gnu.gdb.aarch64.sve` takes the
    /// fpu feature's place (gdb numbers z0-z31, fpsr, fpcr, p0-p15, ffr, vg after cpsr); every
    /// z/p/ffr byte written through `P` reads back through `p`, `g` and the backend's ONE_REG ids;
    /// V (the FP/SIMD file's view) is Zn's low half; vg is the length and refuses another one.
    @Test func sveRegistersRoundTripOnTheFake() throws {
        let vq = 4
        let backend = try FakeBackend(guest: BuiltinGuests.counterArm64(), hardwareBreakpoints: 16, hardwareWatchpoints: 16,
                                      arm64SVEQuadwords: vq)
        let e = Engine(backend)
        let table = RegisterLayout.table(for: e.session)
        let names = table.map(\.name)
        #expect(names[34] == "z0" && names[65] == "z31" && names[66] == "fpsr" && names[67] == "fpcr")
        #expect(names[68] == "p0" && names[84] == "ffr" && names[85] == "vg" && names[86] == "dbgbvr0_el1")
        #expect(!names.contains("v0"), "with SVE gdb makes v0-v31 from z0-z31 itself")
        #expect(table[34].bits == 512 && table[68].bits == 64 && table[84].bits == 64)
        let xml = TargetDescription.xml(for: .arm64, sve: vq)
        #expect(xml.contains("<feature name=\"org.gnu.gdb.aarch64.sve\">") && !xml.contains("org.gnu.gdb.aarch64.fpu"))
        #expect(xml.contains("<reg name=\"z0\" bitsize=\"512\" type=\"svev\" regnum=\"34\""))
        #expect(xml.contains("<vector id=\"svevqu\" type=\"uint128\" count=\"4\"/>"))
        // The engine serves that description.
        var served = ""
        for _ in 0..<100 {
            let r = e.reply("qXfer:features:read:target.xml:\(String(served.utf8.count, radix: 16)),400")
            served += r.dropFirst()
            if r.first != "m" { break }
        }
        #expect(served == xml, "qXfer serves the SVE description")

        let hex = { (b: [UInt8]) in String(decoding: GDBHex.encode(b), as: UTF8.self) }
        #expect(e.reply("p55") == hex([8, 0, 0, 0, 0, 0, 0, 0]), "vg = 2 * vq")
        #expect(e.reply("P55=\(hex([8, 0, 0, 0, 0, 0, 0, 0]))") == "OK", "vg written with its own value")
        #expect(e.reply("P55=\(hex([4, 0, 0, 0, 0, 0, 0, 0]))") == "E01", "vg: the length is fixed at KVM_ARM_VCPU_FINALIZE")
        var written: [Int: [UInt8]] = [:]
        for (n, r) in table.enumerated() {
            switch r.field {
            case .sveZ, .sveP, .sveFFR:
                let b = (0..<r.bytes).map { UInt8(truncatingIfNeeded: n &* 7 &+ $0 &* 13 &+ 1) }
                #expect(e.reply("P\(String(n, radix: 16))=\(hex(b))") == "OK", "P \(r.name)")
                #expect(e.reply("p\(String(n, radix: 16))") == hex(b), "p \(r.name) after P")
                written[n] = b
            default: continue
            }
        }
        #expect(written.count == 32 + 16 + 1)
        let g = e.reply("g")
        #expect(g.count == 2 * RegisterLayout.size(of: table) && !g.contains("x"), "g: every register read")
        // The backend's ONE_REG state, without the session's cache.
        guard case .arm64(let f)? = try e.fromBackend().fp, let sve = f.sve else {
            Issue.record("the fake's FP/SIMD file has no SVE registers"); return
        }
        for n in 0..<32 {
            #expect(sve.z[n] == written[34 + n], "z\(n) via the backend")
            #expect(f.v[n] == sve.low128(n), "v\(n) is z\(n)'s low half")
        }
        for n in 0..<16 { #expect(sve.p[n] == written[68 + n], "p\(n) via the backend") }
        #expect(sve.ffr == written[84])
        // A V edit through the FP/SIMD file lands in Z's low half, the upper bytes kept.
        var edited = f
        edited.v[2] = 0x0102
        try e.session.setFloatingPointRegisters(.arm64(edited), vcpu: 0)
        guard case .arm64(let f2)? = try e.fromBackend().fp, let z2 = f2.sve?.z[2] else { Issue.record("no SVE after the V write"); return }
        #expect(z2 == [0x02, 0x01] + [UInt8](repeating: 0, count: 14) + Array(written[36]![16...]))
    }

    @Test(.enabled(if: kvmX86Unavailable == nil, Comment(rawValue: kvmX86Unavailable ?? "")))
    func everyX86RegisterRoundTripsOnKVM() throws {
        try roundTrip(Engine(try KVMBackend(guest: BuiltinGuests.counterX86(.long))), arch: .x86_64)
    }

    /// A stop costs no FP or guest-debug ioctl; the first packet that needs one reads it once,
    /// later packets of the same stop use the cached read, and the next run drops it.
    @Test func fpAndGuestDebugRegistersAreReadOnlyWhenAskedOncePerStop() throws {
        let h = try Harness()
        func count(_ match: (FakeCall) -> Bool) -> Int { h.backend.trace.filter(match).count }
        func fpReads() -> Int { count { if case .getFPRegisters = $0 { return true } else { return false } } }
        func drReads() -> Int { count { if case .getGuestDebugRegisters = $0 { return true } else { return false } } }
        #expect(try h.reply("Z1,1006,1") == "OK")
        _ = try h.ask("vCont;c")
        #expect(fpReads() == 0 && drReads() == 0, "the stop itself: \(h.backend.trace)")
        let table = RegisterLayout.table(for: .x86_64)
        let xmm0 = try #require(table.firstIndex { $0.name == "xmm0" }), dr7 = try #require(table.firstIndex { $0.name == "dr7" })
        _ = try h.reply("p\(String(xmm0, radix: 16))")
        _ = try h.reply("p\(String(xmm0 + 1, radix: 16))")
        #expect(fpReads() == 1 && drReads() == 0)
        _ = try h.reply("p\(String(dr7, radix: 16))")
        _ = try h.reply("g")
        #expect(fpReads() == 1 && drReads() == 1)
        _ = try h.ask("vCont;c")
        _ = try h.reply("g")
        #expect(fpReads() == 2 && drReads() == 2, "a new stop reads them again")
    }

    @Test func slotsPastTheVCPUsCountAreUnavailableAndRefused() throws {
        let e = Engine(try FakeBackend(guest: BuiltinGuests.counterArm64(), hardwareBreakpoints: 6, hardwareWatchpoints: 4))
        let table = RegisterLayout.table(for: .arm64)
        let bcr5 = try #require(table.firstIndex { $0.name == "dbgbcr5_el1" })
        let bcr6 = try #require(table.firstIndex { $0.name == "dbgbcr6_el1" })
        #expect(e.reply("p\(String(bcr5, radix: 16))") == String(repeating: "0", count: 16))
        #expect(e.reply("p\(String(bcr6, radix: 16))") == String(repeating: "x", count: 16))
        #expect(e.reply("P\(String(bcr6, radix: 16))=" + String(repeating: "11", count: 8)) == "E01")
        // g carries the same x digits at that register's place.
        let g = e.reply("g")
        let at = 2 * table[..<bcr6].reduce(0) { $0 + $1.bytes }
        #expect(g.dropFirst(at).prefix(16) == String(repeating: "x", count: 16)[...])
    }

    @Test func aBackendWithoutFPStateReportsThoseRegistersUnavailable() throws {
        let e = Engine(NoFPBackend(try FakeBackend(guest: BuiltinGuests.counterX86(.long))))
        let table = RegisterLayout.table(for: .x86_64)
        let xmm0 = try #require(table.firstIndex { $0.name == "xmm0" })
        let rax = try #require(table.firstIndex { $0.name == "rax" })
        #expect(e.reply("p\(String(xmm0, radix: 16))") == String(repeating: "x", count: 32))
        #expect(e.reply("P\(String(xmm0, radix: 16))=" + String(repeating: "11", count: 16)) == "E01")
        #expect(e.reply("p\(String(rax, radix: 16))") != String(repeating: "x", count: 16))
    }

    @Test func x87TagWordIsRebuiltFromTheAbridgedTagAndContents() {
        var f = X86FPRegisterFile()
        #expect(f.fullTag == 0xFFFF)  // all empty
        f.fsw = 5 << 11               // TOP = 5: ST(0) is physical register 5
        f.abridgedTag = 1 << 5 | 1 << 6 | 1 << 7
        f.st[0] = 0                                              // zero -> 01
        f.st[1] = UInt128(0x3FFF) << 64 | UInt128(1) << 63        // 1.0 -> 00
        f.st[2] = UInt128(0x7FFF) << 64 | UInt128(1) << 63        // infinity -> 10
        #expect(f.fullTag == 0b10_00_01_11_11_11_11_11)
        f.fullTag = 0xFFF0            // physical 0 and 1 in use
        #expect(f.abridgedTag == 0b11)
    }

    @Test func aShortXSAVEAreaDecodesWithoutTrapping() {
        let f = X86FPRegisterFile(xsave: [0x7F, 0x03], hasAVX: true)
        #expect(f.fcw == 0x37F && f.abridgedTag == 0 && f.ymmHigh == [UInt128](repeating: 0, count: 16))
    }

    @Test func xsaveAreaComponentsInTheirInitialConfigurationReadAsReset() {
        var area = [UInt8](repeating: 0xEE, count: 4096)
        for i in 512..<576 { area[i] = 0 }  // XSTATE_BV = 0: everything in its initial configuration
        area[24] = 0x80; area[25] = 0x1F; area[26] = 0; area[27] = 0  // MXCSR is always valid
        let f = X86FPRegisterFile(xsave: area, hasAVX: true)
        #expect(f.fcw == 0x37F && f.xmm.allSatisfy { $0 == 0 } && f.st.allSatisfy { $0 == 0 } && f.mxcsr == 0x1F80)
        #expect(f.ymmHigh == [UInt128](repeating: 0, count: 16))
        var g = f
        g.xmm[3] = 42
        g.store(intoXSAVE: &area)
        #expect(area[512] & 0x7 == 0x7)  // x87, SSE, AVX now marked in use
        #expect(X86FPRegisterFile(xsave: area, hasAVX: true).xmm[3] == 42)
    }
}

/// A backend that keeps the protocol's default FP and guest-debug methods (a host VMM adapter
/// that implements only the general registers).
final class NoFPBackend: DebugBackend {
    let inner: FakeBackend
    init(_ inner: FakeBackend) { self.inner = inner }
    var arch: Arch { inner.arch }
    var vcpuCount: Int { inner.vcpuCount }
    var capabilities: Capabilities { inner.capabilities }
    func setGuestDebug(_ state: GuestDebugState, vcpu: Int) throws(DebugError) { try inner.setGuestDebug(state, vcpu: vcpu) }
    func run(vcpu: Int) throws(DebugError) -> VCPUExit { try inner.run(vcpu: vcpu) }
    func registers(vcpu: Int) throws(DebugError) -> RegisterFile { try inner.registers(vcpu: vcpu) }
    func setRegisters(_ file: RegisterFile, vcpu: Int) throws(DebugError) { try inner.setRegisters(file, vcpu: vcpu) }
    func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8] { try inner.readMemory(address, count: count) }
    func writeMemory(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError) { try inner.writeMemory(address, bytes) }
    func kick(vcpu: Int) { inner.kick(vcpu: vcpu) }
}
