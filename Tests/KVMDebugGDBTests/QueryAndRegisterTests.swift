import Testing
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

@Suite struct QueryAndRegisterTests {
    @Test func qSupportedAdvertisesWhatGDBNeeds() throws {
        let h = try Harness()
        let r = try h.reply("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386")
        let features = r.split(separator: ";").map(String.init)
        #expect(features.contains("PacketSize=1000"))
        for f in ["swbreak+", "hwbreak+", "qXfer:features:read+", "vContSupported+", "QStartNoAckMode+"] {
            #expect(features.contains(f), "missing \(f)")
        }
    }

    /// Reads target.xml in small chunks, as GDB may.
    func readXML(_ h: Harness) throws -> String {
        var xml = ""
        while true {
            let r = try h.reply("qXfer:features:read:target.xml:\(String(xml.utf8.count, radix: 16)),200")
            xml += r.dropFirst()
            if r.first == "l" { return xml }
            #expect(r.first == "m")
        }
    }

    @Test func x86TargetDescriptionHasTheFullAmd64Layout() throws {
        let h = try Harness()
        let xml = try readXML(h)
        #expect(xml.hasPrefix("<?xml"))
        #expect(xml.contains("<architecture>i386:x86-64</architecture>"))
        #expect(xml.components(separatedBy: "<feature ").count == xml.components(separatedBy: "</feature>").count)
        #expect(xml.contains("<feature name=\"org.gnu.gdb.i386.core\">"))
        let names = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"] + (8...15).map { "r\($0)" }
            + ["rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs"] + (0...7).map { "st\($0)" }
            + ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"]
            + (0...15).map { "xmm\($0)" } + ["mxcsr", "fs_base", "gs_base", "cr0", "cr2", "cr3", "cr4", "cr8", "efer"]
        for (n, name) in names.enumerated() {
            #expect(xml.contains("<reg name=\"\(name)\" "), "missing \(name)")
            #expect(RegisterLayout.x86[n].name == name)
        }
        // gdb's i386 validation wants all 40 core registers (rax..gs, st0..fop) in the core feature.
        #expect(RegisterLayout.x86.filter { $0.feature == "org.gnu.gdb.i386.core" }.count == 40)
        #expect(xml.contains("<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\""))
    }

    @Test func arm64TargetDescriptionHasTheCoreFeature() throws {
        let h = try Harness(guest: BuiltinGuests.counterArm64())
        let xml = try readXML(h)
        #expect(xml.contains("<architecture>aarch64</architecture>"))
        #expect(xml.contains("<feature name=\"org.gnu.gdb.aarch64.core\">"))
        for name in (0...30).map({ "x\($0)" }) + ["sp", "pc"] { #expect(xml.contains("<reg name=\"\(name)\" bitsize=\"64\"")) }
        #expect(xml.contains("<reg name=\"cpsr\" bitsize=\"32\""))
        #expect(xml.contains("<feature name=\"org.gnu.gdb.aarch64.fpu\">"))
        for name in (0...31).map({ "v\($0)" }) { #expect(xml.contains("<reg name=\"\(name)\" bitsize=\"128\" type=\"aarch64v\"")) }
        #expect(xml.contains("<reg name=\"fpsr\" bitsize=\"32\"") && xml.contains("<reg name=\"fpcr\" bitsize=\"32\""))
        #expect(xml.contains("<union id=\"aarch64v\">"))
    }

    @Test func x86GAndGRoundTrip() throws {
        let h = try Harness()
        let g = try h.reply("g")
        #expect(g.count == 2 * RegisterLayout.size(for: .x86_64))
        // rip (register 16) is at byte 128: the entry.
        #expect(g.dropFirst(256).prefix(16) == leHex(0x1000)[...])
        // fctrl reads 0x37f.
        let fctrlAt = 2 * (16 * 8 + 8 + 4 + 6 * 4 + 8 * 10)
        #expect(g.dropFirst(fctrlAt).prefix(8) == "7f030000")
        // Change rbx (register 1) and st0, write the whole file back.
        var bytes = Array(g)
        let rbx = Array(leHex(0xDEAD_BEEF_1234))
        for i in 0..<16 { bytes[16 + i] = rbx[i] }
        let st0At = 2 * (16 * 8 + 8 + 4 + 6 * 4)
        bytes[st0At] = Character("f")
        #expect(try h.reply("G" + String(bytes)) == "OK")
        guard case .x86_64(let x) = try h.session.registers(vcpu: 0) else { Issue.record("not x86"); return }
        #expect(x.rbx == 0xDEAD_BEEF_1234)
        #expect(x.rip == 0x1000)
        let again = try h.reply("g")
        #expect(again.dropFirst(16).prefix(16) == leHex(0xDEAD_BEEF_1234)[...])
        #expect(again.dropFirst(st0At).prefix(20) == ("f" + String(repeating: "0", count: 19))[...])
        guard case .x86_64(let fp) = try h.backend.floatingPointRegisters(vcpu: 0) else { Issue.record("not x86"); return }
        #expect(fp.st[0] == 0xF0)
        #expect(try h.reply("G00") == "E01")
    }

    @Test func x86SingleRegisters() throws {
        let h = try Harness()
        #expect(try h.reply("p10") == leHex(0x1000))
        #expect(try h.reply("P0=" + leHex(42)) == "OK")
        #expect(try h.reply("p0") == leHex(42))
        #expect(try h.reply("P18=" + String(repeating: "11", count: 10)) == "OK")  // st0: kept in the XSAVE area
        #expect(try h.reply("p18") == String(repeating: "11", count: 10))
        #expect(try h.reply("p11") == "02000000")  // eflags: 32 bits
        #expect(try h.reply("pff") == "E01")
    }

    @Test func arm64GAndGRoundTrip() throws {
        let h = try Harness(guest: BuiltinGuests.counterArm64())
        let g = try h.reply("g")
        #expect(g.count == 2 * RegisterLayout.size(for: .arm64))
        #expect(RegisterLayout.size(for: .arm64) == 33 * 8 + 4 + 32 * 16 + 2 * 4 + 65 * 8)
        // Slots past the fake's 6 breakpoints / 4 watchpoints are unavailable: x digits.
        #expect(g.contains("x"))
        #expect(g.dropFirst(2 * 32 * 8).prefix(16) == leHex(0x10000)[...])  // pc
        var bytes = Array(g)
        let v = Array(leHex(0x1234_5678))
        for i in 0..<16 { bytes[2 * 5 * 8 + i] = v[i] }  // x5
        #expect(try h.reply("G" + String(bytes)) == "OK")
        guard case .arm64(let a) = try h.session.registers(vcpu: 0) else { Issue.record("not arm64"); return }
        #expect(a.x[5] == 0x1234_5678)
        #expect(try h.reply("p5") == leHex(0x1234_5678))
        #expect(try h.reply("p20") == leHex(0x10000))
    }

    @Test func threadsAreVCPUs() throws {
        let h = try Harness(vcpus: 3)
        #expect(try h.reply("qfThreadInfo") == "m1,2,3")
        #expect(try h.reply("qsThreadInfo") == "l")
        #expect(try h.reply("qC") == "QC1")
        #expect(try h.reply("qAttached") == "1")
        #expect(try h.reply("qThreadExtraInfo,2") == String(decoding: GDBHex.encode(Array("vCPU 1".utf8)), as: UTF8.self))
        #expect(try h.reply("T3") == "OK")
        #expect(try h.reply("T4") == "E01")
        #expect(try h.reply("Hg2") == "OK")
        #expect(try h.reply("qC") == "QC2")
        #expect(try h.reply("Hg9") == "E01")
        // Hg selects whose registers g/p read.
        #expect(try h.reply("P0=" + leHex(7)) == "OK")
        guard case .x86_64(let x1) = try h.session.registers(vcpu: 1), case .x86_64(let x0) = try h.session.registers(vcpu: 0) else { return }
        #expect(x1.rax == 7)
        #expect(x0.rax != 7)
    }

    @Test func memoryReadsAndWrites() throws {
        let h = try Harness()
        #expect(try h.reply("m1000,3") == "4831c0")
        #expect(try h.reply("M2008,2:abcd") == "OK")
        #expect(try h.reply("m2008,2") == "abcd")
        #expect(try h.reply("m7fffffff0000,4") == "E0e")
    }
}
